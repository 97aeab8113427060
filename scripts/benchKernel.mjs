// Micro-benchmark of the similarity kernel (not a test): BERT-base-shaped random attention,
// single thread vs worker pool. Run after `npx tsc -b`:
//   node scripts/benchKernel.mjs [--layers 12] [--heads 12] [--tokens 128] [--examples 8] [--threads N]
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';

const require = createRequire(import.meta.url);
const { addHeadPairL1, kernelScratchLength, scanHeadRows } = require('../out/analysis/similarity/kernel.js');
const { KernelPool } = require('../out/analysis/similarity/kernelPool.js');
const { SimilarityAccumulator } = require('../out/analysis/similarity/accumulator.js');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const L = arg('layers', 12);
const H = arg('heads', 12);
const m = arg('tokens', 128);
const examples = arg('examples', 8);
const threads = arg('threads', availableParallelism());

// Seeded softmax rows; a third of the heads peaked, like trained attention.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(42);
function example() {
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
const inputs = Array.from({ length: Math.min(examples, 4) }, example);
const n = L * H;
const pairRows = ((n * (n - 1)) / 2) * m;
const attentionBytes = n * m * m * 4;

// Wall time per example, and CPU time of all threads per example: on a shared machine the
// CPU figure shows the kernel's own cost even when other processes steal the cores.
function report(label, { wall, cpu }, pairs = true) {
  const s = wall / 1000;
  const rates = pairs
    ? `  ${(pairRows / s / 1e6).toFixed(1)} M pair-rows/s  ${((pairRows * m) / s / 1e9).toFixed(2)} G abs-diffs/s`
    : '';
  console.log(
    `${label.padEnd(32)} ${wall.toFixed(1).padStart(7)} ms/example (cpu ${cpu.toFixed(1).padStart(6)} ms)  ` +
      `${(attentionBytes / s / 1e9).toFixed(3)} GB/s attention read${rates}`,
  );
}

async function time(fn) {
  // Warm-up: lets V8 optimise (in every worker too) before timing.
  for (let w = 0; w < 2; w++) await fn(inputs[w % inputs.length]);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let e = 0; e < examples; e++) await fn(inputs[e % inputs.length]);
  const wall = (performance.now() - t0) / examples;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 / examples };
}

console.log(`L=${L} H=${H} m=${m}: ${n} heads, ${pairRows / m} head pairs, ${(attentionBytes / 1e6).toFixed(1)} MB float32 attention per example`);
const out = new Float64Array(n * n);
const scratch = new Float64Array(kernelScratchLength(L, H, m));
report('kernel, 1 thread', await time((x) => {
  out.fill(0);
  addHeadPairL1(x.layers, H, m, m, 0, n, out, scratch);
}));
const uniform = new Float64Array(n);
const entropy = new Float64Array(n);
report('row scan, 1 thread', await time((x) => scanHeadRows(x.layers, H, m, m, 0, n, 1e-3, uniform, entropy)), false);
const acc = new SimilarityAccumulator({ name: 'encoder', kind: 'self', layerCount: L, headCount: H });
report('accumulator.add, 1 thread', await time((x) => acc.add(x)));
for (const t of [...new Set([1, 2, threads])].filter((t) => t <= threads)) {
  const pool = KernelPool.open(t);
  report(`kernel + row scan, pool of ${t}`, await time((x) => pool.compute(x, { pairL1: out, uniform, entropy }, 1e-3)));
  report(`accumulator, pool of ${t}`, await time((x) => acc.addWithPool(x, pool)));
  await pool.close();
}
console.log(`(${availableParallelism()} cores available; GB/s counts each attention byte once per example)`);
