import { maxWeightMatching } from './assignment';
import { isReuse } from './headMap';
import type { HeadEntry, HeadMap } from './headMap';

/** Mean head-to-head similarity `[L][H][L][H]` from the analysis file (symmetric, 1 on the diagonal). */
export type HeadPairs = number[][][][];

/** One reuse head of a map: model head (layer, head) borrowing from (sourceLayer, sourceHead). */
export interface ReusePair {
  layer: number;
  head: number;
  sourceLayer: number;
  sourceHead: number;
}

export function reusePairs(map: HeadMap): ReusePair[] {
  const pairs: ReusePair[] = [];
  map.forEach((row, layer) =>
    row.forEach((e, head) => {
      if (isReuse(e)) pairs.push({ layer, head, sourceLayer: e.reuse.layer, sourceHead: e.reuse.head });
    }),
  );
  return pairs;
}

/** Reuse pairs whose two heads were measured: a map with extra layers reaches past the analysis. */
function measuredPairs(map: HeadMap, measuredLayers: number): ReusePair[] {
  return reusePairs(map).filter((p) => p.layer < measuredLayers);
}

/**
 * "Similarity kept" (DESIGN.md): the mean, over the reuse heads, of headPairs between the
 * model head and the head it borrows from. Null when nothing is reused. Reuse heads in
 * extra layers (beyond the analysed ones) have no measurement and are left out.
 */
export function similarityKept(map: HeadMap, headPairs: HeadPairs): number | null {
  const pairs = measuredPairs(map, headPairs.length);
  if (pairs.length === 0) return null;
  let sum = 0;
  for (const p of pairs) sum += headPairs[p.layer][p.head][p.sourceLayer][p.sourceHead];
  return sum / pairs.length;
}

/**
 * The same mean taken over `uniform` (each head's similarity to uniform attention) of the
 * two heads in every reuse pair: what two heads that attend to nothing in particular would
 * score. Similarity kept well above it means the borrowed pattern is real structure.
 */
export function uniformBaseline(map: HeadMap, uniform: number[][]): number | null {
  const pairs = measuredPairs(map, uniform.length);
  if (pairs.length === 0) return null;
  let sum = 0;
  for (const p of pairs) sum += (uniform[p.layer][p.head] + uniform[p.sourceLayer][p.sourceHead]) / 2;
  return sum / pairs.length;
}

/**
 * Places the model's heads into the slots of a preset's head map (Algorithm 1 slot order),
 * layer by layer: in each reuse layer, a maximum-weight assignment on headPairs picks which
 * model heads of the layer take the reuse slots and, where the source slots are the previous
 * layer's still-unplaced computed heads, which of those fill them. Heads of one layer are
 * interchangeable in a trained model, so this is the same architecture with the model's
 * heads in the places where they lose the least; it is greedy across layers.
 */
