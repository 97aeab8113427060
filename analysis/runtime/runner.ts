import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CancelledError, InputError } from '../errors';
import { bfloat16Interface, hasBfloat16, widenBfloat16 } from '../onnx/bfloat16';
import { attentionOnlyModel } from '../onnx/expose';
import { decodeModel } from '../onnx/model';
import { rowGatherAddition, rowsInputName, sampledRowsName } from '../onnx/sampleRows';
import type { LayerPass } from '../similarity/layerPasses';
import type { AttentionStack } from '../onnx/attentionFinder';
import type { AttentionModel } from '../onnx/inspect';
import { checkSameBranches } from '../onnx/branches';
import type { ModelInput } from '../onnx/inspect';
import { batchesByKey, batchKey } from './batching';
import { batchTensor } from './feeds';
import { inputRole, isSequenceRole } from './inputRoles';
import type { ExampleInput } from './inputs';
import { fedRows, sliceSampledStack } from './rowSampling';
import { maskNameFor, sliceStack } from './slicing';
import type { StackAxes } from './slicing';
import { describeProvider, startSession } from './providers';
import type { Provider, ProviderChoice } from './providers';
import type { ExampleAttention } from './types';

export interface RunOptions {
  batchSize: number;
  signal?: AbortSignal;
  /** Called after each batch with the number of examples done so far. */
  onProgress?: (done: number) => void;
  /**
   * Whether the runner checks that every real-token row sums to 1 (default true). A consumer
   * that checks every row itself (the similarity's scan does) passes false; padded examples
   * are still checked, where the check also tells a wrong mask input from a right one.
   */
  checkRows?: boolean;
  /**
   * Model runs per batch, each fetching a few layers (`planLayerPasses`): `passes[k][s]` is
   * stack s's part of run k, null where it has none. Default: one run fetching every layer.
   */
  passes?: (LayerPass | null)[][];
}

/** `--rows`: query rows sampled per example inside the graph, with their seed. */
export interface RowSamplingOption {
  count: number;
  seed: number;
}

/**
 * An example's attention plus its token strings when it came from text. With passes, its
 * stacks hold only the layers of `pass` (a stack without any holds none).
 */
export type ExtractedExample = ExampleAttention & { tokens?: string[]; pass?: (LayerPass | null)[] };

/**
 * Runs a model with its attention exposed and yields each example's attention, cut to
 * its real tokens. At most two batches are alive at once (one running while the previous
 * is consumed), so memory does not grow with the dataset. An example without padding is
 * a view into its batch's output, not a copy: keep it as long as needed, not longer.
 */
export class AttentionRunner {
  private constructor(
    readonly model: AttentionModel,
    private readonly session: ort.InferenceSession,
    readonly provider: Provider,
    /** What the user should be told about the provider choice. */
    readonly providerLines: string[],
    private readonly axes: StackAxes[],
    /** `--rows`: the graph gathers this many sampled query rows per example. */
    readonly rows: RowSamplingOption | undefined,
  ) {}

