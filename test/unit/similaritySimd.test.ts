// Protects the WebAssembly SIMD kernel (fixed-point pair minima, row scan, worker split, batches) against a slow float64 reference and the JavaScript kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimilarityAccumulator } from '../../analysis/similarity/accumulator';
import type { AttentionInput } from '../../analysis/similarity/inputScan';
import { scanHeadRows } from '../../analysis/similarity/kernel';
import { JsKernel } from '../../analysis/similarity/jsKernel';
import { KernelPool } from '../../analysis/similarity/kernelPool';
import { SimdKernel, simdLayout, simdModuleBytes } from '../../analysis/similarity/simdKernel';
import type { KernelInput, KernelOutput } from '../../analysis/similarity/similarityKernel';
import { openKernel } from '../../analysis/similarity/similarityKernel';
import { assembleModule } from '../../analysis/similarity/wasmAssembler';
import { InputError } from '../../analysis/errors';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

/**
 * Float32 softmax rows of every style the runtime can produce: diffuse, peaked, one-hot, with
 * exact zeros, with tiny values. Causal rows (row p sees the first k - q + p + 1 keys) hold
 * zeros beyond their diagonal.
 */
function randomLayers(rand: () => number, L: number, H: number, q: number, k: number, causal = false): Float32Array[] {
  return Array.from({ length: L }, () => {
    const layer = new Float32Array(H * q * k);
    for (let r = 0; r < H * q; r++) {
      const style = rand();
      const row = new Float64Array(k);
      const seen = causal ? k - q + (r % q) + 1 : k;
      if (style > 0.95) row[Math.floor(rand() * seen)] = 1;
      else {
        const temperature = style < 0.3 ? 0.2 : style < 0.6 ? 4 : style < 0.8 ? 12 : 60;
        for (let x = 0; x < seen; x++) row[x] = style > 0.88 && rand() < 0.3 ? 0 : Math.exp(rand() * temperature);
        // A row of one visible key (a causal row 0) may have drawn a zero: it must still sum to 1.
        if (row.every((v) => v === 0)) row[0] = 1;
        const sum = row.reduce((s, v) => s + v, 0);
        for (let x = 0; x < k; x++) row[x] /= sum;
      }
      layer.set(row, r * k);
    }
    return layer;
  });
}

/** Straight from the definitions, in float64 on the float32 values. */
function reference(layers: Float32Array[], H: number, q: number, k: number, causal = false) {
  const n = layers.length * H;
  const at = (a: number, p: number, x: number) => layers[Math.floor(a / H)][((a % H) * q + p) * k + x];
  const pairL1 = new Float64Array(n * n);
  for (let a = 0; a < n; a++)
    for (let b = a + 1; b < n; b++) {
      let s = 0;
      for (let p = 0; p < q; p++) for (let x = 0; x < k; x++) s += Math.abs(at(a, p, x) - at(b, p, x));
      pairL1[a * n + b] = s;
    }
  const uniform = new Float64Array(n);
  const entropy = new Float64Array(n);
  const entropyNormalized = new Float64Array(n);
  for (let a = 0; a < n; a++) {
    let u = 0;
    let e = 0;
    let normalized = 0;
    for (let p = 0; p < q; p++) {
      // Uniform over the keys the row sees: all, or for a causal row those up to its own position.
      const seen = causal ? k - q + p + 1 : k;
      let row = 0;
      for (let x = 0; x < k; x++) {
        const v = at(a, p, x);
        u += Math.abs(v - (x < seen ? 1 / seen : 0));
        if (v > 0) row -= v * Math.log(v);
      }
      e += row;
      normalized += seen > 1 ? row / Math.log(seen) : 1;
    }
    uniform[a] = 1 - u / (2 * q);
    entropy[a] = e / q;
    entropyNormalized[a] = normalized / q;
  }
  return { pairL1, uniform, entropy, entropyNormalized };
}

type Result = KernelOutput;

function newOutput(n: number): KernelOutput {
  return {
    pairL1: new Float64Array(n * n),
    uniform: new Float64Array(n),
    entropy: new Float64Array(n),
    entropyNormalized: new Float64Array(n),
  };
}

/** The SIMD kernel alone on this thread (`runSimd` never falls back to the JavaScript kernel). */
function runSimd(layers: Float32Array[], H: number, q: number, k: number, causal = false): Result & { bad: number | undefined } {
  const kernel = SimdKernel.create();
  assert.ok(kernel, 'this Node has WebAssembly SIMD; the kernel must start');
  const r = newOutput(layers.length * H);
  return { ...r, bad: kernel.runSimd({ heads: H, queries: q, keys: k, layers, causal }, r, 1e-3) };
}

