/**
 * The WebAssembly SIMD kernel at run time: its module (assembled once per process from
 * `simdSource`), where one example's data sits in the kernel's memory, and a kernel on the
 * calling thread. Worker threads instantiate the same bytes on a shared memory (`kernelWorker`).
 * The JavaScript kernel stays the reference and the fallback: for float64 input, for runtimes
 * without WebAssembly SIMD, and for examples too large for a 32-bit memory.
 */
import type { AttentionArray } from './kernel';
import { inverseLogTable } from './kernel';
import { checkBatch, checkExample, JsKernel } from './jsKernel';
import type { KernelInput, KernelOutput, SimilarityKernel } from './similarityKernel';
import { simdKernelSource } from './simdSource';
import { fixedPointScale } from './simdText';
import { assembleModule } from './wasmAssembler';

// The analysis tsconfig has no DOM lib (where TypeScript declares WebAssembly), so the few
// parts used here are typed locally.
/** A WebAssembly.Memory (shared). */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
  validate(bytes: Uint8Array): boolean;
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** The most memory the kernel uses; offsets stay below 2³¹ so unsigned arithmetic never wraps. */
export const simdMemoryLimit = 2 ** 31;
const pageBytes = 65536;

/** The two functions the module exports (offsets are byte addresses in its memory). */
export interface SimdExports {
  pairMins(
    input: number,
    n: number,
    q: number,
    k: number,
    firstBegin: number,
    firstEnd: number,
    out: number,
    rows: number,
    chunk: number,
  ): void;
  scanRows(
    input: number,
    q: number,
    k: number,
    headBegin: number,
    headEnd: number,
    tolerance: number,
    totals: number,
    uniform: number,
    entropy: number,
    causal: number,
    norm: number,
    entropyNorm: number,
  ): number;
}

let moduleBytes: Uint8Array | null | undefined;

/** The kernel's module, or null where this runtime lacks WebAssembly SIMD or shared memory. */
export function simdModuleBytes(): Uint8Array | null {
  if (moduleBytes === undefined) {
    try {
      const bytes = assembleModule(simdKernelSource(true));
      moduleBytes = wasm && typeof SharedArrayBuffer === 'function' && wasm.validate(bytes) ? bytes : null;
    } catch {
      moduleBytes = null;
    }
  }
  return moduleBytes;
}

/** Byte offsets of one example's data in the kernel's memory, for `workers` threads. */
export interface SimdLayout {
  /** [n*n] f64: fixed-point Σ of minima of pair (a, b) at a*n + b, a < b. */
  out: number;
  /** [n] f64 each. */
  totals: number;
  uniform: number;
  entropy: number;
  entropyNorm: number;
  /** [k + 1] f64: 1/ln(v) for v visible keys (`inverseLogTable`). */
  norm: number;
  /** Keys per row the table covers. */
  keys: number;
  /** One gather scratch per thread. */
  rows: number[];
  /** The attention, float32, layers one after another ([layer][head][query][key]). */
  input: number;
  /** Memory needed, including 16 bytes after the input that a last partial vector may read. */
  bytes: number;
}

const align = (x: number): number => Math.ceil(x / 64) * 64;

/**
 * Where an example of n heads, q queries and k keys goes, from byte `base` on (a multiple of
 * 64); undefined when it does not fit.
 */
export function simdLayout(n: number, q: number, k: number, workers: number, base = 0): SimdLayout | undefined {
  const out = base;
  const totals = align(out + n * n * 8);
  const uniform = totals + n * 8;
  const entropy = uniform + n * 8;
  const entropyNorm = entropy + n * 8;
  const norm = entropyNorm + n * 8;
  const rowBytes = n * Math.ceil(k / 4) * 16;
  const rows = Array.from({ length: workers }, (_, i) => align(norm + (k + 1) * 8) + i * align(rowBytes));
  const input = align(rows[workers - 1] + rowBytes);
  const bytes = input + n * q * k * 4 + 16;
  return bytes <= simdMemoryLimit ? { out, totals, uniform, entropy, entropyNorm, norm, keys: k, rows, input, bytes } : undefined;
}

/**
 * Vectors (4 keys each) per sweep of a gathered row. 64 measured best for rows of 512 and 1024
 * keys (up to 15% over whole rows, with 48 and 144 heads); rows of 128 keys are one sweep anyway.
 */
export const sweepVectors = 64;

/** Whether the SIMD path takes these layers: every one float32. */
export function isFloat32(layers: readonly AttentionArray[]): layers is readonly Float32Array[] {
  return layers.every((layer) => layer instanceof Float32Array);
}

/** A memory the kernel can use from several threads, grown by `growMemory`. */
export function newSimdMemory(): WasmMemory {
  return new wasm!.Memory({ initial: 1, maximum: simdMemoryLimit / pageBytes, shared: true });
}

