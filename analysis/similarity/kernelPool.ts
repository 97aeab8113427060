/**
 * Runs the per-example work of an accumulator on worker threads. `compute` takes one example
 * at a time: its head pairs are split into contiguous ranges of first heads with about equal work and
 * its heads into equal ranges for the row scan, one of each per worker. The input is copied
 * once into shared memory and every worker writes its own part of one shared output, so
 * nothing large crosses a message. Float32 input runs on the WebAssembly SIMD kernel, every
 * worker on its own instance over one shared memory; float64 input on the JavaScript kernel.
 * Each value is computed by the same code in the same order as on the main thread (and the
 * SIMD pair sums are exact integers), so results are bit-identical to the single-thread path.
 * `computeBatch` takes a batch of examples at once, each whole on one worker, and posts every
 * job before it returns: the workers go on while the calling thread is blocked elsewhere
 * (ONNX Runtime's run is synchronous on the thread that calls it).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { AttentionArray } from './kernel';
import { addHeadPairL1, scanHeadRows, splitFirstHeads, splitHeads } from './kernel';
import type { KernelChoice, SimdLayout, WasmMemory } from './simdKernel';
import { isFloat32, loadExample, newSimdMemory, readResults, simdLayout, simdModuleBytes, sweepVectors } from './simdKernel';

/**
 * Shared memory one `computeBatch` round may hold by default; a batch beyond it runs in several
 * rounds. 512 MiB holds 54 BERT-base examples of 128 tokens, or two of 6×8 heads at 1024 tokens.
 */
const defaultRoundBytes = 512 * 2 ** 20;

/** The part of an example the workers read. */
export interface KernelInput {
  heads: number;
  queries: number;
  keys: number;
  layers: readonly AttentionArray[];
}

/** What the workers fill for one example: `addHeadPairL1` and `scanHeadRows` over all heads. */
export interface KernelOutput {
  /** [N*N], a < b: summed row L1 distance of heads a and b (zero elsewhere). */
  pairL1: Float64Array;
  /** [N]: S(A, uniform) per head. */
  uniform: Float64Array;
  /** [N]: mean row entropy per head. */
  entropy: Float64Array;
}

/** What every job says: the example's shape, the first heads whose pairs and the heads whose rows it does. */
interface JobPart {
  heads: number;
  queries: number;
  keys: number;
  begin: number;
  end: number;
  scanBegin: number;
  scanEnd: number;
  tolerance: number;
}

/** A job for the SIMD kernel: byte offsets in the shared memory (see `SimdLayout`). */
interface SimdJob extends JobPart {
  simd: true;
  input: number;
  out: number;
  rows: number;
  /** Vectors per sweep of a gathered row (`sweepVectors`). */
  sweep: number;
  totals: number;
  uniform: number;
  entropy: number;
}

interface JobMessage extends JobPart {
  simd?: false;
  input: SharedArrayBuffer;
  float64: boolean;
  layerCount: number;
  out: SharedArrayBuffer;
}

type Reply = { ok: true; badRow: number } | { ok: false; message: string };

// The JavaScript kernels travel as source text (they are self-contained by contract) and the
// SIMD module as bytes, so the pool works the same from out/ and from a bundle, with no worker
// file to ship beside it.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const addHeadPairL1 = (${addHeadPairL1.toString()});
const scanHeadRows = (${scanHeadRows.toString()});
const simd = workerData.simdModule
  ? new WebAssembly.Instance(new WebAssembly.Module(workerData.simdModule), { env: { memory: workerData.memory } }).exports
  : undefined;
