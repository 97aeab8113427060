// Protects --rows (query rows sampled inside the graph: the estimate of eq. 2 and its sampling error against the exact analysis of the same examples) and the memory guard (a lowered batch, layer passes that give the same sums).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { analyzeModel } from '../../analysis/app/analyze';
import { estimateBytes, planMemory } from '../../analysis/app/memoryGuard';
import { attentionOnlyModel } from '../../analysis/onnx/expose';
import { openAttentionModel } from '../../analysis/onnx/inspect';
import { rowGatherAddition, sampledRowsName } from '../../analysis/onnx/sampleRows';
import { mergeAnalyses } from '../../analysis/result/analysisFile';
import type { AnalysisFile } from '../../analysis/result/analysisFile';
import { chooseRows } from '../../analysis/runtime/rowSampling';
import { randomIdLines, writeRandomEncoder } from '../helpers/randomEncoder';

const dir = mkdtempSync(join(tmpdir(), 'rows-'));
const model = join(dir, 'encoder1024.onnx');
writeRandomEncoder(model, { layers: 3, heads: 8, hidden: 32, positions: 1024, vocab: 64, seed: 1024 });
const long = join(dir, 'long.jsonl');
writeFileSync(long, randomIdLines(8, 1024, 64, 7));
const analyze = (inputs: string, extra: Record<string, unknown> = {}) =>
  analyzeModel({ model, source: { kind: 'jsonl', path: inputs }, batch: 2, ...extra } as Parameters<typeof analyzeModel>[0]);

/** Every head pair a < b of a stack, as [l, h, l2, h2]. */
function pairs(f: AnalysisFile): number[][] {
  const { layerCount: L, headCount: H } = f.stacks[0];
  const out: number[][] = [];
  for (let a = 0; a < L * H; a++) for (let b = a + 1; b < L * H; b++) out.push([Math.floor(a / H), a % H, Math.floor(b / H), b % H]);
  return out;
}

test('--rows 64 at 1024 tokens: the exact similarity lies in the 95% sampling interval for ≥ 90% of head pairs, mean z² in [0.7, 1.3]', async () => {
  const exact = await analyze(long);
  const all = pairs(exact);
  const truth = ([l, h, l2, h2]: number[]) => exact.stacks[0].headPairs[l][h][l2][h2];
  const spread = Math.max(...all.map(truth)) - Math.min(...all.map(truth));
  assert.ok(spread > 0.1, `the fixture's heads are too alike (S spread ${spread}) for the test to mean anything`);
  // The pairs of one run share its rows, so their z-scores are correlated: four seeds pooled.
  let inside = 0;
  let z2 = 0;
  let count = 0;
  for (const seed of [3, 4, 5, 6]) {
    const sampled = await analyze(long, { rows: 64, seed });
    const s = sampled.stacks[0];
    assert.equal(s.sums.rows?.count, 64);
    assert.equal(s.sums.tokens, exact.stacks[0].sums.tokens, 'tokens count every real row, sampled or not');
    const sampling = s.errors!.sampling!;
    for (const pair of all) {
      const [l, h, l2, h2] = pair;
      const se = sampling.headPairs.se[l][h][l2][h2];
      assert.ok(se > 0, `pair (${l},${h})-(${l2},${h2}) has no sampling error: rows were not sampled`);
      const z = (s.headPairs[l][h][l2][h2] - truth(pair)) / se;
      z2 += z * z;
      count++;
      if (sampling.headPairs.low[l][h][l2][h2] <= truth(pair) && truth(pair) <= sampling.headPairs.high[l][h][l2][h2]) inside++;
      // The error over examples includes the sampling error.
      assert.ok(s.errors!.headPairs.se[l][h][l2][h2] > 0);
    }
  }
  assert.ok(
    inside / count >= 0.9,
    `${inside} of ${count} pairs inside their 95% interval: the estimator is biased or its variance too small`,
  );
  assert.ok(z2 / count >= 0.7 && z2 / count <= 1.3, `mean squared z-score ${z2 / count}: the sampling variance is mis-scaled`);
});

test('rows beyond the real rows measure every row: the same numbers as exact mode, no sampling error', async () => {
  const short = join(dir, 'short.jsonl');
  writeFileSync(short, [5, 9, 12, 7].map((n, i) => randomIdLines(1, n, 64, 20 + i)).join(''));
  const exact = await analyze(short);
  const all = await analyze(short, { rows: 64 });
  for (const [l, h, l2, h2] of pairs(exact)) {
    assert.ok(
      Math.abs(all.stacks[0].headPairs[l][h][l2][h2] - exact.stacks[0].headPairs[l][h][l2][h2]) <= 1e-6,
      'every row sampled must equal the exact analysis',
    );
    assert.equal(all.stacks[0].errors!.sampling!.headPairs.se[l][h][l2][h2], 0);
  }
  assert.deepEqual(
    all.stacks[0].uniform.flat().map((x) => x.toFixed(5)),
    exact.stacks[0].uniform.flat().map((x) => x.toFixed(5)),
  );
});

test('the session outputs only the gathered rows, never the n × n probabilities', () => {
  const m = openAttentionModel(new Uint8Array(readFileSync(model)), model);
  const bytes = attentionOnlyModel(
    m.graph,
    m.bytes,
    m.stacks[0].layers.map((l) => l.tensor),
    rowGatherAddition(m.graph, m.stacks),
  );
  const outputs = (onnx.ModelProto.decode(bytes).graph?.output ?? []).map((o) => o.name);
  assert.deepEqual(
    outputs,
    m.stacks[0].layers.map((l) => sampledRowsName(l.tensor)),
  );
});