/** Opens a pool through the one factory and checks that it is the SIMD pool it should be. */
function openPool(threads: number, roundBytes?: number): KernelPool {
  const pool = openKernel({ threads, roundBytes });
  assert.ok(pool instanceof KernelPool, `threads: ${threads} must open a worker pool`);
  assert.ok(pool.simd, 'the pool must use the SIMD kernel where the runtime has it');
  assert.equal(pool.threads, threads);
  return pool;
}

type Shape = [L: number, H: number, q: number, k: number];
/** Shapes written "L H q k, …": layers, heads, query rows, keys. */
const shapesOf = (list: string) => list.split(', ').map((s) => s.split(' ').map(Number) as Shape);
const shapes = shapesOf('1 1 3 3, 1 2 1 1, 2 3 5 2, 3 2 4 7, 2 5 6 9, 4 3 3 64, 3 3 2 129, 2 4 3 300, 1 7 2 1024');

test('SIMD kernel matches the float64 reference: S within k·2⁻³³, baselines within 1e-6', () => {
  const rand = pseudoRandom(11);
  for (const [L, H, q, k] of shapes) {
    const layers = randomLayers(rand, L, H, q, k);
    const got = runSimd(layers, H, q, k);
    const ref = reference(layers, H, q, k);
    const n = L * H;
    const label = `L${L} H${H} q${q} k${k}`;
    assert.equal(got.bad, -1, `${label}: valid rows were reported bad`);
    // Fixed point rounds each value by at most 2⁻³²: ΔS ≤ k·2⁻³³ (the reference's own error is far smaller).
    const bound = k * 2 ** -33 + 1e-12;
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        const dS = Math.abs(got.pairL1[a * n + b] - ref.pairL1[a * n + b]) / (2 * q);
        assert.ok(dS <= bound, `${label} pair (${a}, ${b}): S off by ${dS} > ${bound} (fixed-point rounding or a missed vector)`);
        assert.ok(got.pairL1[a * n + b] >= 0, `${label} pair (${a}, ${b}): negative L1 (totals and minima disagree)`);
      }
      assert.ok(
        Math.abs(got.uniform[a] - ref.uniform[a]) <= 1e-9,
        `${label} head ${a}: uniform ${got.uniform[a]} vs ${ref.uniform[a]} (tail mask?)`,
      );
      assert.ok(
        Math.abs(got.entropy[a] - ref.entropy[a]) <= 1e-6 * Math.max(1, ref.entropy[a]),
        `${label} head ${a}: entropy ${got.entropy[a]} vs ${ref.entropy[a]} (logarithm)`,
      );
      assert.ok(
        Math.abs(got.entropyNormalized[a] - ref.entropyNormalized[a]) <= 1e-6,
        `${label} head ${a}: normalised entropy ${got.entropyNormalized[a]} vs ${ref.entropyNormalized[a]}`,
      );
    }
  }
});

test('causal rows (with and without past keys): SIMD, JavaScript and the pool match the reference; mass beyond the diagonal is a bad row', async () => {
  const rand = pseudoRandom(17);
  const causalShapes = shapesOf('1 1 1 1, 2 3 5 5, 2 2 3 9, 3 2 7 7, 1 3 4 66, 2 2 9 130');
  for (const [L, H, q, k] of causalShapes) {
    const layers = randomLayers(rand, L, H, q, k, true);
    const label = `causal L${L} H${H} q${q} k${k}`;
    const ref = reference(layers, H, q, k, true);
    const simd = runSimd(layers, H, q, k, true);
    const js = newOutput(L * H);
    assert.equal(
      new JsKernel().runExample({ heads: H, queries: q, keys: k, layers, causal: true }, js, 1e-3),
      -1,
      `${label}: JavaScript kernel found a bad row`,
    );
    assert.equal(simd.bad, -1, `${label}: SIMD kernel found a bad row`);
    for (let a = 0; a < L * H; a++) {
      for (const [name, got] of [
        ['SIMD', simd],
        ['JavaScript', js],
      ] as const) {
        assert.ok(
          Math.abs(got.uniform[a] - ref.uniform[a]) <= 1e-9,
          `${label} ${name} head ${a}: uniform over visible keys ${got.uniform[a]} vs ${ref.uniform[a]}`,
        );
        assert.ok(
          Math.abs(got.entropyNormalized[a] - ref.entropyNormalized[a]) <= 1e-6,
          `${label} ${name} head ${a}: normalised entropy ${got.entropyNormalized[a]} vs ${ref.entropyNormalized[a]}`,
        );
      }
    }
    const pool = openPool(2);
    try {
      const out = newOutput(L * H);
      assert.deepEqual(await pool.run([{ heads: H, queries: q, keys: k, layers, causal: true }], [out], 1e-3), [-1]);
      assert.deepEqual(out.uniform, simd.uniform, `${label}: the pool's uniform baseline differs from the single-thread SIMD kernel`);
      assert.deepEqual(out.entropyNormalized, simd.entropyNormalized, `${label}: the pool's normalised entropy differs`);
    } finally {
      await pool.close();
    }
    if (q > 1) {
      // Probability beyond the diagonal of row 0 (the same row sums to 1 again after moving mass).
      const bad = layers.map((l) => l.slice());
      const first = k - q;
      bad[0][first + 1] = 0.25;
      bad[0][first] -= 0.25;
      const jsBad = new JsKernel().runExample({ heads: H, queries: q, keys: k, layers: bad, causal: true }, newOutput(L * H), 1e-3);
      assert.equal(runSimd(bad, H, q, k, true).bad, jsBad, `${label}: SIMD and JavaScript disagree on the row beyond its diagonal`);
      assert.equal(jsBad, 0, `${label}: mass beyond the diagonal must be a bad row`);
    }
  }
});

