/**
 * What a stack's sums say, with their uncertainty: the paper's views (`views.ts`), the
 * standard error of every mean over examples and its 95% interval, the sampling error of
 * eq. 2 when rows were sampled, sink mass per head, and similarity per length bucket.
 *
 * Standard errors (DESIGN.md "Statistics"): for a mean of T per-example values x_t,
 *   se = sqrt(s² / T), s² = (Σx² − (Σx)²/T) / (T − 1),
 * from the sums and sums of squares the file keeps, so shards merge into the same errors.
 * c and the layer-pair matrix are maxima over heads; their error is that of the mean that
 * attains the maximum: se(c[(l,h),l']) = se(headPairs[l][h][l'][cArgmax]) and
 * se(M[l][l']) = se(c[(l,h*),l']) with h* the lowest head attaining M (the same pair the panel
 * names). It says how well that pair's mean is known, not how likely another pair would win.
 * Intervals are mean ± z·se with z = 1.96 (normal approximation), clipped to [0, 1].
 */
import { InputError } from '../errors';
import { SINK_THRESHOLD } from './sinkMass';
import type { StackSums } from './stackSums';
import type { StackSimilarity } from './views';
import { similarityViews } from './views';

/** The normal quantile of a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/** A grid of standard errors and the 95% interval of the means they go with. */
export interface ErrorGrid<G> {
  se: G;
  low: G;
  high: G;
}

export interface StackErrors {
  /** Confidence level of `low`/`high` and the quantile used. */
  level: number;
  z: number;
  /** Over examples: how well the mean over these examples estimates the mean over examples like them. */
  headPairs: ErrorGrid<number[][][][]>;
  c: ErrorGrid<number[][][]>;
  layerPairs: ErrorGrid<number[][]>;
  uniform: { se: number[][] };
  entropy: { se: number[][] };
  /**
   * `--rows`: the sampling error of eq. 2's estimate, given the examples: how far the means
   * may be from an exact analysis of the same examples. (The errors over examples above
   * already include it.)
   */
  sampling?: { rows: number; headPairs: ErrorGrid<number[][][][]>; c: ErrorGrid<number[][][]>; layerPairs: ErrorGrid<number[][]> };
}

export interface SinkView {
  /** Heads with `mass` ≥ threshold are flagged "sink". */
  threshold: number;
  /** Whether special tokens were known (text with its tokenizer), else only the first token counts. */
  specialTokens: boolean;
  /** [L][H]: mean attention mass on the first token or a special token. */
  mass: number[][];
  /** [L][H]: mean attention mass on the first token. */
  first: number[][];
  /** [L][H]: standard error of `mass` (absent with fewer than two examples or from a file without squares). */
  massSe?: number[][];
}

export interface LengthView {
  /** Examples with min ≤ real tokens ≤ max (powers of two). */
  min: number;
  max: number;
  examples: number;
  meanTokens: number;
  /** Mean over examples of the example's mean S between heads of different layers. */
  similarity: number;
  similaritySe: number | null;
  /** Mean over examples of the heads' mean similarity to uniform attention. */
  uniform: number;
  uniformSe: number | null;
}

/** Standard error of a mean over T values from their sum and sum of squares. */
export function standardError(sum: number, squares: number, T: number): number {
  const variance = Math.max(0, (squares - (sum * sum) / T) / (T - 1));
  return Math.sqrt(variance / T);
}

/** The views and their errors. Throws `InputError` when no example was folded in. */
export function stackViews(s: StackSums): StackSimilarity {
  const T = s.examples;
  if (T === 0) throw new InputError(`stack "${s.shape.name}": no examples, nothing to average`);
  const { layerCount: L, headCount: H } = s.shape;
  const views = similarityViews(L, H, T, s.pairSums, s.uniform.sums, s.entropy.sums, s.entropyNormalized?.sums ?? null);
  const perHead = (f: (a: number) => number) => Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => f(l * H + h)));
  const moments = (m: { sums: Float64Array; squares: Float64Array | null }) => perHead((a) => standardError(m.sums[a], m.squares![a], T));
  if (s.pairSquares && T >= 2) {
    const squares = s.pairSquares;
    const pairSe = (a: number, b: number) => (a === b ? 0 : standardError(s.pairSums[a * s.n + b], squares[a * s.n + b], T));
    views.errors = {
      level: 0.95,
      z: Z95,
      ...errorGrids(views, L, H, pairSe),
      uniform: { se: moments(s.uniform) },
      entropy: { se: moments(s.entropy) },
    };
  }
  if (s.rows && views.errors) {
    const variance = s.rows.variance;
    const sampleSe = (a: number, b: number) => (a === b ? 0 : Math.sqrt(Math.max(0, variance[a * s.n + b])) / T);
    views.errors.sampling = { rows: s.rows.count, ...errorGrids(views, L, H, sampleSe) };
  }
  if (s.sinks) {
    views.sinks = {
      threshold: SINK_THRESHOLD,
      specialTokens: s.sinks.specialTokens,
      mass: perHead((a) => s.sinks!.mass.sums[a] / T),
      first: perHead((a) => s.sinks!.first.sums[a] / T),
      ...(T >= 2 ? { massSe: moments(s.sinks.mass) } : {}),
    };
  }
  if (s.lengths) {
    views.lengths = [...s.lengths.values()]
      .sort((x, y) => x.min - y.min)
      .map((b) => ({
        min: b.min,
        max: 2 * b.min - 1,
        examples: b.examples,
        meanTokens: b.tokens / b.examples,
        similarity: b.pairSum / b.examples,
        similaritySe: b.examples >= 2 ? standardError(b.pairSum, b.pairSquares, b.examples) : null,
        uniform: b.uniformSum / b.examples,
        uniformSe: b.examples >= 2 ? standardError(b.uniformSum, b.uniformSquares, b.examples) : null,
      }));
  }
  return views;
}

/** Standard errors and intervals of headPairs, c and the layer-pair matrix from a per-pair error. */
function errorGrids(views: StackSimilarity, L: number, H: number, pairSe: (a: number, b: number) => number) {
  const interval = <G>(means: G, se: G): ErrorGrid<G> => {
    const clip =
      (sign: number) =>
      (m: unknown, e: unknown): unknown =>
        Array.isArray(m)
          ? m.map((x, i) => clip(sign)(x, (e as unknown[])[i]))
          : Math.min(1, Math.max(0, (m as number) + sign * Z95 * (e as number)));
    return { se, low: clip(-1)(means, se) as G, high: clip(1)(means, se) as G };
  };
  const heads = <T>(f: (l: number, h: number) => T): T[][] =>
    Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => f(l, h)));
  // Only a < b is kept; a head against itself is 1 for every example.
  const hpSe = heads((l, h) => heads((l2, h2) => pairSe(Math.min(l * H + h, l2 * H + h2), Math.max(l * H + h, l2 * H + h2))));
  const cSe = views.c.map((row, l) => row.map((toLayers, h) => toLayers.map((_, l2) => hpSe[l][h][l2][views.cArgmax[l][h][l2]])));
  const mSe = views.layerPairs.map((row, l) =>
    row.map((_, l2) => {
      let best = 0;
      for (let h = 1; h < H; h++) if (views.c[l][h][l2] > views.c[l][best][l2]) best = h;
      return cSe[l][best][l2];
    }),
  );
  return { headPairs: interval(views.headPairs, hpSe), c: interval(views.c, cSe), layerPairs: interval(views.layerPairs, mSe) };
}
