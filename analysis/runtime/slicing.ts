/**
 * One example's attention out of a batch's output, cut to its real queries and keys. The
 * query and key counts are the attention tensor's own last two axes: an input's axis says
 * nothing of them for images (patches plus a class token), audio (frames after strided
 * convolutions) or a KV cache (past plus new keys). Padding, where a batch was padded, is cut
 * by the masks; a mask given with zeros leaves those keys out (and for self-attention, the
 * queries at those positions).
 */
import type * as ort from 'onnxruntime-node';
import { InputError } from '../errors';
import type { AttentionStack } from '../onnx/attentionFinder';
import { CAUSAL_ZERO_TOLERANCE } from '../similarity/inputScan';
import { toFloat32 } from './halfFloat';
import type { ExampleInput } from './inputs';
import type { StackAttention } from './types';

/** How the runner reads one stack's real rows and keys. */
export interface StackAxes {
  stack: AttentionStack;
  /** Padded batches: the token inputs whose real positions are the rows and the keys. */
  queryInput: string;
  keyInput: string;
  /** The mask whose zeros leave keys out, where the stack's scores meet one. */
  keyMask: string | undefined;
}

/** What the runner knows of a batch when slicing one example of it. */
export interface BatchInfo {
  size: number;
  /** Padded length of each token input; absent for batches gathered by shape. */
  padded?: Map<string, number>;
  checkRows: boolean;
}

export function maskNameFor(input: string): string {
  return input.startsWith('decoder_') ? 'decoder_attention_mask' : 'attention_mask';
}

/** Positions of the real tokens of `input` in one example: where its mask is 1, else all. */
export function realPositions(ex: ExampleInput, input: string): number[] {
  const mask = ex.tensors.get(maskNameFor(input));
  const length = ex.tensors.get(input)?.shape[0] ?? mask?.shape[0] ?? 0;
  const positions: number[] = [];
  for (let i = 0; i < length; i++) if (!mask || mask.values[i] !== 0) positions.push(i);
  return positions;
}

const all = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Rows and keys of an unpadded example: all, less the positions its key mask holds 0 at. */
function maskedPositions(axes: StackAxes, ex: ExampleInput, Q: number, K: number): [number[], number[]] {
  const mask = axes.keyMask ? ex.tensors.get(axes.keyMask) : undefined;
  if (!mask || mask.asGiven || mask.shape.length !== 1 || mask.shape[0] !== K || mask.values.every((v) => v !== 0)) return [all(Q), all(K)];
  const cols = all(K).filter((k) => mask.values[k] !== 0);
  // Self-attention's queries are the last Q of the K positions (after any past ones).
  const rows = axes.stack.kind === 'self' && K >= Q ? all(Q).filter((p) => mask.values[K - Q + p] !== 0) : all(Q);
  return [rows, cols];
}

