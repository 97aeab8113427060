// Protects issue 15's large and bfloat16 models: a model whose weights are over 2 GiB of external data is inspected in little memory and analysed from any working directory, its weights never read into JavaScript; a bfloat16 model is widened to float32 for the CPU and analyses within 1e-2 of its float32 twin.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readAnalysis } from '../../analysis/app/readers';
import { runCli } from '../helpers/cli';
import { maxDiff } from '../helpers/compare';
import { freeBytes, writeLargeModel } from '../helpers/largeModel';
import type { LargeModel } from '../helpers/largeModel';
import { cliBundle, fixtureModels as models } from '../helpers/paths.mjs';

const inputs = join(models, 'bert_opset13.inputs.jsonl');
const keys = ['headPairs', 'c', 'layerPairs', 'uniform', 'entropy'] as const;

/** Runs the CLI from `cwd`; with /usr/bin/time, also its peak resident memory in MB. */
function cliIn(cwd: string, args: string[]): { code: number | null; stdout: string; stderr: string; rssMb?: number } {
  const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
  if (!existsSync('/usr/bin/time')) {
    const r = spawnSync(process.execPath, [cliBundle, ...args], { cwd, env, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  const r = spawnSync('/usr/bin/time', ['-q', '-f', '%M', process.execPath, cliBundle, ...args], { cwd, env, encoding: 'utf8' });
  const lines = r.stderr.trimEnd().split('\n');
  return { code: r.status, stdout: r.stdout, stderr: lines.slice(0, -1).join('\n'), rssMb: Number(lines[lines.length - 1]) / 1024 };
}

describe('a model over 2 GiB with external data', () => {
  let dir = '';
  let large: LargeModel | undefined;
  let skip: string | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ar-large-'));
    // The data file is sparse (a few KiB on disk), but a file system without holes would store it whole.
    if (freeBytes(dir) < 3 * 2 ** 30) skip = `fewer than 3 GiB free in ${tmpdir()} for a 2.2 GB data file`;
    else {
      mkdirSync(join(dir, 'model'));
      large = writeLargeModel(join(dir, 'model'));
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is over 2 GiB, though its .onnx is small', (t) => {
    if (skip) return t.skip(skip);
    assert.ok(large!.bytes > 2 ** 31, `the data file has ${large!.bytes} bytes`);
  });

  it('inspect reads only the graph: peak memory under 500 MB', (t) => {
    if (skip) return t.skip(skip);
    const r = cliIn('/', ['inspect', large!.model]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /encoder \(self-attention\): 3 layers × 4 heads/);
    if (r.rssMb !== undefined) assert.ok(r.rssMb < 500, `inspect peaked at ${r.rssMb.toFixed(0)} MB: the weights were read into memory?`);
  });

  it("analyze works from any working directory and equals the small model's analysis", async (t) => {
    if (skip) return t.skip(skip);
    const small = join(dir, 'small.json');
    assert.equal(runCli(['analyze', join(models, 'bert_opset13.onnx'), '--inputs', inputs, '--out', small, '--ep', 'cpu', '-q']).code, 0);
    const want = await readAnalysis(small);
    // From /, from the model's folder (a bare file name), and from the temp folder (a relative path).
    const runs: [string, string][] = [
      ['/', large!.model],
      [join(dir, 'model'), 'model.onnx'],
      [dir, join('model', 'model.onnx')],
    ];
    for (const [i, [cwd, model]] of runs.entries()) {
      const out = join(dir, `large-${i}.json`);
      const r = cliIn(cwd, ['analyze', model, '--inputs', inputs, '--out', out, '--ep', 'cpu', '-q']);
      assert.equal(r.code, 0, `from ${cwd}: ${r.stderr}`);
      const got = await readAnalysis(out);
      for (const key of keys) {
        const [d, at] = maxDiff(got.stacks[0][key], want.stacks[0][key]);
        assert.ok(d <= 1e-9, `from ${cwd}: ${key}${at} off the small model's by ${d}`);
      }
    }
  });

  it('a missing data file is refused in one line', (t) => {
    if (skip) return t.skip(skip);
    const moved = join(dir, 'model', 'model.data');
    const away = join(dir, 'away.data');
    spawnSync('mv', [moved, away]);
    try {
      const r = cliIn('/', ['analyze', large!.model, '--inputs', inputs, '--out', join(dir, 'x.json'), '--ep', 'cpu', '-q']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^attention-reuse: cannot read external data file .*model\.data: it does not exist$/);
    } finally {
      spawnSync('mv', [away, moved]);
    }
  });
});

describe('a bfloat16 model', () => {
  it('is widened to float32 on the CPU and analyses within 1e-2 of its float32 twin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ar-bf16-'));
    const run = (model: string, out: string) =>
      runCli([
        'analyze',
        join(models, model),
        '--inputs',
        join(models, 'bert_opset17.inputs.jsonl'),
        '--out',
        join(dir, out),
        '--ep',
        'cpu',
      ]);
    const r = run('bert_bf16.onnx', 'bf16.json');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /bfloat16 model widened to float32/);
    assert.equal(run('bert_opset17.onnx', 'f32.json').code, 0);
    const [a, b] = [await readAnalysis(join(dir, 'bf16.json')), await readAnalysis(join(dir, 'f32.json'))];
    assert.equal(a.run.precision, 'float32', 'the CPU ran it in float32');
    for (const key of keys) {
      const [d, at] = maxDiff(a.stacks[0][key], b.stacks[0][key]);
      assert.ok(d <= 1e-2, `${key}${at}: off the float32 twin's by ${d}`);
      assert.ok(d > 0, `${key}: identical to float32: were the bfloat16 weights read at all?`);
    }
  });
});
