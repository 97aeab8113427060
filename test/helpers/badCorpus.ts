// Test helper: the bad-input corpus (test/fixtures/bad/cases.json): a case's work folder, its run through dist/cli.js, and the same run through the services the extension calls.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { analyzeModel } from '../../analysis/app/analyze';
import { emitReuseConfig } from '../../analysis/app/emit';
import { extractAttention } from '../../analysis/app/extract';
import { mergeAnalysisFiles } from '../../analysis/app/merge';
import { inspectModel } from '../../analysis/app/model';
import { planAnalysis } from '../../analysis/app/plan';
import { fileSystem } from '../../analysis/app/storage';
import { trainReuseModel } from '../../analysis/app/train';
import { compareAnalyses } from '../../analysis/app/compare';
import type { ExampleSource } from '../../analysis/runtime/exampleSource';
import type { FileSpec, Library } from './badCorpusFiles';
import { fill, makeFile, placeholders } from './badCorpusFiles';
import { cliBundle } from './paths.mjs';

/** One bad input: how it is set up, the command line, and the one line it must end with. */
export interface BadCase {
  id: string;
  kind: string;
  /** What the case is about, in a few words. */
  why: string;
  args: string[];
  files?: Record<string, FileSpec>;
  /** A tmpfs mounted at work/dir (root only; the case is skipped with one line elsewhere). */
  mount?: { dir: string; options: string };
  /** Runs the CLI as nobody (root reads mode-000 files); the service run emulates it from the mode bits. */
  user?: 'nobody';
  cwd?: string;
  /** A signal sent after `after` ms; the run must end within `within` ms of it. */
  signal?: { name: 'SIGINT' | 'SIGTERM'; after: number; within: number };
  /** The whole run must end within this many ms (a refusal before any work). */
  within?: number;
  exit: number;
  /** A pattern for the one stderr line; null: stderr stays empty. */
  stderr: string | null;
  /** The pattern may match any of several stderr lines (notes, progress). */
  stderrAnyLine?: boolean;
  stdout?: string;
  /** Files of the work folder whose bytes must not change. */
  unchanged?: string[];
  /** Exactly the files (recursive, relative) the work folder holds afterwards. */
  left?: string[];
  /** Peak memory of the CLI run, in MiB. */
  maxRssMb?: number;
  /** An error of the CLI's own flag parsing: no service sees it. */
  cliOnly?: boolean;
}

export function loadCases(): BadCase[] {
  return JSON.parse(readFileSync(join(placeholders.bad, 'cases.json'), 'utf8')) as BadCase[];
}

export interface Work {
  dir: string;
  vars: Record<string, string>;
  snapshot: Map<string, Buffer>;
  cleanup: () => void;
}

const isRoot = process.getuid?.() === 0;

/** Why a case cannot run on this machine, or undefined. */
export function skipReason(c: BadCase): string | undefined {
  if (c.user && !isRoot) return 'runs as nobody, which needs root (runuser)';
  if (c.mount && !isRoot) return 'mounts a tmpfs, which needs root';
  return undefined;
}

/** Every file under `dir`, relative, sorted. */
export function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), base) : [relative(base, join(dir, e.name))]))
    .sort();
}

/** A fresh work folder with the case's files; a refused mount returns the reason instead. */
export function prepare(c: BadCase, lib: Library): Work | string {
  const dir = mkdtempSync(join(tmpdir(), `ar-bad-${c.id}-`));
  chmodSync(dir, c.user ? 0o1777 : 0o755);
  const vars = { work: dir, lib: lib.dir };
  let mounted: string | undefined;
  const cleanup = () => {
    if (mounted) spawnSync('umount', [mounted]);
    rmSync(dir, { recursive: true, force: true });
  };
  if (c.mount) {
    mounted = join(dir, c.mount.dir);
    mkdirSync(mounted);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', c.mount.options, 'tmpfs', mounted], { encoding: 'utf8' });
    if (r.status !== 0) {
      mounted = undefined;
      cleanup();
      return `mount -t tmpfs refused (${(r.stderr || r.error?.message || '').trim().split('\n')[0]})`;
    }
  }
  // Files in a read-only mount are made before it turns read-only: none of the cases needs that.
  for (const [name, spec] of Object.entries(c.files ?? {})) makeFile(join(dir, name), spec, lib, vars);
  const snapshot = new Map((c.unchanged ?? []).map((f) => [f, readFileSync(join(dir, f))]));
  return { dir, vars, snapshot, cleanup };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ms from the signal (or the start) to the exit. */
  elapsed: number;
  maxRssMb?: number;
}

