// Protects the fast similarity path (symmetry trick, blocked kernel, worker pool, shard merging) against a slow, obvious float64 reference on seeded random attention.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimilarityAccumulator } from '../../analysis/similarity/accumulator';
import type { AttentionInput } from '../../analysis/similarity/inputScan';
import { addHeadPairL1, splitFirstHeads, splitHeads } from '../../analysis/similarity/kernel';
import { openKernel } from '../../analysis/similarity/similarityKernel';
import type { StackSimilarity } from '../../analysis/similarity/views';
import { InputError } from '../../analysis/errors';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

/** Attention as plain nested arrays [layer][head][query][key], float64. */
type Nested = number[][][][];

/** Softmax rows: some diffuse, some peaked, some with exact zeros (masked keys), one-hot now and then. */
function randomAttention(rand: () => number, L: number, H: number, q: number, k: number): Nested {
  const row = (): number[] => {
    const style = rand();
    const temperature = style < 0.3 ? 0.2 : style < 0.6 ? 4 : 12;
    const logits = Array.from({ length: k }, () => rand() * temperature);
    if (style > 0.97) {
      const hot = Math.floor(rand() * k);
      return logits.map((_, x) => (x === hot ? 1 : 0));
    }
    const e = logits.map((z) => (style > 0.85 && rand() < 0.3 ? 0 : Math.exp(z)));
    if (!e.some((v) => v > 0)) e[0] = 1;
    const sum = e.reduce((s, v) => s + v, 0);
    return e.map((v) => v / sum);
  };
  return Array.from({ length: L }, () => Array.from({ length: H }, () => Array.from({ length: q }, row)));
}

function toInput(a: Nested, name: string, kind: 'self' | 'cross', float32: boolean): AttentionInput {
  const flat = a.map((layer) => layer.flat(2));
  return {
    name,
    kind,
    heads: a[0].length,
    queries: a[0][0].length,
    keys: a[0][0][0].length,
    layers: flat.map((values) => (float32 ? Float32Array.from(values) : Float64Array.from(values))),
  };
}

// ---- The reference: straight from the formulas, float64, no symmetry, no blocking. ----

function similarity(A: number[][], B: number[][]): number {
  let tv = 0;
  for (let p = 0; p < A.length; p++) {
    let l1 = 0;
    for (let x = 0; x < A[p].length; x++) l1 += Math.abs(A[p][x] - B[p][x]);
    tv += 0.5 * l1;
  }
  return 1 - tv / A.length;
}

function reference(examples: Nested[], L: number, H: number): StackSimilarity {
  const T = examples.length;
  const headPairs = Array.from({ length: L }, (_, l) =>
    Array.from({ length: H }, (_, h) =>
      Array.from({ length: L }, (_, l2) =>
        Array.from({ length: H }, (_, h2) => examples.reduce((s, ex) => s + similarity(ex[l][h], ex[l2][h2]), 0) / T),
      ),
    ),
  );
  const c = headPairs.map((byHead) => byHead.map((byLayer) => byLayer.map((values) => Math.max(...values))));
  const cArgmax = headPairs.map((byHead) => byHead.map((byLayer) => byLayer.map((values) => values.indexOf(Math.max(...values)))));
  const layerPairs = Array.from({ length: L }, (_, l) =>
    Array.from({ length: L }, (_, l2) => Math.max(...c[l].map((byLayer) => byLayer[l2]))),
  );
  const sequential = Array.from({ length: L - 1 }, (_, i) =>
    c[i + 1].map((byLayer, head) => ({ head, value: byLayer[i] })).sort((x, y) => x.value - y.value || x.head - y.head),
  );
  const perHead = (f: (A: number[][]) => number): number[][] =>
    Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => examples.reduce((s, ex) => s + f(ex[l][h]), 0) / T));
  const uniform = perHead((A) =>
    similarity(
      A,
      A.map((r) => r.map(() => 1 / r.length)),
    ),
  );
  const entropy = perHead((A) => A.reduce((s, r) => s - r.reduce((e, v) => (v > 0 ? e + v * Math.log(v) : e), 0), 0) / A.length);
  return { headPairs, c, cArgmax, layerPairs, sequential, uniform, entropy };
}

