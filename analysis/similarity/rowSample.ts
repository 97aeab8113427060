/**
 * Eq. 2 from a sample of query rows (`--rows R`). S(A, A') = 1 − (1/n) Σ_p TV_p is a mean over
 * the n real rows; with R rows drawn uniformly without replacement, 1 − (1/R) Σ_r TV_r is an
 * unbiased estimate of it, and its sampling variance is (1 − R/n) s² / R, with s² the rows'
 * sample variance of TV (finite-population correction: 0 when every row is drawn). Each row
 * runs through the kernel as an example of one query, so the kernels and their checks are the
 * ones the exact analysis uses.
 */
import { InputError } from '../errors';
import type { SampledStackAttention } from '../runtime/types';
import type { ExampleValues } from './accumulator';
import type { AttentionInput, StackShape } from './inputScan';
import { CAUSAL_ZERO_TOLERANCE } from './inputScan';
import { visibleKeys } from './kernel';
import { addSinkMass } from './sinkMass';
import type { KernelOutput } from './similarityKernel';

/** One example of one stack measured on a sample of its query rows. */
export type SampledInput = SampledStackAttention & { example?: number };

/**
 * The kernel inputs of an example's rows: one query each; a causal row is cut to the keys it
 * sees (after checking it holds nothing beyond them), so that its uniform baseline and entropy
 * are over those keys, as in the exact analysis.
 */
export function rowInputs(input: SampledInput, shape: StackShape): AttentionInput[] {
  const where = `${input.origin ? `${input.origin}: ` : ''}stack "${shape.name}"`;
  if (input.name !== shape.name || input.kind !== shape.kind || (input.causal === true) !== (shape.causal === true)) {
    throw new InputError(`${where}: got attention of stack "${input.name}" (${input.kind}${input.causal ? ', causal' : ''})`);
  }
  if (input.heads !== shape.headCount) throw new InputError(`${where}: expected ${shape.headCount} heads, got ${input.heads}`);
  if (input.rows.length === 0 || input.rows.length > input.queries) {
    throw new InputError(`${where}: ${input.rows.length} sampled rows of ${input.queries} real rows`);
  }
  const { heads, keys } = input;
  return input.rows.map((row, r) => {
    if (row.layers.length !== shape.layerCount)
      throw new InputError(`${where}: expected ${shape.layerCount} layers, got ${row.layers.length}`);
    if (r > 0 && row.position <= input.rows[r - 1].position) throw new InputError(`${where}: sampled rows must be distinct and ascending`);
    const visible = visibleKeys(input.causal === true, input.queries, keys, row.position);
    const layers = row.layers.map((layer, l) => {
      if (layer.length !== heads * keys)
        throw new InputError(`${where} layer ${l}: a sampled row holds ${layer.length} values, expected heads*keys = ${heads * keys}`);
      if (visible === keys) return layer;
      const cut = new Float32Array(heads * visible);
      for (let h = 0; h < heads; h++) {
        cut.set(layer.subarray(h * keys, h * keys + visible), h * visible);
        for (let k = visible; k < keys; k++) {
          if (!(Math.abs(layer[h * keys + k]) <= CAUSAL_ZERO_TOLERANCE)) {
            throw new InputError(
              `${where} layer ${l} head ${h} query ${row.position}: row gives key ${k} beyond its diagonal probability ${layer[h * keys + k]}, though the stack was read as causal from its mask`,
            );
          }
        }
      }
      return cut;
    });
    const origin = `${input.origin ? `${input.origin}, ` : ''}sampled query ${row.position}`;
    return { name: input.name, kind: input.kind, heads, queries: 1, keys: visible, layers, origin };
  });
}

/** Eq. 2's estimate, its sampling variance and the baselines' means over an example's rows. */
export function combineRows(input: SampledInput, rows: readonly AttentionInput[], outs: readonly KernelOutput[], m: number): ExampleValues {
  const R = rows.length;
  const n = input.queries;
  const S = new Float64Array(m * m);
  const variance = new Float64Array(m * m);
  // The finite-population correction: the sample is the population when every row is drawn.
  const fpc = R >= n ? 0 : (1 - R / n) / R;
  for (let i = 0; i < m; i++) {
    for (let j = i + 1; j < m; j++) {
      let sum = 0;
      let squares = 0;
      for (const out of outs) {
        const tv = out.pairL1[i * m + j] / 2;
        sum += tv;
        squares += tv * tv;
      }
      const mean = sum / R;
      S[i * m + j] = 1 - mean;
      if (R >= 2) variance[i * m + j] = (fpc * Math.max(0, squares - sum * mean)) / (R - 1);
    }
  }
  const mean = (key: 'uniform' | 'entropy' | 'entropyNormalized') => {
    const out = new Float64Array(m);
    for (const o of outs) for (let i = 0; i < m; i++) out[i] += o[key][i] / R;
    return out;
  };
  const sinkMass = new Float64Array(m);
  const firstMass = new Float64Array(m);
  for (const row of rows)
    row.layers.forEach((layer, l) =>
      addSinkMass(layer, input.heads, 1, row.keys, input.specialKeys, l * input.heads, sinkMass, firstMass, 1 / R),
    );
  return {
    S,
    variance,
    uniform: mean('uniform'),
    entropy: mean('entropy'),
    entropyNormalized: mean('entropyNormalized'),
    sinkMass,
    firstMass,
    tokens: n,
  };
}
