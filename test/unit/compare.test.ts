// Protects compare's arithmetic: B − A of the layer pairs, per-head changes (uniform, entropy, best earlier match), stacks matched by position with every mismatch named, and the evaluations read from metrics.jsonl lines.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { compareAnalysisFiles, largestChanges } from '../../analysis/result/compare';
import { summarizeMetrics } from '../../analysis/result/runMetrics';
import { analysisWith } from '../helpers/analysisFixture';

/** headPairs of L layers × H heads: `v(l, h, l2, h2)` off the diagonal, 1 on it, symmetric. */
function pairs(L: number, H: number, v: (l: number, h: number, l2: number, h2: number) => number): number[][][][] {
  const at = (l: number, h: number, l2: number, h2: number) =>
    l === l2 && h === h2 ? 1 : l * H + h < l2 * H + h2 ? v(l, h, l2, h2) : v(l2, h2, l, h);
  return Array.from({ length: L }, (_, l) =>
    Array.from({ length: H }, (_, h) => Array.from({ length: L }, (_, l2) => Array.from({ length: H }, (_, h2) => at(l, h, l2, h2)))),
  );
}
const dims = { hidden: 8, ffn: 16, vocab: 10, maxPositions: 8 };
const uniform = (L: number, H: number, u = 0.5) => Array.from({ length: L }, () => Array.from({ length: H }, () => u));

describe('compare', () => {
  it('B − A of the layer pairs and of each head; B reusing layer 0 in layer 1 shows as similarity 1', () => {
    const a = analysisWith(
      pairs(3, 2, () => 0.4),
      uniform(3, 2),
      dims,
    );
    // B: head 1 of layer 1 is head 0 of layer 0 (a reuse head), everything else as in A.
    const b = analysisWith(
      pairs(3, 2, (l, h, l2, h2) => (l === 0 && h === 0 && l2 === 1 && h2 === 1 ? 1 : 0.4)),
      uniform(3, 2, 0.6),
      dims,
    );
    const r = compareAnalysisFiles(a, b);
    assert.deepEqual(r.mismatches, []);
    const s = r.stacks[0];
    assert.equal(s.layers, 3);
    assert.equal(s.heads, 2);
    assert.ok(
      Math.abs(s.layerPairs.diff[1][0] - 0.6) < 1e-12 && Math.abs(s.layerPairs.diff[0][1] - 0.6) < 1e-12,
      `layer pair (1, 0): ${s.layerPairs.diff[1][0]}`,
    );
    assert.ok(Math.abs(s.layerPairs.diff[2][0]) < 1e-12);
    assert.ok(Math.abs(s.maxAbsDiff - 0.6) < 1e-12);
    const head = s.headChanges.find((c) => c.layer === 1 && c.head === 1)!;
    assert.deepEqual(
      head.earlier!.map((x) => Number(x.toFixed(12))),
      [0.4, 1, 0.6],
      'its best earlier match goes from 0.4 to 1',
    );
    assert.deepEqual(
      head.uniform.map((x) => Number(x.toFixed(12))),
      [0.5, 0.6, 0.1],
    );
    assert.equal(s.headChanges.find((c) => c.layer === 0)!.earlier, null, 'layer 0 has no earlier layer');
    assert.deepEqual([largestChanges(s, 1)[0].layer, largestChanges(s, 1)[0].head], [1, 1]);
  });

  it('matches stacks by position and names what differs: layer and head counts, names, examples, a stack only one side has', () => {
    const a = analysisWith(
      pairs(3, 2, () => 0.4),
      uniform(3, 2),
      dims,
    );
    const b = analysisWith(
      pairs(2, 3, () => 0.5),
      uniform(2, 3),
      dims,
      5,
    );
    b.stacks[0].name = 'decoder';
    b.stacks.push({ ...b.stacks[0], name: 'cross' });
    const r = compareAnalysisFiles(a, b);
    assert.equal(r.stacks.length, 1);
    assert.deepEqual([r.stacks[0].layers, r.stacks[0].heads], [2, 2], 'the overlap is compared');
    assert.deepEqual(r.mismatches, [
      'A was analysed on 3 examples, B on 5',
      'stack 1 ("cross") is only in B',
      'stack 0: named "encoder" in A, "decoder" in B',
      'stack 0: 3 layers in A, 2 in B (layers 0..1 compared)',
      'stack 0: 2 heads in A, 3 in B (heads 0..1 compared)',
    ]);
  });

  it('metrics.jsonl: the first and the last evaluation, the last step; a half-written line is skipped', () => {
    const lines = [
      '{"step": 0, "loss": null, "lr": 0, "evalLoss": 3.5, "evalAccuracy": 0.2, "evalPerplexity": 33.1}',
      '{"step": 1, "loss": 4.1, "lr": 1e-4}',
      '{"step": 2, "loss": 3.9, "lr": 1e-4, "evalLoss": 3.2, "evalAccuracy": 0.25}',
      '{"step": 3, "loss": 3.',
    ].map((text, i) => ({ text, line: i + 1 }));
    const m = summarizeMetrics('/run/metrics.jsonl', lines);
    assert.deepEqual(m.first, { step: 0, evalLoss: 3.5, evalAccuracy: 0.2, evalPerplexity: 33.1 });
    assert.deepEqual(m.last, { step: 2, evalLoss: 3.2, evalAccuracy: 0.25, evalPerplexity: null });
    assert.deepEqual([m.step, m.loss], [2, 3.9]);
  });
});
