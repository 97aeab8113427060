// Protects what the host sends the panel (extension/panelPayloads.ts): analyses flattened row-major into the
// typed arrays webview/stackData.ts indexes, plans as candidate rows with the mode table's labels, metrics as columns.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { reuseModes } from '../../analysis/planner/modes';
import { planStack } from '../../analysis/planner/plan';
import type { AnalysisFile } from '../../analysis/result/analysisFile';
import { analysisMessage, metricsMessage, planMessage } from '../../extension/panelPayloads';
import { analysisWith } from '../helpers/analysisFixture';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

type Nested = number | Nested[];
const nest = (shape: number[], f: (...ix: number[]) => number, prefix: number[] = []): Nested =>
  shape.length === 0 ? f(...prefix) : Array.from({ length: shape[0] }, (_, i) => nest(shape.slice(1), f, [...prefix, i]));

/** Symmetric head-pair means with 1 on the diagonal, from a seeded generator. */
function headPairs(L: number, H: number, seed: number): number[][][][] {
  const rand = pseudoRandom(seed);
  const hp = nest([L, H, L, H], () => 0) as number[][][][];
  for (let a = 0; a < L * H; a++) {
    for (let b = a; b < L * H; b++) {
      const v = a === b ? 1 : Math.round(rand() * 100) / 100;
      hp[Math.floor(a / H)][a % H][Math.floor(b / H)][b % H] = v;
      hp[Math.floor(b / H)][b % H][Math.floor(a / H)][a % H] = v;
    }
  }
  return hp;
}

describe('analysisMessage', () => {
  it('flattens the nested arrays row-major into typed arrays', () => {
    const L = 3;
    const H = 2;
    const val = (...ix: number[]) => ix.reduce((a, b) => a * 10 + b, 0) / 1000;
    const stack = {
      name: 'encoder',
      kind: 'self',
      layerCount: L,
      headCount: H,
      tensors: ['a', 'b', 'c'],
      dims: { hidden: 8, ffn: 16, vocab: 10, maxPositions: 32 },
      headPairs: nest([L, H, L, H], val),
      c: nest([L, H, L], val),
      cArgmax: nest([L, H, L], (l, h, l2) => (l + h + l2) % H),
      layerPairs: nest([L, L], val),
      sequential: (nest([L - 1, H], (_l, r) => r) as number[][]).map((row, l) => row.map((r) => ({ head: H - 1 - r, value: val(l, r) }))),
      uniform: nest([L, H], val),
      entropy: nest([L, H], (l, h) => l + h),
    };
    const file = {
      schema: 'attention-reuse/analysis@1',
      model: { path: '/m.onnx', sha256: 'ab' },
      run: { examples: 4, tokens: 40, executionProvider: 'cpu', precision: 'float32', seconds: 1 },
      stacks: [stack],
    } as unknown as AnalysisFile;
    const msg = analysisMessage(file, 'label', true);
    const s = msg.stacks[0];
    assert.ok(s.headPairs.data instanceof Float64Array, 'headPairs must travel as a Float64Array');
    assert.ok(s.cArgmax.data instanceof Int32Array, 'cArgmax must travel as an Int32Array');
    assert.deepEqual(s.headPairs.shape, [L, H, L, H]);
    assert.equal(s.headPairs.data[((2 * H + 1) * L + 0) * H + 1], val(2, 1, 0, 1), 'headPairs is not row-major [l][h][l2][h2]');
    assert.equal(s.c.data[(1 * H + 0) * L + 2], val(1, 0, 2), 'c is not row-major [l][h][l2]');
    assert.equal(s.layerPairs.data[2 * L + 1], val(2, 1));
    assert.deepEqual(Array.from(s.sequentialHeads.data), [1, 0, 1, 0]);
    assert.equal(s.sequentialValues.data[1 * H + 1], val(1, 1));
    assert.equal(msg.info?.canShowAttention, true);
    assert.deepEqual(analysisMessage(null, '', false), { type: 'analysis', info: null, stacks: [] });
    (stack.c as number[][][])[1].pop();
    assert.throws(
      () => analysisMessage(file, 'label', true),
      /c does not have shape/,
      'a ragged array must be refused, not flattened into garbage',
    );
  });
});

describe('planMessage', () => {
  const file = analysisWith(headPairs(5, 4, 11), nest([5, 4], () => 0.3) as number[][], {
    hidden: 32,
    ffn: 128,
    vocab: 50,
    maxPositions: 16,
  });
  const plan = planStack(file.stacks[0], { targetFlops: 0.95 });

  it('keeps every candidate in order with its ratios, head map and Pareto flag', () => {
    const msg = planMessage(plan);
    assert.equal(msg.type, 'planCandidates');
    assert.deepEqual([msg.stack, msg.seqLen, msg.recommended], [plan.stack, plan.seqLen, plan.recommended]);
    assert.equal(msg.candidates.length, plan.candidates.length);
    plan.candidates.forEach((c, i) => {
      const row = msg.candidates[i];
      assert.deepEqual(
        [row.mode, row.P, row.K],
        [c.mode, c.P, c.K],
        `row ${i} is another candidate: the panel's "Emit config" would write the wrong one`,
      );
      assert.equal(row.flopsRatio, c.cost.flopsRatio);
      assert.equal(row.paramsRatio, c.cost.paramsRatio);
      assert.equal(row.scoreMemoryRatio, c.cost.scoreMemoryRatio);
      assert.equal(row.similarityKept, c.similarityKept);
      assert.equal(row.heads, c.heads);
      assert.equal(row.pareto, plan.pareto.includes(i), `row ${i}: Pareto flag disagrees with plan.pareto`);
    });
  });

  it("names the plan's modes with the mode table's labels, in the table's order", () => {
    const present = new Set(plan.candidates.map((c) => c.mode));
    assert.ok(present.size > 1, 'the fixture should plan several modes');
    const want = reuseModes()
      .filter((row) => present.has(row.name))
      .map(({ name, label }) => ({ name, label }));
    assert.deepEqual(planMessage(plan).modes, want, 'the planner menu takes its labels and order from analysis/planner/modes.ts');
  });
});

describe('metricsMessage', () => {
  it('turns metrics lines into columns, NaN where a line has no number', () => {
    const msg = metricsMessage(
      'run-1',
      [
        { step: 1, loss: 2.5, lr: 1e-4 },
        { step: 2, loss: 'x' },
        { step: 3, loss: 2.25, tokensPerSecond: 900 },
      ],
      true,
    );
    assert.deepEqual([msg.type, msg.run, msg.reset], ['metrics', 'run-1', true]);
    assert.ok(msg.points.step instanceof Float64Array, 'columns travel as Float64Array');
    assert.deepEqual(Array.from(msg.points.step), [1, 2, 3]);
    assert.deepEqual(Array.from(msg.points.loss), [2.5, NaN, 2.25]);
    assert.deepEqual(Array.from(msg.points.lr!), [1e-4, NaN, NaN]);
    assert.deepEqual(Array.from(msg.points.tokensPerSecond!), [NaN, NaN, 900]);
  });
});