  /** A session for the model's attention; with `rows`, one that outputs only sampled query rows (`onnx/sampleRows.ts`). */
  static async start(model: AttentionModel, choice: ProviderChoice, options: { rows?: RowSamplingOption } = {}): Promise<AttentionRunner> {
    const tensors = model.stacks.flatMap((s) => s.layers.map((l) => l.tensor));
    const addition = options.rows ? rowGatherAddition(model.graph, model.stacks) : undefined;
    const bytes = attentionOnlyModel(model.graph, model.bytes, tensors, addition);
    // A bfloat16 model runs as bfloat16 on a GPU (float32 in and out), widened to float32 on the CPU.
    const bf16 = hasBfloat16(model.graph) ? decodeModel(bytes, model.path) : undefined;
    let started;
    try {
      // ONNX Runtime's default intra-op pool counts physical cores (one on a 2-vCPU machine);
      // every logical core nearly doubles the forward pass there.
      started = await startSession(
        bf16 ? bfloat16Interface(bf16, bytes) : bytes,
        choice,
        {
          graphOptimizationLevel: 'all',
          intraOpNumThreads: availableParallelism(),
          // Sampled rows are for long sequences, where each layer's n × n scores are hundreds of
          // MiB: the CPU arena grows by doubling and keeps every chunk (24 GB for BERT-base at
          // 4096 tokens), while plain allocations return to the system after each tensor.
          ...(options.rows ? { enableCpuMemArena: false } : {}),
          // Inputs are checked against the model before they run and every failure comes back as
          // an exception that we word, so ONNX Runtime's own log lines (opset warnings, a red
          // error line before each exception) would only repeat it on stderr.
          logSeverityLevel: 4,
          // The bytes are a rewrite of the file, so external data (weights beside the model) must
          // be looked up beside the model, not in the working directory.
          // In rows mode the n × n attention dominates the time, and pre-packed copies of the
          // weight matrices (a third of BERT-base's 4096-token peak beside them) buy nothing.
          extra: {
            session: {
              model_external_initializers_file_folder_path: dirname(resolve(model.path)),
              ...(options.rows ? { disable_prepacking: '1' } : {}),
            },
          },
        },
        bf16 && (() => widenBfloat16(bf16, bytes)),
      );
    } catch (err) {
      throw new InputError(`ONNX Runtime cannot load ${model.path}: ${(err as Error).message.split('\n')[0]}`);
    }
    const lines = describeProvider(choice, started.provider, started.notes);
    if (bf16 && started.provider === 'cpu') lines.push('bfloat16 model widened to float32: the CPU provider has no bfloat16 arithmetic');
    return new AttentionRunner(model, started.session, started.provider, lines, stackAxes(model.stacks, model.inputs), options.rows);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }

  async *run(examples: AsyncIterable<ExampleInput>, options: RunOptions): AsyncGenerator<ExtractedExample> {
    for await (const batch of this.runBatches(examples, options)) yield* batch;
  }

  /**
   * `run`, a batch at a time. The next batch's run is already queued when a batch is handed
   * out; it starts (and, ONNX Runtime's run being synchronous, blocks this thread) at the next
   * macrotask, so a consumer that posts work to other threads before it awaits anything keeps
   * them busy during the run.
   */
  async *runBatches(examples: AsyncIterable<ExampleInput>, options: RunOptions): AsyncGenerator<ExtractedExample[]> {
    const batchSize = Math.max(1, Math.min(options.batchSize, this.fixedBatch ?? Infinity));
    const padded = this.padded;
    const keyOf = (ex: ExampleInput) => batchKey(ex, this.model.inputs, padded);
    const passes = options.passes ?? [undefined];
    let done = 0;
    let pending: { run: Promise<ExtractedExample[]>; last: boolean } | undefined;
    const flush = async function* (this: AttentionRunner, next: ExampleInput[] | undefined, k = 0) {
      // Start the next run before handing out the previous one, so the model runs while we fold.
      const started =
        next && next.length > 0
          ? { run: this.runBatch(next, options.checkRows ?? true, passes[k]), last: k === passes.length - 1 }
          : undefined;
      started?.run.catch(() => undefined);
      if (pending) {
        const out = await pending.run;
        yield out;
        if (pending.last) {
          done += out.length;
          options.onProgress?.(done);
        }
      }
      pending = started;
    }.bind(this);
    const model = this.model;
    async function* checked(): AsyncGenerator<ExampleInput> {
      for await (const ex of examples) {
        if (options.signal?.aborted) throw new CancelledError();
        checkSameBranches(model, ex);
        yield ex;
      }
    }
    for await (const batch of batchesByKey(checked(), batchSize, keyOf)) for (let k = 0; k < passes.length; k++) yield* flush(batch, k);
    yield* flush(undefined);
    if (options.signal?.aborted) throw new CancelledError();
  }

  /**
   * Whether batches pad token sequences: only when every input is a token sequence (ids, masks,
   * positions, token types) and each stack's sides have a mask that says which tokens are real.
   * Otherwise examples are batched by shape and nothing is padded.
   */
  private get padded(): boolean {
    const names = new Set(this.model.inputs.map((i) => i.name));
    const sequences = this.model.inputs.every((i) => isSequenceRole(inputRole(i)));
    return sequences && this.axes.every((a) => names.has(maskNameFor(a.queryInput)) && names.has(maskNameFor(a.keyInput)));
  }

  /** The batch size a model fixes (a first axis of 1 declared on an input of rank 2 or more), if any. */
  private get fixedBatch(): number | undefined {
    const fixed = this.model.inputs
      .map((i) => i.shape?.[0])
      .filter((d, k) => typeof d === 'number' && (this.model.inputs[k].shape?.length ?? 0) >= 2);
    return fixed.length > 0 ? Math.min(...(fixed as number[])) : undefined;
  }

