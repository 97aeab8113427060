/**
 * Whole-model runs, for comparing a model with its rewrite: batches padded the way the
 * attention runner pads them, with each example's real token positions, and sessions whose
 * every run is timed.
 */
import { availableParallelism } from 'node:os';
import type * as ort from 'onnxruntime-node';
import { CancelledError, InputError } from '../errors';
import type { ModelInput } from '../onnx/inspect';
import type { ExampleInput } from './inputs';
import { startSession } from './providers';
import type { ProviderChoice, StartedSession } from './providers';
import { padTensor } from './feeds';
import { maskNameFor, realPositions } from './slicing';

/** One batch, padded to its longest example. */
export interface ModelBatch {
  examples: ExampleInput[];
  feeds: Record<string, ort.Tensor>;
  /** Padded length of the token input. */
  length: number;
  /** Per example, the positions of its real tokens (mask 1, else all). */
  real: number[][];
}

/** The input that carries the tokens (the ids), whose mask says which positions are real. */
export function tokenInputOf(inputs: ModelInput[]): string {
  return inputs.find((i) => /input_ids$/.test(i.name))?.name ?? inputs[0].name;
}

/** Whether padding is safe: the token input has a mask input beside it (else run one example at a time). */
export function canPad(inputs: ModelInput[]): boolean {
  const token = tokenInputOf(inputs);
  return inputs.some((i) => i.name === maskNameFor(token));
}

export function padBatch(inputs: ModelInput[], batch: ExampleInput[]): ModelBatch {
  const token = tokenInputOf(inputs);
  const feeds: Record<string, ort.Tensor> = {};
  let length = 0;
  for (const spec of inputs) {
    const parts = batch.map((ex) => ex.tensors.get(spec.name)!);
    const fixed = spec.shape && typeof spec.shape[1] === 'number' ? spec.shape[1] : undefined;
    const longest = Math.max(...parts.map((p) => p.shape[0]));
    if (fixed !== undefined && longest > fixed)
      throw new InputError(`${batch[0].origin}: "${spec.name}" has ${longest} tokens; the model takes at most ${fixed}`);
    feeds[spec.name] = padTensor(spec.type, parts, fixed ?? longest, spec.name);
    if (spec.name === token) length = fixed ?? longest;
  }
  return { examples: batch, feeds, length, real: batch.map((ex) => realPositions(ex, token)) };
}

/** Groups examples into padded batches (of one where the model has no mask input). */
export async function* modelBatches(
  inputs: ModelInput[],
  examples: AsyncIterable<ExampleInput>,
  size: number,
  signal?: AbortSignal,
): AsyncGenerator<ModelBatch> {
  const per = canPad(inputs) ? Math.max(1, size) : 1;
  let batch: ExampleInput[] = [];
  for await (const ex of examples) {
    if (signal?.aborted) throw new CancelledError();
    batch.push(ex);
    if (batch.length >= per) {
      yield padBatch(inputs, batch);
      batch = [];
    }
  }
  if (batch.length > 0) yield padBatch(inputs, batch);
}

/** A session whose runs report their wall time. */
export class TimedSession {
  private constructor(
    private readonly started: StartedSession,
    private readonly label: string,
  ) {}

  /**
   * Starts `bytes` on the provider choice (same options as the attention runner); external
   * data files are looked up in `folder` (the original model's), since the bytes have no path.
   */
  static async start(bytes: Uint8Array, choice: ProviderChoice, label: string, folder?: string): Promise<TimedSession> {
    const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: availableParallelism() };
    if (folder) options.extra = { session: { model_external_initializers_file_folder_path: folder } };
    try {
      return new TimedSession(await startSession(bytes, choice, options), label);
    } catch (err) {
      throw new InputError(`ONNX Runtime cannot load ${label}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  get provider(): StartedSession['provider'] {
    return this.started.provider;
  }

  get notes(): string[] {
    return this.started.notes;
  }

  get outputNames(): readonly string[] {
    return this.started.session.outputNames;
  }

  async run(batch: ModelBatch, feeds = batch.feeds): Promise<{ outputs: ort.InferenceSession.ReturnType; ms: number }> {
    const t0 = performance.now();
    try {
      const outputs = await this.started.session.run(feeds);
      return { outputs, ms: performance.now() - t0 };
    } catch (err) {
      throw new InputError(`${batch.examples[0].origin}: ${this.label} failed on this batch: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  async dispose(): Promise<void> {
    await this.started.session.release();
  }
}
