/**
 * `--rows R` on the runner's side: which query rows of each example are measured (seeded, so
 * that every shard and every re-run picks the same ones), where they sit in the fed batch,
 * and each example's sampled rows cut out of the gathered output [batch, R, heads, keys]
 * (`onnx/sampleRows.ts`).
 */
import type * as ort from 'onnxruntime-node';
import { InputError } from '../errors';
import { toFloat32 } from './halfFloat';
import type { ExampleInput } from './inputs';
import { pseudoRandom } from './pseudoRandom';
import { realPositions, specialKeysOf } from './slicing';
import type { BatchInfo, StackAxes } from './slicing';
import type { SampledRow, SampledStackAttention } from './types';

/** The query rows of an example a run measures: R of its `population` real rows (all when there are fewer), ascending. */
export function chooseRows(population: number, R: number, seed: number, example: number, stack: number): number[] {
  if (R >= population) return Array.from({ length: population }, (_, i) => i);
  // One stream per (seed, example, stack): independent of batching, sharding and thread count.
  const rand = pseudoRandom(
    (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(example + 1, 0x85ebca6b) ^ Math.imul(stack + 1, 0xc2b2ae35)) >>> 0,
  );
  const pool = Int32Array.from({ length: population }, (_, i) => i);
  for (let i = 0; i < R; i++) {
    const j = i + Math.floor(rand() * (population - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return Array.from(pool.subarray(0, R)).sort((a, b) => a - b);
}

/**
 * Positions of an example's real query rows in the sequence it is fed as: where its mask is 1
 * (padded batches), else every position of the query input less those its mask holds 0 at.
 * The runner must know them before the run, so the queries must come from a token sequence.
 */
export function realQueryRows(ex: ExampleInput, axes: StackAxes, padded: boolean): number[] {
  if (padded) return realPositions(ex, axes.queryInput);
  const tokens = ex.tensors.get(axes.queryInput);
  if (!tokens || tokens.asGiven || tokens.shape.length !== 1) {
    throw new InputError(
      `{field} needs each example's query rows before the run, but stack "${axes.stack.name}" takes its queries from "${axes.queryInput}", which is not a token sequence: analyze it without {field}`,
      'rows',
    );
  }
  const Q = tokens.shape[0];
  const mask = axes.keyMask ? ex.tensors.get(axes.keyMask) : undefined;
  const all = Array.from({ length: Q }, (_, p) => p);
  if (!mask || mask.asGiven || mask.shape.length !== 1 || axes.stack.kind !== 'self' || mask.shape[0] < Q) return all;
  // Self-attention's queries are the last Q of the mask's positions (after any past ones).
  return all.filter((p) => mask.values[mask.shape[0] - Q + p] !== 0);
}

/** One stack's sampled rows of one batch: per example the chosen rows (indices among its real rows) and the positions fed. */
export interface FedRows {
  chosen: number[][];
  real: number[][];
  tensor: ort.Tensor;
}

/** The rows input of one stack for a batch; `Tensor` is onnxruntime-node's constructor. */
export function fedRows(
  batch: ExampleInput[],
  axes: StackAxes,
  stack: number,
  padded: boolean,
  sampling: { count: number; seed: number },
  Tensor: typeof ort.Tensor,
): FedRows {
  const real = batch.map((ex) => realQueryRows(ex, axes, padded));
  const chosen = real.map((rows, b) => chooseRows(rows.length, sampling.count, sampling.seed, batch[b].index, stack));
  const width = Math.max(1, ...chosen.map((c) => c.length));
  const data = new BigInt64Array(batch.length * width);
  chosen.forEach((c, b) => {
    // Short examples repeat their first row to the batch's width; the copies are not read.
    for (let r = 0; r < width; r++) data[b * width + r] = BigInt(real[b][c[Math.min(r, c.length - 1)] ?? 0] ?? 0);
  });
  return { chosen, real, tensor: new Tensor('int64', data, [batch.length, width]) };
}

/** Example `b`'s sampled rows of a stack's layers, cut to its real keys, out of the gathered outputs. */
export function sliceSampledStack(
  axes: StackAxes,
  outputs: { tensor: string; data: ort.Tensor }[],
  ex: ExampleInput,
  b: number,
  batch: BatchInfo,
  rows: FedRows,
): SampledStackAttention {
  const { stack } = axes;
  let cols: number[] | undefined;
  let heads = 0;
  const layers = outputs.map(({ tensor, data: t }) => {
    const dims = t.dims.map(Number);
    const [B, R, H, K] = dims;
    if (dims.length !== 4 || B !== batch.size || R !== rows.tensor.dims[1] || (heads !== 0 && H !== heads)) {
      throw new InputError(
        `the gathered rows of "${tensor}" (${stack.name}) have shape [${dims.join(', ')}], not [batch ${batch.size}, rows ${rows.tensor.dims[1]}, heads, keys]`,
      );
    }
    heads = H;
    if (batch.padded && K !== batch.padded.get(axes.keyInput)) {
      throw new InputError(
        `the gathered rows of "${tensor}" (${stack.name}) have ${K} keys, but "${axes.keyInput}" was padded to ${batch.padded.get(axes.keyInput)}`,
      );
    }
    cols ??= batch.padded ? realPositions(ex, axes.keyInput) : keyColumns(axes, ex, K);
    return { values: toFloat32(t.data as Float32Array | Uint16Array, t.type), K };
  });
  const keys = cols ?? [];
  const whole = layers.every((l) => keys.length === l.K);
  const sampled: SampledRow[] = rows.chosen[b].map((position, r) => ({
    position,
    layers: layers.map(({ values, K }) => {
      const start = (b * rows.tensor.dims[1] + r) * heads * K;
      if (whole) return values.subarray(start, start + heads * K);
      const cut = new Float32Array(heads * keys.length);
      for (let h = 0; h < heads; h++) for (let c = 0; c < keys.length; c++) cut[h * keys.length + c] = values[start + h * K + keys[c]];
      return cut;
    }),
  }));
  const specialKeys = specialKeysOf(ex, axes, keys);
  return {
    name: stack.name,
    kind: stack.kind,
    causal: stack.causal === true,
    heads,
    queries: rows.real[b].length,
    keys: keys.length,
    rows: sampled,
    origin: ex.origin,
    ...(specialKeys ? { specialKeys } : {}),
  };
}

/** Keys of an unpadded example: all, less those its key mask holds 0 at. */
function keyColumns(axes: StackAxes, ex: ExampleInput, K: number): number[] {
  const mask = axes.keyMask ? ex.tensors.get(axes.keyMask) : undefined;
  const all = Array.from({ length: K }, (_, k) => k);
  if (!mask || mask.asGiven || mask.shape.length !== 1 || mask.shape[0] !== K) return all;
  return all.filter((k) => mask.values[k] !== 0);
}
