// The similarity kernel alone, against the machine's bounds: the JavaScript reference kernel,
// the WebAssembly SIMD kernel (pair minima and row scan separately), whole examples through
// the accumulator and a worker pool, and peaks measured with trivial SIMD loops (in-register
// min+add, the kernel's own block loop on L1-resident rows, and streaming reads).
// Needs the compiled analysis (`npx tsc -b`).
import { createRequire } from 'node:module';
import { pseudoRandom } from '../../test/helpers/random.mjs';

const require = createRequire(import.meta.url);
const sim = (path) => require(`../../out/analysis/similarity/${path}`);
const { addHeadPairL1, kernelScratchLength, scanHeadRows } = sim('kernel.js');
const { openKernel } = sim('similarityKernel.js');
const { SimilarityAccumulator } = sim('accumulator.js');
const { instantiateSimd, loadExample, newSimdMemory, simdLayout, simdModuleBytes, sweepVectors } = sim('simdKernel.js');
const { blockCols, blockRows } = sim('simdSource.js');
const { assembleModule } = sim('wasmAssembler.js');

/** Seeded softmax rows, a third of the heads peaked like trained attention. */
export function randomExample(L, H, m, seed = 42) {
  const rand = pseudoRandom(seed);
  const layers = [];
  for (let l = 0; l < L; l++) {
    const a = new Float32Array(H * m * m);
    for (let h = 0; h < H; h++) {
      const temp = h % 3 === 0 ? 8 : 1;
      for (let p = 0; p < m; p++) {
        const row = (h * m + p) * m;
        let sum = 0;
        for (let x = 0; x < m; x++) sum += a[row + x] = Math.exp(temp * rand() * 3);
        for (let x = 0; x < m; x++) a[row + x] /= sum;
      }
    }
    layers.push(a);
  }
  return { name: 'encoder', kind: 'self', heads: H, queries: m, keys: m, layers };
}

/** Best of `repeats` runs of `count` calls: wall and CPU ms per call (CPU counts every thread). */
async function time(fn, count, repeats = 3) {
  // Several calls first: V8 runs WebAssembly in its baseline tier until a function has been hot.
  for (let i = 0; i < 3; i++) await fn();
  let best = { wall: Infinity, cpu: Infinity };
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await fn();
    const wall = (performance.now() - t0) / count;
    const c = process.cpuUsage(c0);
    if (wall < best.wall) best = { wall, cpu: (c.user + c.system) / 1000 / count };
  }
  return best;
}

const rate = (t, perCall) => ({
  msPerExample: +t.wall.toFixed(3),
  cpuMsPerExample: +t.cpu.toFixed(3),
  perSecond: perCall / (t.wall / 1000),
});

export async function kernelFigures(L, H, m, examples) {
  const x = randomExample(L, H, m);
  const n = L * H;
  const pairElements = ((n * (n - 1)) / 2) * m * m;
  const values = n * m * m;
  const figures = {
    shape: { layers: L, heads: H, tokens: m },
    pairElements,
    attentionBytes: values * 4,
    block: `${blockRows}x${blockCols}`,
  };

  const out = new Float64Array(n * n);
  const scratch = new Float64Array(kernelScratchLength(L, H, m));
  const u = new Float64Array(n);
  const e = new Float64Array(n);
  const few = Math.max(1, Math.ceil(examples / 4));
  figures.scalarPairs = rate(await time(() => (out.fill(0), addHeadPairL1(x.layers, H, m, m, 0, n, out, scratch)), few), pairElements);
  figures.scalarScan = rate(await time(() => scanHeadRows(x.layers, H, m, m, 0, n, 1e-3, u, e), few), values);

  const bytes = simdModuleBytes();
  if (bytes) {
    const memory = newSimdMemory();
    const k = instantiateSimd(bytes, memory);
    const layout = simdLayout(n, m, m, 1);
    loadExample(memory, layout, x.layers, n);
    figures.simdPairs = rate(
      await time(() => k.pairMins(layout.input, n, m, m, 0, n - 1, layout.out, layout.rows[0], sweepVectors), examples),
      pairElements,
    );
    figures.simdScan = rate(
      await time(
        () => k.scanRows(layout.input, m, m, 0, n, 1e-3, layout.totals, layout.uniform, layout.entropy, 0, layout.norm, layout.entropyNorm),
        examples,
      ),
      values,
    );
  }
  for (const kernel of ['scalar', 'simd']) {
    const acc = new SimilarityAccumulator({ name: 'encoder', kind: 'self', layerCount: L, headCount: H });
    const single = openKernel({ kernel });
    figures[`${kernel}Add`] = rate(await time(() => acc.add([x], single), kernel === 'simd' ? examples : few), pairElements);
    await single.close();
    for (const threads of [2]) {
      // One example per call: split over the pool's threads.
      const pool = openKernel({ kernel, threads });
      figures[`${kernel}Pool${threads}`] = rate(await time(() => acc.add([x], pool), kernel === 'simd' ? examples : few), pairElements);
      await pool.close();
    }
  }
  return figures;
}

let chain;
/**
 * The core's clock in GHz, estimated from a chain of dependent 1-cycle integer ops (about
 * 0.1 s): a drop between measurements shows frequency scaling or a busy host.
 */
