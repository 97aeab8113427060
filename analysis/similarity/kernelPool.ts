/**
 * The similarity kernel on worker threads (`kernelWorker.ts`). A batch of one example is split
 * over the workers: its head pairs into contiguous ranges of first heads with about equal work
 * and its heads into equal ranges for the row scan, one of each per worker. In a larger batch
 * each example runs whole on one worker, and every job of a round is posted before `run`
 * returns its promise, so the workers go on while the calling thread is blocked elsewhere (ONNX
 * Runtime's run is synchronous on the thread that calls it). Input is copied once into shared
 * memory and every worker writes its own part of one shared output, so nothing large crosses a
 * message. Float32 input runs on the WebAssembly SIMD kernel, every worker on its own instance
 * over one shared memory; float64 input on the JavaScript kernel. Each value is computed by the
 * same code in the same order as on the calling thread (and the SIMD pair sums are exact
 * integers), so results are bit-identical to `SimdKernel` and `JsKernel`.
 */
import { availableParallelism } from 'node:os';
import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { splitFirstHeads, splitHeads } from './kernel';
import { checkBatch, checkExample } from './jsKernel';
import type { KernelJob, KernelReply, KernelWorkerData, SimdJob } from './kernelProtocol';
import type { SimdLayout, WasmMemory } from './simdKernel';
import { isFloat32, loadExample, newSimdMemory, readResults, simdLayout, simdModuleBytes, sweepVectors } from './simdKernel';
import type { KernelChoice, KernelInput, KernelOutput, SimilarityKernel } from './similarityKernel';

/**
 * Shared memory one round of a batch may hold by default; a batch beyond it runs in several
 * rounds. 512 MiB holds 54 BERT-base examples of 128 tokens, or two of 6×8 heads at 1024 tokens.
 */
const defaultRoundBytes = 512 * 2 ** 20;

/**
 * The worker's script. esbuild bundles it as its own entry beside dist/cli.js and
 * dist/extension.js, whose `__dirname` is dist/; tsc writes it beside this module under out/;
 * the unit tests run this module's .ts source under tsx, which workers inherit (--require).
 */
export const kernelWorkerFile = join(__dirname, `kernelWorker${extname(__filename)}`);

/** The first heads whose pairs and the heads whose rows one job does. */
type JobRanges = Pick<SimdJob, 'begin' | 'end' | 'scanBegin' | 'scanEnd'>;

interface Slot {
  worker: Worker;
  /** Jobs posted and not answered yet, oldest first (a worker answers in order). */
  waiting: ((reply: KernelReply | Error) => void)[];
}

