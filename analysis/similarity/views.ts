/**
 * Turns the exact sums of an accumulator into the paper's views: head-pair means, the
 * head-to-layer similarity c (eq. 3), the layer-pair matrix (Fig. 2) and the sequential
 * ranking (Fig. 3), plus the uniform and entropy baselines. All indices are 0-based.
 */

import type { LengthView, SinkView, StackErrors } from './stackViews';

/** One head of a layer in the sequential view. */
export interface SequentialEntry {
  head: number;
  /** c[(l, head), l-1]. */
  value: number;
}

/** The means a stack's analysis reports; shapes use L layers and H heads. */
export interface StackSimilarity {
  /** [L][H][L][H]: mean over examples of S between two heads; 1 on the diagonal; symmetric. */
  headPairs: number[][][][];
  /**
   * [L][H][L]: c[l][h][l'] = max over h' of headPairs[l][h][l'][h'] (mean before max).
   * For l' = l the max includes h' = h, so c[l][h][l] is 1: kept as defined, not special-cased.
   */
  c: number[][][];
  /** [L][H][L]: the h' that attains c; ties go to the lowest head index (so possibly below h when l' = l). */
  cArgmax: number[][][];
  /**
   * [L][L]: M[l][l'] = max over h of c[l][h][l'] (paper Fig. 2). Being the max over both heads
   * of the symmetric headPairs, it comes out symmetric; it is computed as defined all the same.
   */
  layerPairs: number[][];
  /**
   * [L-1][H]: entry l-1 lists layer l's heads with value c[l][h][l-1], sorted ascending
   * (rank 1 = least like the previous layer); equal values keep head order.
   */
  sequential: SequentialEntry[][];
  /** [L][H]: mean S(A, uniform over the real keys each row sees: for a causal row, those up to its own position). */
  uniform: number[][];
  /** [L][H]: mean over examples of the mean row entropy (nats). */
  entropy: number[][];
  /**
   * [L][H]: mean over examples of the mean row entropy over ln(keys the row sees), in [0, 1] (1:
   * uniform over them; a row that sees one key counts 1). Absent for files written before it.
   */
  entropyNormalized?: number[][];
  /** Standard errors and 95% intervals (`stackViews.ts`); absent with fewer than two examples or in files written before them. */
  errors?: StackErrors;
  /** Attention mass on sink tokens per head; absent in files written before it. */
  sinks?: SinkView;
  /** Similarity per sequence-length bucket; absent in files written before it. */
  lengths?: LengthView[];
}

/**
 * Computes the views from sums over `examples` examples. `pairSums[a*N + b]` (a < b, flat
 * head index a = l*H + h) holds Σ_t S; the lower triangle and diagonal are not read.
 */
export function similarityViews(
  layerCount: number,
  headCount: number,
  examples: number,
  pairSums: Float64Array,
  uniformSums: Float64Array,
  entropySums: Float64Array,
  entropyNormalizedSums: Float64Array | null = null,
): StackSimilarity {
  const L = layerCount; // the paper's L
  const H = headCount; // the paper's H
  const n = L * H;
  const pair = (a: number, b: number): number => {
    if (a === b) return 1;
    return a < b ? pairSums[a * n + b] / examples : pairSums[b * n + a] / examples;
  };
  const headPairs: number[][][][] = [];
  const c: number[][][] = [];
  const cArgmax: number[][][] = [];
  for (let l = 0; l < L; l++) {
    const rows: number[][][] = [];
    const cRow: number[][] = [];
    const argRow: number[][] = [];
    for (let h = 0; h < H; h++) {
      const a = l * H + h;
      const toLayers: number[][] = [];
      const best: number[] = [];
      const bestHead: number[] = [];
      for (let l2 = 0; l2 < L; l2++) {
        const values: number[] = [];
        let max = -Infinity;
        let arg = 0;
        for (let h2 = 0; h2 < H; h2++) {
          const v = pair(a, l2 * H + h2);
          values.push(v);
          // Strictly greater: the first (lowest) head keeps a tie.
          if (v > max) {
            max = v;
            arg = h2;
          }
        }
        toLayers.push(values);
        best.push(max);
        bestHead.push(arg);
      }
      rows.push(toLayers);
      cRow.push(best);
      argRow.push(bestHead);
    }
    headPairs.push(rows);
    c.push(cRow);
    cArgmax.push(argRow);
  }
  const layerPairs: number[][] = [];
  for (let l = 0; l < L; l++) {
    const row: number[] = [];
    for (let l2 = 0; l2 < L; l2++) {
      let max = -Infinity;
      for (let h = 0; h < H; h++) max = Math.max(max, c[l][h][l2]);
      row.push(max);
    }
    layerPairs.push(row);
  }
  const sequential: SequentialEntry[][] = [];
  for (let l = 1; l < L; l++) {
    const entries = c[l].map((toLayers, head) => ({ head, value: toLayers[l - 1] }));
    entries.sort((x, y) => x.value - y.value || x.head - y.head);
    sequential.push(entries);
  }
  const perHead = (sums: Float64Array): number[][] =>
    Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => sums[l * H + h] / examples));
  const views: StackSimilarity = {
    headPairs,
    c,
    cArgmax,
    layerPairs,
    sequential,
    uniform: perHead(uniformSums),
    entropy: perHead(entropySums),
  };
  if (entropyNormalizedSums) views.entropyNormalized = perHead(entropyNormalizedSums);
  return views;
}
