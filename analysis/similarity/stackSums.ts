/**
 * The exact sums and counts behind every mean of one stack, as kept in memory and as stored in
 * the analysis file (`SimilaritySums`): mergeable across shards by addition. Every group added
 * after the first version (squares, row sampling, sinks, length buckets) is optional on read;
 * parts that differ in which groups they hold, or in how they were measured, are refused on
 * merge because their sum would mix two estimators.
 */
import { InputError } from '../errors';
import type { StackKind } from '../runtime/types';
import type { StackShape } from './inputScan';

/** Which part of a sharded run an accumulator holds (`--shard index/count`, 0-based). */
export interface ShardInfo {
  index: number;
  count: number;
}

/** `--rows`: R query rows sampled per example with a seed (the same rows in every shard of a run). */
export interface RowSampling {
  count: number;
  seed: number;
}

/** Sums of one sequence-length bucket: examples with 2^k ≤ tokens < 2^(k+1). */
export interface LengthBucketSums {
  /** 2^k. */
  min: number;
  examples: number;
  tokens: number;
  /** Σ_t and Σ_t² of the example's mean S over head pairs of different layers (all pairs for one layer). */
  pairSum: number;
  pairSquares: number;
  /** Σ_t and Σ_t² of the example's mean similarity to uniform over heads. */
  uniformSum: number;
  uniformSquares: number;
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
  /** Real query rows summed over examples (tokens, for self-attention); with --rows still every real row. */
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
  /** Σ over examples of S², packed as pairSums; absent in files written before error bars (so are the other squares). */
  pairSquares?: number[];
  uniformSquares?: number[][];
  entropySquares?: number[][];
  entropyNormalizedSquares?: number[][];
  /** --rows: the sample and Σ over examples of each pair's sampling variance of S (packed as pairSums). */
  rows?: RowSampling & { varianceSums: number[] };
  /**
   * Attention on sink tokens: per head Σ and Σ² over examples of the mean mass a row puts on
   * the first token and on it or any special token (`specialTokens`: the tokenizer said which).
   */
  sinks?: { specialTokens: boolean; massSums: number[][]; massSquares: number[][]; firstSums: number[][]; firstSquares: number[][] };
  /** Per sequence-length bucket, ascending by `min`. */
  lengthBuckets?: LengthBucketSums[];
}

/** Per-head sums that have squares beside them. */
export interface HeadMoments {
  sums: Float64Array;
  squares: Float64Array;
}

export interface SinkSums {
  specialTokens: boolean;
  mass: HeadMoments;
  first: HeadMoments;
}

/** One stack's sums in memory; `SimilarityAccumulator` folds examples into it. */
export class StackSums {
  readonly shape: Readonly<Required<StackShape>>;
  /** L·H: flat heads. */
  readonly n: number;
  shardCount: number;
  shardSet: Set<number>;
  examples = 0;
  tokens = 0;
  /** [N*N], only a < b used. */
  readonly pairSums: Float64Array;
  /** Null when read from a file written before error bars (as are the other squares). */
  pairSquares: Float64Array | null;
  readonly uniform: { sums: Float64Array; squares: Float64Array | null };
  readonly entropy: { sums: Float64Array; squares: Float64Array | null };
  /** Null when read from a file written before normalised entropy was kept. */
  entropyNormalized: { sums: Float64Array; squares: Float64Array | null } | null;
  rows: (RowSampling & { variance: Float64Array }) | null;
  sinks: SinkSums | null;
  lengths: Map<number, LengthBucketSums> | null;

