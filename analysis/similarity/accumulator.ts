/**
 * Streaming, mergeable similarity statistics of one stack. Examples are folded in one at a
 * time and can be dropped afterwards; only exact float64 sums and counts are kept (with the
 * squares of every per-example value beside its sum, for standard errors), so shards computed
 * apart merge into exactly what one run would give (up to summation order).
 */
import type { AttentionInput, StackShape } from './inputScan';
import { badRowError, checkShape, ROW_SUM_TOLERANCE } from './inputScan';
import type { LayerPass } from './layerPasses';
import { passTakesHeads, passTakesPair } from './layerPasses';
import { combineRows, rowInputs } from './rowSample';
import type { SampledInput } from './rowSample';
import { addSinkMass } from './sinkMass';
import type { KernelOutput, SimilarityKernel } from './similarityKernel';
import { StackSums } from './stackSums';
import type { RowSampling, ShardInfo, SimilaritySums } from './stackSums';
import { stackViews } from './stackViews';
import type { StackSimilarity } from './views';

/** One example's values in a pass's local head numbering (local head i of `heads[i]`). */
export interface ExampleValues {
  /** [m*m], i < j: S of the pair. */
  S: Float64Array;
  /** [m*m], i < j: the sampling variance of S (--rows), else null. */
  variance: Float64Array | null;
  uniform: Float64Array;
  entropy: Float64Array;
  entropyNormalized: Float64Array;
  sinkMass: Float64Array;
  firstMass: Float64Array;
  /** Real query rows of the example (all of them, also when a sample was measured). */
  tokens: number;
}

/** What an example has folded so far across its passes, for the per-example length statistics. */
interface Pending {
  pairSum: number;
  pairs: number;
  uniformSum: number;
}

/** Accumulates one stack's similarity statistics; see `SimilaritySums` for what it keeps. */
export class SimilarityAccumulator {
  private sums: StackSums;
  private readonly pending = new Map<number, Pending>();

  /**
   * An empty accumulator for one stack (one shard of a run). `rows`: the examples are row
   * samples (`addSampled`); `specialTokens`: the examples say which keys are special tokens.
   */
  constructor(shape: StackShape, shard: ShardInfo = { index: 0, count: 1 }, options: { rows?: RowSampling; specialTokens?: boolean } = {}) {
    this.sums = new StackSums(shape, shard, options);
  }

  get shape(): Readonly<Required<StackShape>> {
    return this.sums.shape;
  }

  get examples(): number {
    return this.sums.examples;
  }

  get tokens(): number {
    return this.sums.tokens;
  }

  /** The shards merged in so far, ascending. */
  get shards(): ShardInfo[] {
    return [...this.sums.shardSet].sort((x, y) => x - y).map((index) => ({ index, count: this.sums.shardCount }));
  }

  /** Whether every shard of the run has been merged in. */
  get complete(): boolean {
    return this.sums.shardSet.size === this.sums.shardCount;
  }

  /**
   * Folds in `inputs` (every query row of each example), in order, computed by `kernel`
   * (`openKernel`): the sums do not depend on its thread count. With `pass`, each input holds
   * only the pass's layers and only its share is folded (`layerPasses.ts`). If any example is
   * bad, rejects with the first one's `InputError` and adds none of them. Calls may overlap:
   * they fold in call order (a kernel runs its calls in order). Keep the inputs unchanged until
   * the promise settles.
   */
  async add(inputs: readonly AttentionInput[], kernel: SimilarityKernel, pass?: LayerPass): Promise<void> {
    for (const input of inputs) checkShape(input, this.expected(pass));
    const m = this.localHeads(pass);
    // Own buffers per call, because overlapping calls are in flight at the same time.
    const outs = inputs.map(() => kernelOutput(m));
    const bad = await kernel.run(inputs, outs, ROW_SUM_TOLERANCE);
    const first = bad.findIndex((row) => row >= 0);
    if (first >= 0) throw badRowError(inputs[first], bad[first]);
    inputs.forEach((input, i) => {
      const out = outs[i];
      // S = 1 - (1/n_q) Σ_p ½‖A[p,:] - A'[p,:]‖₁ (paper eq. 2), in place of the L1 sums.
      const S = out.pairL1;
      for (let k = 0; k < S.length; k++) S[k] = 1 - S[k] / (2 * input.queries);
      const sinkMass = new Float64Array(m);
      const firstMass = new Float64Array(m);
      input.layers.forEach((layer, l) =>
        addSinkMass(
          layer,
          input.heads,
          input.queries,
          input.keys,
          input.specialKeys,
          l * input.heads,
          sinkMass,
          firstMass,
          1 / input.queries,
        ),
      );
      this.fold({ ...out, S, variance: null, sinkMass, firstMass, tokens: input.queries }, pass, input.example);
    });
  }