// ---- Comparison ----

function near(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs reference ${expected} (tol ${tol})`,
  );
}

function nearAll(actual: unknown, expected: unknown, tol: number, what: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${what}: shape differs from the reference`);
    expected.forEach((e, i) => nearAll((actual as unknown[])[i], e, tol, `${what}[${i}]`));
  } else near(actual as number, expected as number, tol, what);
}

/** Arg-max and ranking may only differ from the reference where values tie within `tol`. */
function compare(got: StackSimilarity, ref: StackSimilarity, tol: number, label: string): void {
  nearAll(got.headPairs, ref.headPairs, tol, `${label} headPairs (kernel or symmetric fill)`);
  nearAll(got.c, ref.c, tol, `${label} c (mean must come before max)`);
  nearAll(got.layerPairs, ref.layerPairs, tol, `${label} layerPairs`);
  nearAll(got.uniform, ref.uniform, tol, `${label} uniform`);
  nearAll(got.entropy, ref.entropy, tol, `${label} entropy`);
  got.cArgmax.forEach((byHead, l) =>
    byHead.forEach((byLayer, h) =>
      byLayer.forEach((arg, l2) => {
        if (tol < 1e-8) assert.equal(arg, ref.cArgmax[l][h][l2], `${label} cArgmax[${l}][${h}][${l2}]: tie-break or max`);
        else near(ref.headPairs[l][h][l2][arg], ref.c[l][h][l2], tol, `${label} cArgmax[${l}][${h}][${l2}] is not a maximiser`);
      }),
    ),
  );
  assert.equal(got.sequential.length, ref.sequential.length, `${label} sequential has one list per layer 1..L-1`);
  got.sequential.forEach((entries, i) => {
    assert.deepEqual(
      entries.map((e) => e.head).sort((x, y) => x - y),
      [...Array(entries.length).keys()],
      `${label} sequential[${i}] lists each head once`,
    );
    entries.forEach((e, r) => {
      near(e.value, ref.sequential[i][r].value, tol, `${label} sequential[${i}] rank ${r + 1} value`);
      near(e.value, ref.c[i + 1][e.head][i], tol, `${label} sequential[${i}] value is c[l][head][l-1]`);
    });
  });
}

interface Case {
  name: string;
  kind: 'self' | 'cross';
  L: number;
  H: number;
  /** Per example, [queries, keys]. */
  lengths: [number, number][];
}

const cases: Case[] = [
  {
    name: 'encoder',
    kind: 'self',
    L: 3,
    H: 2,
    lengths: [
      [5, 5],
      [1, 1],
      [8, 8],
      [3, 3],
    ],
  },
  {
    name: 'encoder',
    kind: 'self',
    L: 4,
    H: 3,
    lengths: [
      [7, 7],
      [2, 2],
      [9, 9],
    ],
  },
  {
    name: 'encoder',
    kind: 'self',
    L: 1,
    H: 3,
    lengths: [
      [4, 4],
      [6, 6],
    ],
  },
  {
    name: 'encoder',
    kind: 'self',
    L: 5,
    H: 1,
    lengths: [
      [3, 3],
      [10, 10],
      [1, 1],
    ],
  },
  {
    name: 'decoder',
    kind: 'self',
    L: 2,
    H: 5,
    lengths: [
      [6, 6],
      [11, 11],
    ],
  },
  {
    name: 'cross',
    kind: 'cross',
    L: 3,
    H: 2,
    lengths: [
      [4, 9],
      [1, 3],
      [7, 2],
      [5, 5],
    ],
  },
];

function generate(c: Case, seed: number): Nested[] {
  const rand = pseudoRandom(seed);
  return c.lengths.map(([q, k]) => randomAttention(rand, c.L, c.H, q, k));
}