test('identical heads are exactly similar and one-hot rows exactly dissimilar', () => {
  const k = 13;
  const q = 3;
  const layer = new Float32Array(4 * q * k);
  const rand = pseudoRandom(3);
  for (let r = 0; r < q; r++) {
    let sum = 0;
    const row = Array.from({ length: k }, () => rand());
    row.forEach((v) => (sum += v));
    row.forEach((v, x) => {
      layer[r * k + x] = v / sum;
      layer[(q + r) * k + x] = v / sum;
    });
    layer[(2 * q + r) * k + r] = 1;
    layer[(3 * q + r) * k + r + 1] = 1;
  }
  const got = runSimd([layer], 4, q, k);
  assert.equal(got.pairL1[0 * 4 + 1], 0, 'a head against its copy must have L1 exactly 0');
  assert.equal(got.pairL1[2 * 4 + 3], 2 * q, 'disjoint one-hot rows have L1 exactly 2 per row');
  assert.equal(got.entropy[2], 0, 'one-hot rows have entropy 0');
});

test('first bad row is the one the JavaScript scan reports, in the tail lanes too', () => {
  const rand = pseudoRandom(5);
  const [L, H, q, k] = [3, 2, 4, 7];
  const cases: [layer: number, index: number, value: number][] = [
    [1, (1 * q + 2) * k + 6, NaN],
    [2, (0 * q + 3) * k + 5, Infinity],
    [0, (1 * q + 0) * k + 4, -1e-6],
    [2, (1 * q + 1) * k + 0, 0.5],
    [0, 0, -0],
  ];
  for (const [l, index, value] of cases) {
    const layers = randomLayers(rand, L, H, q, k);
    layers[l][index] = value;
    // A second bad row later on: the lower one must win.
    layers[L - 1][H * q * k - 1] = NaN;
    const n = L * H;
    const js = scanHeadRows(layers, H, q, k, 0, n, 1e-3, newOutput(n));
    assert.equal(runSimd(layers, H, q, k).bad, js, `value ${value} at layer ${l} index ${index}: SIMD scan disagrees on the first bad row`);
  }
});

test('pair sums are bit-identical for any number of worker threads', async () => {
  const rand = pseudoRandom(8);
  const [L, H, q, k] = [3, 5, 6, 21];
  const layers = randomLayers(rand, L, H, q, k);
  const single = runSimd(layers, H, q, k);
  const input = { heads: H, queries: q, keys: k, layers };
  for (const threads of [1, 2, 3, 5]) {
    const pool = openPool(threads);
    try {
      const out = newOutput(L * H);
      // One example: split over every worker.
      assert.deepEqual(await pool.run([input], [out], 1e-3), [-1]);
      assert.deepEqual(out.pairL1, single.pairL1, `${threads} threads: a split changed a pair sum`);
      assert.deepEqual(out.uniform, single.uniform, `${threads} threads: uniform baseline differs`);
      assert.deepEqual(out.entropy, single.entropy, `${threads} threads: entropy differs`);
      assert.deepEqual(out.entropyNormalized, single.entropyNormalized, `${threads} threads: normalised entropy differs`);
    } finally {
      await pool.close();
    }
  }
});