  constructor(shape: StackShape, shard: ShardInfo, options: { rows?: RowSampling; specialTokens?: boolean } = {}) {
    const { layerCount, headCount } = shape;
    if (!Number.isInteger(layerCount) || layerCount < 1 || !Number.isInteger(headCount) || headCount < 1) {
      throw new InputError(`stack "${shape.name}": needs at least one layer and head, got ${layerCount} x ${headCount}`);
    }
    checkShard(shard.index, shard.count);
    this.shape = { name: shape.name, kind: shape.kind, layerCount, headCount, causal: shape.causal === true };
    const n = (this.n = layerCount * headCount);
    this.shardCount = shard.count;
    this.shardSet = new Set([shard.index]);
    this.pairSums = new Float64Array(n * n);
    this.pairSquares = new Float64Array(n * n);
    this.uniform = { sums: new Float64Array(n), squares: new Float64Array(n) };
    this.entropy = { sums: new Float64Array(n), squares: new Float64Array(n) };
    this.entropyNormalized = { sums: new Float64Array(n), squares: new Float64Array(n) };
    this.rows = options.rows ? { ...options.rows, variance: new Float64Array(n * n) } : null;
    const moments = () => ({ sums: new Float64Array(n), squares: new Float64Array(n) });
    this.sinks = { specialTokens: options.specialTokens === true, mass: moments(), first: moments() };
    this.lengths = new Map();
  }

  /** Adds another shard's sums. Refuses other stacks, other measurements, other shard counts and repeated shards. */
  merge(other: StackSums): void {
    const a = this.shape;
    const b = other.shape;
    if (a.name !== b.name || a.kind !== b.kind || a.layerCount !== b.layerCount || a.headCount !== b.headCount || a.causal !== b.causal) {
      const describe = (s: StackShape) => `${s.kind}${s.causal ? ', causal' : ''}, ${s.layerCount}x${s.headCount}`;
      throw new InputError(`cannot merge stack "${b.name}" (${describe(b)}) into "${a.name}" (${describe(a)})`);
    }
    const older = (field: string) =>
      new InputError(`stack "${a.name}": one part was written by an earlier version, without ${field}: merge parts of one version`);
    if ((this.entropyNormalized === null) !== (other.entropyNormalized === null)) throw older('entropyNormalizedSums');
    if ((this.pairSquares === null) !== (other.pairSquares === null)) throw older('pairSquares (error bars)');
    if ((this.sinks === null) !== (other.sinks === null)) throw older('sinks');
    if ((this.lengths === null) !== (other.lengths === null)) throw older('lengthBuckets');
    const rows = (s: StackSums) => (s.rows ? `${s.rows.count} sampled rows per example (seed ${s.rows.seed})` : 'every row');
    if (rows(this) !== rows(other))
      throw new InputError(`stack "${a.name}": one part measured ${rows(other)}, another ${rows(this)}: merge parts of one run`);
    if (this.sinks && other.sinks && this.sinks.specialTokens !== other.sinks.specialTokens) {
      throw new InputError(
        `stack "${a.name}": one part knew the special tokens (text with a tokenizer) and another did not: merge parts of one run`,
      );
    }
    if (other === this) throw new InputError(`stack "${a.name}": cannot merge shards into themselves`);
    if (other.shardCount !== this.shardCount) {
      throw new InputError(`stack "${a.name}": cannot merge a run in ${other.shardCount} shards with one in ${this.shardCount}`);
    }
    const repeated = [...other.shardSet].filter((index) => this.shardSet.has(index));
    if (repeated.length > 0) throw new InputError(`stack "${a.name}": shard ${repeated[0]}/${this.shardCount} is already merged in`);
    const add = (x: Float64Array | null | undefined, y: Float64Array | null | undefined) => {
      if (x && y) for (let i = 0; i < x.length; i++) x[i] += y[i];
    };
    add(this.pairSums, other.pairSums);
    add(this.pairSquares, other.pairSquares);
    for (const key of ['uniform', 'entropy', 'entropyNormalized'] as const) {
      add(this[key]?.sums, other[key]?.sums);
      add(this[key]?.squares, other[key]?.squares);
    }
    add(this.rows?.variance, other.rows?.variance);
    for (const key of ['mass', 'first'] as const) {
      add(this.sinks?.[key].sums, other.sinks?.[key].sums);
      add(this.sinks?.[key].squares, other.sinks?.[key].squares);
    }
    for (const [min, bucket] of other.lengths ?? []) {
      const mine = this.lengths!.get(min);
      if (!mine) this.lengths!.set(min, { ...bucket });
      else
        for (const key of ['examples', 'tokens', 'pairSum', 'pairSquares', 'uniformSum', 'uniformSquares'] as const)
          mine[key] += bucket[key];
    }
    this.examples += other.examples;
    this.tokens += other.tokens;
    for (const index of other.shardSet) this.shardSet.add(index);
  }

