import { InputError } from '../errors';

/**
 * What one head of one layer does (0-based, DESIGN.md "Indexing"): computes its own
 * attention, has no attention at all (a skip layer), or reuses the probabilities that head
 * `head` of the earlier layer `layer` computed.
 */
export type HeadEntry = 'exact' | 'skip' | { reuse: { layer: number; head: number } };

/** `heads[l][h]`: the role of every head of a stack. */
export type HeadMap = HeadEntry[][];

export const reuseModes = ['partial', 'full', 'alternate', 'all-end', 'skip', 'guided', 'custom'] as const;
export type ReuseMode = (typeof reuseModes)[number];

/** The role a whole layer plays in a preset. */
export type LayerKind = 'exact' | 'reuse' | 'skip';

export function isReuse(e: HeadEntry): e is { reuse: { layer: number; head: number } } {
  return typeof e === 'object' && e !== null && 'reuse' in e;
}

/**
 * Bounds of P (reuse layers) and K (reuse heads per layer) that a mode accepts, for a
 * stack of L layers and H heads. K is pinned to H where the mode fixes it.
 */
export function modeBounds(mode: ReuseMode, L: number, H: number): { P: [number, number]; K: [number, number] } {
  switch (mode) {
    case 'partial':
    case 'guided':
      return { P: [0, Math.max(0, L - 1)], K: [0, H] };
    case 'full':
      return { P: [0, Math.max(0, L - 1)], K: [H, H] };
    case 'alternate':
      // odd layers 1, 3, …: at most ⌊L/2⌋ of them
      return { P: [0, Math.floor(L / 2)], K: [0, H] };
    case 'all-end':
      // the layers before the last one, never layer 0
      return { P: [0, Math.max(0, L - 2)], K: [0, H] };
    case 'skip':
      // a skip layer drops every head, so K is H by definition
      return { P: [0, Math.max(0, L - 1)], K: [H, H] };
    case 'custom':
      return { P: [0, L], K: [0, H] };
  }
}

/** Throws an InputError naming P or K when they fall outside the mode's bounds. */
export function checkModeBounds(mode: ReuseMode, L: number, H: number, P: number, K: number, where = ''): void {
  const b = modeBounds(mode, L, H);
  const range = ([lo, hi]: [number, number]) => (lo === hi ? `${lo}` : `${lo}..${hi}`);
  if (!Number.isInteger(P) || P < b.P[0] || P > b.P[1]) {
    throw new InputError(`${where}P (reuse layers) is ${P}, but mode "${mode}" with ${L} layers allows ${range(b.P)}`);
  }
  if (!Number.isInteger(K) || K < b.K[0] || K > b.K[1]) {
    throw new InputError(`${where}K (reuse heads) is ${K}, but mode "${mode}" with ${H} heads allows ${range(b.K)}`);
  }
}

/** Which layers a preset reuses (or skips), 0-based, per DESIGN.md "Indexing". */
export function presetLayers(mode: Exclude<ReuseMode, 'custom'>, L: number, P: number): number[] {
  const layers: number[] = [];
  for (let p = 0; p < P; p++) {
    if (mode === 'alternate') layers.push(2 * p + 1);
    else if (mode === 'all-end') layers.push(L - 1 - P + p);
    else layers.push(1 + p);
  }
  return layers;
}

export function presetLayerKinds(mode: Exclude<ReuseMode, 'custom'>, L: number, P: number): LayerKind[] {
  const kinds: LayerKind[] = new Array(L).fill('exact');
  for (const l of presetLayers(mode, L, P)) kinds[l] = mode === 'skip' ? 'skip' : 'reuse';
  return kinds;
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

/** The canonical (paper slot order) head map of a preset. */
export function presetHeadMap(mode: Exclude<ReuseMode, 'custom'>, L: number, H: number, P: number, K: number): HeadMap {
  checkModeBounds(mode, L, H, P, K);
  return algorithm1HeadMap(presetLayerKinds(mode, L, P), H, mode === 'skip' ? 0 : K);
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
      throw new InputError(`heads[${l}] mixes "skip" with other heads: a skip layer drops the whole attention block, so every head of it must be "skip"`);
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