export function sliceStack(
  axes: StackAxes,
  out: ort.InferenceSession.ReturnType,
  ex: ExampleInput,
  b: number,
  batch: BatchInfo,
  /** The stack's layers to cut (default: all; a run with layer passes fetches a few). */
  only?: number[],
): StackAttention {
  let rows: number[] | undefined;
  let cols: number[] | undefined;
  let heads = 0;
  const { stack } = axes;
  const causal = stack.causal === true;
  const layers = (only ?? stack.layers.map((_, l) => l)).map((l) => {
    const layer = stack.layers[l];
    const t = out[layer.tensor];
    const dims = t.dims.map(Number);
    // [batch, heads, q, k], or [batch*heads, q, k] where an export folded the two.
    const [B, H, Q, K] = dims.length === 4 ? dims : dims.length === 3 ? [batch.size, dims[0] / batch.size, dims[1], dims[2]] : [0, 0, 0, 0];
    const where = `attention tensor "${layer.tensor}" (${stack.name} layer ${l})`;
    if (B !== batch.size || !Number.isInteger(H) || H < 1) {
      throw new InputError(
        `${where} has shape [${dims.join(', ')}], which is not [batch ${batch.size}, heads, queries, keys] or [batch·heads, queries, keys]`,
      );
    }
    if (batch.padded) {
      const [pq, pk] = [batch.padded.get(axes.queryInput), batch.padded.get(axes.keyInput)];
      if (Q !== pq || K !== pk) {
        throw new InputError(
          `${where} has shape [${dims.join(', ')}], which does not match batch ${batch.size} × ${axes.queryInput} ${pq} × ${axes.keyInput} ${pk}`,
        );
      }
      rows ??= realPositions(ex, axes.queryInput);
      cols ??= realPositions(ex, axes.keyInput);
    } else {
      [rows, cols] = rows && cols ? [rows, cols] : maskedPositions(axes, ex, Q, K);
    }
    if (heads !== 0 && H !== heads) throw new InputError(`${where} has ${H} heads, but layer 0 of the stack has ${heads}`);
    heads = H;
    const data = toFloat32(t.data as Float32Array | Uint16Array, t.type);
    const tolerance = t.type === 'float16' ? 1e-2 : 1e-3;
    const check = batch.checkRows || rows.length !== Q || cols.length !== K;
    // Positions are ascending and distinct, so as many as the axis holds means all of them.
    const block =
      rows.length === Q && cols.length === K ? data.subarray(b * H * Q * K, (b + 1) * H * Q * K) : gather(data, b, H, Q, K, rows, cols);
    if (check)
      checkBlock(
        block,
        H,
        rows.length,
        cols.length,
        tolerance,
        causal,
        (h, p, what) => new InputError(`${where}, head ${h}, query ${p}, ${ex.origin}: ${what}`),
      );
    return block;
  });
  const specialKeys = specialKeysOf(ex, axes, cols ?? []);
  return {
    name: stack.name,
    kind: stack.kind,
    causal,
    heads,
    queries: rows?.length ?? 0,
    keys: cols?.length ?? 0,
    layers,
    origin: ex.origin,
    ...(specialKeys ? { specialKeys } : {}),
  };
}

/** The key indices of the example's special tokens, where the stack's keys are the tokens they were counted in. */
export function specialKeysOf(ex: ExampleInput, axes: StackAxes, cols: number[]): number[] | undefined {
  if (!ex.special || ex.special.input !== axes.keyInput || cols.length !== ex.tensors.get(ex.special.input)?.shape[0]) return undefined;
  const at = new Map(cols.map((c, i) => [c, i]));
  return ex.special.positions.flatMap((p) => (at.has(p) ? [at.get(p)!] : []));
}

/** The real rows' real keys of example `b`, copied (a prefix of each row when padding is on the right). */
function gather(data: Float32Array, b: number, H: number, Q: number, K: number, rows: number[], cols: number[]): Float32Array {
  const block = new Float32Array(H * rows.length * cols.length);
  const prefix = cols[cols.length - 1] === cols.length - 1;
  const width = cols.length;
  let o = 0;
  for (let h = 0; h < H; h++) {
    for (const r of rows) {
      const base = ((b * H + h) * Q + r) * K;
      if (prefix) block.set(data.subarray(base, base + width), o);
      else for (let c = 0; c < width; c++) block[o + c] = data[base + cols[c]];
      o += width;
    }
  }
  return block;
}

/**
 * Every row sums to 1 over the real keys; a causal row has nothing beyond its diagonal (the
 * last Q of the K keys are the queries' own positions, after any past ones).
 */
function checkBlock(
  block: Float32Array,
  H: number,
  Q: number,
  K: number,
  tolerance: number,
  causal: boolean,
  fail: (h: number, p: number, what: string) => InputError,
): void {
  for (let r = 0; r < H * Q; r++) {
    const p = r % Q;
    const visible = causal ? Math.min(K, K - Q + p + 1) : K;
    let sum = 0;
    for (let c = r * K; c < (r + 1) * K; c++) sum += block[c];
    if (!(Math.abs(sum - 1) <= tolerance)) {
      throw fail(
        Math.floor(r / Q),
        p,
        `a real-token row sums to ${sum.toFixed(4)}, not 1: the Softmax found there is not attention over the real keys (or the mask input is not the model's)`,
      );
    }
    for (let k = visible; k < K; k++) {
      if (!(Math.abs(block[r * K + k]) <= CAUSAL_ZERO_TOLERANCE)) {
        throw fail(
          Math.floor(r / Q),
          p,
          `the layer was read as causal from its mask, but this row gives key ${k} beyond its diagonal probability ${block[r * K + k]}`,
        );
      }
    }
  }
}
