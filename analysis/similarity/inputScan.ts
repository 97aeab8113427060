/**
 * The boundary of the similarity analysis: what one example's attention of one stack must
 * look like, and the user-facing errors when it does not. The kernels check every row in the
 * same pass that measures each head against the uniform distribution and its row entropy
 * (`scanHeadRows`); the first bad row they report is worded here.
 */
import type { StackExample, StackKind } from '../runtime/types';
import type { AttentionArray } from './kernel';
import { InputError } from '../errors';

/** Rows may miss a sum of 1 by this much (float32 softmax outputs over long rows drift). */
export const ROW_SUM_TOLERANCE = 1e-3;

/**
 * What a causal row may hold beyond its diagonal: a masked score's exp() is exactly 0 in float32
 * and float16, so anything above this means the mask is not the causal one it was read as.
 */
export const CAUSAL_ZERO_TOLERANCE = 1e-6;

/**
 * One example's attention of one stack, real tokens only. `StackAttention` from the runtime
 * fits; float64 layers are the reference path that tests compare at 1e-9.
 */
export interface AttentionInput extends StackExample {
  /** One array per layer, row-major [heads][queries][keys]. */
  layers: readonly AttentionArray[];
  /** The example's index in the run: the passes of one example (`layerPasses.ts`) are matched by it. */
  example?: number;
}

/** What a stack's accumulator expects of every example. */
export interface StackShape {
  name: string;
  kind: StackKind;
  layerCount: number;
  headCount: number;
  /** Causal self-attention (default false). */
  causal?: boolean;
}

/** The checks that need no pass over the values: names, kinds, counts and lengths. */
export function checkShape(input: AttentionInput, shape: StackShape): void {
  const where = `${input.origin ? `${input.origin}: ` : ''}stack "${shape.name}"`;
  if (input.name !== shape.name) throw new InputError(`${where}: got attention of stack "${input.name}"`);
  if (input.kind !== shape.kind) throw new InputError(`${where}: expected ${shape.kind}-attention, got ${input.kind}`);
  if (input.layers.length !== shape.layerCount) {
    throw new InputError(`${where}: expected ${shape.layerCount} layers, got ${input.layers.length}`);
  }
  if (input.heads !== shape.headCount) throw new InputError(`${where}: expected ${shape.headCount} heads, got ${input.heads}`);
  const { heads, queries, keys } = input;
  if (!isCount(queries) || !isCount(keys)) {
    throw new InputError(`${where}: needs at least one real query and key, got ${queries} x ${keys}`);
  }
  if ((input.causal === true) !== (shape.causal === true)) {
    throw new InputError(
      `${where}: expected ${shape.causal ? 'causal' : 'bidirectional'} attention, got ${input.causal ? 'causal' : 'bidirectional'}`,
    );
  }
  // Causal self-attention with a KV cache has the past keys before the queries' own.
  if (input.kind === 'self' && (input.causal ? keys < queries : queries !== keys)) {
    throw new InputError(
      `${where}: self-attention must be square${input.causal ? ' or have past keys' : ''}, got ${queries} queries x ${keys} keys`,
    );
  }
  for (let l = 0; l < input.layers.length; l++) {
    const length = input.layers[l].length;
    if (length !== heads * queries * keys) {
      throw new InputError(
        `${where} layer ${l}: ${length} values, expected heads*queries*keys = ${heads}*${queries}*${keys} = ${heads * queries * keys}`,
      );
    }
  }
}

/** The error for the row `scanHeadRows` flagged (`row` = flat head index × queries + query). */
export function badRowError(input: AttentionInput, row: number): InputError {
  const { heads, queries, keys } = input;
  const a = Math.floor(row / queries);
  const p = row % queries;
  const l = Math.floor(a / heads);
  const h = a % heads;
  const layer = input.layers[l];
  const start = (h * queries + p) * keys;
  let what: string | undefined;
  let sum = 0;
  const visible = input.causal ? Math.min(keys, keys - queries + p + 1) : keys;
  for (let x = 0; x < keys && what === undefined; x++) {
    const v = layer[start + x];
    sum += v;
    if (Number.isNaN(v)) what = `has NaN at key ${x}`;
    else if (!Number.isFinite(v)) what = `has ${v} at key ${x}`;
    else if (v < 0) what = `has a negative probability ${v} at key ${x}`;
    else if (x >= visible && v > CAUSAL_ZERO_TOLERANCE)
      what = `gives key ${x} beyond its diagonal probability ${v}, though the stack was read as causal from its mask`;
  }
  what ??= `sums to ${sum}, not 1 (±${ROW_SUM_TOLERANCE})`;
  return new InputError(`${input.origin ? `${input.origin}: ` : ''}stack "${input.name}" layer ${l} head ${h} query ${p}: row ${what}`);
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}