  /** The sums as the file stores them (JSON numbers round-trip float64 exactly). */
  toJSON(): SimilaritySums {
    const { name, kind, layerCount, headCount, causal } = this.shape;
    const perHead = (sums: Float64Array): number[][] =>
      Array.from({ length: layerCount }, (_, l) => Array.from(sums.subarray(l * headCount, (l + 1) * headCount)));
    const json: SimilaritySums = {
      name,
      kind,
      layerCount,
      headCount,
      causal,
      shards: { count: this.shardCount, indices: [...this.shardSet].sort((x, y) => x - y) },
      examples: this.examples,
      tokens: this.tokens,
      pairSums: this.packed(this.pairSums),
      uniformSums: perHead(this.uniform.sums),
      entropySums: perHead(this.entropy.sums),
    };
    if (this.entropyNormalized) json.entropyNormalizedSums = perHead(this.entropyNormalized.sums);
    if (this.pairSquares) {
      json.pairSquares = this.packed(this.pairSquares);
      json.uniformSquares = perHead(this.uniform.squares!);
      json.entropySquares = perHead(this.entropy.squares!);
      if (this.entropyNormalized) json.entropyNormalizedSquares = perHead(this.entropyNormalized.squares!);
    }
    if (this.rows) json.rows = { count: this.rows.count, seed: this.rows.seed, varianceSums: this.packed(this.rows.variance) };
    const s = this.sinks;
    if (s) {
      json.sinks = {
        specialTokens: s.specialTokens,
        massSums: perHead(s.mass.sums),
        massSquares: perHead(s.mass.squares),
        firstSums: perHead(s.first.sums),
        firstSquares: perHead(s.first.squares),
      };
    }
    if (this.lengths) json.lengthBuckets = [...this.lengths.values()].sort((x, y) => x.min - y.min).map((b) => ({ ...b }));
    return json;
  }

