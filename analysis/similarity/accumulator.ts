/**
 * Streaming, mergeable similarity statistics of one stack. Examples are folded in one at a
 * time and can be dropped afterwards; only exact float64 sums and counts are kept, so shards
 * computed apart merge into exactly what one run would give (up to summation order).
 */
import type { StackKind } from '../runtime/types';
import { InputError } from '../errors';
import type { AttentionInput, StackShape } from './inputScan';
import { badRowError, checkShape, ROW_SUM_TOLERANCE } from './inputScan';
import type { KernelOutput, SimilarityKernel } from './similarityKernel';
import type { StackSimilarity } from './views';
import { similarityViews } from './views';

/** Which part of a sharded run an accumulator holds (`--shard index/count`, 0-based). */
export interface ShardInfo {
  index: number;
  count: number;
}

/** The exact sums and counts of an accumulator, as stored in the analysis file. */
export interface SimilaritySums {
  name: string;
  kind: StackKind;
  layerCount: number;
  headCount: number;
  /** Causal self-attention (absent in files written before it was recorded: false). */
  causal?: boolean;
  /** Shards merged into these sums: all share `count`; `indices` ascending, no repeats. */
  shards: { count: number; indices: number[] };
  /** Examples folded in (the paper's T). */
  examples: number;
  /** Real query rows summed over examples (tokens, for self-attention). */
  tokens: number;
  /**
   * Σ over examples of S for every head pair a < b (flat head index a = l*H + h), packed
   * row by row: (0,1), (0,2), …, (0,N-1), (1,2), …, (N-2,N-1); N(N-1)/2 values.
   */
  pairSums: number[];
  /** [L][H]: Σ over examples of S(A, uniform over the real keys each row sees). */
  uniformSums: number[][];
  /** [L][H]: Σ over examples of the mean row entropy (nats). */
  entropySums: number[][];
  /** [L][H]: Σ over examples of the mean row entropy over ln(keys the row sees); absent in files written before it. */
  entropyNormalizedSums?: number[][];
}

/** Accumulates one stack's similarity statistics; see `SimilaritySums` for what it keeps. */
export class SimilarityAccumulator {
  readonly shape: Readonly<StackShape>;
  private readonly n: number;
  private shardCount: number;
  private shardSet: Set<number>;
  private exampleCount = 0;
  private tokenCount = 0;
  /** [N*N], only a < b used: Σ_t S of the pair (a, b). */
  private readonly pairSums: Float64Array;
  private readonly uniformSums: Float64Array;
  private readonly entropySums: Float64Array;
  /** Null when read from a file written before normalised entropy was kept. */
  private entropyNormalizedSums: Float64Array | null;

  constructor(shape: StackShape, shard: ShardInfo = { index: 0, count: 1 }) {
    const { layerCount, headCount } = shape;
    if (!Number.isInteger(layerCount) || layerCount < 1 || !Number.isInteger(headCount) || headCount < 1) {
      throw new InputError(`stack "${shape.name}": needs at least one layer and head, got ${layerCount} x ${headCount}`);
    }
    checkShard(shard.index, shard.count);
    this.shape = { name: shape.name, kind: shape.kind, layerCount, headCount, causal: shape.causal === true };
    this.n = layerCount * headCount;
    this.shardCount = shard.count;
    this.shardSet = new Set([shard.index]);
    this.pairSums = new Float64Array(this.n * this.n);
    this.uniformSums = new Float64Array(this.n);
    this.entropySums = new Float64Array(this.n);
    this.entropyNormalizedSums = new Float64Array(this.n);
  }

  get examples(): number {
    return this.exampleCount;
  }

  get tokens(): number {
    return this.tokenCount;
  }

  /** The shards merged in so far, ascending. */
  get shards(): ShardInfo[] {
    return [...this.shardSet].sort((x, y) => x - y).map((index) => ({ index, count: this.shardCount }));
  }

  /** Whether every shard of the run has been merged in. */
  get complete(): boolean {
    return this.shardSet.size === this.shardCount;
  }