const hasTime = existsSync('/usr/bin/time');

/** Runs dist/cli.js with the case's arguments (as nobody, with a signal, timed) and collects what it printed. */
export function runCli(c: BadCase, work: Work): Promise<CliResult> {
  const args = c.args.map((a) => fill(a, work.vars));
  let cmd = process.execPath;
  let argv = [cliBundle, ...args];
  const rssFile = join(dirname(work.dir), `${work.dir.split('/').pop()}.rss`);
  if (c.maxRssMb && hasTime) [cmd, argv] = ['/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...argv]];
  if (c.user) [cmd, argv] = ['runuser', ['-u', c.user, '--', cmd, ...argv]];
  const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1', ATTENTION_REUSE_DEBUG: '' };
  return new Promise((done) => {
    const started = Date.now();
    let signalled = started;
    const child = spawn(cmd, argv, { cwd: c.cwd ? fill(c.cwd, work.vars) : work.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = c.signal
      ? setTimeout(() => {
          signalled = Date.now();
          // With /usr/bin/time the CLI is its child: signal the CLI itself, as a terminal would.
          const pid = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
            .stdout.trim()
            .split('\n')[0];
          process.kill(c.maxRssMb && hasTime && pid ? Number(pid) : child.pid!, c.signal!.name);
        }, c.signal.after)
      : undefined;
    child.on('close', (code) => {
      clearTimeout(timer);
      const rss = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024 : undefined;
      rmSync(rssFile, { force: true });
      done({ code, stdout, stderr, elapsed: Date.now() - signalled, maxRssMb: rss });
    });
  });
}

const flagOptions: NonNullable<Parameters<typeof parseArgs>[0]>['options'] = {
  ...Object.fromEntries(
    [
      'inputs',
      'images',
      'preprocessor',
      'image-size',
      'image-mean',
      'image-std',
      'branches',
      'text',
      'tokenizer',
      'max-length',
      'examples',
      'batch',
      'ep',
      'out',
      'shard',
      'threads',
      'stack',
      'seq-len',
      'target-flops',
      'hidden',
      'ffn',
      'vocab',
      'max-positions',
      'mode',
      'reuse-layers',
      'reuse-heads',
      'head-map',
      'data',
      'steps',
      'init-from',
      'metrics-a',
      'metrics-b',
      'python',
      'launcher',
      'nproc',
    ].map((f) => [f, { type: 'string' as const }]),
  ),
  ...Object.fromEntries(['force', 'json', 'canonical', 'resume'].map((f) => [f, { type: 'boolean' as const }])),
  quiet: { type: 'boolean' as const, short: 'q' },
};

/** The service call the extension would make for a case's command line (flags read plainly, not validated). */
export function serviceCall(c: BadCase, work: Work, signal: AbortSignal): () => Promise<unknown> {
  const [command, ...rest] = c.args.map((a) => fill(a, work.vars));
  const cwd = c.cwd ? fill(c.cwd, work.vars) : work.dir;
  const parsed = parseArgs({ args: rest, options: flagOptions, allowPositionals: true, strict: true });
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const pos = parsed.positionals;
  const s = (k: string) => v[k] as string | undefined;
  const p = (x: string | undefined) => (x === undefined ? undefined : resolve(cwd, x));
  const n = (k: string) => (s(k) === undefined ? undefined : Number(s(k)));
  const channels = (k: string) => s(k)?.split(',').map(Number);
  const size = s('image-size')?.split('x').map(Number);
  const source = (): ExampleSource =>
    s('images')
      ? {
          kind: 'images',
          path: p(s('images'))!,
          preprocessor: p(s('preprocessor')),
          imageSize: size && [size[0], size[1] ?? size[0]],
          imageMean: channels('image-mean'),
          imageStd: channels('image-std'),
        }
      : s('inputs')
        ? { kind: /\.np[yz]$/.test(s('inputs')!) ? 'arrays' : 'jsonl', path: p(s('inputs'))! }
        : { kind: 'text', path: p(s('text'))!, tokenizer: p(s('tokenizer'))!, maxLength: n('max-length') };
  const shard = s('shard')?.split('/').map(Number);
  const shape = Object.fromEntries(
    ['hidden', 'ffn', 'vocab', 'max-positions']
      .filter((k) => s(k) !== undefined)
      .map((k) => [k === 'max-positions' ? 'maxPositions' : k, n(k)]),
  );
  const run = {
    model: p(pos[0])!,
    source: source(),
    examples: n('examples'),
    batch: n('batch'),
    ep: (s('ep') ?? 'cpu') as 'cpu',
    branches: s('branches') as 'all' | undefined,
    force: v.force === true,
  };
  switch (command) {
    case 'inspect':
      return () => inspectModel(p(pos[0])!);
    case 'analyze':
      return () => analyzeModel({ ...run, shard: shard && { index: shard[0], count: shard[1] }, out: p(s('out')) }, { signal });
    case 'extract':
      return () => extractAttention({ ...run, out: p(s('out'))! }, { signal });
    case 'merge':
      return () =>
        mergeAnalysisFiles(
          pos.map((x) => p(x)!),
          { out: p(s('out')), force: v.force === true },
          { signal },
        );
    case 'plan':
      return () => planAnalysis({ analysis: p(pos[0])!, stack: s('stack'), seqLen: n('seq-len'), targetFlops: n('target-flops'), shape });
    case 'emit':
      return () =>
        emitReuseConfig({
          analysis: p(pos[0])!,
          stack: s('stack'),
          mode: s('mode') as 'partial',
          P: n('reuse-layers'),
          K: n('reuse-heads'),
          headMapFile: p(s('head-map')),
          seqLen: n('seq-len'),
          shape,
          out: p(s('out'))!,
          force: v.force === true,
        });
    case 'train':
      return () =>
        trainReuseModel(
          {
            config: p(pos[0])!,
            data: p(s('data'))!,
            tokenizer: p(s('tokenizer')),
            out: p(s('out'))!,
            maxLength: n('max-length'),
            steps: n('steps'),
            initFrom: p(s('init-from')),
            python: s('python') ?? '/nonexistent/python',
          },
          { signal },
        );
    case 'compare':
      return () => compareAnalyses({ a: p(pos[0])!, b: p(pos[1])!, metricsA: p(s('metrics-a')), metricsB: p(s('metrics-b')) }, { signal });
    default:
      throw new Error(`${c.id}: no service for "${command}"; mark the case cliOnly`);
  }
}

/**
 * What nobody may do, from the mode bits, for a service run in this (root) process: read
 * a file needs o+r, create one needs o+w on its folder. Returns the undo.
 */
export function emulateNobody(): () => void {
  const { open, mkdir } = fileSystem;
  const denied = (path: string, bit: number) => {
    try {
      return (statSync(path).mode & bit) === 0;
    } catch {
      return false;
    }
  };
  const eacces = (path: string) => Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
  fileSystem.open = (async (path: string, flags?: string | number, mode?: number) => {
    const writing = typeof flags === 'string' && /[wa+]/.test(flags);
    if (writing ? denied(dirname(String(path)), 0o002) : denied(String(path), 0o004)) throw eacces(String(path));
    return open(path, flags, mode);
  }) as typeof fileSystem.open;
  fileSystem.mkdir = (async (path: string, options?: object) => {
    if (!existsSync(path) && denied(dirname(String(path)), 0o002)) throw eacces(String(path));
    return mkdir(path, options);
  }) as typeof fileSystem.mkdir;
  return () => Object.assign(fileSystem, { open, mkdir });
}
