/**
 * The hot loop of the similarity analysis: for one example of one stack, the L1 distance
 * summed over query rows, Σ_p ||A[p,:] - A'[p,:]||_1, for every pair of heads.
 *
 * Heads are numbered flat, `a = l*H + h` (H heads per layer). Pairs with `a < b` visit
 * every unordered pair once, with l ≤ l' (S is symmetric; a head against itself is 1 and
 * never computed). S of a pair is `1 - out[a*N + b] / (2 * queries)`.
 *
 * These JavaScript kernels are the reference: they run float64 input (the 1e-9 path) and are
 * the fallback where the WebAssembly SIMD kernel (`simdSource.ts`, 6-9× faster) cannot run.
 */

import { CAUSAL_ZERO_TOLERANCE } from './inputScan';

/** Attention probabilities of one layer, row-major [heads][queries][keys]. */
export type AttentionArray = Float32Array | Float64Array;

/** A contiguous range of first heads `a` in [begin, end): the unit of work a thread takes. */
export interface HeadRange {
  begin: number;
  end: number;
}

/** Length of the scratch buffer `addHeadPairL1` needs: one row of every head, as float64. */
export function kernelScratchLength(layerCount: number, heads: number, keys: number): number {
  return layerCount * heads * keys;
}

/**
 * Adds, for every pair a < b with a in [firstBegin, firstEnd), the L1 distance between the
 * two heads' rows summed over query rows, into `out[a*N + b]` (N = layers.length * heads).
 * Nothing else in `out` is touched, so disjoint ranges can run on different threads over one
 * shared `out`, and every pair is summed in the same order whichever range holds it: results
 * do not depend on how the work was split.
 *
 * Loop order: one query row p at a time, so the rows of all heads for that p (N·keys
 * float64, 147 KB for BERT-base at 128 tokens) stay in cache while every pair is visited.
 * Rows are first copied into `scratch` as float64, which converts float32 once per row
 * instead of once per pair and keeps the inner loop monomorphic for both input precisions.
 * Pairs are visited in 2×2 blocks (two first heads against two second heads) so that each
 * loaded value serves two distances and four independent sums keep the FPU busy; in V8 this
 * measured 1.6× faster than one pair at a time with four partial sums, 2.8× than a plain loop.
 */
export function addHeadPairL1(
  layers: readonly AttentionArray[],
  heads: number,
  queries: number,
  keys: number,
  firstBegin: number,
  firstEnd: number,
  out: Float64Array,
  scratch: Float64Array,
): void {
  const n = layers.length * heads;
  const k = keys;
  const headStride = queries * keys;
  if (firstBegin < 0 || firstEnd > n || firstBegin >= firstEnd) return;
  if (scratch.length < n * k) throw new Error(`kernel scratch holds ${scratch.length} values, needs ${n * k}`);
  if (out.length < n * n) throw new Error(`kernel output holds ${out.length} values, needs ${n * n}`);
  for (let p = 0; p < queries; p++) {
    // Only heads ≥ firstBegin take part in this range's pairs.
    for (let a = firstBegin; a < n; a++) {
      const layer = layers[(a / heads) | 0];
      const src = (a % heads) * headStride + p * k;
      const dst = a * k;
      for (let x = 0; x < k; x++) scratch[dst + x] = layer[src + x];
    }
    let a = firstBegin;
    for (; a + 1 < firstEnd; a += 2) {
      const r0 = a * k;
      const r1 = r0 + k;
      let s = 0;
      for (let x = 0; x < k; x++) s += Math.abs(scratch[r0 + x] - scratch[r1 + x]);
      out[a * n + a + 1] += s;
      let b = a + 2;
      for (; b + 1 < n; b += 2) {
        const c0 = b * k;
        const c1 = c0 + k;
        let s00 = 0;
        let s01 = 0;
        let s10 = 0;
        let s11 = 0;
        for (let x = 0; x < k; x++) {
          const v0 = scratch[r0 + x];
          const v1 = scratch[r1 + x];
          const w0 = scratch[c0 + x];
          const w1 = scratch[c1 + x];
          s00 += Math.abs(v0 - w0);
          s01 += Math.abs(v0 - w1);
          s10 += Math.abs(v1 - w0);
          s11 += Math.abs(v1 - w1);
        }
        const o = a * n + b;
        out[o] += s00;
        out[o + 1] += s01;
        out[o + n] += s10;
        out[o + n + 1] += s11;
      }
      if (b < n) {
        const c0 = b * k;
        let s0 = 0;
        let s1 = 0;
        for (let x = 0; x < k; x++) {
          const w = scratch[c0 + x];
          s0 += Math.abs(scratch[r0 + x] - w);
          s1 += Math.abs(scratch[r1 + x] - w);
        }
        out[a * n + b] += s0;
        out[(a + 1) * n + b] += s1;
      }
    }
    if (a < firstEnd) {
      // An odd range leaves one first head: plain pair-at-a-time.
      const r0 = a * k;
      for (let b = a + 1; b < n; b++) {
        const c0 = b * k;
        let s = 0;
        for (let x = 0; x < k; x++) s += Math.abs(scratch[r0 + x] - scratch[c0 + x]);
        out[a * n + b] += s;
      }
    }
  }
}