test("each layer's scores wait for the previous layer's gather, so ONNX Runtime frees one layer's probabilities before the next", () => {
  const m = openAttentionModel(new Uint8Array(readFileSync(model)), model);
  const tensors = m.stacks[0].layers.map((l) => l.tensor);
  const graph = onnx.ModelProto.decode(attentionOnlyModel(m.graph, m.bytes, tensors, rowGatherAddition(m.graph, m.stacks))).graph!;
  const producer = new Map(graph.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
  /** Every tensor `name` is computed from. */
  const ancestors = (name: string, seen = new Set<string>()): Set<string> => {
    for (const input of producer.get(name)?.input ?? []) if (!seen.has(input)) ancestors(input, seen.add(input));
    return seen;
  };
  // The wait is added to the queries of the query-key product ([n, d]), not to an n × n tensor.
  const waiting = graph.node!.filter((n) => n.input!.some((i) => i.includes('attention_reuse_rows') && i.endsWith('/input')));
  assert.deepEqual(
    waiting.map((n) => n.opType),
    new Array(tensors.length - 1).fill('MatMul'),
    'each later layer should wait at its query-key MatMul',
  );
  tensors.forEach((t, l) => {
    const before = ancestors(t);
    if (l > 0)
      assert.ok(before.has(sampledRowsName(tensors[l - 1])), `layer ${l}'s attention does not wait for layer ${l - 1}'s gathered rows`);
    for (let k = l; k < tensors.length; k++)
      assert.ok(!before.has(sampledRowsName(tensors[k])), `layer ${l} waits for the rows of layer ${k}: a cycle`);
  });
});

test('rows are seeded per example: shards draw the rows one run draws, and merge into it', async () => {
  assert.deepEqual(chooseRows(1024, 4, 3, 5, 0), chooseRows(1024, 4, 3, 5, 0));
  assert.notDeepEqual(chooseRows(1024, 4, 3, 5, 0), chooseRows(1024, 4, 3, 6, 0));
  assert.deepEqual(chooseRows(3, 8, 3, 5, 0), [0, 1, 2]);
  const one = await analyze(long, { rows: 16, seed: 9, examples: 4 });
  const parts = await Promise.all([0, 1].map((index) => analyze(long, { rows: 16, seed: 9, examples: 4, shard: { index, count: 2 } })));
  const merged = mergeAnalyses(parts.map((file, i) => ({ path: `part${i}.json`, file })));
  one.stacks[0].sums.pairSums.forEach((x, i) =>
    assert.ok(Math.abs(x - merged.stacks[0].sums.pairSums[i]) <= 1e-9, 'shards sampled other rows than one run'),
  );
  const other = await analyze(long, { rows: 16, seed: 10, examples: 4, shard: { index: 1, count: 2 } });
  assert.throws(
    () =>
      mergeAnalyses([
        { path: 'a.json', file: parts[0] },
        { path: 'b.json', file: other },
      ]),
    /one part measured 16 sampled rows per example \(seed 10\), another 16 sampled rows per example \(seed 9\)/,
  );
});

test('memory guard: an over-large batch is lowered with one note; an example that does not fit runs in layer passes with the same sums', async () => {
  const input = { modelBytes: 1e6, stacks: [{ layers: 3, heads: 8 }], tokens: 1024, batch: 8 };
  const lowered = planMemory({ ...input, budget: estimateBytes(input, 2) });
  assert.equal(lowered.batch, 2);
  assert.equal(lowered.groups, 1);
  assert.equal(lowered.notes.length, 1);
  assert.match(lowered.notes[0], /^--batch 8 lowered to 2: a batch of 8 examples of up to 1024 tokens needs about/);
  const split = planMemory({ ...input, budget: estimateBytes(input, 1, 2) });
  assert.deepEqual([split.batch, split.groups], [1, 3]);
  assert.match(split.notes[0], /each example runs in 6 passes of at most 2 layers/);
  const never = planMemory({ ...input, budget: 1 });
  assert.match(never.notes[0], /running anyway/, 'an impossible budget is noted, never refused');

  const notes: string[] = [];
  const bytes = readFileSync(model).length;
  const budget = estimateBytes({ modelBytes: bytes, stacks: [{ layers: 3, heads: 8 }], tokens: 1024, batch: 1 }, 1, 2);
  const passes = await analyzeModel(
    { model, source: { kind: 'jsonl', path: long }, batch: 4, examples: 4, memoryBudget: budget },
    { onNote: (n) => notes.push(n) },
  );
  const whole = await analyze(long, { examples: 4 });
  assert.equal(notes.filter((n) => /passes/.test(n)).length, 1, `expected one note about passes, got ${JSON.stringify(notes)}`);
  whole.stacks[0].sums.pairSums.forEach((x, i) =>
    assert.ok(Math.abs(x - passes.stacks[0].sums.pairSums[i]) <= 1e-9, `pair sum ${i} differs when run in layer passes`),
  );
  whole.stacks[0].sums.uniformSums.flat().forEach((x, i) => assert.ok(Math.abs(x - passes.stacks[0].sums.uniformSums.flat()[i]) <= 1e-9));
});