export function clockProbe() {
  chain ??= new WebAssembly.Instance(
    new WebAssembly.Module(
      assembleModule({
        memory: { initialPages: 1, maximumPages: 1, shared: false },
        functions: [
          {
            name: 'chain',
            params: [['n', 'i32']],
            result: 'i32',
            locals: [['x', 'i32']],
            exported: true,
            body: `loop $l
              local.get $x local.get $n i32.add local.set $x
              local.get $x local.get $n i32.xor local.set $x
              local.get $x i32.const 7 i32.add local.set $x
              local.get $x i32.const 3 i32.xor local.set $x
              local.get $n i32.const 1 i32.sub local.tee $n br_if $l
            end local.get $x`,
          },
        ],
      }),
    ),
    { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1 }) } },
  ).exports.chain;
  for (let i = 0; i < 200; i++) chain(1000);
  const n = 1e7;
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    chain(n);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return (4 * n) / best / 1e9;
}

/** Peaks of this machine for the kernel's operations, from loops that do nothing else. */
export function peakFigures() {
  const accs = Array.from({ length: 12 }, (_, i) => `a${i}`);
  const sumTo0 = `${accs.map((a) => `local.get $${a}`).join(' ')} ${accs
    .slice(1)
    .map(() => 'i32x4.add')
    .join(' ')} local.set $a0 i32.const 0 local.get $a0 v128.store`;
  const functions = [
    {
      name: 'minAdd',
      params: [['n', 'i32']],
      locals: [['c', 'v128'], ...accs.map((a) => [a, 'v128'])],
      exported: true,
      body: `v128.const i32x4 1 2 3 4 local.set $c
        loop $l
          ${accs.map((a) => `local.get $${a} local.get $${a} local.get $c i32x4.min_u i32x4.add local.set $${a}`).join('\n')}
          local.get $n i32.const 1 i32.sub local.tee $n br_if $l
        end ${sumTo0}`,
    },
    {
      name: 'read',
      params: [
        ['n', 'i32'],
        ['base', 'i32'],
        ['bytes', 'i32'],
      ],
      locals: [['p', 'i32'], ['end', 'i32'], ...accs.map((a) => [a, 'v128'])],
      exported: true,
      body: `local.get $base local.get $bytes i32.add local.set $end
        loop $l
          local.get $base local.set $p
          loop $in
            ${accs
              .slice(0, 4)
              .map((a, i) => `local.get $${a} local.get $p v128.load offset=${i * 16} i32x4.add local.set $${a}`)
              .join('\n')}
            local.get $p i32.const 64 i32.add local.tee $p local.get $end i32.lt_u br_if $in
          end
          local.get $n i32.const 1 i32.sub local.tee $n br_if $l
        end ${sumTo0}`,
    },
  ];
  const memory = new WebAssembly.Memory({ initial: 4200, maximum: 4200 });
  const peak = new WebAssembly.Instance(
    new WebAssembly.Module(assembleModule({ memory: { initialPages: 4200, maximumPages: 4200, shared: false }, functions })),
    {
      env: { memory },
    },
  ).exports;
  new Uint32Array(memory.buffer).fill(7);
  const best = (fn, warm) => {
    // Short calls until V8 has swapped in optimized code (it does so between calls, not inside a long one).
    const until = performance.now() + 300;
    while (performance.now() < until) warm();
    let t = Infinity;
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      fn();
      t = Math.min(t, (performance.now() - t0) / 1000);
    }
    return t;
  };
  const iterations = 5e7;
  const figures = {
    minAddPairElementsPerSecond:
      (iterations * accs.length * 4) /
      best(
        () => peak.minAdd(iterations),
        () => peak.minAdd(1000),
      ),
  };
  for (const [label, bytes] of [
    ['L1', 16 << 10],
    ['L2', 512 << 10],
    ['memory', 256 << 20],
  ]) {
    const reps = Math.max(1, Math.round((2 << 30) / bytes));
    figures[`read${label}BytesPerSecond`] =
      (reps * bytes) /
      best(
        () => peak.read(reps, 65536, bytes),
        () => peak.read(1, 65536, 16 << 10),
      );
  }
  // The kernel's block loop on rows that stay in L1 (8 heads × 32 vectors): its own ceiling.
  const bytesK = simdModuleBytes();
  if (bytesK) {
    const kmem = newSimdMemory();
    kmem.grow(2);
    const k = instantiateSimd(bytesK, kmem);
    const block = k[`pairs_${blockRows}x${blockCols}`];
    const heads = 8;
    const vectors = 32;
    const calls = 2e5;
    const run = (count) => {
      for (let i = 0; i < count; i++) block(65536, 65536 + blockRows * 16, heads * 16, vectors * heads * 16, 0, heads * 8);
    };
    const t = best(
      () => run(calls),
      () => run(100),
    );
    figures.blockLoopL1PairElementsPerSecond = (calls * blockRows * blockCols * vectors * 4) / t;
    figures.blockLoopBytesPerPairElement = ((blockRows + blockCols) * 16) / (blockRows * blockCols * 4);
  }
  return figures;
}