  /** Rebuilds sums from `toJSON` output read from a file; throws `InputError` if malformed. */
  static fromJSON(json: unknown): StackSums {
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
    const n = L * H;
    const pairs = (key: 'pairSums' | 'pairSquares', v: unknown) =>
      finiteArray(v, (n * (n - 1)) / 2) ?? bad(`"${key}" is not ${(n * (n - 1)) / 2} finite numbers`);
    const grid = (key: string, v: unknown) => finiteGrid(v, L, H) ?? bad(`"${key}" is not ${L}x${H} finite numbers`);
    const optionalGrid = (key: keyof SimilaritySums) => (j[key] === undefined ? null : grid(key, j[key]));
    const rows = j.rows as { count?: unknown; seed?: unknown; varianceSums?: unknown } | undefined;
    const sampling =
      rows === undefined
        ? undefined
        : {
            count: positiveInteger(rows.count) ?? bad('"rows.count" is not a positive integer'),
            seed: nonNegativeInteger(rows.seed) ?? bad('"rows.seed" is not a whole number ≥ 0'),
          };
    const sinks = j.sinks as Record<string, unknown> | undefined;
    if (sinks !== undefined && typeof sinks?.specialTokens !== 'boolean') return bad('"sinks.specialTokens" is not true or false');
    const sums = new StackSums(
      { name: j.name, kind: j.kind, layerCount: L, headCount: H, causal: j.causal === true },
      { index: 0, count },
      { rows: sampling, specialTokens: sinks?.specialTokens === true },
    );
    sums.shardSet = new Set();
    for (const index of indices) {
      checkShard(index, count);
      if (sums.shardSet.has(index)) return bad(`shard ${index} is listed twice`);
      sums.shardSet.add(index);
    }
    sums.examples = nonNegativeInteger(j.examples) ?? bad('"examples" is not a non-negative integer');
    sums.tokens = nonNegativeInteger(j.tokens) ?? bad('"tokens" is not a non-negative integer');
    sums.unpack(sums.pairSums, pairs('pairSums', j.pairSums));
    sums.uniform.sums.set(grid('uniformSums', j.uniformSums));
    sums.entropy.sums.set(grid('entropySums', j.entropySums));
    const normalized = optionalGrid('entropyNormalizedSums');
    if (normalized) sums.entropyNormalized!.sums.set(normalized);
    else sums.entropyNormalized = null;
    // The squares came in one version: all of them or none.
    if (!normalized && j.entropyNormalizedSquares !== undefined) return bad('"entropyNormalizedSquares" without entropyNormalizedSums');
    const squares: (keyof SimilaritySums)[] = [
      'pairSquares',
      'uniformSquares',
      'entropySquares',
      ...(normalized ? (['entropyNormalizedSquares'] as const) : []),
    ];
    const present = squares.filter((k) => j[k] !== undefined);
    if (present.length === 0) {
      sums.pairSquares = sums.uniform.squares = sums.entropy.squares = null;
      if (sums.entropyNormalized) sums.entropyNormalized.squares = null;
    } else if (present.length < squares.length) {
      return bad(`has ${present.join(', ')} but not ${squares.filter((k) => j[k] === undefined).join(', ')}`);
    } else {
      sums.unpack(sums.pairSquares!, pairs('pairSquares', j.pairSquares));
      sums.uniform.squares!.set(grid('uniformSquares', j.uniformSquares));
      sums.entropy.squares!.set(grid('entropySquares', j.entropySquares));
      if (sums.entropyNormalized) sums.entropyNormalized.squares!.set(grid('entropyNormalizedSquares', j.entropyNormalizedSquares));
    }
    if (sums.rows)
      sums.unpack(
        sums.rows.variance,
        finiteArray(rows!.varianceSums, (n * (n - 1)) / 2) ?? bad(`"rows.varianceSums" is not ${(n * (n - 1)) / 2} finite numbers`),
      );
    if (sinks === undefined) sums.sinks = null;
    else {
      const { mass, first } = sums.sinks!;
      mass.sums.set(grid('sinks.massSums', sinks.massSums));
      mass.squares.set(grid('sinks.massSquares', sinks.massSquares));
      first.sums.set(grid('sinks.firstSums', sinks.firstSums));
      first.squares.set(grid('sinks.firstSquares', sinks.firstSquares));
    }
    sums.lengths = j.lengthBuckets === undefined ? null : readBuckets(j.lengthBuckets, bad);
    return sums;
  }

  /** A packed upper triangle (a < b), row by row. */
  private packed(values: Float64Array): number[] {
    const n = this.n;
    const out: number[] = [];
    for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) out.push(values[a * n + b]);
    return out;
  }

  private unpack(into: Float64Array, packed: number[]): void {
    const n = this.n;
    let i = 0;
    for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) into[a * n + b] = packed[i++];
  }
}

function readBuckets(v: unknown, bad: (what: string) => never): Map<number, LengthBucketSums> {
  if (!Array.isArray(v)) return bad('"lengthBuckets" is not an array');
  const buckets = new Map<number, LengthBucketSums>();
  for (const b of v as Record<string, unknown>[]) {
    const min = positiveInteger(b?.min);
    if (min === undefined || (min & (min - 1)) !== 0 || buckets.has(min))
      return bad('"lengthBuckets" holds a bucket whose min is not a distinct power of two');
    const examples = nonNegativeInteger(b.examples);
    const tokens = nonNegativeInteger(b.tokens);
    const numbers = (['pairSum', 'pairSquares', 'uniformSum', 'uniformSquares'] as const).map((k) => b[k]);
    if (examples === undefined || tokens === undefined || !numbers.every((x) => typeof x === 'number' && Number.isFinite(x)))
      return bad(`"lengthBuckets" bucket ${min} is not counts and finite sums`);
    const [pairSum, pairSquares, uniformSum, uniformSquares] = numbers as number[];
    buckets.set(min, { min, examples, tokens, pairSum, pairSquares, uniformSum, uniformSquares });
  }
  return buckets;
}

export function checkShard(index: unknown, count: unknown): void {
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
