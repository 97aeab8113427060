/**
 * Planning by what a reuse configuration does to the model's output rather than by the
 * similarity it keeps: the rank correlation between the two, the recommendation by measured
 * drift, and a greedy search in which similarity proposes and drift decides.
 */
import { costOf } from './cost';
import type { ModelShape } from './cost';
import type { HeadPairs } from './headAssignment';
import { isReuse } from './headMap';
import type { HeadMap } from './headMap';

/** Ranks 1..n, ties sharing the mean of their ranks. */
function ranks(xs: number[]): number[] {
  const order = xs.map((x, i) => ({ x, i })).sort((a, b) => a.x - b.x);
  const out = new Array<number>(xs.length);
  for (let a = 0; a < order.length;) {
    let b = a;
    while (b + 1 < order.length && order[b + 1].x === order[a].x) b++;
    for (let k = a; k <= b; k++) out[order[k].i] = (a + b) / 2 + 1;
    a = b + 1;
  }
  return out;
}

/** Spearman's rank correlation (Pearson's of the ranks); null for fewer than 3 pairs or no spread. */
export function spearman(xs: number[], ys: number[]): number | null {
  if (xs.length !== ys.length || xs.length < 3) return null;
  const rx = ranks(xs);
  const ry = ranks(ys);
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

/** The index with the least drift among those at or under the FLOPs target (ties: fewer FLOPs, then fewer parameters). */
export function recommendByDrift(
  candidates: { drift: number | null; flopsRatio: number; paramsRatio: number }[],
  targetFlops: number,
): number | null {
  let best: number | null = null;
  candidates.forEach((c, i) => {
    if (c.drift === null || c.flopsRatio > targetFlops + 1e-12) return;
    const b = best === null ? undefined : candidates[best];
    const better =
      !b ||
      c.drift < b.drift! - 1e-15 ||
      (c.drift <= b.drift! + 1e-15 &&
        (c.flopsRatio < b.flopsRatio - 1e-12 || (Math.abs(c.flopsRatio - b.flopsRatio) <= 1e-12 && c.paramsRatio < b.paramsRatio)));
    if (better) best = i;
  });
  return best;
}

export interface SearchMove {
  layer: number;
  head: number;
  source: { layer: number; head: number };
  /** headPairs between the head and its source. */
  similarity: number;
}

export interface SearchStep extends SearchMove {
  /** The measured drift of the map after this move. */
  drift: number;
  flopsRatio: number;
  /** Moves measured at this step. */
  tried: number;
}

export interface SearchOptions {
  shape: ModelShape;
  seqLen: number;
  headPairs: HeadPairs;
  targetFlops: number;
  /** How many moves, best by similarity, are measured at each step (default 4). */
  width?: number;
  /** The drift of a head map, measured on the calibration set. */
  evaluate: (map: HeadMap) => Promise<number>;
  onStep?: (step: SearchStep) => void;
  signal?: AbortSignal;
}

export interface SearchResult {
  heads: HeadMap;
  steps: SearchStep[];
  /** Whether the FLOPs target was reached (else no move was left). */
  reached: boolean;
  drift: number;
}

/**
 * Every move that keeps the map valid: an exact head of layer ≥ 1 that no reuse head reads
 * becomes a reuse of the most similar exact head of an earlier layer (ties: lowest layer, then
 * head). Sorted by similarity, highest first.
 */
export function searchMoves(map: HeadMap, headPairs: HeadPairs): SearchMove[] {
  const sources = new Set(map.flatMap((row) => row.filter(isReuse).map((e) => `${e.reuse.layer},${e.reuse.head}`)));
  const moves: SearchMove[] = [];
  map.forEach((row, l) =>
    row.forEach((e, h) => {
      if (l === 0 || e !== 'exact' || sources.has(`${l},${h}`)) return;
      let best: SearchMove | undefined;
      for (let i = 0; i < l; i++) {
        map[i].forEach((s, j) => {
          const sim = headPairs[l][h][i][j];
          if (s === 'exact' && (!best || sim > best.similarity))
            best = { layer: l, head: h, source: { layer: i, head: j }, similarity: sim };
        });
      }
      if (best) moves.push(best);
    }),
  );
  return moves.sort((a, b) => b.similarity - a.similarity || a.layer - b.layer || a.head - b.head);
}

function applyMove(map: HeadMap, m: SearchMove): HeadMap {
  return map.map((row, l) => row.map((e, h) => (l === m.layer && h === m.head ? { reuse: { ...m.source } } : e)));
}

/**
 * Greedy measured search: start with every head exact and add reuse heads one at a time,
 * each time the one that moves the output least among the `width` best by similarity,
 * until the FLOPs ratio reaches the target.
 */
export async function measuredSearch(options: SearchOptions): Promise<SearchResult> {
  const width = Math.max(1, options.width ?? 4);
  let map: HeadMap = Array.from({ length: options.shape.layers }, () => new Array(options.shape.heads).fill('exact'));
  const steps: SearchStep[] = [];
  let drift = 0;
  const flops = (m: HeadMap) => costOf(options.shape, m, options.seqLen).flopsRatio;
  while (flops(map) > options.targetFlops + 1e-12) {
    const moves = searchMoves(map, options.headPairs).slice(0, width);
    if (moves.length === 0) return { heads: map, steps, reached: false, drift };
    let best: { move: SearchMove; drift: number; map: HeadMap } | undefined;
    for (const move of moves) {
      if (options.signal?.aborted) break;
      const next = applyMove(map, move);
      const d = await options.evaluate(next);
      if (!best || d < best.drift) best = { move, drift: d, map: next };
    }
    if (!best || options.signal?.aborted) break;
    map = best.map;
    drift = best.drift;
    const step = { ...best.move, drift, flopsRatio: flops(map), tried: moves.length };
    steps.push(step);
    options.onStep?.(step);
  }
  return { heads: map, steps, reached: flops(map) <= options.targetFlops + 1e-12, drift };
}

/** Indices not dominated in (drift ↓, FLOPs ratio ↓), by FLOPs ratio. */
export function paretoByDrift(points: { drift: number | null; flopsRatio: number }[]): number[] {
  const scored = points.map((p, i) => ({ i, d: p.drift, f: p.flopsRatio })).filter((p) => p.d !== null) as {
    i: number;
    d: number;
    f: number;
  }[];
  const eps = 1e-12;
  const front = scored.filter(
    (a) => !scored.some((b) => b.i !== a.i && b.d <= a.d + eps && b.f <= a.f + eps && (b.d < a.d - eps || b.f < a.f - eps)),
  );
  return front.sort((a, b) => a.f - b.f || a.d - b.d).map((a) => a.i);
}