test('a batch on the pool: each example bit-identical to the single-thread kernel, in rounds, bad rows kept apart', async () => {
  const rand = pseudoRandom(31);
  // Mixed lengths and widths in one batch, as a padded batch of real examples gives.
  const shapes: [H: number, q: number, k: number][] = [
    [4, 9, 9],
    [4, 17, 17],
    [4, 3, 30],
    [4, 33, 33],
    [4, 1, 1],
  ];
  const L = 3;
  const inputs = shapes.map(([H, q, k]) => ({ heads: H, queries: q, keys: k, layers: randomLayers(rand, L, H, q, k) }));
  inputs[3].layers[2][(1 * 33 + 5) * 33 + 7] = NaN;
  const singles = inputs.map((x) => runSimd(x.layers, x.heads, x.queries, x.keys));
  assert.ok(singles[3].bad! >= 0 && singles.every((r, i) => i === 3 || r.bad === -1), 'only example 3 has a bad row');
  // One round, rounds of about two examples, and one example per round.
  for (const [threads, roundBytes] of [
    [1, 512 * 2 ** 20],
    [2, 60_000],
    [3, 1],
  ]) {
    const pool = openPool(threads, roundBytes);
    try {
      const n = L * 4;
      const outs = inputs.map(() => newOutput(n));
      const bad = await pool.run(inputs, outs, 1e-3);
      assert.deepEqual(
        bad,
        singles.map((r) => r.bad),
        `${threads} threads, rounds of ${roundBytes} bytes: bad rows`,
      );
      outs.forEach((out, i) => {
        if (i === 3) return;
        assert.deepEqual(out.pairL1, singles[i].pairL1, `${threads} threads: example ${i} pair sums differ`);
        assert.deepEqual(out.uniform, singles[i].uniform, `${threads} threads: example ${i} uniform baseline differs`);
        assert.deepEqual(out.entropy, singles[i].entropy, `${threads} threads: example ${i} entropy differs`);
      });
      // The pool still answers single examples after a batch.
      const out = newOutput(n);
      assert.deepEqual(await pool.run([inputs[1]], [out], 1e-3), [-1]);
      assert.deepEqual(out.pairL1, singles[1].pairL1);
    } finally {
      await pool.close();
    }
  }
});

test('pool: calls queued before close still run; a call after it is refused', async () => {
  const rand = pseudoRandom(51);
  const input = { heads: 2, queries: 4, keys: 4, layers: randomLayers(rand, 2, 2, 4, 4) };
  const pool = openPool(2);
  const first = pool.run([input], [newOutput(4)], 1e-3);
  const second = pool.run([input, input], [newOutput(4), newOutput(4)], 1e-3);
  const closed = pool.close();
  assert.deepEqual(await first, [-1], 'a call queued before close was dropped');
  assert.deepEqual(await second, [-1, -1], 'a batch queued before close was dropped');
  await closed;
  await assert.rejects(pool.run([input], [newOutput(4)], 1e-3), /kernel pool is closed/);
});

test('accumulator: a batch on the pool folds what the single-thread kernel folds; a bad example in it adds none', async () => {
  const rand = pseudoRandom(32);
  const shape = { name: 'encoder', kind: 'self' as const, layerCount: 2, headCount: 3 };
  const one = new SimilarityAccumulator(shape);
  const batched = new SimilarityAccumulator(shape);
  const inputs: AttentionInput[] = [7, 12, 5, 12].map((m) => ({
    name: 'encoder',
    kind: 'self',
    heads: 3,
    queries: m,
    keys: m,
    layers: randomLayers(rand, 2, 3, m, m),
  }));
  const single = openKernel();
  assert.ok(single instanceof SimdKernel, 'the default kernel is SIMD on the calling thread where the runtime has it');
  const pool = openPool(2);
  try {
    for (const input of inputs) await one.add([input], single);
    await batched.add(inputs.slice(0, 3), pool);
    await batched.add(inputs.slice(3), pool);
    assert.deepEqual(batched.toJSON(), one.toJSON(), 'batched sums must equal one-at-a-time sums exactly');
    const bad: AttentionInput = { ...inputs[1], layers: inputs[1].layers.map((l) => l.slice()) };
    bad.layers[1][3 * 12 + 2] = -0.5;
    await assert.rejects(
      batched.add([inputs[0], bad, inputs[2]], pool),
      (err: unknown) =>
        err instanceof InputError && /layer 1 head 0 query 3: row has a negative probability -0.5 at key 2/.test((err as Error).message),
    );
    assert.equal(batched.examples, 4, 'a batch with a bad example adds nothing');
  } finally {
    await pool.close();
  }
});