/** The default kernel on this thread: SIMD for float32 where the runtime has it, the JavaScript reference for float64. */
const kernel = openKernel();

/** One example at a time, on `kernel`. */
async function accumulate(c: Case, examples: Nested[], float32: boolean): Promise<SimilarityAccumulator> {
  const acc = new SimilarityAccumulator({ name: c.name, kind: c.kind, layerCount: c.L, headCount: c.H });
  for (const ex of examples) await acc.add([toInput(ex, c.name, c.kind, float32)], kernel);
  return acc;
}

test('accumulator equals the slow reference: 1e-9 on float64 input, 1e-6 on float32', async () => {
  for (const [i, c] of cases.entries()) {
    const examples = generate(c, 1000 + i);
    const ref = reference(examples, c.L, c.H);
    const label = `${c.kind} L${c.L} H${c.H}`;
    compare((await accumulate(c, examples, false)).finalize(), ref, 1e-9, `${label} float64`);
    compare((await accumulate(c, examples, true)).finalize(), ref, 1e-6, `${label} float32`);
  }
});

test('kernel results do not depend on how the first heads are split', () => {
  const rand = pseudoRandom(7);
  for (const [L, H, m] of [
    [3, 3, 6],
    [2, 4, 5],
    [1, 2, 3],
    [4, 5, 2],
  ] as const) {
    const input = toInput(randomAttention(rand, L, H, m, m), 'encoder', 'self', true);
    const n = L * H;
    const scratch = new Float64Array(n * m);
    const whole = new Float64Array(n * n);
    addHeadPairL1(input.layers, H, m, m, 0, n, whole, scratch);
    for (const parts of [1, 2, 3, 5, 64]) {
      const ranges = splitFirstHeads(n, parts);
      assert.ok(
        ranges.length <= parts && ranges[0].begin === 0 && ranges[ranges.length - 1].end === n - 1,
        `ranges must cover first heads 0..${n - 2}`,
      );
      ranges.forEach((r, i) =>
        assert.ok(r.begin < r.end && (i === 0 || ranges[i - 1].end === r.begin), 'ranges must be contiguous and non-empty'),
      );
      const split = new Float64Array(n * n);
      for (const r of ranges) addHeadPairL1(input.layers, H, m, m, r.begin, r.end, split, scratch);
      assert.deepEqual(split, whole, `${parts} parts over ${n} heads: a split changed a pair's summation order or missed a pair`);
    }
    for (const parts of [1, 3, 40]) {
      const ranges = splitHeads(n, parts);
      assert.equal(
        ranges.map((r) => r.end - r.begin).reduce((s, v) => s + v, 0),
        n,
        'head ranges must cover every head once',
      );
    }
  }
});