export function growMemory(memory: WasmMemory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (have < bytes) memory.grow(Math.ceil((bytes - have) / pageBytes));
}

export function instantiateSimd(bytes: Uint8Array, memory: WasmMemory): SimdExports {
  const instance = new wasm!.Instance(new wasm!.Module(bytes), { env: { memory } });
  return instance.exports as unknown as SimdExports;
}

/** Copies the layers into the input area, writes the entropy table and clears the pair sums. */
export function loadExample(memory: WasmMemory, layout: SimdLayout, layers: readonly Float32Array[], n: number): void {
  growMemory(memory, layout.bytes);
  new Float64Array(memory.buffer, layout.norm, layout.keys + 1).set(inverseLogTable(layout.keys));
  const floats = new Float32Array(memory.buffer);
  let at = layout.input / 4;
  for (const layer of layers) {
    floats.set(layer, at);
    at += layer.length;
  }
  new Float64Array(memory.buffer, layout.out, n * n).fill(0);
}

/**
 * Reads back what the kernel left in memory: Σ_p ‖A_a[p,:] - A_b[p,:]‖₁ for a < b into
 * pairL1[a*n + b] (exact for the fixed-point values: totals and minima are integers below
 * 2⁵³), and the per-head baselines.
 */
export function readResults(
  memory: WasmMemory,
  layout: SimdLayout,
  n: number,
  { pairL1, uniform, entropy, entropyNormalized }: KernelOutput,
): void {
  const f64 = new Float64Array(memory.buffer);
  const out = layout.out / 8;
  const totals = layout.totals / 8;
  for (let a = 0; a < n; a++) {
    const ta = f64[totals + a];
    for (let b = a + 1; b < n; b++) pairL1[a * n + b] = (ta + f64[totals + b] - 2 * f64[out + a * n + b]) / fixedPointScale;
  }
  uniform.set(f64.subarray(layout.uniform / 8, layout.uniform / 8 + n));
  entropy.set(f64.subarray(layout.entropy / 8, layout.entropy / 8 + n));
  entropyNormalized.set(f64.subarray(layout.entropyNorm / 8, layout.entropyNorm / 8 + n));
}

/** `scanRows` over heads [begin, end) of the example at `layout`. */
export function scanLayout(
  exports: SimdExports,
  layout: SimdLayout,
  shape: { queries: number; keys: number; causal?: boolean },
  begin: number,
  end: number,
  tolerance: number,
): number {
  const { input, totals, uniform, entropy, norm, entropyNorm } = layout;
  return exports.scanRows(
    input,
    shape.queries,
    shape.keys,
    begin,
    end,
    tolerance,
    totals,
    uniform,
    entropy,
    shape.causal ? 1 : 0,
    norm,
    entropyNorm,
  );
}

/**
 * The SIMD kernel on the calling thread, with its own memory (kept at the largest example's
 * size); examples it cannot take run on the JavaScript reference.
 */
export class SimdKernel implements SimilarityKernel {
  private readonly reference = new JsKernel();

  private constructor(
    private readonly memory: WasmMemory,
    private readonly exports: SimdExports,
  ) {}

  /** A kernel, or undefined where the runtime cannot run it. */
  static create(): SimdKernel | undefined {
    const bytes = simdModuleBytes();
    if (!bytes) return undefined;
    const memory = newSimdMemory();
    return new SimdKernel(memory, instantiateSimd(bytes, memory));
  }

  async run(inputs: readonly KernelInput[], outputs: readonly KernelOutput[], tolerance: number): Promise<number[]> {
    checkBatch(inputs, outputs);
    return inputs.map((input, i) => this.runSimd(input, outputs[i], tolerance) ?? this.reference.runExample(input, outputs[i], tolerance));
  }

  /**
   * One example on the SIMD kernel alone: its first bad row (as `scanHeadRows` numbers it) or
   * -1, or undefined when the input is not all float32 or does not fit in a 32-bit memory (then
   * nothing was computed). When a row is bad, pairL1 is not filled.
   */
  runSimd(input: KernelInput, output: KernelOutput, tolerance: number): number | undefined {
    checkExample(input, output);
    const { heads, queries, keys, layers } = input;
    if (!isFloat32(layers)) return undefined;
    const n = layers.length * heads;
    const layout = simdLayout(n, queries, keys, 1);
    if (!layout) return undefined;
    loadExample(this.memory, layout, layers, n);
    const bad = scanLayout(this.exports, layout, input, 0, n, tolerance);
    if (bad >= 0) return bad;
    this.exports.pairMins(layout.input, n, queries, keys, 0, n - 1, layout.out, layout.rows[0], sweepVectors);
    readResults(this.memory, layout, n, output);
    return -1;
  }

  /** Nothing to stop: the memory goes with the object (a WebAssembly memory cannot shrink). */
  async close(): Promise<void> {}
}
