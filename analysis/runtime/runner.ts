import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CancelledError, InputError } from '../errors';
import { attentionOnlyModel } from '../onnx/expose';
import type { AttentionStack } from '../onnx/attentionFinder';
import type { AttentionModel } from '../onnx/inspect';
import type { ExampleInput } from './inputs';
import { describeProvider, startSession } from './providers';
import type { Provider, ProviderChoice } from './providers';
import { toFloat32 } from './halfFloat';
import type { ExampleAttention, StackAttention } from './types';

/** Which graph input's real tokens give a stack's query rows and key columns. */
interface StackAxes {
  stack: AttentionStack;
  queryInput: string;
  keyInput: string;
}

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
}

/** An example's attention plus its token strings when it came from text. */
export type ExtractedExample = ExampleAttention & { tokens?: string[] };

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
  ) {}

  static async start(model: AttentionModel, choice: ProviderChoice): Promise<AttentionRunner> {
    const tensors = model.stacks.flatMap((s) => s.layers.map((l) => l.tensor));
    const bytes = attentionOnlyModel(model.graph, model.bytes, tensors);
    let started;
    try {
      // ONNX Runtime's default intra-op pool counts physical cores (one on a 2-vCPU machine);
      // every logical core nearly doubles the forward pass there.
      started = await startSession(bytes, choice, {
        graphOptimizationLevel: 'all',
        intraOpNumThreads: availableParallelism(),
        // Inputs are checked against the model before they run and every failure comes back as
        // an exception that we word, so ONNX Runtime's own log lines (opset warnings, a red
        // error line before each exception) would only repeat it on stderr.
        logSeverityLevel: 4,
        // The bytes are a rewrite of the file, so external data (weights beside the model) must
        // be looked up beside the model, not in the working directory.
        extra: { session: { model_external_initializers_file_folder_path: dirname(resolve(model.path)) } },
      });
    } catch (err) {
      throw new InputError(`ONNX Runtime cannot load ${model.path}: ${(err as Error).message.split('\n')[0]}`);
    }
    const lines = describeProvider(choice, started.provider, started.notes);
    return new AttentionRunner(model, started.session, started.provider, lines, stackAxes(model.stacks));
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
    const batchSize = this.hasMaskFor(this.axes) ? Math.max(1, options.batchSize) : 1;
    let done = 0;
    let pending: Promise<ExtractedExample[]> | undefined;
    let batch: ExampleInput[] = [];
    const flush = async function* (this: AttentionRunner, next: ExampleInput[] | undefined) {
      // Start the next batch before handing out the previous one, so the model runs while we fold.
      const started = next && next.length > 0 ? this.runBatch(next, options.checkRows ?? true) : undefined;
      started?.catch(() => undefined);
      if (pending) {
        const out = await pending;
        yield out;
        done += out.length;
        options.onProgress?.(done);
      }
      pending = started;
    }.bind(this);
    for await (const ex of examples) {
      if (options.signal?.aborted) throw new CancelledError();
      batch.push(ex);
      if (batch.length >= batchSize) {
        yield* flush(batch);
        batch = [];
      }
    }
    yield* flush(batch);
    yield* flush(undefined);
    if (options.signal?.aborted) throw new CancelledError();
  }

  /** Without a mask input, padding would change the attention: run one example at a time. */
  private hasMaskFor(axes: StackAxes[]): boolean {
    const names = new Set(this.model.inputs.map((i) => i.name));
    return axes.every((a) => names.has(maskNameFor(a.queryInput)) && names.has(maskNameFor(a.keyInput)));
  }

  private async runBatch(batch: ExampleInput[], checkRows: boolean): Promise<ExtractedExample[]> {
    const feeds: Record<string, ort.Tensor> = {};
    const padded = new Map<string, number>();
    for (const spec of this.model.inputs) {
      const parts = batch.map((ex) => ex.tensors.get(spec.name)!);
      const fixed = spec.shape && typeof spec.shape[1] === 'number' ? spec.shape[1] : undefined;
      const length = Math.max(...parts.map((p) => p.shape[0]));
      if (fixed !== undefined && length > fixed) {
        throw new InputError(`${batch[0].origin}: "${spec.name}" has ${length} tokens; the model takes at most ${fixed}`);
      }
      const target = fixed ?? length;
      padded.set(spec.name, target);
      feeds[spec.name] = padTensor(spec.type, parts, target, spec.name);
    }
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run(feeds, { logSeverityLevel: 4 });
    } catch (err) {
      throw new InputError(`${batch[0].origin}: the model failed on this batch: ${(err as Error).message.split('\n')[0]}`);
    }
    return batch.map((ex, b) => ({
      index: ex.index,
      tokens: ex.tokens,
      stacks: this.axes.map((a) => sliceStack(a, out, ex, b, batch.length, padded, checkRows)),
    }));
  }
}

function maskNameFor(input: string): string {
  return input.startsWith('decoder_') ? 'decoder_attention_mask' : 'attention_mask';
}

function governing(names: string[], exclude: Set<string>): string {
  return names.find((n) => !/mask/i.test(n) && !exclude.has(n)) ?? names[0];
}

function stackAxes(stacks: AttentionStack[]): StackAxes[] {
  const encoderInputs = new Set(stacks.filter((s) => s.kind === 'cross').flatMap((s) => s.layers[0].keyInputs));
  return stacks.map((stack) => {
    const first = stack.layers[0];
    if (stack.kind === 'cross') {
      return { stack, queryInput: governing(first.queryInputs, new Set(first.keyInputs)), keyInput: governing(first.keyInputs, new Set()) };
    }
    const own = governing(first.queryInputs, stack.name === 'decoder' ? encoderInputs : new Set());
    return { stack, queryInput: own, keyInput: own };
  });
}

