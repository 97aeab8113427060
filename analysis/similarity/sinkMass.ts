/**
 * Attention sinks (Clark et al. 2019: heads that park their attention on [CLS], [SEP] or the
 * first token): per head, the mean mass a row puts on the first key, and on the first key or
 * any special token. Such heads are far from uniform yet alike, so neither the uniform
 * baseline nor the diffuse flag catches them; the planner can leave them out (`--exclude-sinks`).
 */
import type { AttentionArray } from './kernel';

/** A head is flagged "sink" when at least this share of its attention goes to sink tokens on average. */
export const SINK_THRESHOLD = 0.5;

/**
 * Adds `weight` × (mass on key 0) to `first[offset + h]` and `weight` × (mass on key 0 or a key
 * in `special`) to `mass[offset + h]`, summed over the `queries` rows of every head of one
 * layer (row-major [heads][queries][keys]). Special keys at or beyond `keys` (a causal row cut
 * to the keys it sees) do not count.
 */
export function addSinkMass(
  layer: AttentionArray,
  heads: number,
  queries: number,
  keys: number,
  special: readonly number[] | undefined,
  offset: number,
  mass: Float64Array,
  first: Float64Array,
  weight: number,
): void {
  for (let h = 0; h < heads; h++) {
    let f = 0;
    let s = 0;
    for (let p = 0; p < queries; p++) {
      const row = (h * queries + p) * keys;
      const x = layer[row];
      f += x;
      s += x;
      if (special) for (const k of special) if (k > 0 && k < keys) s += layer[row + k];
    }
    first[offset + h] += f * weight;
    mass[offset + h] += s * weight;
  }
}
