/**
 * The messages between `KernelPool` and its worker threads (`kernelWorker.ts`). Types only:
 * both sides import it. A worker answers every job, in the order the jobs came. Large data
 * never travels in a message: jobs name places in memory shared with the pool.
 */
import type { SimdLayout, WasmMemory } from './simdKernel';

/** What every worker starts with, as its `workerData`. */
export interface KernelWorkerData {
  /** The SIMD module's bytes; null where the pool runs everything on the JavaScript kernel. */
  simdModule: Uint8Array | null;
  /** The memory all workers' SIMD instances share; null when `simdModule` is. */
  memory: WasmMemory | null;
}

/** What every job says: the example's shape, the first heads whose pairs it sums and the heads whose rows it scans. */
interface JobPart {
  layerCount: number;
  /** Heads per layer; flat head a = l*heads + h. */
  heads: number;
  queries: number;
  keys: number;
  /** Causal rows (see `KernelInput.causal`). */
  causal: boolean;
  /** First heads [begin, end) of the pairs to sum (`addHeadPairL1`). */
  begin: number;
  end: number;
  /** Heads [scanBegin, scanEnd) whose rows to check and measure (`scanHeadRows`). */
  scanBegin: number;
  scanEnd: number;
  tolerance: number;
}

/** Work on the WebAssembly SIMD kernel: byte offsets in the shared memory (see `SimdLayout`). */
export interface SimdJob extends JobPart, Pick<SimdLayout, 'input' | 'out' | 'totals' | 'uniform' | 'entropy' | 'entropyNorm' | 'norm'> {
  type: 'simd';
  /** This worker's gather scratch (one of `SimdLayout.rows`). */
  rows: number;
  /** Vectors per sweep of a gathered row (`sweepVectors`). */
  sweep: number;
}

/** Work on the JavaScript kernel: layers one after another in `input`, [N*N pairs | N uniform | N entropy | N normalised entropy] float64 in `out`. */
export interface ScalarJob extends JobPart {
  type: 'scalar';
  input: SharedArrayBuffer;
  /** Whether `input` holds float64 (else float32) values. */
  float64: boolean;
  out: SharedArrayBuffer;
}

export type KernelJob = SimdJob | ScalarJob;

/** A job is done: the first bad row among the rows it scanned, or -1. */
export interface JobDone {
  type: 'done';
  badRow: number;
}

/** A job threw: the pool fails the call with this message. */
export interface JobFailed {
  type: 'failed';
  message: string;
}

export type KernelReply = JobDone | JobFailed;