let scratch = new Float64Array(0);
parentPort.on('message', (job) => {
  try {
    if (job.simd) {
      let badRow = -1;
      if (job.scanBegin < job.scanEnd) {
        badRow = simd.scanRows(job.input, job.queries, job.keys, job.scanBegin, job.scanEnd, job.tolerance, job.totals, job.uniform, job.entropy);
      }
      if (badRow < 0 && job.begin < job.end) {
        simd.pairMins(job.input, job.heads, job.queries, job.keys, job.begin, job.end, job.out, job.rows, job.sweep);
      }
      parentPort.postMessage({ ok: true, badRow });
      return;
    }
    const Type = job.float64 ? Float64Array : Float32Array;
    const length = job.heads * job.queries * job.keys;
    const layers = [];
    for (let l = 0; l < job.layerCount; l++) layers.push(new Type(job.input, l * length * Type.BYTES_PER_ELEMENT, length));
    const need = job.layerCount * job.heads * job.keys;
    if (scratch.length < need) scratch = new Float64Array(need);
    const n = job.layerCount * job.heads;
    const pairs = new Float64Array(job.out, 0, n * n);
    const uniform = new Float64Array(job.out, n * n * 8, n);
    const entropy = new Float64Array(job.out, (n * n + n) * 8, n);
    let badRow = -1;
    if (job.scanBegin < job.scanEnd) {
      badRow = scanHeadRows(layers, job.heads, job.queries, job.keys, job.scanBegin, job.scanEnd, job.tolerance, uniform, entropy);
    }
    if (badRow < 0) addHeadPairL1(layers, job.heads, job.queries, job.keys, job.begin, job.end, pairs, scratch);
    parentPort.postMessage({ ok: true, badRow });
  } catch (err) {
    parentPort.postMessage({ ok: false, message: String((err && err.message) || err) });
  }
});
`;

interface Slot {
  worker: Worker;
  /** Jobs posted and not answered yet, oldest first (a worker answers in order). */
  waiting: ((reply: Reply | Error) => void)[];
}

/** A fixed set of worker threads for the pair kernel and the row scan; `close()` it when done. */
export class KernelPool {
  private readonly slots: Slot[];
  private queue: Promise<void> = Promise.resolve();
  private broken: Error | undefined;
  private closed = false;
  private input = new SharedArrayBuffer(0);
  private output = new SharedArrayBuffer(0);
  /** Shared by every worker's SIMD instance; undefined where the SIMD kernel is off or unavailable. */
  private readonly memory: WasmMemory | undefined;

  private constructor(
    threads: number,
    kernel: KernelChoice,
    private readonly roundBytes: number,
  ) {
    const simdModule = kernel === 'simd' ? simdModuleBytes() : null;
    this.memory = simdModule ? newSimdMemory() : undefined;
    this.slots = [];
    for (let i = 0; i < threads; i++) {
      const workerData = { simdModule, memory: this.memory };
      const slot: Slot = { worker: new Worker(workerSource, { eval: true, workerData }), waiting: [] };
      slot.worker.on('message', (reply: Reply) => this.settle(slot, reply));
      slot.worker.on('error', (err) => this.fail(slot, err));
      slot.worker.on('exit', (code) => this.fail(slot, new Error(`kernel worker exited with code ${code}`)));
      // Idle workers must not keep the process alive; they are ref'ed while a job runs.
      slot.worker.unref();
      this.slots.push(slot);
    }
  }

  /**
   * Starts `threads` workers (default: the machine's available parallelism). Float32 input
   * runs on the SIMD kernel unless `kernel` is 'scalar' or the runtime lacks WebAssembly SIMD.
   * `roundBytes` caps the shared memory of one `computeBatch` round (default 512 MiB).
   */
  static open(threads: number = availableParallelism(), options: { kernel?: KernelChoice; roundBytes?: number } = {}): KernelPool {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`kernel pool needs at least one thread, got ${threads}`);
    return new KernelPool(threads, options.kernel ?? 'simd', options.roundBytes ?? defaultRoundBytes);
  }

  /** Whether float32 examples run on the SIMD kernel. */
  get simd(): boolean {
    return this.memory !== undefined;
  }

  get threads(): number {
    return this.slots.length;
  }

  /**
   * Fills `output` for one example as `scanHeadRows` and a zeroed `addHeadPairL1` over all
   * heads would, with row sums allowed to miss 1 by `tolerance`. Resolves to the first bad
   * row (`scanHeadRows`' numbering) or -1; when a row is bad the pair sums are incomplete.
   * Calls are queued and run one at a time in call order; `input.layers` must stay unchanged
   * until the returned promise settles (they are copied when the job starts, not when queued).
   */
  compute(input: KernelInput, output: KernelOutput, tolerance: number): Promise<number> {
    const job = this.queue.then(() => this.run(input, output, tolerance));
    this.queue = job.then(
      () => undefined,
      () => undefined,
    );
    return job;
  }

  /**
   * `compute` for several examples: resolves to each one's first bad row or -1 (its output is
   * filled only then). Every job of a round is posted before this returns, so the workers run
   * while the caller goes on, even when its thread then blocks. Examples the SIMD kernel cannot
   * take run through `compute`, one after another. Same queueing and input rules as `compute`.
   */
  computeBatch(inputs: readonly KernelInput[], outputs: readonly KernelOutput[], tolerance: number): Promise<number[]> {
    if (inputs.length !== outputs.length) throw new RangeError(`${inputs.length} inputs but ${outputs.length} outputs`);
    // The first round is posted from a microtask: before any macrotask (a model run) can start.
    const job = this.queue.then(() => this.runBatch(inputs, outputs, tolerance));
    this.queue = job.then(
      () => undefined,
      () => undefined,
    );
    return job;
  }

  /** Stops the workers once queued jobs are done. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await Promise.all(
      this.slots.map((slot) => {
        slot.worker.removeAllListeners('exit');
        return slot.worker.terminate();
      }),
    );
  }

  private async run(input: KernelInput, output: KernelOutput, tolerance: number): Promise<number> {
    if (this.closed) throw new Error('kernel pool is closed');
    if (this.broken) throw this.broken;
    const { heads, queries, keys, layers } = input;
    const n = layers.length * heads;
    if (output.pairL1.length < n * n || output.uniform.length < n || output.entropy.length < n) {
      throw new RangeError(`kernel output too small for ${n} heads`);
    }
    const simd = this.memory && isFloat32(layers) ? simdLayout(n, queries, keys, this.slots.length) : undefined;
    if (simd) return this.runSimd(input, output, tolerance, simd);
    // Mixed precisions widen to float64, which is exact for float32 values.
    const float64 = layers.some((layer) => layer instanceof Float64Array);
    const bytes = float64 ? 8 : 4;
    const length = heads * queries * keys;
    for (const layer of layers) {
      if (layer.length !== length) throw new RangeError(`kernel layer holds ${layer.length} values, expected ${length}`);
    }
    const outLength = n * n + 2 * n;
    if (this.input.byteLength < layers.length * length * bytes) this.input = new SharedArrayBuffer(layers.length * length * bytes);
    if (this.output.byteLength < outLength * 8) this.output = new SharedArrayBuffer(outLength * 8);
    layers.forEach((layer, l) => {
      const view = float64 ? new Float64Array(this.input, l * length * 8, length) : new Float32Array(this.input, l * length * 4, length);
      view.set(layer);
    });
    const shared = new Float64Array(this.output, 0, outLength);
    shared.fill(0);
    const pairRanges = splitFirstHeads(n, this.slots.length);
    const scanRanges = splitHeads(n, this.slots.length);
    const jobs = Math.max(pairRanges.length, scanRanges.length);
    const replies: Promise<Reply>[] = [];
    for (let i = 0; i < jobs; i++) {
      replies.push(
        this.post(this.slots[i], {
          input: this.input,
          float64,
          layerCount: layers.length,
          heads,
          queries,
          keys,
          begin: pairRanges[i]?.begin ?? 0,
          end: pairRanges[i]?.end ?? 0,
          scanBegin: scanRanges[i]?.begin ?? 0,
          scanEnd: scanRanges[i]?.end ?? 0,
          tolerance,
          out: this.output,
        }),
      );
    }
    const badRow = lowestBadRow(await Promise.all(replies));
    output.pairL1.set(shared.subarray(0, n * n));
    output.uniform.set(shared.subarray(n * n, n * n + n));
    output.entropy.set(shared.subarray(n * n + n, outLength));
    return badRow;
  }

  private async runSimd(input: KernelInput, output: KernelOutput, tolerance: number, layout: SimdLayout): Promise<number> {
    const { heads, queries, keys } = input;
    const n = input.layers.length * heads;
    for (const layer of input.layers) {
      if (layer.length !== heads * queries * keys) throw new RangeError(`kernel layer holds ${layer.length} values, expected ${heads * queries * keys}`);
    }
    const memory = this.memory!;
    loadExample(memory, layout, input.layers as readonly Float32Array[], n);
    const pairRanges = splitFirstHeads(n, this.slots.length);
    const scanRanges = splitHeads(n, this.slots.length);
    const jobs = Math.max(pairRanges.length, scanRanges.length);
    const replies: Promise<Reply>[] = [];
    for (let i = 0; i < jobs; i++) {
      const ranges = { begin: pairRanges[i]?.begin ?? 0, end: pairRanges[i]?.end ?? 0, scanBegin: scanRanges[i]?.begin ?? 0, scanEnd: scanRanges[i]?.end ?? 0 };
      replies.push(this.post(this.slots[i], simdJob(layout, i, n, queries, keys, ranges, tolerance)));
    }
    const badRow = lowestBadRow(await Promise.all(replies));
    if (badRow < 0) readResults(memory, layout, n, output.pairL1, output.uniform, output.entropy);
    return badRow;
  }

  private async runBatch(inputs: readonly KernelInput[], outputs: readonly KernelOutput[], tolerance: number): Promise<number[]> {
    if (this.closed) throw new Error('kernel pool is closed');
    if (this.broken) throw this.broken;
    const badRows: number[] = [];
    let next = 0;
    while (next < inputs.length) {
      const round = this.memory ? batchRound(inputs, next, this.roundBytes) : [];
      if (round.length === 0) {
        // Not for the SIMD kernel (or not alone in memory): the general path, one example.
        badRows.push(await this.run(inputs[next], outputs[next], tolerance));
        next += 1;
        continue;
      }
      const memory = this.memory!;
      const replies = round.map(({ layout, n }, i) => {
        const input = inputs[next + i];
        loadExample(memory, layout, input.layers as readonly Float32Array[], n);
        // The whole example: every first head's pairs (the last has none) and every head's rows.
        const ranges = { begin: 0, end: n - 1, scanBegin: 0, scanEnd: n };
        return this.post(this.slots[i % this.slots.length], simdJob(layout, 0, n, input.queries, input.keys, ranges, tolerance));
      });
      const answered = await Promise.all(replies);
      round.forEach(({ layout, n }, i) => {
        const badRow = lowestBadRow([answered[i]]);
        const output = outputs[next + i];
        if (badRow < 0) readResults(memory, layout, n, output.pairL1, output.uniform, output.entropy);
        badRows.push(badRow);
      });
      next += round.length;
    }
    return badRows;
  }

  private post(slot: Slot, job: JobMessage | SimdJob): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      slot.waiting.push((reply) => {
        if (slot.waiting.length === 0) slot.worker.unref();
        if (reply instanceof Error) reject(reply);
        else resolve(reply);
      });
      slot.worker.ref();
      slot.worker.postMessage(job);
    });
  }

  private settle(slot: Slot, reply: Reply): void {
    slot.waiting.shift()?.(reply);
  }

  /** A worker that errs or exits takes the pool down: later calls fail fast with its error. */
  private fail(slot: Slot, err: Error): void {
    this.broken ??= err;
    for (const settle of slot.waiting.splice(0)) settle(err);
  }
}

/** The SIMD job for heads `ranges` of an example at `layout`, gathering rows in scratch `worker`. */
function simdJob(
  layout: SimdLayout,
  worker: number,
  heads: number,
  queries: number,
  keys: number,
  ranges: Pick<JobPart, 'begin' | 'end' | 'scanBegin' | 'scanEnd'>,
  tolerance: number,
): SimdJob {
  const { input, out, totals, uniform, entropy } = layout;
  return { simd: true, heads, queries, keys, ...ranges, tolerance, input, out, rows: layout.rows[worker], sweep: sweepVectors, totals, uniform, entropy };
}

/**
 * The examples from `first` on that go into one `computeBatch` round: float32, of a valid
 * length, each in its own region, all within `roundBytes` (at least one when it fits a 32-bit
 * memory alone). Empty when `inputs[first]` is not for the SIMD kernel.
 */
function batchRound(inputs: readonly KernelInput[], first: number, roundBytes: number): { layout: SimdLayout; n: number }[] {
  const round: { layout: SimdLayout; n: number }[] = [];
  let base = 0;
  for (let i = first; i < inputs.length; i++) {
    const { heads, queries, keys, layers } = inputs[i];
    if (!isFloat32(layers) || layers.some((layer) => layer.length !== heads * queries * keys)) break;
    const n = layers.length * heads;
    const layout = simdLayout(n, queries, keys, 1, base);
    if (!layout || (round.length > 0 && layout.bytes > roundBytes)) break;
    round.push({ layout, n });
    base = Math.ceil(layout.bytes / 64) * 64;
  }
  return round;
}

/** The lowest bad row over the workers: the one a single thread, scanning in order, would report. */
function lowestBadRow(replies: Reply[]): number {
  let badRow = -1;
  for (const reply of replies) {
    if (!reply.ok) throw new Error(`kernel worker failed: ${reply.message}`);
    if (reply.badRow >= 0 && (badRow < 0 || reply.badRow < badRow)) badRow = reply.badRow;
  }
  return badRow;
}
