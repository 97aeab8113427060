/**
 * The measurement both `whatif` and the measuring planner run: the original model and a
 * rewrite of it over the same batches on the same execution provider, interleaved batch by
 * batch (alternating which goes first) so that both see the same machine; drift of every
 * output, optionally masked-LM accuracy of both, and their latency.
 */
import type * as ort from 'onnxruntime-node';
import { CancelledError } from '../errors';
import { DriftAccumulator } from '../runtime/drift';
import type { DriftResult } from '../runtime/drift';
import { MlmAccumulator, maskExample } from '../runtime/mlmMask';
import { padBatch } from '../runtime/modelSession';
import type { ModelBatch, TimedSession } from '../runtime/modelSession';
import type { ModelInput } from '../onnx/inspect';

export interface MlmSetup {
  tokenInput: string;
  maskId: number;
  /** Ids never masked; null: the first and last real token of each example. */
  special: Set<number> | null;
}

export interface CompareOptions {
  inputs: ModelInput[];
  /** The output with a vocabulary or class last axis (KL, top-1, MLM), or null. */
  klOutput: string | null;
  mlm?: MlmSetup;
  /** Time both models (interleaved); without it the original's outputs may come from `cache`. */
  time: boolean;
  /** Timed runs per batch and model, the fastest counting (default 1): steadier figures on a busy machine. */
  repeats?: number;
  cache?: OriginalCache;
  signal?: AbortSignal;
  /** Examples done so far. */
  onBatch?: (examples: number) => void;
}

export interface Comparison {
  drift: DriftResult;
  mlm: { maskedTokens: number; accuracy: { original: number; rewritten: number } } | null;
  /** Milliseconds per example; null when not timed. */
  latency: { original: number; rewritten: number } | null;
  examples: number;
  tokens: number;
}

/**
 * The original model's outputs per batch, kept while they fit a budget, so that a search
 * that scores many rewrites on one calibration set runs the original once.
 */
export class OriginalCache {
  private readonly kept = new Map<ModelBatch, ort.InferenceSession.ReturnType>();
  private bytes = 0;
  constructor(private readonly budget = 512 * 2 ** 20) {}

  async outputs(session: TimedSession, batch: ModelBatch): Promise<ort.InferenceSession.ReturnType> {
    const hit = this.kept.get(batch);
    if (hit) return hit;
    const { outputs } = await session.run(batch);
    const size = Object.values(outputs).reduce((s, t) => s + (t.data as ArrayLike<number> & { byteLength: number }).byteLength, 0);
    if (this.bytes + size <= this.budget) {
      this.kept.set(batch, outputs);
      this.bytes += size;
    }
    return outputs;
  }
}

/** Runs both sessions over the batches and measures how far the rewrite moves the outputs. */
export async function compareModels(
  original: TimedSession,
  rewritten: TimedSession,
  batches: AsyncIterable<ModelBatch> | Iterable<ModelBatch>,
  options: CompareOptions,
): Promise<Comparison> {
  const names = original.outputNames.filter((n) => rewritten.outputNames.includes(n));
  const drift = new DriftAccumulator(names, options.klOutput);
  const mlm = options.mlm && options.klOutput ? new MlmAccumulator(options.klOutput) : undefined;
  const time = { original: 0, rewritten: 0, examples: 0 };
  let examples = 0;
  let tokens = 0;
  let k = 0;
  let first: ModelBatch | undefined;
  for await (const batch of batches) {
    if (options.signal?.aborted) throw new CancelledError();
    let a: ort.InferenceSession.ReturnType;
    let b: ort.InferenceSession.ReturnType;
    if (options.time) {
      // Alternate which model runs first, so neither always finds the caches warm.
      let ra: Awaited<ReturnType<TimedSession['run']>> | undefined;
      let rb: typeof ra;
      for (let r = 0; r < (options.repeats ?? 1); r++) {
        const firstA = (k + r) % 2 === 0;
        const x = await (firstA ? original : rewritten).run(batch);
        const y = await (firstA ? rewritten : original).run(batch);
        const [xa, xb] = firstA ? [x, y] : [y, x];
        ra = ra && ra.ms <= xa.ms ? ra : xa;
        rb = rb && rb.ms <= xb.ms ? rb : xb;
      }
      a = ra!.outputs;
      b = rb!.outputs;
      // The first batch of each session is warm-up (ONNX Runtime allocates on its first runs).
      if (k > 0) {
        time.original += ra!.ms;
        time.rewritten += rb!.ms;
        time.examples += batch.examples.length;
      } else first = batch;
    } else {
      a = options.cache ? await options.cache.outputs(original, batch) : (await original.run(batch)).outputs;
      b = (await rewritten.run(batch)).outputs;
    }
    drift.add(a, b, batch);
    if (mlm && options.mlm) {
      const masked = batch.examples.map((ex) => maskExample(ex, options.mlm!.tokenInput, options.mlm!.maskId, options.mlm!.special));
      const maskedBatch = padBatch(
        options.inputs,
        masked.map((m) => m.example),
      );
      mlm.add('original', (await original.run(maskedBatch)).outputs, maskedBatch, masked);
      mlm.add('rewritten', (await rewritten.run(maskedBatch)).outputs, maskedBatch, masked);
    }
    examples += batch.examples.length;
    tokens += batch.real.reduce((s, r) => s + r.length, 0);
    k++;
    options.onBatch?.(examples);
  }
  // A single batch is timed after all (once more, now warm), rather than not at all.
  if (options.time && time.examples === 0 && first) {
    time.original = (await original.run(first)).ms;
    time.rewritten = (await rewritten.run(first)).ms;
    time.examples = first.examples.length;
  }
  const accuracy = mlm?.accuracy();
  return {
    drift: drift.result(),
    mlm: mlm && accuracy ? { maskedTokens: mlm.masked, accuracy } : null,
    latency:
      options.time && time.examples > 0 ? { original: time.original / time.examples, rewritten: time.rewritten / time.examples } : null,
    examples,
    tokens,
  };
}
