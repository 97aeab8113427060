import Ajv from 'ajv';
import { InputError } from '../errors';
import type { ModelDims } from '../onnx/dims';
import { SimilarityAccumulator } from '../similarity/accumulator';
import type { SimilaritySums } from '../similarity/stackSums';
import type { StackSimilarity } from '../similarity/views';
import type { BranchStep } from '../onnx/graphFlatten';
import type { StackKind } from '../runtime/types';
import { checkAnalysisNumbers, checkSameRun } from './analysisChecks';
import schema from './analysis.schema.json';

export const analysisSchema = 'attention-reuse/analysis@1';

/** One stack of the analysis result: its identity, the means and views, and the sums behind them. */
export interface AnalysisStack extends StackSimilarity {
  name: string;
  kind: StackKind;
  /** Causal self-attention (absent in files written before it was recorded: false). */
  causal?: boolean;
  layerCount: number;
  /** Query heads per layer. */
  headCount: number;
  /** Key/value heads of grouped-query attention, where fewer than `headCount`. */
  kvHeadCount?: number;
  /** The If branches its layers are computed in, outermost first (merged decoders). */
  branch?: BranchStep[];
  /** Attention tensor names, in layer order. */
  tensors: string[];
  dims: ModelDims;
  /** Exact sums and counts, so that shards merge exactly. */
  sums: SimilaritySums;
  /** `analyze --baseline shuffled`: the same analysis of the model with its weights shuffled. */
  baseline?: StackBaseline;
}

/** The structure baseline of a stack: the layer-pair map of a copy of the model whose weight tensors' entries were permuted. */
export interface StackBaseline {
  kind: 'shuffled';
  /** Seed of the permutation. */
  seed: number;
  /** [L][L]: the layer-pair matrix of the shuffled model, from `sums`. */
  layerPairs: number[][];
  sums: SimilaritySums;
}

/** Baseline accumulators, one per stack, and how the model was altered. */
export interface BaselineRun {
  kind: 'shuffled';
  seed: number;
  accumulators: SimilarityAccumulator[];
}

export interface AnalysisRun {
  examples: number;
  tokens: number;
  executionProvider: string;
  precision: 'float32' | 'float16' | 'float64' | 'bfloat16';
  seconds: number;
  /** The inputs file the examples came from. */
  inputs?: string;
  /** Present when the file holds only some shards of a run (`--shard I/N`). */
  shard?: { indices: number[]; count: number };
}

/** The analysis result file (`attention-reuse/analysis@1`, DESIGN.md "Files the tool writes"). */
export interface AnalysisFile {
  schema: typeof analysisSchema;
  model: { path: string; sha256: string };
  run: AnalysisRun;
  stacks: AnalysisStack[];
}

/** Stack identity that survives a round trip through the file. */
export interface StackInfo {
  name: string;
  kind: StackKind;
  causal?: boolean;
  kvHeadCount?: number;
  branch?: BranchStep[];
  tensors: string[];
  dims: ModelDims;
}

/** The identity of a file's stack, as `analysisStacks` takes it back. */
export function stackInfo({ name, kind, causal, kvHeadCount, branch, tensors, dims }: AnalysisStack): StackInfo {
  return {
    name,
    kind,
    ...(causal !== undefined ? { causal } : {}),
    ...(kvHeadCount ? { kvHeadCount } : {}),
    ...(branch ? { branch } : {}),
    tensors,
    dims,
  };
}

/** Builds the file's stacks from finished accumulators. */
export function analysisStacks(accumulators: SimilarityAccumulator[], infos: StackInfo[], baseline?: BaselineRun): AnalysisStack[] {
  return accumulators.map((acc, i) => {
    const { layerCount, headCount } = acc.shape;
    const stack: AnalysisStack = { ...infos[i], layerCount, headCount, sums: acc.toJSON(), ...acc.finalize() };
    if (baseline) {
      const b = baseline.accumulators[i];
      stack.baseline = { kind: baseline.kind, seed: baseline.seed, layerPairs: b.finalize().layerPairs, sums: b.toJSON() };
    }
    return stack;
  });
}

const validate = new Ajv({ allErrors: false, strict: false }).compile(schema);