  /**
   * Folds in `inputs`, in order, computed by `kernel` (`openKernel`): the sums do not depend
   * on its thread count. If any example is bad, rejects with the first one's `InputError` and
   * adds none of them. Calls may overlap: they fold in call order (a kernel runs its calls in
   * order). Keep the inputs unchanged until the promise settles.
   */
  async add(inputs: readonly AttentionInput[], kernel: SimilarityKernel): Promise<void> {
    for (const input of inputs) checkShape(input, this.shape);
    const n = this.n;
    // Own buffers per call, because overlapping calls are in flight at the same time.
    const outs: KernelOutput[] = inputs.map(() => ({
      pairL1: new Float64Array(n * n),
      uniform: new Float64Array(n),
      entropy: new Float64Array(n),
      entropyNormalized: new Float64Array(n),
    }));
    const bad = await kernel.run(inputs, outs, ROW_SUM_TOLERANCE);
    const first = bad.findIndex((row) => row >= 0);
    if (first >= 0) throw badRowError(inputs[first], bad[first]);
    inputs.forEach((input, i) => this.fold(input.queries, outs[i]));
  }

  /** Adds another shard's sums into this one. Refuses other stacks, other shard counts and repeated shards. */
  merge(other: SimilarityAccumulator): void {
    const a = this.shape;
    const b = other.shape;
    if (a.name !== b.name || a.kind !== b.kind || a.layerCount !== b.layerCount || a.headCount !== b.headCount || a.causal !== b.causal) {
      const describe = (s: StackShape) => `${s.kind}${s.causal ? ', causal' : ''}, ${s.layerCount}x${s.headCount}`;
      throw new InputError(`cannot merge stack "${b.name}" (${describe(b)}) into "${a.name}" (${describe(a)})`);
    }
    if ((this.entropyNormalizedSums === null) !== (other.entropyNormalizedSums === null)) {
      throw new InputError(`stack "${a.name}": one part was written by an earlier version, without entropyNormalizedSums: merge parts of one version`);
    }
    if (other === this) throw new InputError(`stack "${a.name}": cannot merge shards into themselves`);
    if (other.shardCount !== this.shardCount) {
      throw new InputError(`stack "${a.name}": cannot merge a run in ${other.shardCount} shards with one in ${this.shardCount}`);
    }
    const repeated = [...other.shardSet].filter((index) => this.shardSet.has(index));
    if (repeated.length > 0) {
      throw new InputError(`stack "${a.name}": shard ${repeated[0]}/${this.shardCount} is already merged in`);
    }
    for (let i = 0; i < this.pairSums.length; i++) this.pairSums[i] += other.pairSums[i];
    for (let i = 0; i < this.n; i++) {
      this.uniformSums[i] += other.uniformSums[i];
      this.entropySums[i] += other.entropySums[i];
      if (this.entropyNormalizedSums && other.entropyNormalizedSums) this.entropyNormalizedSums[i] += other.entropyNormalizedSums[i];
    }
    this.exampleCount += other.exampleCount;
    this.tokenCount += other.tokenCount;
    for (const index of other.shardSet) this.shardSet.add(index);
  }

  /** The means and the paper's views. Throws `InputError` when no example was folded in. */
  finalize(): StackSimilarity {
    if (this.exampleCount === 0) throw new InputError(`stack "${this.shape.name}": no examples, nothing to average`);
    const { layerCount, headCount } = this.shape;
    return similarityViews(layerCount, headCount, this.exampleCount, this.pairSums, this.uniformSums, this.entropySums, this.entropyNormalizedSums);
  }

