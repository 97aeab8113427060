/**
 * The JavaScript reference kernel on the calling thread: `scanHeadRows`, then a zeroed
 * `addHeadPairL1` over every head. It runs float64 input (the 1e-9 path) and is the fallback
 * wherever the WebAssembly SIMD kernel cannot run.
 */
import { addHeadPairL1, kernelScratchLength, scanHeadRows } from './kernel';
import type { KernelInput, KernelOutput, SimilarityKernel } from './similarityKernel';

export class JsKernel implements SimilarityKernel {
  // Kept at the largest example's size, so that a run allocates nothing.
  private scratch = new Float64Array(0);

  async run(inputs: readonly KernelInput[], outputs: readonly KernelOutput[], tolerance: number): Promise<number[]> {
    checkBatch(inputs, outputs);
    return inputs.map((input, i) => this.runExample(input, outputs[i], tolerance));
  }

  /** One example: its first bad row or -1 (then the pair sums are not filled). */
  runExample(input: KernelInput, output: KernelOutput, tolerance: number): number {
    checkExample(input, output);
    const { heads, queries, keys, layers } = input;
    const n = layers.length * heads;
    const bad = scanHeadRows(layers, heads, queries, keys, 0, n, tolerance, output, input.causal === true);
    if (bad >= 0) return bad;
    const need = kernelScratchLength(layers.length, heads, keys);
    if (this.scratch.length < need) this.scratch = new Float64Array(need);
    output.pairL1.fill(0, 0, n * n);
    addHeadPairL1(layers, heads, queries, keys, 0, n, output.pairL1, this.scratch);
    return -1;
  }

  async close(): Promise<void> {
    this.scratch = new Float64Array(0);
  }
}

/** Refuses a batch whose outputs do not pair up with its inputs. */
export function checkBatch(inputs: readonly KernelInput[], outputs: readonly KernelOutput[]): void {
  if (inputs.length !== outputs.length) throw new RangeError(`${inputs.length} inputs but ${outputs.length} outputs`);
}

/**
 * Refuses layers of the wrong length and outputs too small, before any kernel reads or writes
 * past them (the SIMD kernel would read a neighbour's memory, not fail). Callers with user
 * input check it first (`checkShape`) to word the error for the user.
 */
export function checkExample(input: KernelInput, output: KernelOutput): void {
  const { heads, queries, keys, layers } = input;
  const n = layers.length * heads;
  for (const layer of layers) {
    if (layer.length !== heads * queries * keys)
      throw new RangeError(`kernel layer holds ${layer.length} values, expected ${heads * queries * keys}`);
  }
  if (input.causal && keys < queries) throw new RangeError(`causal rows need at least as many keys as queries, got ${queries} x ${keys}`);
  if (output.pairL1.length < n * n || output.uniform.length < n || output.entropy.length < n || output.entropyNormalized.length < n) {
    throw new RangeError(`kernel output too small for ${n} heads`);
  }
}
