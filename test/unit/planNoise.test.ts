// Protects what plan reads from an analysis's statistics: costs at the analysed mean length, the ± of similarity kept (a bound that holds against the per-example values), "within noise" exactly where intervals overlap, and --exclude-sinks scoring sink pairs 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPlan } from '../../analysis/cli/planCommand';
import { planMessage } from '../../extension/panelPayloads';
import { analysisStacks } from '../../analysis/result/analysisFile';
import { planStack } from '../../analysis/planner/plan';
import type { PlannerStack } from '../../analysis/planner/plan';
import { reusePairs, similarityKept } from '../../analysis/planner/headAssignment';
import { SimilarityAccumulator } from '../../analysis/similarity/accumulator';
import type { AttentionInput } from '../../analysis/similarity/inputScan';
import { openKernel } from '../../analysis/similarity/similarityKernel';
import { Z95 } from '../../analysis/similarity/stackViews';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

const kernel = openKernel();
const shape = { name: 'encoder', kind: 'self' as const, layerCount: 4, headCount: 3 };
const dims = { hidden: 24, ffn: 96, vocab: 50, maxPositions: 64 };

/** A random example of softmax rows; head (0, 0) parks most of its attention on the first token (a sink). */
function example(rand: () => number, q: number, index: number): AttentionInput {
  const layers = Array.from({ length: shape.layerCount }, (_, l) => {
    const values: number[] = [];
    for (let h = 0; h < shape.headCount; h++) {
      const temperature = 1 + 4 * rand();
      for (let p = 0; p < q; p++) {
        const e = Array.from({ length: q }, (_, k) => Math.exp(rand() * temperature) * (l === 0 && h === 0 && k === 0 ? 40 * q : 1));
        const sum = e.reduce((s, x) => s + x, 0);
        values.push(...e.map((x) => x / sum));
      }
    }
    return Float64Array.from(values);
  });
  return { name: 'encoder', kind: 'self', heads: shape.headCount, queries: q, keys: q, layers, example: index, specialKeys: [] };
}

const rand = pseudoRandom(23);
const inputs = Array.from({ length: 8 }, (_, t) => example(rand, 5 + (t % 4), t));

async function stackOf(examples: AttentionInput[]) {
  const acc = new SimilarityAccumulator(shape, { index: 0, count: 1 }, { specialTokens: false });
  await acc.add(examples, kernel);
  const [stack] = analysisStacks([acc], [{ name: 'encoder', kind: 'self', tensors: ['a', 'b', 'c', 'd'], dims }]);
  return stack;
}

test('plan costs at the analysed mean length unless --seq-len says otherwise; files without sums keep the position count', async () => {
  const stack = await stackOf(inputs);
  const mean = inputs.reduce((s, x) => s + x.queries, 0) / inputs.length;
  const plan = planStack(stack);
  assert.equal(plan.seqLen, Math.round(mean), 'the default length is not the mean real tokens per example');
  assert.equal(plan.seqLenFrom, 'analysis');
  assert.ok(
    plan.candidates.every((c) => c.cost.seqLen === Math.round(mean)),
    'a candidate was costed at another length',
  );
  assert.match(formatPlan(plan), new RegExp(`n = ${Math.round(mean)} \\(the analysed mean length`));
  assert.equal(planStack(stack, { seqLen: 40 }).seqLen, 40, '--seq-len no longer overrides');
  const old: PlannerStack = { ...stack, sums: undefined, errors: undefined, sinks: undefined };
  assert.equal(planStack(old).seqLen, dims.maxPositions);
});

test('the ± of similarity kept bounds the standard error of the per-example similarity kept', async () => {
  const stack = await stackOf(inputs);
  const single = await Promise.all(inputs.map((x) => stackOf([x])));
  const plan = planStack(stack);
  let checked = 0;
  for (const c of plan.candidates) {
    if (c.similarityKept === null) continue;
    const pairs = reusePairs(c.heads);
    const bound = pairs.reduce((s, p) => s + stack.errors!.headPairs.se[p.layer][p.head][p.sourceLayer][p.sourceHead], 0) / pairs.length;
    assert.ok(Math.abs(c.similarityKeptSe! - bound) <= 1e-12, `${c.mode} P=${c.P} K=${c.K}: ± is not the mean of the pairs' errors`);
    // The slow way: similarity kept of each example alone, then its standard error.
    const values = single.map((s) => similarityKept(c.heads, s.headPairs)!);
    const m = values.reduce((s, x) => s + x, 0) / values.length;
    const se = Math.sqrt(values.reduce((s, x) => s + (x - m) ** 2, 0) / (values.length - 1) / values.length);
    assert.ok(Math.abs(m - c.similarityKept) <= 1e-9, 'similarity kept is not the mean of the per-example values');
    assert.ok(se <= c.similarityKeptSe! + 1e-12, `${c.mode} P=${c.P} K=${c.K}: direct se ${se} above the bound ${c.similarityKeptSe}`);
    checked++;
  }
  assert.ok(checked >= 4, 'too few candidates with similarity to check');
});

