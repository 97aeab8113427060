/**
 * One stack of an analysis file as the flat typed arrays the charts draw from. Both the
 * host (for the panel) and the notebook renderer (which gets the file's JSON from a
 * notebook output, with no host to ask) convert with it, so the two cannot disagree about
 * the layout. It reads nothing but the fields below, and checks every length.
 */
import type { Interval, LengthPoint, StackPayload, Tensor } from './messages';

/** The normal quantile of a two-sided 95% interval (the analysis's `Z95`), for files that give only standard errors. */
const z95 = 1.959963984540054;

type Grid<K extends string> = Record<K, unknown>;

/** The fields of one `stacks[]` entry of an `attention-reuse/analysis@1` file that the charts read. */
export interface AnalysisStackFields extends Pick<
  StackPayload,
  'name' | 'kind' | 'causal' | 'layerCount' | 'headCount' | 'kvHeadCount' | 'dims'
> {
  headPairs: unknown;
  c: unknown;
  cArgmax: unknown;
  layerPairs: unknown;
  sequential: { head: number; value: number }[][];
  uniform: unknown;
  entropy: unknown;
  entropyNormalized?: unknown;
  errors?: { level: number; z?: number; layerPairs: Grid<'low' | 'high'>; c: Grid<'low' | 'high'>; headPairs: Grid<'low' | 'high'> };
  sinks?: { threshold: number; specialTokens: boolean; mass: unknown };
  /** A length bucket as the file stores it: the standard error where the panel shows an interval. */
  lengths?: (Omit<LengthPoint, 'low' | 'high'> & { similaritySe: number | null })[];
  baseline?: { kind: 'shuffled'; seed: number; layerPairs: unknown };
}

/** Flattens nested arrays of a known shape into one typed array, checking every length. */
export function flat<T extends Float64Array | Int32Array>(
  Type: new (n: number) => T,
  nested: unknown,
  shape: number[],
  what: string,
): Tensor<T> {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Type(size);
  let at = 0;
  const walk = (v: unknown, depth: number) => {
    if (depth === shape.length) {
      // A value that is not a number becomes NaN (an empty cell), never anything else.
      out[at++] = typeof v === 'number' ? v : NaN;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw new Error(`${what} does not have shape [${shape.join(', ')}]`);
    for (const x of v) walk(x, depth + 1);
  };
  walk(nested, 0);
  return { shape, data: out };
}

export function stackPayload(s: AnalysisStackFields): StackPayload {
  const L = s.layerCount; // the paper's L
  const H = s.headCount; // the paper's H
  const sequential = (key: 'head' | 'value') => s.sequential.map((row) => row.map((e) => e[key]));
  return {
    name: s.name,
    kind: s.kind,
    ...(s.causal === true ? { causal: true } : {}),
    layerCount: L,
    headCount: H,
    ...(typeof s.kvHeadCount === 'number' ? { kvHeadCount: s.kvHeadCount } : {}),
    dims: s.dims,
    headPairs: flat(Float64Array, s.headPairs, [L, H, L, H], 'headPairs'),
    c: flat(Float64Array, s.c, [L, H, L], 'c'),
    cArgmax: flat(Int32Array, s.cArgmax, [L, H, L], 'cArgmax'),
    layerPairs: flat(Float64Array, s.layerPairs, [L, L], 'layerPairs'),
    sequentialHeads: flat(Int32Array, sequential('head'), [Math.max(0, L - 1), H], 'sequential'),
    sequentialValues: flat(Float64Array, sequential('value'), [Math.max(0, L - 1), H], 'sequential'),
    uniform: flat(Float64Array, s.uniform, [L, H], 'uniform'),
    entropy: flat(Float64Array, s.entropy, [L, H], 'entropy'),
    ...(s.entropyNormalized !== undefined
      ? { entropyNormalized: flat(Float64Array, s.entropyNormalized, [L, H], 'entropyNormalized') }
      : {}),
    ...(s.errors ? { intervals: intervals(s.errors, L, H) } : {}),
    ...(s.sinks
      ? {
          sinks: {
            threshold: s.sinks.threshold,
            specialTokens: s.sinks.specialTokens === true,
            mass: flat(Float64Array, s.sinks.mass, [L, H], 'sinks.mass'),
          },
        }
      : {}),
    ...(s.lengths ? { lengths: s.lengths.map(lengthPoint) } : {}),
    ...(s.baseline
      ? {
          baseline: {
            kind: s.baseline.kind,
            seed: s.baseline.seed,
            layerPairs: flat(Float64Array, s.baseline.layerPairs, [L, L], 'baseline.layerPairs'),
          },
        }
      : {}),
  };
}

function intervals(e: NonNullable<AnalysisStackFields['errors']>, L: number, H: number): NonNullable<StackPayload['intervals']> {
  const pair = (g: Grid<'low' | 'high'>, shape: number[], what: string): Interval => ({
    low: flat(Float64Array, g.low, shape, `errors.${what}.low`),
    high: flat(Float64Array, g.high, shape, `errors.${what}.high`),
  });
  return {
    level: e.level,
    layerPairs: pair(e.layerPairs, [L, L], 'layerPairs'),
    c: pair(e.c, [L, H, L], 'c'),
    headPairs: pair(e.headPairs, [L, H, L, H], 'headPairs'),
  };
}

function lengthPoint(b: NonNullable<AnalysisStackFields['lengths']>[number]): LengthPoint {
  const half = b.similaritySe === null ? null : z95 * b.similaritySe;
  return {
    min: b.min,
    max: b.max,
    examples: b.examples,
    meanTokens: b.meanTokens,
    similarity: b.similarity,
    low: half === null ? null : Math.max(0, b.similarity - half),
    high: half === null ? null : Math.min(1, b.similarity + half),
    uniform: b.uniform,
  };
}
