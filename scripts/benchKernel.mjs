// Micro-benchmark of the similarity kernel (not a test): BERT-base-shaped random attention,
// the JavaScript reference kernel against the WebAssembly SIMD kernel, one thread and a pool,
// and the machine's peaks for the same operations. Run after `npx tsc -b`:
//   node scripts/benchKernel.mjs [--layers 12] [--heads 12] [--tokens 128] [--examples 8]
// `npm run bench` reports the same figures beside the end-to-end ones.
import { availableParallelism } from 'node:os';
import { kernelFigures, peakFigures } from './bench/kernelFigures.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const L = arg('layers', 12);
const H = arg('heads', 12);
const m = arg('tokens', 128);
const examples = arg('examples', 8);

const f = await kernelFigures(L, H, m, examples);
const p = peakFigures();
const n = L * H;
console.log(
  `L=${L} H=${H} m=${m}: ${n} heads, ${(n * (n - 1)) / 2} head pairs, ${(f.pairElements / 1e6).toFixed(1)} M pair elements, ${(f.attentionBytes / 1e6).toFixed(1)} MB float32 attention per example`,
);
const row = (label, r, unit) =>
  console.log(
    `${label.padEnd(34)} ${r.msPerExample.toFixed(2).padStart(8)} ms/example (cpu ${r.cpuMsPerExample.toFixed(2).padStart(8)} ms)  ${(r.perSecond / 1e9).toFixed(2).padStart(6)} G ${unit}/s`,
  );
row('JS kernel, 1 thread', f.scalarPairs, 'abs-diffs');
if (f.simdPairs) row(`SIMD kernel (${f.block} blocks), 1 thread`, f.simdPairs, 'pair elements');
row('JS row scan, 1 thread', f.scalarScan, 'values');
if (f.simdScan) row('SIMD row scan, 1 thread', f.simdScan, 'values');
row('accumulator.add, JS', f.scalarAdd, 'pair elements');
row('accumulator.add, SIMD', f.simdAdd, 'pair elements');
row('accumulator, pool of 2, JS', f.scalarPool2, 'pair elements');
row('accumulator, pool of 2, SIMD', f.simdPool2, 'pair elements');
console.log(
  `peaks: in-register i32x4 min+add ${(p.minAddPairElementsPerSecond / 1e9).toFixed(1)} G pair elements/s; the kernel's block loop on L1 rows ` +
    `${(p.blockLoopL1PairElementsPerSecond / 1e9).toFixed(1)} G/s; reads ${(p.readL1BytesPerSecond / 1e9).toFixed(0)} GB/s (L1), ` +
    `${(p.readL2BytesPerSecond / 1e9).toFixed(0)} GB/s (L2), ${(p.readmemoryBytesPerSecond / 1e9).toFixed(0)} GB/s (memory)`,
);
console.log(
  `(${availableParallelism()} cores available; a pair element is one |a - b| (JS) or one min(a, b) (SIMD) of one key in one query row)`,
);