/** A fixed set of worker threads for the pair kernel and the row scan; `close()` it when done. */
export class KernelPool implements SimilarityKernel {
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
    const workerData: KernelWorkerData = { simdModule, memory: this.memory ?? null };
    this.slots = [];
    for (let i = 0; i < threads; i++) {
      const slot: Slot = { worker: new Worker(kernelWorkerFile, { workerData }), waiting: [] };
      slot.worker.on('message', (reply: KernelReply) => this.settle(slot, reply));
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
   * `roundBytes` caps the shared memory of one round of a batch (default 512 MiB).
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
   * `SimilarityKernel.run`: one example is split over the workers; in a batch of several, each
   * runs whole on one worker, in rounds that fit `roundBytes`, and examples the SIMD kernel
   * cannot take are split, one after another. Inputs are copied when the call's turn comes.
   */
  run(inputs: readonly KernelInput[], outputs: readonly KernelOutput[], tolerance: number): Promise<number[]> {
    // Refused here, not when its turn comes: calls queued before `close` still run.
    if (this.closed) return Promise.reject(new Error('kernel pool is closed'));
    // The first round is posted from a microtask: before any macrotask (a model run) can start.
    const job = this.queue.then(() => this.runQueued(inputs, outputs, tolerance));
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

  private async runQueued(inputs: readonly KernelInput[], outputs: readonly KernelOutput[], tolerance: number): Promise<number[]> {
    if (this.broken) throw this.broken;
    checkBatch(inputs, outputs);
    inputs.forEach((input, i) => checkExample(input, outputs[i]));
    if (inputs.length === 1) return [await this.split(inputs[0], outputs[0], tolerance)];
    const badRows: number[] = [];
    let next = 0;
    while (next < inputs.length) {
      const round = this.memory ? batchRound(inputs, next, this.roundBytes) : [];
      if (round.length === 0) {
        // Not for the SIMD kernel (or not alone in memory): the general path, one example.
        badRows.push(await this.split(inputs[next], outputs[next], tolerance));
        next += 1;
        continue;
      }
      const memory = this.memory!;
      const replies = round.map(({ layout, n }, i) => {
        const input = inputs[next + i];
        loadExample(memory, layout, input.layers as readonly Float32Array[], n);
        // The whole example: every first head's pairs (the last has none) and every head's rows.
        const ranges = { begin: 0, end: n - 1, scanBegin: 0, scanEnd: n };
        return this.post(this.slots[i % this.slots.length], simdJob(layout, 0, input, ranges, tolerance));
      });
      const answered = await Promise.all(replies);
      round.forEach(({ layout, n }, i) => {
        const badRow = lowestBadRow([answered[i]]);
        const output = outputs[next + i];
        if (badRow < 0) readResults(memory, layout, n, output);
        badRows.push(badRow);
      });
      next += round.length;
    }
    return badRows;
  }

  /** One example split over the workers: its first bad row or -1 (then the pair sums are incomplete). */
  private async split(input: KernelInput, output: KernelOutput, tolerance: number): Promise<number> {
    const { heads, queries, keys, layers } = input;
    const n = layers.length * heads;
    const pairRanges = splitFirstHeads(n, this.slots.length);
    const scanRanges = splitHeads(n, this.slots.length);
    const jobs = Math.max(pairRanges.length, scanRanges.length);
    const rangesOf = (i: number): JobRanges => ({
      begin: pairRanges[i]?.begin ?? 0,
      end: pairRanges[i]?.end ?? 0,
      scanBegin: scanRanges[i]?.begin ?? 0,
      scanEnd: scanRanges[i]?.end ?? 0,
    });
    const simd = this.memory && isFloat32(layers) ? simdLayout(n, queries, keys, this.slots.length) : undefined;
    if (simd) {
      loadExample(this.memory!, simd, layers as readonly Float32Array[], n);
      const replies = Array.from({ length: jobs }, (_, i) => this.post(this.slots[i], simdJob(simd, i, input, rangesOf(i), tolerance)));
      const badRow = lowestBadRow(await Promise.all(replies));
      if (badRow < 0) readResults(this.memory!, simd, n, output);
      return badRow;
    }
    // Mixed precisions widen to float64, which is exact for float32 values.
    const float64 = layers.some((layer) => layer instanceof Float64Array);
    const bytes = float64 ? 8 : 4;
    const length = heads * queries * keys;
    const outLength = n * n + 3 * n;
    if (this.input.byteLength < layers.length * length * bytes) this.input = new SharedArrayBuffer(layers.length * length * bytes);
    if (this.output.byteLength < outLength * 8) this.output = new SharedArrayBuffer(outLength * 8);
    layers.forEach((layer, l) => {
      const view = float64 ? new Float64Array(this.input, l * length * 8, length) : new Float32Array(this.input, l * length * 4, length);
      view.set(layer);
    });
    const shared = new Float64Array(this.output, 0, outLength);
    shared.fill(0);
    const shape = { layerCount: layers.length, heads, queries, keys, tolerance, causal: input.causal === true };
    const replies = Array.from({ length: jobs }, (_, i) =>
      this.post(this.slots[i], { type: 'scalar', ...shape, ...rangesOf(i), input: this.input, float64, out: this.output }),
    );
    const badRow = lowestBadRow(await Promise.all(replies));
    output.pairL1.set(shared.subarray(0, n * n));
    output.uniform.set(shared.subarray(n * n, n * n + n));
    output.entropy.set(shared.subarray(n * n + n, n * n + 2 * n));
    output.entropyNormalized.set(shared.subarray(n * n + 2 * n, outLength));
    return badRow;
  }

  private post(slot: Slot, job: KernelJob): Promise<KernelReply> {
    // A worker that is gone would never answer.
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<KernelReply>((resolve, reject) => {
      slot.waiting.push((reply) => {
        if (slot.waiting.length === 0) slot.worker.unref();
        if (reply instanceof Error) reject(reply);
        else resolve(reply);
      });
      slot.worker.ref();
      slot.worker.postMessage(job);
    });
  }

  private settle(slot: Slot, reply: KernelReply): void {
    slot.waiting.shift()?.(reply);
  }

  /** A worker that errs or exits takes the pool down: later calls fail fast with its error. */
  private fail(slot: Slot, err: Error): void {
    // A worker whose script is missing fails at start; say which file the build did not write.
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' || (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      err = new Error(`kernel worker ${kernelWorkerFile} is missing: the build did not write it beside ${__filename}`);
    }
    this.broken ??= err;
    for (const settle of slot.waiting.splice(0)) settle(err);
  }
}

/** The SIMD job for heads `ranges` of `example` at `layout`, gathering rows in scratch `worker`. */
function simdJob(layout: SimdLayout, worker: number, example: KernelInput, ranges: JobRanges, tolerance: number): SimdJob {
  const { heads, queries, keys } = example;
  const { input, out, totals, uniform, entropy, entropyNorm, norm } = layout;
  const shape = { layerCount: example.layers.length, heads, queries, keys, tolerance, causal: example.causal === true };
  return {
    type: 'simd',
    ...shape,
    ...ranges,
    input,
    out,
    totals,
    uniform,
    entropy,
    entropyNorm,
    norm,
    rows: layout.rows[worker],
    sweep: sweepVectors,
  };
}

/**
 * The examples from `first` on that go into one round of a batch: float32, each in its own
 * region, all within `roundBytes` (at least one when it fits a 32-bit memory alone). Empty
 * when `inputs[first]` is not for the SIMD kernel.
 */
function batchRound(inputs: readonly KernelInput[], first: number, roundBytes: number): { layout: SimdLayout; n: number }[] {
  const round: { layout: SimdLayout; n: number }[] = [];
  let base = 0;
  for (let i = first; i < inputs.length; i++) {
    const { heads, queries, keys, layers } = inputs[i];
    if (!isFloat32(layers)) break;
    const n = layers.length * heads;
    const layout = simdLayout(n, queries, keys, 1, base);
    if (!layout || (round.length > 0 && layout.bytes > roundBytes)) break;
    round.push({ layout, n });
    base = Math.ceil(layout.bytes / 64) * 64;
  }
  return round;
}

/** The lowest bad row over the workers: the one a single thread, scanning in order, would report. */
function lowestBadRow(replies: KernelReply[]): number {
  let badRow = -1;
  for (const reply of replies) {
    if (reply.type === 'failed') throw new Error(`kernel worker failed: ${reply.message}`);
    if (reply.badRow >= 0 && (badRow < 0 || reply.badRow < badRow)) badRow = reply.badRow;
  }
  return badRow;
}