export function assignPresetHeads(slotMap: HeadMap, headPairs: HeadPairs): HeadMap {
  const L = slotMap.length;
  const H = slotMap[0]?.length ?? 0;
  const perm = Array.from({ length: L }, () => new Array<number>(H).fill(-1)); // perm[l][slot] = model head
  const placed = Array.from({ length: L }, () => new Array<boolean>(H).fill(false));
  const place = (l: number, slot: number, head: number) => {
    perm[l][slot] = head;
    placed[l][head] = true;
  };

  for (let l = 0; l < L; l++) {
    const slots: number[] = [];
    const sources: { layer: number; head: number }[] = [];
    slotMap[l].forEach((e, s) => {
      if (isReuse(e)) {
        slots.push(s);
        sources.push(e.reuse);
      }
    });
    if (slots.length === 0) continue;
    const fixed = sources.map((src, q) => ({ q, src })).filter(({ src }) => perm[src.layer][src.head] >= 0);
    const free = sources.map((src, q) => ({ q, src })).filter(({ src }) => perm[src.layer][src.head] < 0);
    const freeLayers = [...new Set(free.map((f) => f.src.layer))];
    // Algorithm 1's chains leave at most one layer with unplaced source slots: the last computed one.
    if (freeLayers.length > 1) throw new Error(`layer ${l} borrows unplaced heads from layers ${freeLayers.join(', ')}`);
    const poolLayer = freeLayers[0] ?? -1;
    const pool = poolLayer < 0 ? [] : range(H).filter((h) => !placed[poolLayer][h]);

    const rows = [
      ...fixed.map(({ src }) => ({ layer: src.layer, head: perm[src.layer][src.head] })),
      ...pool.map((head) => ({ layer: poolLayer, head })),
    ];
    const weights = rows.map((r) => range(H).map((c) => headPairs[l][c][r.layer][r.head]));
    const mandatory = rows.map((_, i) => i < fixed.length);
    const { pairs } = maxWeightMatching(weights, sources.length, mandatory);
    const colOfRow = new Map(pairs.map(([r, c]) => [r, c]));

    // Chosen pool heads fill the free source slots in ascending head order.
    const chosen = pairs
      .filter(([r]) => r >= fixed.length)
      .map(([r]) => r)
      .sort((a, b) => rows[a].head - rows[b].head);
    free.forEach((f, t) => place(f.src.layer, f.src.head, rows[chosen[t]].head));
    fixed.forEach((f, r) => place(l, slots[f.q], colOfRow.get(r)!));
    free.forEach((f, t) => place(l, slots[f.q], colOfRow.get(chosen[t])!));
  }

  for (let l = 0; l < L; l++) {
    const rest = range(H).filter((h) => !placed[l][h]);
    for (let s = 0; s < H; s++) if (perm[l][s] < 0) place(l, s, rest.shift()!);
  }

  const out: HeadMap = Array.from({ length: L }, () => new Array<HeadEntry>(H));
  slotMap.forEach((row, l) =>
    row.forEach((e, s) => {
      out[l][perm[l][s]] = isReuse(e) ? { reuse: { layer: e.reuse.layer, head: perm[e.reuse.layer][e.reuse.head] } } : e;
    }),
  );
  return out;
}

/**
 * Similarity-guided head map: layers 1..P each get K reuse heads. Per layer, a maximum-weight
 * assignment on headPairs chooses which K heads reuse and which computed head of any earlier
 * layer each borrows (distinct sources within a layer); the rest stay exact. Greedy in layer
 * order, so a head made to reuse is no longer offered as a source to later layers.
 */
export function guidedHeadMap(L: number, H: number, P: number, K: number, headPairs: HeadPairs): HeadMap {
  const map: HeadMap = Array.from({ length: L }, () => new Array<HeadEntry>(H).fill('exact'));
  for (let l = 1; l <= P && l < L; l++) {
    if (K === 0) continue;
    const candidates: { layer: number; head: number }[] = [];
    for (let i = 0; i < l; i++) for (let j = 0; j < H; j++) if (map[i][j] === 'exact') candidates.push({ layer: i, head: j });
    // Only a column's K best rows can be in an optimal K-matching (any other can be swapped
    // for one of them left unused), which keeps the assignment small in deep models.
    const keep = new Set<number>();
    for (let c = 0; c < H; c++) {
      const order = range(candidates.length).sort((a, b) => {
        const d = headPairs[l][c][candidates[b].layer][candidates[b].head] - headPairs[l][c][candidates[a].layer][candidates[a].head];
        return d !== 0 ? d : a - b;
      });
      for (const r of order.slice(0, K)) keep.add(r);
    }
    const rows = [...keep].sort((a, b) => a - b).map((r) => candidates[r]);
    const weights = rows.map((r) => range(H).map((c) => headPairs[l][c][r.layer][r.head]));
    for (const [r, c] of maxWeightMatching(weights, K).pairs) map[l][c] = { reuse: { ...rows[r] } };
  }
  return map;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
