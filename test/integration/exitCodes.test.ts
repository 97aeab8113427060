// Protects the exit codes the CLI documents beyond 0 and 2: 1 for an internal error (an installation without its trainer), 130 for Ctrl-C of train (the trainer checkpoints, nothing half-written, and --resume reproduces the uninterrupted run); Ctrl-C of analyze and extract is in the bad-input corpus.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatReuseConfig } from '../../analysis/config/reuseConfig';
import { loadCases } from '../helpers/badCorpus';
import { runCli } from '../helpers/cli';
import { cliBundle, root } from '../helpers/paths.mjs';
import { needPython, python } from '../helpers/python';
import { reuseConfigWith } from '../helpers/reuseConfigFixture';
import { smallWordPieceTokenizer } from '../helpers/tokenizers';

const dir = mkdtempSync(join(tmpdir(), 'ar-exit-'));
const config = join(dir, 'c.reuse.json');
const tokenizer = join(dir, 'tokenizer.json');
const text = join(dir, 'text.txt');
const env = { ...process.env, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1', ORT_DISABLE_TELEMETRY: '1' };

before(() => {
  writeFileSync(config, formatReuseConfig(reuseConfigWith()));
  writeFileSync(tokenizer, JSON.stringify(smallWordPieceTokenizer()));
  writeFileSync(text, 'the dog runs far\nthe dog\nfar runs the dog\nthe the far\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every file under `folder`, relative. */
const files = (folder: string): string[] => readdirSync(folder, { recursive: true, encoding: 'utf8' }).sort();
const metrics = (run: string) =>
  readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; loss: number });
/** The arguments of `train` after the command: the tiny config on the small tokenizer's text, 4 examples a step. */
function trainArgs(out: string, steps: number, interpreter = python): string[] {
  const flags = { data: text, tokenizer, out, steps: String(steps), 'batch-size': '4', seed: '3', python: interpreter };
  return [config, ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v])];
}

describe('exit 1: an internal error', () => {
  it('an installation whose trainer is missing is an internal error, not bad input, with the stack under ATTENTION_REUSE_DEBUG', () => {
    // The bundle alone, without media/trainer/ beside it, as a broken package would install it;
    // an interpreter that passes the torch check, so that the run gets as far as the trainer.
    const install = join(dir, 'broken', 'dist');
    mkdirSync(install, { recursive: true });
    copyFileSync(cliBundle, join(install, 'cli.js'));
    const fakePython = join(dir, 'python-with-torch');
    writeFileSync(fakePython, '#!/bin/sh\nprintf 2.1.0\n');
    chmodSync(fakePython, 0o755);
    const bundle = join(install, 'cli.js');
    const nodePath = { ...env, NODE_PATH: join(root, 'node_modules') };
    const run = join(dir, 'broken-run');
    const r = runCli(['train', ...trainArgs(run, 2, fakePython)], { env: nodePath, bundle });
    assert.equal(r.code, 1, `exit code (1 = internal error); stderr:\n${r.stderr}`);
    assert.match(
      r.stderr.trim(),
      /^attention-reuse: internal error: .*media\/trainer\/train\.py not found above .*broken\/dist$/,
      'not worded as an internal error',
    );
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line without ATTENTION_REUSE_DEBUG:\n${r.stderr}`);
    assert.deepEqual(
      files(run),
      ['data', 'data/index.json', 'data/train-00000.bin'],
      'a temporary or half-written file was left (the token shards are complete, written atomically)',
    );
    const debug = runCli(['train', ...trainArgs(join(dir, 'broken-run2'), 2, fakePython)], {
      env: { ...nodePath, ATTENTION_REUSE_DEBUG: '1' },
      bundle,
    });
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /\n\s+at .*trainerScript/, 'ATTENTION_REUSE_DEBUG=1 should print the stack');
  });
});

describe('exit 130: Ctrl-C', () => {
  it('the corpus keeps a SIGINT case of analyze and of extract, each leaving nothing behind', () => {
    const sigint = loadCases().filter((c) => c.signal?.name === 'SIGINT' && c.exit === 130 && c.left !== undefined);
    for (const command of ['analyze', 'extract']) {
      assert.ok(
        sigint.some((c) => c.args[0] === command),
        `no SIGINT case of ${command} in test/fixtures/bad/cases.json (exit 130, files left listed)`,
      );
    }
  });

  it('train: the trainer checkpoints and exits 130, nothing half-written; --resume reproduces the uninterrupted run', async (t) => {
    if (!needPython(t)) return;
    const steps = 200;
    const whole = join(dir, 'whole');
    const w = runCli(['train', ...trainArgs(whole, steps)], { env, timeout: 300_000 });
    assert.equal(w.code, 0, `the uninterrupted run failed:\n${w.stderr}`);

    // Ctrl-C in a terminal signals the whole process group: the CLI and the trainer alike.
    const parts = join(dir, 'parts');
    const child = spawn(process.execPath, [cliBundle, 'train', ...trainArgs(parts, steps)], {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    const deadline = Date.now() + 120_000;
    // Complete lines only: the trainer may be writing the next one.
    const lines = () =>
      existsSync(join(parts, 'metrics.jsonl')) ? readFileSync(join(parts, 'metrics.jsonl'), 'utf8').split('\n').length - 1 : 0;
    while (lines() < 3) {
      assert.ok(Date.now() < deadline, `no three metrics lines within 120 s:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(-child.pid!, 'SIGINT');
    const code = await exited;
    assert.equal(code, 130, `exit code after Ctrl-C; stdout:\n${stdout}\nstderr:\n${stderr}`);
    const stopped = metrics(parts).at(-1)!.step;
    assert.ok(stopped < steps, `the run finished (step ${stopped}) before the signal: nothing was interrupted`);
    assert.match(stdout, new RegExp(`stopped after step ${stopped}; checkpoint saved, continue with --resume`));
    assert.deepEqual(
      files(parts),
      ['checkpoint.pt', 'data', 'data/index.json', 'data/train-00000.bin', 'metrics.jsonl', 'run.json', 'status.json'],
      'a temporary file was left, or model.pt was written for an unfinished run',
    );

    const again = runCli(['train', ...trainArgs(parts, steps), '--resume'], { env, timeout: 300_000 });
    assert.equal(again.code, 0, `--resume failed:\n${again.stderr}`);
    const [a, b] = [metrics(whole), metrics(parts)];
    assert.deepEqual(
      b.map((m) => m.step),
      a.map((m) => m.step),
      'the resumed run logs other steps (metrics after the checkpoint not dropped, or steps skipped)',
    );
    const off = Math.max(...a.map((m, i) => Math.abs(m.loss - b[i].loss)));
    assert.ok(
      off <= 1e-6,
      `losses differ from the uninterrupted run by up to ${off}: optimizer, random or data state not restored at step ${stopped}`,
    );
    assert.ok(existsSync(join(parts, 'model.pt')), 'the resumed run wrote no model.pt');
  });
});