test('"within noise" names exactly the candidates under the target whose 95% intervals overlap the recommendation', async () => {
  const stack = await stackOf(inputs);
  const plan = planStack(stack, { targetFlops: 0.95 });
  const r = plan.candidates[plan.recommended!];
  const expected = plan.candidates
    .map((c, i) => ({ c, i }))
    .filter(({ c, i }) => i !== plan.recommended && c.similarityKept !== null && c.cost.flopsRatio <= 0.95)
    .filter(({ c }) => Math.abs(c.similarityKept! - r.similarityKept!) <= Z95 * (c.similarityKeptSe! + r.similarityKeptSe!))
    .map(({ i }) => i)
    .sort();
  assert.deepEqual([...plan.withinNoise!].sort(), expected);
  assert.ok(expected.length > 0, 'the fixture should have candidates the data cannot tell apart');
  assert.match(formatPlan(plan), /within noise of it \(95% intervals overlap/);
  const old: PlannerStack = { ...stack, errors: undefined };
  assert.equal(planStack(old).withinNoise, undefined, 'a file without errors cannot say what is within noise');
  assert.doesNotMatch(formatPlan(planStack(old)), /±|within noise/);
});

test('--exclude-sinks scores every pair with a sink head 0 and is refused for a file without sinks', async () => {
  const stack = await stackOf(inputs);
  assert.ok(stack.sinks!.mass[0][0] >= stack.sinks!.threshold, 'the fixture head (0, 0) should be a sink');
  const plan = planStack(stack, { excludeSinks: true });
  assert.deepEqual(plan.excludedSinks, [[0, 0]]);
  const isSink = (l: number, h: number) => l === 0 && h === 0;
  for (const c of plan.candidates) {
    if (c.similarityKept === null) continue;
    const pairs = reusePairs(c.heads);
    const slow =
      pairs.reduce(
        (s, p) =>
          s +
          (isSink(p.layer, p.head) || isSink(p.sourceLayer, p.sourceHead)
            ? 0
            : stack.headPairs[p.layer][p.head][p.sourceLayer][p.sourceHead]),
        0,
      ) / pairs.length;
    assert.ok(Math.abs(c.similarityKept - slow) <= 1e-12, `${c.mode} P=${c.P} K=${c.K}: a sink pair still counts`);
  }
  assert.match(formatPlan(plan), /sinks excluded: L0H0/);
  assert.throws(
    () => planStack({ ...stack, sinks: undefined }, { excludeSinks: true }),
    (e: Error & { field?: string }) => /no sink measurements/.test(e.message) && e.field === 'excludeSinks',
  );
});

test("the panel gets each candidate's 95% interval of similarity kept and which candidates are within noise", async () => {
  const stack = await stackOf(inputs);
  const plan = planStack(stack, { targetFlops: 0.95 });
  const message = planMessage(plan);
  message.candidates.forEach((m, i) => {
    const c = plan.candidates[i];
    if (c.similarityKept === null) return assert.equal(m.keptInterval, undefined);
    assert.ok(Math.abs(m.keptInterval![0] - Math.max(0, c.similarityKept - Z95 * c.similarityKeptSe!)) <= 1e-12, `candidate ${i}: low end`);
    assert.ok(
      Math.abs(m.keptInterval![1] - Math.min(1, c.similarityKept + Z95 * c.similarityKeptSe!)) <= 1e-12,
      `candidate ${i}: high end`,
    );
    assert.equal(m.withinNoise === true, plan.withinNoise!.includes(i), `candidate ${i}: within-noise flag`);
  });
  assert.ok(
    message.candidates.some((m) => m.withinNoise),
    'no candidate flagged within noise',
  );
});
