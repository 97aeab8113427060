// Protects the statistics beside every mean: standard errors equal a direct two-pass computation over per-example values, shards and layer passes fold into the same sums and intervals, sinks and length buckets by hand, and files without them stay readable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkAnalysis, mergeAnalyses } from '../../analysis/result/analysisFile';
import { SimilarityAccumulator } from '../../analysis/similarity/accumulator';
import type { AttentionInput } from '../../analysis/similarity/inputScan';
import { planLayerPasses } from '../../analysis/similarity/layerPasses';
import { openKernel } from '../../analysis/similarity/similarityKernel';
import { Z95 } from '../../analysis/similarity/stackViews';
import { analysisWith } from '../helpers/analysisFixture';
import { root } from '../helpers/paths.mjs';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

const kernel = openKernel();
const shape = { name: 'encoder', kind: 'self' as const, layerCount: 3, headCount: 2 };

/** A random example [layer][head][q][q] of softmax rows, float64 (the 1e-9 path). */
function example(rand: () => number, q: number, index: number): AttentionInput {
  const layers = Array.from({ length: shape.layerCount }, () => {
    const values: number[] = [];
    for (let h = 0; h < shape.headCount; h++) {
      const temperature = 1 + 6 * rand();
      for (let p = 0; p < q; p++) {
        const e = Array.from({ length: q }, () => Math.exp(rand() * temperature));
        const sum = e.reduce((s, x) => s + x, 0);
        values.push(...e.map((x) => x / sum));
      }
    }
    return Float64Array.from(values);
  });
  return { name: 'encoder', kind: 'self', heads: shape.headCount, queries: q, keys: q, layers, example: index, specialKeys: [q - 1] };
}

const examples = (() => {
  const rand = pseudoRandom(16);
  return Array.from({ length: 9 }, (_, t) => example(rand, 3 + ((t * 5) % 11), t));
})();

/** Mean and standard error of values, the slow way: two passes, no sums of squares. */
function direct(values: number[]): { mean: number; se: number } {
  const T = values.length;
  const mean = values.reduce((s, x) => s + x, 0) / T;
  const variance = values.reduce((s, x) => s + (x - mean) ** 2, 0) / (T - 1);
  return { mean, se: Math.sqrt(variance / T) };
}

async function run(inputs: AttentionInput[], shard = { index: 0, count: 1 }): Promise<SimilarityAccumulator> {
  const acc = new SimilarityAccumulator(shape, shard, { specialTokens: true });
  await acc.add(inputs, kernel);
  return acc;
}

test('standard errors equal a direct computation over the per-example values', async () => {
  // Each example alone gives its own S; the run over all of them gives the mean and its error.
  const single = await Promise.all(examples.map((ex) => run([ex]).then((a) => a.finalize())));
  const all = (await run(examples)).finalize();
  const e = all.errors!;
  assert.ok(e, 'errors are missing from a run of several examples: the accumulator no longer keeps squares');
  assert.equal(e.z, Z95);
  const close = (x: number, y: number, what: string) => assert.ok(Math.abs(x - y) <= 1e-12, `${what}: ${x} vs direct ${y}`);
  for (let l = 0; l < 3; l++) {
    for (let h = 0; h < 2; h++) {
      for (let l2 = 0; l2 < 3; l2++) {
        for (let h2 = 0; h2 < 2; h2++) {
          const d = direct(single.map((s) => s.headPairs[l][h][l2][h2]));
          close(e.headPairs.se[l][h][l2][h2], l === l2 && h === h2 ? 0 : d.se, `se of headPairs[${l}][${h}][${l2}][${h2}]`);
          close(e.headPairs.low[l][h][l2][h2], Math.max(0, d.mean - Z95 * d.se), 'interval low');
          close(e.headPairs.high[l][h][l2][h2], Math.min(1, d.mean + Z95 * d.se), 'interval high');
        }
        // c's error is that of the pair attaining it; the layer pair's that of its best head.
        close(e.c.se[l][h][l2], e.headPairs.se[l][h][l2][all.cArgmax[l][h][l2]], `se of c[${l}][${h}][${l2}]`);
      }
      close(e.uniform.se[l][h], direct(single.map((s) => s.uniform[l][h])).se, 'se of uniform');
      close(e.entropy.se[l][h], direct(single.map((s) => s.entropy[l][h])).se, 'se of entropy');
      close(all.sinks!.massSe![l][h], direct(single.map((s) => s.sinks!.mass[l][h])).se, 'se of sink mass');
    }
    for (let l2 = 0; l2 < 3; l2++) {
      const best = [0, 1].reduce((b, h) => (all.c[l][h][l2] > all.c[l][b][l2] ? h : b), 0);
      close(e.layerPairs.se[l][l2], e.c.se[l][best][l2], `se of layerPairs[${l}][${l2}]`);
    }
  }
  assert.equal((await run(examples.slice(0, 1))).finalize().errors, undefined, 'one example has no standard error');
});

