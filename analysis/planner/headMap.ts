import { InputError } from '../errors';

/**
 * What one head of one layer does (0-based, DESIGN.md "Indexing"): computes its own
 * attention, has no attention at all (a skip layer), or reuses the probabilities that head
 * `head` of the earlier layer `layer` computed.
 */
export type HeadEntry = 'exact' | 'skip' | { reuse: { layer: number; head: number } };

/** `heads[l][h]`: the role of every head of a stack. */
export type HeadMap = HeadEntry[][];

/** The role a whole layer plays in a preset. */
export type LayerKind = 'exact' | 'reuse' | 'skip';

export function isReuse(e: HeadEntry): e is { reuse: { layer: number; head: number } } {
  return typeof e === 'object' && e !== null && 'reuse' in e;
}

/**
 * Algorithm 1 generalised to any set of reuse layers, in slot order: a reuse layer computes
 * heads 0..H-K-1 and its heads H-K..H-1 take R_{l-1}[0..K-1]; R_l lists the H most recently
 * computed tensors. Each reuse entry names the (layer, head) that computed the tensor, so
 * chains through several reuse layers are already resolved. Skip layers leave R alone.
 */
export function algorithm1HeadMap(kinds: LayerKind[], H: number, K: number): HeadMap {
  let recent: { layer: number; head: number }[] = [];
  return kinds.map((kind, l) => {
    if (kind === 'skip') return new Array<HeadEntry>(H).fill('skip');
    if (kind === 'exact' || recent.length === 0) {
      recent = Array.from({ length: H }, (_, h) => ({ layer: l, head: h }));
      return new Array<HeadEntry>(H).fill('exact');
    }
    const row: HeadEntry[] = [];
    for (let h = 0; h < H - K; h++) row.push('exact');
    for (let k = 0; k < K; k++) row.push({ reuse: { ...recent[k] } });
    recent = [...Array.from({ length: H - K }, (_, h) => ({ layer: l, head: h })), ...recent.slice(0, K)];
    return row;
  });
}

export interface LayerRole {
  kind: LayerKind;
  /** Reuse heads in this layer (0 for exact and skip layers). */
  reuseHeads: number;
}

/**
 * Per-layer summary of a head map. A layer is a skip layer only as a whole: skipping
 * drops the attention block (its Q, K, V and O), which a single head cannot do.
 */
export function layerRoles(map: HeadMap): LayerRole[] {
  return map.map((row, l) => {
    const skips = row.filter((e) => e === 'skip').length;
    if (skips > 0 && skips < row.length) {
      throw new InputError(
        `heads[${l}] mixes "skip" with other heads: a skip layer drops the whole attention block, so every head of it must be "skip"`,
      );
    }
    if (skips > 0) return { kind: 'skip', reuseHeads: 0 };
    const reuseHeads = row.filter(isReuse).length;
    return { kind: reuseHeads > 0 ? 'reuse' : 'exact', reuseHeads };
  });
}

/** P and K as a custom map implies them: layers that reuse or skip, and the most reuse heads in one layer. */
export function impliedPK(map: HeadMap): { P: number; K: number } {
  const roles = layerRoles(map);
  const H = map[0]?.length ?? 0;
  return {
    P: roles.filter((r) => r.kind !== 'exact').length,
    K: Math.max(0, ...roles.map((r) => (r.kind === 'skip' ? H : r.reuseHeads))),
  };
}
