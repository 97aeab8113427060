import { InputError } from '../errors';
import type { ModelShape } from '../planner/cost';
import { planStack } from '../planner/plan';
import type { Plan } from '../planner/plan';
import { pickStack } from '../result/analysisFile';
import type { AnalysisFile } from '../result/analysisFile';
import { readAnalysis } from './readers';

export interface PlanOptions {
  analysis: string;
  /** One stack by name; without it the only stack, or every stack with `allStacks`. */
  stack?: string;
  allStacks?: boolean;
  /** Sequence length of the FLOPs and memory ratios (default: the analysis's mean real tokens per example). */
  seqLen?: number;
  /** FLOPs ratio the recommendation stays under, in (0, 1] (default 0.9). */
  targetFlops?: number;
  /** Sizes the analysis could not read from the graph. */
  shape?: Partial<ModelShape>;
  /** Layers appended after the analysed ones (the paper's Reuse 13L); ratios stay against the analysed model. */
  extraLayers?: number;
  /** Score every pair that involves a sink head 0 (the analysis must have sinks). */
  excludeSinks?: boolean;
}

/** Reads an analysis and scores the reuse configurations of its stack(s). */
export async function planAnalysis(options: PlanOptions): Promise<{ analysis: AnalysisFile; plans: Plan[] }> {
  const target = options.targetFlops ?? 0.9;
  if (!(target > 0 && target <= 1)) throw new InputError(`{field} must be a ratio in (0, 1] (got ${target})`, 'targetFlops');
  const analysis = await readAnalysis(options.analysis);
  const stacks =
    options.stack === undefined && options.allStacks ? analysis.stacks : [pickStack(analysis.stacks, options.stack, options.analysis)];
  const plans = stacks.map((stack) =>
    planStack(stack, {
      seqLen: options.seqLen,
      targetFlops: target,
      shape: options.shape,
      extraLayers: options.extraLayers,
      excludeSinks: options.excludeSinks,
    }),
  );
  return { analysis, plans };
}
