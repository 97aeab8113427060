/**
 * Reuse configs from an analysis: `buildReuseConfig` makes and checks one from a stack and
 * typed options (no file access); `emitReuseConfig` is `attention-reuse emit`.
 */
import { checkConfigSemantics, configSchemaId, estimatesOf, formatReuseConfig } from '../config/reuseConfig';
import type { ReuseConfig } from '../config/reuseConfig';
import { InputError } from '../errors';
import type { ModelShape } from '../planner/cost';
import { impliedPK } from '../planner/headMap';
import type { HeadMap } from '../planner/headMap';
import { modeRow, resolvePK } from '../planner/modes';
import type { ReuseMode } from '../planner/modes';
import { configurationHeads, planSeqLen, scoreCandidate, stackShape } from '../planner/plan';
import type { PlannerStack } from '../planner/plan';
import { pickStack } from '../result/analysisFile';
import { readAnalysis, readHeadMap } from './readers';
import { checkOutput, sha256File, writeFileAtomic } from './storage';
import type { OutputOptions } from './storage';

export interface ReuseConfigOptions {
  /** Default: full when K = H, else partial; custom when only a head map is given. */
  mode?: ReuseMode;
  /** Reuse (or skip) layers, the paper's P (default: the mode's, e.g. L-2 for partial). */
  P?: number;
  /** Reuse heads per reuse layer, the paper's K (default H for whole-layer modes). */
  K?: number;
  /** The map itself (custom, or a preset's map with placed heads); checked against mode, P and K. */
  headMap?: HeadMap;
  /** Keep the paper's slot order instead of placing the model's heads where similarity is highest. */
  canonical?: boolean;
  /** Sequence length of the FLOPs estimate (default: the analysis's mean real tokens per example, as `plan`). */
  seqLen?: number;
  /** Sizes the analysis could not read from the graph. */
  shape?: Partial<ModelShape>;
  /**
   * Layers appended after the analysed ones (the paper's Reuse 13L is 12 + 1): mode, P, K
   * and the head map describe the deeper stack; estimates compare with the analysed model.
   */
  extraLayers?: number;
}

/** Builds and checks the reuse config of one analysis stack. */
export function buildReuseConfig(stack: PlannerStack, options: ReuseConfigOptions, source: ReuseConfig['source']): ReuseConfig {
  const shape = stackShape(stack, options.shape);
  const extraLayers = options.extraLayers ?? 0;
  if (!Number.isInteger(extraLayers) || extraLayers < 0)
    throw new InputError(`{field} must be a whole number ≥ 0 (got ${extraLayers})`, 'extraLayers');
  const L = shape.layers + extraLayers;
  const H = shape.heads;
  const { seqLen } = planSeqLen(stack, shape, options.seqLen);
  let mode: ReuseMode;
  let P: number;
  let K: number;
  let heads: HeadMap;
  if (options.headMap !== undefined || (options.mode !== undefined && !modeRow(options.mode).layers)) {
    if (options.headMap === undefined) throw new InputError(`mode "${options.mode}" needs {field}`, 'headMap');
    heads = options.headMap;
    const extra = extraLayers > 0 ? ` (${shape.layers} analysed + ${extraLayers} extra)` : '';
    if (heads.length !== L)
      throw new InputError(`{field} has ${heads.length} layers, but stack "${stack.name}" has ${L}${extra}`, 'headMap');
    const row = heads.findIndex((r) => !Array.isArray(r) || r.length !== H);
    if (row >= 0) throw new InputError(`{field} row ${row} does not have the stack's ${H} heads`, 'headMap');
    mode = options.mode ?? 'custom';
    const implied = impliedPK(heads);
    P = options.P ?? implied.P;
    K = options.K ?? implied.K;
    if (!modeRow(mode).layers) {
      if (P !== implied.P)
        throw new InputError(`{field} ${P} does not match the head map, which reuses or skips in ${implied.P} layers`, 'P');
      if (K !== implied.K)
        throw new InputError(`{field} ${K} does not match the head map, whose most reuse heads in one layer is ${implied.K}`, 'K');
    }
  } else {
    ({ mode, P, K } = resolvePK(L, H, options));
    heads = configurationHeads(stack, mode, P, K, options.canonical === true, extraLayers);
  }
  const scored = scoreCandidate(stack, shape, seqLen, mode, P, K, heads);
  const config: ReuseConfig = {
    schema: configSchemaId,
    source,
    stack: stack.name,
    dims: { layers: L, heads: H, hidden: shape.hidden, ffn: shape.ffn, vocab: shape.vocab, maxPositions: shape.maxPositions },
    ...(extraLayers > 0 ? { extraLayers } : {}),
    mode,
    P,
    K,
    heads,
    estimates: estimatesOf(scored.cost, scored.similarityKept, scored.uniformBaseline),
  };
  checkConfigSemantics(config);
  return config;
}

export interface EmitOptions extends Omit<ReuseConfigOptions, 'headMap'> {
  analysis: string;
  /** Which stack (needed when the analysis has more than one). */
  stack?: string;
  /** A file holding the custom head map (a reuse config or a bare array). */
  headMapFile?: string;
  out: string;
  force?: boolean;
}

/** Reads the analysis, builds the config and writes it atomically. */
export async function emitReuseConfig(options: EmitOptions): Promise<ReuseConfig> {
  const output = { overwrite: options.force === true, inputs: [options.analysis, options.headMapFile] };
  await checkOutput(options.out, output);
  const analysis = await readAnalysis(options.analysis);
  const stack = pickStack(analysis.stacks, options.stack, options.analysis);
  const depth = stack.layerCount + (options.extraLayers ?? 0);
  const headMap = options.headMapFile === undefined ? undefined : await readHeadMap(options.headMapFile, depth, stack.headCount);
  const source = { analysisSha256: await sha256File(options.analysis, 'analysis file'), modelSha256: analysis.model.sha256 };
  const config = buildReuseConfig(stack, { ...options, headMap }, source);
  await writeReuseConfig(config, options.out, output);
  return config;
}

/** Writes a built config atomically as `emit` does (one line per layer of heads). */
export async function writeReuseConfig(config: ReuseConfig, out: string, output: OutputOptions): Promise<void> {
  await writeFileAtomic(out, formatReuseConfig(config), output);
}