  private async runBatch(batch: ExampleInput[], checkRows: boolean, pass?: (LayerPass | null)[]): Promise<ExtractedExample[]> {
    const feeds: Record<string, ort.Tensor> = {};
    const padded = this.padded ? new Map<string, number>() : undefined;
    for (const spec of this.model.inputs) {
      let padTo: number | undefined;
      const fixed = spec.shape && typeof spec.shape[1] === 'number' ? spec.shape[1] : undefined;
      const length = Math.max(...batch.map((ex) => ex.tensors.get(spec.name)!.shape[0]));
      if (fixed !== undefined && length > fixed) {
        throw new InputError(`${batch[0].origin}: "${spec.name}" has ${length} tokens; the model takes at most ${fixed}`);
      }
      if (padded) {
        padTo = fixed ?? length;
        padded.set(spec.name, padTo);
      }
      feeds[spec.name] = batchTensor(spec, batch, padTo);
    }
    const rows = this.rows ? this.axes.map((a, s) => fedRows(batch, a, s, padded !== undefined, this.rows!, ort.Tensor)) : undefined;
    rows?.forEach((r, s) => (feeds[rowsInputName(s)] = r.tensor));
    // The layers this run fetches, per stack: ONNX Runtime computes only what they need.
    const layersOf = (s: number) => (pass ? (pass[s]?.layers ?? []) : this.model.stacks[s].layers.map((_, l) => l));
    const outputName = (tensor: string) => (rows ? sampledRowsName(tensor) : tensor);
    const fetches = this.model.stacks.flatMap((stack, s) => layersOf(s).map((l) => outputName(stack.layers[l].tensor)));
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run(feeds, fetches, { logSeverityLevel: 4 });
    } catch (err) {
      // Name what was fed: a shape the model cannot take is the usual cause, and ONNX Runtime names only a node.
      const fed = this.model.inputs.map((i) => `"${i.name}" [${feeds[i.name].dims.join(', ')}]`).join(', ');
      const first = batch.length > 1 ? `${batch[0].origin} (and ${batch.length - 1} more in its batch)` : batch[0].origin;
      throw new InputError(`${first}: the model cannot take ${fed}: ${(err as Error).message.split('\n')[0]}`);
    }
    const info = { size: batch.length, padded, checkRows };
    const layerOutputs = (a: StackAxes, s: number) =>
      layersOf(s).map((l) => ({ tensor: a.stack.layers[l].tensor, data: out[outputName(a.stack.layers[l].tensor)] }));
    return batch.map((ex, b) => {
      const extracted: ExtractedExample = { index: ex.index, tokens: ex.tokens, stacks: [], ...(pass ? { pass } : {}) };
      if (rows) extracted.sampled = this.axes.map((a, s) => sliceSampledStack(a, layerOutputs(a, s), ex, b, info, rows[s]));
      else extracted.stacks = this.axes.map((a, s) => sliceStack(a, out, ex, b, info, layersOf(s)));
      return extracted;
    });
  }
}

function governing(names: string[], exclude: Set<string>): string {
  return names.find((n) => !/mask/i.test(n) && !exclude.has(n)) ?? names[0];
}

/** Which token inputs give each stack's rows and keys in padded batches, and which mask leaves keys out. */
function stackAxes(stacks: AttentionStack[], inputs: ModelInput[]): StackAxes[] {
  const encoderInputs = new Set(stacks.filter((s) => s.kind === 'cross').flatMap((s) => s.layers[0].keyInputs));
  const masks = new Set(inputs.filter((i) => inputRole(i) === 'mask').map((i) => i.name));
  return stacks.map((stack) => {
    const first = stack.layers[0];
    const keyMask = (first.maskInputs ?? []).find((m) => masks.has(m));
    if (stack.kind === 'cross') {
      return {
        stack,
        keyMask,
        queryInput: governing(first.queryInputs, new Set(first.keyInputs)),
        keyInput: governing(first.keyInputs, new Set()),
      };
    }
    const own = governing(first.queryInputs, stack.name.startsWith('decoder') ? encoderInputs : new Set());
    return { stack, keyMask, queryInput: own, keyInput: own };
  });
}