test('accumulator: SIMD and scalar kernels agree; bad input adds nothing on either', async () => {
  const rand = pseudoRandom(21);
  const shape = { name: 'encoder', kind: 'self' as const, layerCount: 3, headCount: 4 };
  const simd = new SimilarityAccumulator(shape);
  const scalar = new SimilarityAccumulator(shape);
  const simdKernel = openKernel();
  const scalarKernel = openKernel({ kernel: 'scalar' });
  assert.ok(
    simdKernel instanceof SimdKernel && scalarKernel instanceof JsKernel,
    "openKernel must choose the SIMD kernel by default and the JavaScript one for 'scalar'",
  );
  for (const m of [5, 40, 9]) {
    const input: AttentionInput = { name: 'encoder', kind: 'self', heads: 4, queries: m, keys: m, layers: randomLayers(rand, 3, 4, m, m) };
    await simd.add([input], simdKernel);
    await scalar.add([input], scalarKernel);
  }
  const a = simd.toJSON();
  const b = scalar.toJSON();
  a.pairSums.forEach((v, i) => assert.ok(Math.abs(v - b.pairSums[i]) <= 3 * 1e-6, `pair sum ${i}: ${v} vs scalar ${b.pairSums[i]}`));
  const bad: AttentionInput = { name: 'encoder', kind: 'self', heads: 4, queries: 3, keys: 3, layers: randomLayers(rand, 3, 4, 3, 3) };
  bad.layers[1][7] = NaN;
  for (const [acc, kernel] of [
    [simd, simdKernel],
    [scalar, scalarKernel],
  ] as const) {
    await assert.rejects(
      acc.add([bad], kernel),
      (err: unknown) => err instanceof InputError && /layer 1 head 0 query 2: row has NaN/.test((err as Error).message),
    );
    assert.equal(acc.examples, 3, 'a refused example adds nothing');
  }
});

test('float64 input runs on the JavaScript reference whichever kernel is chosen: bit-identical on SIMD and the pool', async () => {
  const rand = pseudoRandom(41);
  const [L, H] = [3, 3];
  const inputs: KernelInput[] = [
    [6, 6],
    [4, 11],
    [9, 9],
  ].map(([q, k]) => ({
    heads: H,
    queries: q,
    keys: k,
    layers: randomLayers(rand, L, H, q, k).map((layer) => Float64Array.from(layer)),
  }));
  const n = L * H;
  const reference = inputs.map(() => newOutput(n));
  assert.deepEqual(await new JsKernel().run(inputs, reference, 1e-3), [-1, -1, -1]);
  const simd = SimdKernel.create()!;
  assert.equal(
    simd.runSimd(inputs[0], newOutput(n), 1e-3),
    undefined,
    'the SIMD kernel must refuse float64 input, not round it to float32',
  );
  const kernels: [string, SimdKernel | KernelPool][] = [
    ['SIMD', simd],
    ['pool of 2', openPool(2)],
    ['pool of 3', openPool(3)],
  ];
  for (const [label, kernel] of kernels) {
    try {
      const outs = inputs.map(() => newOutput(n));
      assert.deepEqual(await kernel.run(inputs, outs, 1e-3), [-1, -1, -1], `${label}: bad rows`);
      outs.forEach((out, i) => assert.deepEqual(out, reference[i], `${label}: float64 example ${i} differs from the JavaScript reference`));
      // One example alone (the pool splits it over its workers).
      const out = newOutput(n);
      assert.deepEqual(await kernel.run([inputs[1]], [out], 1e-3), [-1]);
      assert.deepEqual(out, reference[1], `${label}: a lone float64 example differs from the JavaScript reference`);
    } finally {
      await kernel.close();
    }
  }
});

test('layout refuses examples beyond a 32-bit memory; the assembler rejects what it cannot encode', () => {
  assert.ok(simdLayout(144, 128, 128, 2), 'BERT-base fits');
  assert.equal(
    simdLayout(384, 4096, 4096, 2),
    undefined,
    '384 heads of 4096² float32 values (26 GB) must fall back to the JavaScript kernel',
  );
  assert.ok(simdModuleBytes(), 'the module assembles and validates');
  const fn = { name: 'f', params: [], locals: [], body: 'i32.frobnicate', exported: true };
  assert.throws(
    () => assembleModule({ memory: { initialPages: 1, maximumPages: 1, shared: false }, functions: [fn] }),
    /unknown instruction/,
  );
});