/** Validates parsed JSON as an analysis file, with a one-line message naming the field. */
export function checkAnalysis(json: unknown, label: string): AnalysisFile {
  if (!validate(json)) {
    const e = validate.errors?.[0];
    const where = e?.instancePath ? e.instancePath.replace(/^\//, '').replace(/\//g, '.') : '(top level)';
    throw new InputError(`${label} is not a valid ${analysisSchema} file: ${where} ${e?.message ?? 'is invalid'}`);
  }
  const file = json as unknown as AnalysisFile;
  file.stacks.forEach((s, i) => {
    const L = s.layerCount;
    const H = s.headCount;
    const at = `stacks[${i}]`;
    const grid = (v: unknown, shape: number[], field: string): void => {
      if (shape.length === 0) return;
      if (!Array.isArray(v) || v.length !== shape[0]) {
        throw new InputError(`${label}: ${field} must be an array of ${shape[0]} entries (stack "${s.name}" has ${L} layers × ${H} heads)`);
      }
      v.forEach((x, k) => grid(x, shape.slice(1), `${field}[${k}]`));
    };
    grid(s.headPairs, [L, H, L, H], `${at}.headPairs`);
    grid(s.c, [L, H, L], `${at}.c`);
    grid(s.cArgmax, [L, H, L], `${at}.cArgmax`);
    grid(s.layerPairs, [L, L], `${at}.layerPairs`);
    grid(s.sequential, [Math.max(0, L - 1), H], `${at}.sequential`);
    grid(s.uniform, [L, H], `${at}.uniform`);
    grid(s.entropy, [L, H], `${at}.entropy`);
    if (s.entropyNormalized !== undefined) grid(s.entropyNormalized, [L, H], `${at}.entropyNormalized`);
    grid(s.tensors, [L], `${at}.tensors`);
    // The sums must rebuild an accumulator (checks their lengths and values).
    try {
      SimilarityAccumulator.fromJSON(s.sums);
    } catch (err) {
      throw new InputError(`${label}: ${at}.sums: ${(err as Error).message}`);
    }
  });
  checkAnalysisNumbers(file, label);
  return file;
}

/** The stack named `name`, or the only one; an InputError listing the stacks otherwise. */
export function pickStack<S extends { name: string }>(stacks: S[], name: string | undefined, label: string): S {
  const names = stacks.map((s) => `"${s.name}"`).join(', ');
  if (name === undefined) {
    if (stacks.length === 1) return stacks[0];
    throw new InputError(`${label} has stacks ${names}: pass {field} NAME`, 'stack');
  }
  const stack = stacks.find((s) => s.name === name);
  if (!stack) throw new InputError(`${label} has no stack "${name}" (it has ${names})`, 'stack');
  return stack;
}

/**
 * Merges shard files of one run into one result: same model, inputs, stacks and shard
 * count, example counts one run splits into (`checkSameRun`), no shard twice. Sums and counts are added, then every mean is recomputed.
 */
export function mergeAnalyses(files: { path: string; file: AnalysisFile }[]): AnalysisFile {
  if (files.length === 0) throw new InputError('merge needs at least one analysis file');
  checkSameRun(files);
  const [first, ...rest] = files;
  const accs = first.file.stacks.map((s) => SimilarityAccumulator.fromJSON(s.sums));
  const base = first.file.stacks[0].baseline;
  const baseAccs = base ? first.file.stacks.map((s) => SimilarityAccumulator.fromJSON(s.baseline!.sums)) : undefined;
  let seconds = first.file.run.seconds;
  for (const { path, file } of rest) {
    file.stacks.forEach((s, i) => {
      const b = s.baseline;
      if ((b === undefined) !== (base === undefined) || (b && base && (b.kind !== base.kind || b.seed !== base.seed))) {
        const describe = (x?: StackBaseline) => (x ? `a ${x.kind} baseline (seed ${x.seed})` : 'no baseline');
        throw new InputError(
          `${path} has ${describe(b)}, but ${first.path} has ${describe(base)}: shards of one run cannot be merged with it`,
        );
      }
      try {
        accs[i].merge(SimilarityAccumulator.fromJSON(s.sums));
        if (b) baseAccs![i].merge(SimilarityAccumulator.fromJSON(b.sums));
      } catch (err) {
        throw new InputError(`${path}: ${(err as Error).message}`);
      }
    });
    seconds += file.run.seconds;
  }
  const stacks = analysisStacks(
    accs,
    first.file.stacks.map(stackInfo),
    base && { kind: base.kind, seed: base.seed, accumulators: baseAccs! },
  );
  const shards = accs[0].shards;
  const run: AnalysisRun = {
    ...first.file.run,
    examples: accs[0].examples,
    tokens: accs[0].tokens,
    seconds,
  };
  delete run.shard;
  if (!accs[0].complete) run.shard = { indices: shards.map((s) => s.index), count: shards[0].count };
  return { schema: analysisSchema, model: first.file.model, run, stacks };
}

/** The layer-pair matrix (paper Fig. 2) of a stack as a text table. */
export function formatLayerPairs(s: AnalysisStack, variant?: string): string {
  const L = s.layerCount;
  const head = `layer-pair similarity, ${s.name} (${s.causal ? 'causal ' : ''}${s.kind}-attention${variant ? `, ${variant}` : ''}), M[l][l'] = max_h c[(l,h), l']`;
  const cols = Array.from({ length: L }, (_, j) => `l'=${j}`.padStart(7)).join('');
  const rows = s.layerPairs.map((row, l) => `l=${String(l).padEnd(4)}` + row.map((v) => v.toFixed(3).padStart(7)).join(''));
  const base = s.uniform.map((r) => r.reduce((a, b) => a + b, 0) / r.length);
  const over = s.causal ? ' (over the keys each row sees)' : '';
  const footer = `mean similarity to uniform attention${over} per layer: ${base.map((v) => v.toFixed(3)).join(' ')}`;
  return [head, `      ${cols}`, ...rows, ...(variant ? [] : [footer])].join('\n');
}
