/**
 * The one interface of the similarity kernel: for each example of one stack, the row L1
 * distance of every head pair summed over query rows, and every head's baselines (similarity
 * to uniform attention, row entropy), with every row checked on the way. Three
 * implementations, chosen here and nowhere else: the JavaScript reference (`JsKernel`), the
 * WebAssembly SIMD kernel on the calling thread (`SimdKernel`) and a pool of worker threads
 * (`KernelPool`). The reference runs float64 input whichever is chosen; for one `KernelChoice`
 * the thread count never changes a bit of the results.
 */
import type { AttentionArray } from './kernel';
import { JsKernel } from './jsKernel';
import { KernelPool } from './kernelPool';
import { SimdKernel } from './simdKernel';

/** Which pair kernel runs float32 input: WebAssembly SIMD where available (default), or the JavaScript reference. */
export type KernelChoice = 'simd' | 'scalar';

/** The part of an example a kernel reads. */
export interface KernelInput {
  heads: number;
  queries: number;
  keys: number;
  /** Causal rows: row p sees the first keys - queries + p + 1 keys and must hold nothing beyond them. */
  causal?: boolean;
  /** One array per layer, row-major [heads][queries][keys]. */
  layers: readonly AttentionArray[];
}

/** What a kernel fills for one example (N = layers × heads, flat head index a = l*H + h). */
export interface KernelOutput {
  /** [N*N], a < b: Σ_p ‖A_a[p,:] - A_b[p,:]‖₁ (entries with a ≥ b are unspecified). */
  pairL1: Float64Array;
  /** [N]: S(A, uniform over the keys each row sees) per head. */
  uniform: Float64Array;
  /** [N]: mean row entropy per head (nats). */
  entropy: Float64Array;
  /** [N]: mean row entropy over ln(keys the row sees) per head, in [0, 1]. */
  entropyNormalized: Float64Array;
}

/** Computes examples' pair sums and baselines; `close()` it when done. */
export interface SimilarityKernel {
  /**
   * Fills `outputs[i]` for `inputs[i]`, rows allowed to miss a sum of 1 by `tolerance`, and
   * resolves to each example's first bad row (`scanHeadRows`' numbering) or -1; the output of
   * an example with a bad row is incomplete, the others' are whole. Calls run one after
   * another in call order. Keep the inputs unchanged until the promise settles. Single-thread
   * kernels do all the work before they return; the pool posts its first jobs from a microtask.
   */
  run(inputs: readonly KernelInput[], outputs: readonly KernelOutput[], tolerance: number): Promise<number[]>;
  /** Stops worker threads (if any) once the queued calls are done; no call may follow. */
  close(): Promise<void>;
}

export interface KernelOptions {
  /** 'scalar' keeps float32 input on the JavaScript reference (benchmarks, tests). Default 'simd'. */
  kernel?: KernelChoice;
  /**
   * Worker threads; 0 (default) computes on the calling thread. Workers work while that
   * thread is blocked elsewhere (ONNX Runtime's run is synchronous on the thread that calls it).
   */
  threads?: number;
  /** With threads: the shared memory one round of a batch may hold (default 512 MiB). */
  roundBytes?: number;
}

/** The kernel for `options`; a runtime without WebAssembly SIMD gets the JavaScript reference. */
export function openKernel(options: KernelOptions = {}): SimilarityKernel {
  const kernel = options.kernel ?? 'simd';
  const threads = options.threads ?? 0;
  if (threads !== 0) return KernelPool.open(threads, { kernel, roundBytes: options.roundBytes });
  return (kernel === 'simd' ? SimdKernel.create() : undefined) ?? new JsKernel();
}