/**
 * 1/ln(v) for v = 0..keys (0 where v ≤ 1): what a row's entropy is divided by to normalise it
 * by the log of its visible keys. The SIMD kernel reads the same table, so both normalise alike.
 */
export function inverseLogTable(keys: number): Float64Array {
  const table = new Float64Array(keys + 1);
  for (let v = 2; v <= keys; v++) table[v] = 1 / Math.log(v);
  return table;
}

/** Keys query row p of `queries` sees among `keys`: all, or for causal rows those up to its own position (after any past). */
export function visibleKeys(causal: boolean, queries: number, keys: number, p: number): number {
  return causal ? Math.max(1, Math.min(keys, keys - queries + p + 1)) : keys;
}

/** Where `scanHeadRows` writes, per head: S(A, uniform over the visible keys), raw and normalised mean row entropy. */
export interface ScanOutput {
  uniform: Float64Array;
  entropy: Float64Array;
  entropyNormalized: Float64Array;
}

/**
 * For heads a in [headBegin, headEnd), writes this example's S(A, uniform over the keys each
 * row sees) to `out.uniform[a]`, the mean over query rows of the row entropy (nats) to
 * `out.entropy[a]` and of the row entropy over ln(visible keys) to `out.entropyNormalized[a]`
 * (a row that sees one key counts 1: it is uniform over what it sees), and checks every row:
 * finite, non-negative, summing to 1 within `tolerance`, and for causal rows nothing beyond
 * the diagonal (`CAUSAL_ZERO_TOLERANCE`). Returns the first bad row as `a * queries + p`, or -1
 * when all are good. It runs beside `addHeadPairL1` on the workers because Math.log makes
 * this O(N·q·k) pass cost about a third of the O(N²·q·k) kernel.
 */
export function scanHeadRows(
  layers: readonly AttentionArray[],
  heads: number,
  queries: number,
  keys: number,
  headBegin: number,
  headEnd: number,
  tolerance: number,
  out: ScanOutput,
  causal = false,
  invLog: Float64Array = inverseLogTable(keys),
): number {
  const headStride = queries * keys;
  for (let a = headBegin; a < headEnd; a++) {
    const layer = layers[(a / heads) | 0];
    const base = (a % heads) * headStride;
    let uniformL1 = 0;
    let entropy = 0;
    let normalized = 0;
    for (let p = 0; p < queries; p++) {
      const start = base + p * keys;
      const visible = visibleKeys(causal, queries, keys, p);
      const u = 1 / visible;
      let sum = 0;
      let rowL1 = 0;
      let rowEntropy = 0;
      let low = 0;
      let beyond = 0;
      for (let x = start; x < start + keys; x++) {
        const v = layer[x];
        sum += v;
        if (x - start < visible) rowL1 += Math.abs(v - u);
        else {
          rowL1 += Math.abs(v);
          if (!(Math.abs(v) <= CAUSAL_ZERO_TOLERANCE)) beyond = 1;
        }
        // 0·ln 0 = 0, and skipping exact zeros saves the costly log.
        if (v > 0) rowEntropy -= v * Math.log(v);
        else if (v < low) low = v;
      }
      // Written so that NaN fails (every comparison with NaN is false); ±Infinity breaks the sum.
      if (!(Math.abs(sum - 1) <= tolerance) || low < 0 || beyond) return a * queries + p;
      uniformL1 += rowL1;
      entropy += rowEntropy;
      normalized += visible > 1 ? rowEntropy * invLog[visible] : 1;
    }
    out.uniform[a] = 1 - uniformL1 / (2 * queries);
    out.entropy[a] = entropy / queries;
    out.entropyNormalized[a] = normalized / queries;
  }
  return -1;
}

/** Splits heads 0..n-1 into at most `parts` contiguous ranges of nearly equal size. */
export function splitHeads(n: number, parts: number): HeadRange[] {
  parts = Math.max(1, Math.min(n, Math.floor(parts)));
  return Array.from({ length: parts }, (_, i) => ({ begin: Math.floor((i * n) / parts), end: Math.floor(((i + 1) * n) / parts) }));
}

/**
 * Splits the first heads 0..n-2 (head n-1 has no later partner) into at most `parts`
 * contiguous ranges with about the same number of pairs each: first head a has n-1-a
 * partners, so early ranges are narrower. Each pair's sum runs in the same order in every
 * block shape, so any split gives bit-identical results.
 */
export function splitFirstHeads(n: number, parts: number): HeadRange[] {
  parts = Math.max(1, Math.floor(parts));
  const ranges: HeadRange[] = [];
  const total = (n * (n - 1)) / 2;
  let begin = 0;
  let done = 0;
  for (let part = 1; part <= parts && begin < n - 1; part++) {
    const target = (total * part) / parts;
    let end = begin;
    while (end < n - 1 && (end === begin || done + (n - 1 - end) / 2 <= target)) {
      done += n - 1 - end;
      end++;
    }
    if (part === parts) end = n - 1;
    ranges.push({ begin, end });
    begin = end;
  }
  return ranges;
}
