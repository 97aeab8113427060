/**
 * Maximum-weight assignment (the Hungarian method with potentials, O(n²·m)). Rows ≤
 * columns; every row gets a distinct column. Returns the column of each row.
 */
export function maxWeightAssignment(weights: number[][]): number[] {
  const n = weights.length;
  if (n === 0) return [];
  const m = weights[0].length;
  if (m < n) throw new Error(`assignment needs rows ≤ columns (got ${n} × ${m})`);
  // 1-based arrays as in the classic formulation; index 0 is the virtual start column.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row matched to column j (0 = none)
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      const row = weights[i0 - 1];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = -row[j - 1] - u[i0] - v[j]; // minimise the negated weight
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const colOf = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if (p[j] > 0) colOf[p[j] - 1] = j - 1;
  return colOf;
}

export interface Matching {
  /** Matched [row, column] pairs, sorted by row. */
  pairs: [number, number][];
  total: number;
}

/**
 * A maximum-weight matching of exactly `k` pairs between rows and columns, in which every
 * row flagged `mandatory` is matched. Reduced to a square assignment: C-k dummy rows take
 * the columns left unmatched, R-k dummy columns take the rows left unmatched (never a
 * mandatory one), and dummy meets dummy is forbidden, which forces exactly k real pairs.
 */
export function maxWeightMatching(weights: number[][], k: number, mandatory?: boolean[]): Matching {
  const R = weights.length;
  const C = R === 0 ? 0 : weights[0].length;
  const required = mandatory?.filter(Boolean).length ?? 0;
  if (!Number.isInteger(k) || k < 0 || k > Math.min(R, C)) throw new Error(`cannot match ${k} pairs in a ${R} × ${C} table`);
  if (required > k) throw new Error(`${required} mandatory rows do not fit in ${k} pairs`);
  if (k === 0) return { pairs: [], total: 0 };
  let scale = 1;
  for (const row of weights) for (const w of row) scale += Math.abs(w);
  const forbidden = -4 * scale;
  const N = R + C - k;
  const square: number[][] = [];
  for (let i = 0; i < N; i++) {
    const row = new Array<number>(N);
    for (let j = 0; j < N; j++) {
      if (i < R && j < C) row[j] = weights[i][j];
      else if (i < R) row[j] = mandatory?.[i] ? forbidden : 0;
      else row[j] = j < C ? 0 : forbidden;
    }
    square.push(row);
  }
  const colOf = maxWeightAssignment(square);
  const pairs: [number, number][] = [];
  let total = 0;
  for (let i = 0; i < R; i++) {
    if (colOf[i] < C) {
      pairs.push([i, colOf[i]]);
      total += weights[i][colOf[i]];
    } else if (mandatory?.[i]) {
      throw new Error(`matching left mandatory row ${i} unmatched`);
    }
  }
  if (pairs.length !== k) throw new Error(`matching found ${pairs.length} pairs, expected ${k}`);
  return { pairs, total };
}