test('worker pool gives the same sums as the single-thread path', async () => {
  const pool = openKernel({ threads: 3 });
  try {
    for (const [i, c] of cases.entries()) {
      for (const float32 of [false, true]) {
        const examples = generate(c, 2000 + i);
        const single = await accumulate(c, examples, float32);
        const pooled = new SimilarityAccumulator({ name: c.name, kind: c.kind, layerCount: c.L, headCount: c.H });
        // Overlapping calls of one example each (split over the workers): the pool queues them and they fold in call order.
        await Promise.all(examples.map((ex) => pooled.add([toInput(ex, c.name, c.kind, float32)], pool)));
        nearAll(pooled.toJSON().pairSums, single.toJSON().pairSums, 1e-9, `pool ${c.kind} L${c.L} H${c.H} pair sums`);
        nearAll(pooled.toJSON().uniformSums, single.toJSON().uniformSums, 1e-9, 'pool uniform sums');
        nearAll(pooled.toJSON().entropySums, single.toJSON().entropySums, 1e-9, 'pool entropy sums');
        assert.equal(pooled.examples, single.examples, 'pool example count');
        assert.deepEqual(
          pooled.toJSON(),
          single.toJSON(),
          'pool sums must be bit-identical to the single-thread kernel (same code, same order)',
        );
        // A whole batch at once (float64 goes through the general path one example at a time).
        const batched = new SimilarityAccumulator({ name: c.name, kind: c.kind, layerCount: c.L, headCount: c.H });
        await batched.add(
          examples.map((ex) => toInput(ex, c.name, c.kind, float32)),
          pool,
        );
        nearAll(batched.toJSON().pairSums, single.toJSON().pairSums, 1e-9, `batch ${c.kind} L${c.L} H${c.H} pair sums`);
        nearAll(batched.toJSON().uniformSums, single.toJSON().uniformSums, 1e-9, 'batch uniform sums');
        nearAll(batched.toJSON().entropySums, single.toJSON().entropySums, 1e-9, 'batch entropy sums');
        assert.equal(batched.examples, single.examples, 'batch example count');
        assert.deepEqual(batched.toJSON(), single.toJSON(), 'batch sums must be bit-identical to the single-thread kernel');
      }
    }
    // A bad row found by a worker is reported like the single-thread path reports it.
    const c = cases[1];
    const bad = toInput(generate(c, 3)[2], c.name, c.kind, true);
    bad.layers[3][2 * 81 + 4 * 9 + 1] = NaN;
    const acc = new SimilarityAccumulator({ name: c.name, kind: c.kind, layerCount: c.L, headCount: c.H });
    const single = await acc.add([bad], kernel).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(
      single instanceof InputError && /layer 3 head 2 query 4: row has NaN at key 1/.test(single.message),
      `single-thread error: ${single}`,
    );
    await assert.rejects(
      acc.add([bad], pool),
      (err: unknown) => err instanceof InputError && err.message === single.message,
      'pool must report the same first bad row',
    );
    assert.equal(acc.examples, 0, 'a refused example adds nothing');
  } finally {
    await pool.close();
  }
});

test('shards merged in any order, through JSON, equal one run', async () => {
  const c: Case = { name: 'encoder', kind: 'self', L: 3, H: 3, lengths: Array.from({ length: 10 }, (_, e) => [2 + (e % 5), 2 + (e % 5)]) };
  const examples = generate(c, 99);
  const whole = await accumulate(c, examples, true);
  const rand = pseudoRandom(5);
  const shape = { name: c.name, kind: c.kind, layerCount: c.L, headCount: c.H };
  // Round-robin assignment (example e to shard e mod 3), each shard fed in a shuffled order.
  const shards = [0, 1, 2].map((index) => new SimilarityAccumulator(shape, { index, count: 3 }));
  const order = examples.map((_, e) => e).sort(() => rand() - 0.5);
  for (const e of order) await shards[e % 3].add([toInput(examples[e], c.name, c.kind, true)], kernel);
  const files = shards.map((s) => JSON.stringify(s.toJSON()));
  for (const mergeOrder of [
    [0, 1, 2],
    [2, 0, 1],
    [1, 2, 0],
  ]) {
    const [first, ...rest] = mergeOrder.map((i) => SimilarityAccumulator.fromJSON(JSON.parse(files[i])));
    for (const s of rest) first.merge(s);
    assert.equal(first.examples, whole.examples, 'merged example count');
    assert.equal(first.tokens, whole.tokens, 'merged token count');
    assert.ok(first.complete, 'all shards present');
    compare(first.finalize(), whole.finalize(), 1e-9, `merge order ${mergeOrder.join(',')}`);
  }
  // Pairwise merges first, then the rest: merging is associative.
  const a = SimilarityAccumulator.fromJSON(JSON.parse(files[2]));
  const b = SimilarityAccumulator.fromJSON(JSON.parse(files[0]));
  b.merge(SimilarityAccumulator.fromJSON(JSON.parse(files[1])));
  a.merge(b);
  compare(a.finalize(), whole.finalize(), 1e-9, 'merge of a merge');
  assert.throws(() => a.merge(SimilarityAccumulator.fromJSON(JSON.parse(files[1]))), InputError, 'the same shard twice must be refused');
});