test('shards merged (through JSON) give the same intervals as one run', async () => {
  const one = (await run(examples)).finalize();
  const parts = await Promise.all(
    [0, 1, 2].map((i) =>
      run(
        examples.filter((_, t) => t % 3 === i),
        { index: i, count: 3 },
      ),
    ),
  );
  const merged = SimilarityAccumulator.fromJSON(JSON.parse(JSON.stringify(parts[2].toJSON())));
  merged.merge(SimilarityAccumulator.fromJSON(JSON.parse(JSON.stringify(parts[0].toJSON()))));
  merged.merge(parts[1]);
  const m = merged.finalize();
  const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : typeof v === 'number' ? [v] : []);
  for (const [what, a, b] of [
    ['errors', one.errors, m.errors],
    ['sinks', one.sinks, m.sinks],
    ['lengths', one.lengths?.map(Object.values), m.lengths?.map(Object.values)],
  ] as const) {
    const [x, y] = [flat(what === 'lengths' ? a : Object.values(a as object)), flat(what === 'lengths' ? b : Object.values(b as object))];
    assert.equal(x.length, y.length, `${what}: merged shards have another shape`);
    x.forEach((v, i) => assert.ok(Math.abs(v - y[i]) <= 1e-12, `${what}: merged shards differ from one run at ${i}: ${v} vs ${y[i]}`));
  }
});

test('folding an example in layer passes equals folding it whole', async () => {
  const whole = (await run(examples)).toJSON();
  for (const groups of [2, 3]) {
    const acc = new SimilarityAccumulator(shape, undefined, { specialTokens: true });
    for (const pass of planLayerPasses([3], groups)) {
      const p = pass[0]!;
      await acc.add(
        examples.map((ex) => ({ ...ex, layers: p.layers.map((l) => ex.layers[l]) })),
        kernel,
        p,
      );
    }
    const sums = acc.toJSON();
    const flat = (s: typeof whole) =>
      [s.pairSums, s.pairSquares, s.uniformSums, s.entropySums, s.sinks!.massSums, s.lengthBuckets!.map(Object.values)].flat(3) as number[];
    const [x, y] = [flat(whole), flat(sums)];
    x.forEach((v, i) =>
      assert.ok(
        Math.abs(v - y[i]) <= 1e-12,
        `${groups} groups: sum ${i} is ${y[i]}, whole ${v}: a pair or head was folded twice or not at all`,
      ),
    );
    assert.equal(sums.examples, whole.examples, 'an example was counted once per pass');
  }
});

test('sink mass and length buckets by hand', async () => {
  // One layer, two heads, three tokens: head 0 puts everything on token 0, head 1 half on the special token 2.
  const input: AttentionInput = {
    name: 'encoder',
    kind: 'self',
    heads: 2,
    queries: 3,
    keys: 3,
    layers: [Float64Array.from([1, 0, 0, 1, 0, 0, 1, 0, 0, 0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.25, 0.25, 0.5])],
    specialKeys: [2],
  };
  const acc = new SimilarityAccumulator({ name: 'encoder', kind: 'self', layerCount: 1, headCount: 2 }, undefined, { specialTokens: true });
  await acc.add([input], kernel);
  const v = acc.finalize();
  assert.deepEqual(v.sinks!.mass, [[1, 0.75]]);
  assert.deepEqual(v.sinks!.first, [[1, 0.25]]);
  assert.equal(v.sinks!.threshold, 0.5);
  // Lengths 3..13 fall in the buckets [2,3], [4,7], [8,15].
  const buckets = (await run(examples)).finalize().lengths!;
  assert.deepEqual(
    buckets.map((b) => [b.min, b.max, b.examples]),
    [
      [2, 3, 1],
      [4, 7, 3],
      [8, 15, 5],
    ],
  );
  const eights = examples.filter((ex) => ex.queries >= 8).length;
  assert.equal(buckets[2].examples, eights);
});

test('files written before error bars read without them; merging one with a newer part is refused; edited errors are refused', async () => {
  const old = checkAnalysis(
    JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'bad', 'files', 'analysis_bert_opset13.json'), 'utf8')),
    'old.json',
  );
  assert.equal(old.stacks[0].errors, undefined);
  assert.equal(old.stacks[0].sinks, undefined);
  const oldSums = old.stacks[0].sums;
  const newer = SimilarityAccumulator.fromJSON({
    ...oldSums,
    shards: { count: 2, indices: [1] },
    pairSquares: oldSums.pairSums,
    uniformSquares: oldSums.uniformSums,
    entropySquares: oldSums.entropySums,
  });
  const older = SimilarityAccumulator.fromJSON({ ...oldSums, shards: { count: 2, indices: [0] } });
  assert.throws(() => older.merge(newer), /written by an earlier version, without pairSquares/);
  assert.throws(
    () => SimilarityAccumulator.fromJSON({ ...oldSums, pairSquares: oldSums.pairSums }),
    /has pairSquares but not uniformSquares, entropySquares/,
  );

  const acc = await run(examples);
  const fileOf = () => JSON.parse(JSON.stringify(mergeAnalyses([{ path: 'a.json', file: fileWith(acc) }])));
  const edited = fileOf();
  edited.stacks[0].errors.headPairs.se[0][0][1][1] += 0.01;
  assert.throws(
    () => checkAnalysis(edited, 'edited.json'),
    /edited\.json: stacks\[0\]\.errors\.headPairs\.se\[0\]\[0\]\[1\]\[1\] is .* but the sums give/,
  );
  const stripped = fileOf();
  delete stripped.stacks[0].errors;
  assert.throws(() => checkAnalysis(stripped, 'stripped.json'), /stacks\[0\]\.errors is missing, but the sums give it/);
});

function fileWith(acc: SimilarityAccumulator) {
  const base = analysisWith([[[[1]]]], [[0.5]], { hidden: 8, ffn: 16, vocab: 10, maxPositions: 16 });
  const stack = {
    ...base.stacks[0],
    name: 'encoder',
    layerCount: 3,
    headCount: 2,
    tensors: ['p0', 'p1', 'p2'],
    sums: acc.toJSON(),
    ...acc.finalize(),
  };
  return { ...base, run: { ...base.run, examples: acc.examples, tokens: acc.tokens }, stacks: [stack] };
}