  /** The exact sums and counts (JSON numbers round-trip float64 exactly). */
  toJSON(): SimilaritySums {
    const { name, kind, layerCount, headCount, causal } = this.shape;
    const n = this.n;
    const pairSums: number[] = [];
    for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) pairSums.push(this.pairSums[a * n + b]);
    const perHead = (sums: Float64Array): number[][] =>
      Array.from({ length: layerCount }, (_, l) => Array.from(sums.subarray(l * headCount, (l + 1) * headCount)));
    return {
      name,
      kind,
      layerCount,
      headCount,
      causal: causal === true,
      shards: { count: this.shardCount, indices: this.shards.map((s) => s.index) },
      examples: this.exampleCount,
      tokens: this.tokenCount,
      pairSums,
      uniformSums: perHead(this.uniformSums),
      entropySums: perHead(this.entropySums),
      ...(this.entropyNormalizedSums ? { entropyNormalizedSums: perHead(this.entropyNormalizedSums) } : {}),
    };
  }

  /** Rebuilds an accumulator from `toJSON` output read from a file; throws `InputError` if malformed. */
  static fromJSON(json: unknown): SimilarityAccumulator {
    const bad = (what: string): never => {
      throw new InputError(`similarity sums: ${what}`);
    };
    if (typeof json !== 'object' || json === null) return bad('not an object');
    const j = json as Partial<Record<keyof SimilaritySums, unknown>>;
    if (typeof j.name !== 'string') return bad('"name" is not a string');
    if (j.kind !== 'self' && j.kind !== 'cross') return bad(`"kind" is ${JSON.stringify(j.kind)}, not "self" or "cross"`);
    if (j.causal !== undefined && typeof j.causal !== 'boolean') return bad('"causal" is not true or false');
    const L = positiveInteger(j.layerCount) ?? bad('"layerCount" is not a positive integer');
    const H = positiveInteger(j.headCount) ?? bad('"headCount" is not a positive integer');
    const shards = j.shards as { count?: unknown; indices?: unknown } | undefined;
    const count = positiveInteger(shards?.count) ?? bad('"shards.count" is not a positive integer');
    const indices = shards?.indices;
    if (!Array.isArray(indices) || indices.length === 0) return bad('"shards.indices" is not a non-empty array');
    const examples = nonNegativeInteger(j.examples) ?? bad('"examples" is not a non-negative integer');
    const tokens = nonNegativeInteger(j.tokens) ?? bad('"tokens" is not a non-negative integer');
    const n = L * H;
    const pairs = finiteArray(j.pairSums, (n * (n - 1)) / 2) ?? bad(`"pairSums" is not ${(n * (n - 1)) / 2} finite numbers`);
    const uniform = finiteGrid(j.uniformSums, L, H) ?? bad(`"uniformSums" is not ${L}x${H} finite numbers`);
    const entropy = finiteGrid(j.entropySums, L, H) ?? bad(`"entropySums" is not ${L}x${H} finite numbers`);
    const normalized = j.entropyNormalizedSums === undefined ? null : (finiteGrid(j.entropyNormalizedSums, L, H) ?? bad(`"entropyNormalizedSums" is not ${L}x${H} finite numbers`));
    const acc = new SimilarityAccumulator({ name: j.name, kind: j.kind, layerCount: L, headCount: H, causal: j.causal === true }, { index: 0, count });
    acc.shardSet = new Set();
    for (const index of indices) {
      checkShard(index, count);
      if (acc.shardSet.has(index)) return bad(`shard ${index} is listed twice`);
      acc.shardSet.add(index);
    }
    let i = 0;
    for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) acc.pairSums[a * n + b] = pairs[i++];
    acc.uniformSums.set(uniform);
    acc.entropySums.set(entropy);
    if (normalized) acc.entropyNormalizedSums!.set(normalized);
    else acc.entropyNormalizedSums = null;
    acc.exampleCount = examples;
    acc.tokenCount = tokens;
    return acc;
  }

  private fold(queries: number, { pairL1: l1, uniform, entropy, entropyNormalized }: KernelOutput): void {
    const n = this.n;
    // S = 1 - (1/n_q) Σ_p ½‖A[p,:] - A'[p,:]‖₁ (paper eq. 2).
    const half = 2 * queries;
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) this.pairSums[a * n + b] += 1 - l1[a * n + b] / half;
      this.uniformSums[a] += uniform[a];
      this.entropySums[a] += entropy[a];
      // A stack read from an old file has none; adding to it would be a new run anyway.
      if (this.entropyNormalizedSums) this.entropyNormalizedSums[a] += entropyNormalized[a];
    }
    this.exampleCount += 1;
    this.tokenCount += queries;
  }
}

function checkShard(index: unknown, count: unknown): void {
  if (!Number.isInteger(count) || (count as number) < 1) throw new InputError(`shard count must be a positive integer, got ${count}`);
  if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= (count as number)) {
    throw new InputError(`shard index must be an integer in 0..${(count as number) - 1}, got ${index}`);
  }
}

function positiveInteger(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

function nonNegativeInteger(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

function finiteArray(v: unknown, length: number): number[] | undefined {
  if (!Array.isArray(v) || v.length !== length) return undefined;
  return v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as number[]) : undefined;
}

function finiteGrid(v: unknown, rows: number, cols: number): number[] | undefined {
  if (!Array.isArray(v) || v.length !== rows) return undefined;
  const flat: number[] = [];
  for (const row of v) {
    const values = finiteArray(row, cols);
    if (!values) return undefined;
    flat.push(...values);
  }
  return flat;
}
