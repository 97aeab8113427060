// Protects `analyze` and `merge`: the analysis file against PyTorch's attention, and exact shard merging.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readAnalysis as readAnalysisFile } from '../../analysis/app/readers';
import type { AnalysisFile } from '../../analysis/result/analysisFile';
import { analyzeFixture, runCli } from '../helpers/cli';
import { fixtureModels as models } from '../helpers/paths.mjs';

const run = (...args: string[]) => runCli([...args, '--quiet']);

/** Slow, obvious eq. 2 over PyTorch's probabilities: mean over examples of 1 - mean_p TV. */
function referenceHeadPairs(examples: number[][][][][]): number[][][][] {
  const L = examples[0].length;
  const H = examples[0][0].length;
  const out = Array.from({ length: L }, () =>
    Array.from({ length: H }, () => Array.from({ length: L }, () => new Array<number>(H).fill(0))),
  );
  for (const ex of examples) {
    for (let l = 0; l < L; l++)
      for (let h = 0; h < H; h++)
        for (let m = 0; m < L; m++)
          for (let g = 0; g < H; g++) {
            const A = ex[l][h];
            const B = ex[m][g];
            let tv = 0;
            for (let p = 0; p < A.length; p++) {
              let d = 0;
              for (let k = 0; k < A[p].length; k++) d += Math.abs(A[p][k] - B[p][k]);
              tv += 0.5 * d;
            }
            out[l][h][m][g] += (1 - tv / A.length) / examples.length;
          }
  }
  return out;
}

function maxDiff(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  assert.ok(Array.isArray(a) && Array.isArray(b) && a.length === b.length, 'shapes differ');
  return (a as unknown[]).reduce<number>((m, x, i) => Math.max(m, maxDiff(x, (b as unknown[])[i])), 0);
}

describe('analyze', () => {
  for (const name of ['bert_opset13', 'encdec_opset17']) {
    it(`${name}: head pairs equal eq. 2 computed from PyTorch's own attention`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ar-analyze-'));
      const out = join(dir, 'a.json');
      analyzeFixture(name, name, out);
      const file = await readAnalysisFile(out);
      const expected = JSON.parse(readFileSync(join(models, `${name}.expected.json`), 'utf8'));
      for (const stack of file.stacks) {
        const ref = referenceHeadPairs(expected.examples.map((e: { stacks: Record<string, number[][][][]> }) => e.stacks[stack.name]));
        const d = maxDiff(stack.headPairs, ref);
        assert.ok(d <= 1e-5, `${stack.name}: head pairs off PyTorch's by ${d}`);
        assert.equal(stack.sums.examples, expected.examples.length);
      }
    });
  }

  it('shards merged in any order equal one run to 1e-9; a shard twice is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ar-shard-'));
    const m = join(models, 'bert_opset17.onnx');
    const inputs = join(models, 'bert_opset17.inputs.jsonl');
    assert.equal(run('analyze', m, '--inputs', inputs, '--out', join(dir, 'all.json')).code, 0);
    for (const i of [0, 1, 2]) {
      const r = run('analyze', m, '--inputs', inputs, '--shard', `${i}/3`, '--out', join(dir, `part${i}.json`), '--threads', '1');
      assert.equal(r.code, 0, r.stderr);
    }
    const merged = run(
      'merge',
      join(dir, 'part2.json'),
      join(dir, 'part0.json'),
      join(dir, 'part1.json'),
      '--out',
      join(dir, 'merged.json'),
    );
    assert.equal(merged.code, 0, merged.stderr);
    const all = await readAnalysisFile(join(dir, 'all.json'));
    const got = await readAnalysisFile(join(dir, 'merged.json'));
    assert.equal(got.run.shard, undefined, 'a complete merge is not a shard');
    assert.equal(got.run.examples, all.run.examples);
    for (const key of ['headPairs', 'c', 'cArgmax', 'layerPairs', 'uniform', 'entropy'] as const) {
      const d = maxDiff(got.stacks[0][key], all.stacks[0][key]);
      assert.ok(d <= 1e-9, `${key} of merged shards differs from one run by ${d}`);
    }
    const twice = run('merge', join(dir, 'part0.json'), join(dir, 'part0.json'), '--out', join(dir, 'twice.json'));
    assert.equal(twice.code, 2, 'merging one shard twice must be refused');
    assert.match(twice.stderr, /shard 0\/3 is already merged in/);
    const partial = run('merge', join(dir, 'part0.json'), join(dir, 'part1.json'), '--out', join(dir, 'partial.json'));
    assert.equal(partial.code, 0);
    const p = JSON.parse(readFileSync(join(dir, 'partial.json'), 'utf8')) as AnalysisFile;
    assert.deepEqual(p.run.shard, { indices: [0, 1], count: 3 });
  });

  it('refuses a bad --shard and an analysis file that is not one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ar-bad-'));
    const m = join(models, 'bert_opset17.onnx');
    const r = run('analyze', m, '--inputs', join(models, 'bert_opset17.inputs.jsonl'), '--shard', '3/3', '--out', join(dir, 'x.json'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--shard must be I\/N/);
    const bad = run('merge', join(models, 'bert_opset17.expected.json'), '--out', join(dir, 'y.json'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr.trim(), /^attention-reuse: .*expected\.json is not a valid attention-reuse\/analysis@1 file: /);
  });
});