/** Values one input tensor of a batch may hold: typed arrays end near 2^32 bytes. */
const maxBatchValues = 2 ** 28;

function padTensor(type: string, parts: { values: number[]; shape: number[] }[], length: number, name: string): ort.Tensor {
  const inner = parts[0].shape.slice(1);
  const innerSize = inner.reduce((a, b) => a * b, 1);
  const shape = [parts.length, length, ...inner];
  const size = shape.reduce((a, b) => a * b, 1);
  const row = length * innerSize;
  if (size > maxBatchValues) throw new InputError(`a batch of ${parts.length} examples × ${row} values of "${name}" is more than one tensor holds (${maxBatchValues}); lower {field}`, 'batch');
  const fill = (set: (i: number, v: number) => void) =>
    parts.forEach((p, b) => {
      if (p.shape.slice(1).join() !== inner.join()) throw new InputError(`"${name}" has different inner shapes within one batch`);
      p.values.forEach((v, i) => set(b * row + i, v));
    });
  switch (type) {
    case 'int64': {
      const data = new BigInt64Array(size);
      fill((i, v) => (data[i] = BigInt(v)));
      return new ort.Tensor('int64', data, shape);
    }
    case 'int32': {
      const data = new Int32Array(size);
      fill((i, v) => (data[i] = v));
      return new ort.Tensor('int32', data, shape);
    }
    case 'bool': {
      const data = new Uint8Array(size);
      fill((i, v) => (data[i] = v ? 1 : 0));
      return new ort.Tensor('bool', data, shape);
    }
    case 'float32': {
      const data = new Float32Array(size);
      fill((i, v) => (data[i] = v));
      return new ort.Tensor('float32', data, shape);
    }
    default:
      throw new InputError(`input "${name}" has element type ${type}, which this tool cannot feed yet`);
  }
}

/** Positions of the real tokens of `input` in one example: where its mask is 1, else all. */
function realPositions(ex: ExampleInput, input: string): number[] {
  const mask = ex.tensors.get(maskNameFor(input));
  const length = ex.tensors.get(input)?.shape[0] ?? mask?.shape[0] ?? 0;
  const positions: number[] = [];
  for (let i = 0; i < length; i++) if (!mask || mask.values[i] !== 0) positions.push(i);
  return positions;
}

function sliceStack(
  axes: StackAxes,
  out: ort.InferenceSession.ReturnType,
  ex: ExampleInput,
  b: number,
  batchSize: number,
  padded: Map<string, number>,
  checkRows: boolean,
): StackAttention {
  const rows = realPositions(ex, axes.queryInput);
  const cols = realPositions(ex, axes.keyInput);
  let heads = 0;
  const layers = axes.stack.layers.map((layer, l) => {
    const t = out[layer.tensor];
    const dims = t.dims.map(Number);
    // [batch, heads, q, k], or [batch*heads, q, k] where an export folded the two.
    const [B, H, Q, K] = dims.length === 4 ? dims : dims.length === 3 ? [batchSize, dims[0] / batchSize, dims[1], dims[2]] : [0, 0, 0, 0];
    if (B !== batchSize || !Number.isInteger(H) || Q !== padded.get(axes.queryInput) || K !== padded.get(axes.keyInput)) {
      throw new InputError(
        `attention tensor "${layer.tensor}" (${axes.stack.name} layer ${l}) has shape [${dims.join(', ')}], which does not match ` +
          `batch ${batchSize} × ${axes.queryInput} ${padded.get(axes.queryInput)} × ${axes.keyInput} ${padded.get(axes.keyInput)}`,
      );
    }
    heads = H;
    const data = toFloat32(t.data as Float32Array | Uint16Array, t.type);
    const tolerance = t.type === 'float16' ? 1e-2 : 1e-3;
    const badRow = (h: number, sum: number) =>
      new InputError(
        `attention tensor "${layer.tensor}" (${axes.stack.name} layer ${l}, head ${h}, ${ex.origin}) has a real-token row summing to ${sum.toFixed(4)}, not 1: ` +
          "the Softmax found there is not attention over the real keys (or the mask input is not the model's)",
      );
    // Positions are ascending and distinct, so as many as the axis holds means all of them.
    if (rows.length === Q && cols.length === K) {
      const block = data.subarray(b * H * Q * K, (b + 1) * H * Q * K);
      if (checkRows) {
        for (let r = 0; r < H * Q; r++) {
          let sum = 0;
          for (let c = r * K; c < (r + 1) * K; c++) sum += block[c];
          if (!(Math.abs(sum - 1) <= tolerance)) throw badRow(Math.floor(r / Q), sum);
        }
      }
      return block;
    }
    // Padded: copy the real rows' real columns (a prefix of each row when padding is on the right).
    const block = new Float32Array(H * rows.length * cols.length);
    const prefix = cols[cols.length - 1] === cols.length - 1;
    const width = cols.length;
    let o = 0;
    for (let h = 0; h < H; h++) {
      for (const r of rows) {
        const base = ((b * H + h) * Q + r) * K;
        if (prefix) block.set(data.subarray(base, base + width), o);
        else for (let c = 0; c < width; c++) block[o + c] = data[base + cols[c]];
        let sum = 0;
        for (let c = o; c < o + width; c++) sum += block[c];
        if (!(Math.abs(sum - 1) <= tolerance)) throw badRow(h, sum);
        o += width;
      }
    }
    return block;
  });
  return { name: axes.stack.name, kind: axes.stack.kind, heads, queries: rows.length, keys: cols.length, layers, origin: ex.origin };
}