  /**
   * Folds in examples measured on a sample of their query rows (`--rows`): each sampled row runs
   * through `kernel` as an example of one query, so every fast path stays the one checked
   * against the reference; the rows' mean is eq. 2's estimate and their spread its sampling
   * variance (`rowSample.ts`). Otherwise as `add`.
   */
  async addSampled(inputs: readonly SampledInput[], kernel: SimilarityKernel, pass?: LayerPass): Promise<void> {
    const shape = this.expected(pass);
    const rows = inputs.map((input) => rowInputs(input, shape));
    const flat = rows.flat();
    const m = this.localHeads(pass);
    const outs = flat.map(() => kernelOutput(m));
    const bad = await kernel.run(flat, outs, ROW_SUM_TOLERANCE);
    const first = bad.findIndex((row) => row >= 0);
    if (first >= 0) throw badRowError(flat[first], bad[first]);
    let at = 0;
    inputs.forEach((input, i) => {
      const values = combineRows(input, rows[i], outs.slice(at, at + rows[i].length), m);
      at += rows[i].length;
      this.fold(values, pass, input.example);
    });
  }

  /** Adds another shard's sums into this one. Refuses other stacks, other measurements, other shard counts and repeated shards. */
  merge(other: SimilarityAccumulator): void {
    this.sums.merge(other.sums);
  }

  /** The means, the paper's views and their standard errors. Throws `InputError` when no example was folded in. */
  finalize(): StackSimilarity {
    return stackViews(this.sums);
  }

  /** The exact sums and counts (JSON numbers round-trip float64 exactly). */
  toJSON(): SimilaritySums {
    return this.sums.toJSON();
  }

  /** Rebuilds an accumulator from `toJSON` output read from a file; throws `InputError` if malformed. */
  static fromJSON(json: unknown): SimilarityAccumulator {
    const sums = StackSums.fromJSON(json);
    const acc = new SimilarityAccumulator(sums.shape);
    acc.sums = sums;
    return acc;
  }

  /** The shape every input of a pass has: the stack's, with the pass's layers only. */
  private expected(pass: LayerPass | undefined): StackShape {
    return pass ? { ...this.sums.shape, layerCount: pass.layers.length } : this.sums.shape;
  }

  private localHeads(pass: LayerPass | undefined): number {
    return (pass ? pass.layers.length : this.sums.shape.layerCount) * this.sums.shape.headCount;
  }

  private fold(v: ExampleValues, pass: LayerPass | undefined, example = -1): void {
    const s = this.sums;
    const H = s.shape.headCount;
    const N = s.n;
    const layers = pass?.layers ?? Array.from({ length: s.shape.layerCount }, (_, l) => l);
    const m = layers.length * H;
    const global = (i: number) => layers[(i / H) | 0] * H + (i % H);
    const firstPass = !pass || pass.index === 0;
    const lastPass = !pass || pass.index === pass.count - 1;
    const p = firstPass ? { pairSum: 0, pairs: 0, uniformSum: 0 } : this.pending.get(example);
    if (!p) throw new Error(`pass ${pass?.index} of example ${example} arrived before its first pass`);
    for (let i = 0; i < m; i++) {
      const a = global(i);
      const la = (a / H) | 0;
      for (let j = i + 1; j < m; j++) {
        const b = global(j);
        const lb = (b / H) | 0;
        if (pass && !passTakesPair(pass, la, lb)) continue;
        const x = v.S[i * m + j];
        const k = a * N + b;
        s.pairSums[k] += x;
        if (s.pairSquares) s.pairSquares[k] += x * x;
        if (s.rows && v.variance) s.rows.variance[k] += v.variance[i * m + j];
        // The length statistic: pairs of different layers (of the one layer where there is one).
        if (la !== lb || s.shape.layerCount === 1) {
          p.pairSum += x;
          p.pairs++;
        }
      }
      if (pass && !passTakesHeads(pass, la)) continue;
      const moments = (target: { sums: Float64Array; squares: Float64Array | null } | null, x: number) => {
        if (!target) return;
        target.sums[a] += x;
        if (target.squares) target.squares[a] += x * x;
      };
      moments(s.uniform, v.uniform[i]);
      moments(s.entropy, v.entropy[i]);
      // A stack read from an old file has none; adding to it would be a new run anyway.
      moments(s.entropyNormalized, v.entropyNormalized[i]);
      moments(s.sinks?.mass ?? null, v.sinkMass[i]);
      moments(s.sinks?.first ?? null, v.firstMass[i]);
      p.uniformSum += v.uniform[i];
    }
    if (firstPass) {
      s.examples += 1;
      s.tokens += v.tokens;
    }
    if (!lastPass) {
      this.pending.set(example, p);
      return;
    }
    this.pending.delete(example);
    if (!s.lengths) return;
    const min = 2 ** Math.floor(Math.log2(v.tokens));
    const bucket = s.lengths.get(min) ?? { min, examples: 0, tokens: 0, pairSum: 0, pairSquares: 0, uniformSum: 0, uniformSquares: 0 };
    // A stack of one head has no pair: that head is its own best match.
    const pair = p.pairs > 0 ? p.pairSum / p.pairs : 1;
    const uniform = p.uniformSum / N;
    bucket.examples += 1;
    bucket.tokens += v.tokens;
    bucket.pairSum += pair;
    bucket.pairSquares += pair * pair;
    bucket.uniformSum += uniform;
    bucket.uniformSquares += uniform * uniform;
    s.lengths.set(min, bucket);
  }
}

function kernelOutput(m: number): KernelOutput {
  return {
    pairL1: new Float64Array(m * m),
    uniform: new Float64Array(m),
    entropy: new Float64Array(m),
    entropyNormalized: new Float64Array(m),
  };
}
