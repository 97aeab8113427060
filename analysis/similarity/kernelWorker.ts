/**
 * A worker thread of `KernelPool`: runs the jobs the pool posts (`kernelProtocol.ts`) on the
 * WebAssembly SIMD kernel or the JavaScript one, writing into memory shared with the pool, and
 * answers each with its first bad row. Its own bundle entry (dist/kernelWorker.js); under
 * out/ tsc's kernelWorker.js beside kernelPool.js runs the same.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AttentionArray } from './kernel';
import { addHeadPairL1, kernelScratchLength, scanHeadRows } from './kernel';
import type { KernelJob, KernelReply, KernelWorkerData, ScalarJob, SimdJob } from './kernelProtocol';
import { instantiateSimd } from './simdKernel';

const port = parentPort;
if (!port) throw new Error('kernelWorker.js runs as a worker thread of the kernel pool, not on its own');
const data = workerData as KernelWorkerData;
const simd = data.simdModule && data.memory ? instantiateSimd(data.simdModule, data.memory) : undefined;
let scratch = new Float64Array(0);

function runSimd(job: SimdJob): number {
  if (!simd) throw new Error('a SIMD job reached a worker without the SIMD kernel');
  let badRow = -1;
  if (job.scanBegin < job.scanEnd) {
    const { input, totals, uniform, entropy, causal, norm, entropyNorm } = job;
    badRow = simd.scanRows(
      input,
      job.queries,
      job.keys,
      job.scanBegin,
      job.scanEnd,
      job.tolerance,
      totals,
      uniform,
      entropy,
      causal ? 1 : 0,
      norm,
      entropyNorm,
    );
  }
  if (badRow < 0 && job.begin < job.end) {
    simd.pairMins(job.input, job.layerCount * job.heads, job.queries, job.keys, job.begin, job.end, job.out, job.rows, job.sweep);
  }
  return badRow;
}

function runScalar(job: ScalarJob): number {
  const length = job.heads * job.queries * job.keys;
  const layers: AttentionArray[] = [];
  for (let l = 0; l < job.layerCount; l++) {
    layers.push(job.float64 ? new Float64Array(job.input, l * length * 8, length) : new Float32Array(job.input, l * length * 4, length));
  }
  const need = kernelScratchLength(job.layerCount, job.heads, job.keys);
  if (scratch.length < need) scratch = new Float64Array(need);
  const n = job.layerCount * job.heads;
  const pairs = new Float64Array(job.out, 0, n * n);
  const scan = {
    uniform: new Float64Array(job.out, n * n * 8, n),
    entropy: new Float64Array(job.out, (n * n + n) * 8, n),
    entropyNormalized: new Float64Array(job.out, (n * n + 2 * n) * 8, n),
  };
  let badRow = -1;
  if (job.scanBegin < job.scanEnd) {
    badRow = scanHeadRows(layers, job.heads, job.queries, job.keys, job.scanBegin, job.scanEnd, job.tolerance, scan, job.causal);
  }
  if (badRow < 0) addHeadPairL1(layers, job.heads, job.queries, job.keys, job.begin, job.end, pairs, scratch);
  return badRow;
}

function runJob(job: KernelJob): number {
  switch (job.type) {
    case 'simd':
      return runSimd(job);
    case 'scalar':
      return runScalar(job);
    default:
      return assertNever(job);
  }
}

function assertNever(job: never): never {
  throw new Error(`unknown kernel job ${JSON.stringify((job as { type?: unknown }).type)}`);
}

port.on('message', (job: KernelJob) => {
  let reply: KernelReply;
  try {
    reply = { type: 'done', badRow: runJob(job) };
  } catch (err) {
    reply = { type: 'failed', message: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
