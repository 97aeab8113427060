import { InputError } from '../errors';
import { costOf } from './cost';
import type { CostEstimate, ModelShape } from './cost';
import { assignPresetHeads, similarityKept, uniformBaseline } from './headAssignment';
import type { HeadPairs } from './headAssignment';
import type { HeadMap } from './headMap';
import { candidateGrid, checkModeBounds, modeRow, presetHeadMap } from './modes';
import type { ReuseMode } from './modes';
import { analysedLength, similarityKeptSe, withinNoise, withoutSinks } from './noise';
import type { StackEvidence } from './noise';

/** The fields of one analysis stack (`attention-reuse/analysis@1`) the planner reads. */
export interface PlannerStack extends StackEvidence {
  name: string;
  layerCount: number;
  headCount: number;
  dims: { hidden: number | null; ffn: number | null; vocab: number | null; maxPositions: number | null };
  headPairs: HeadPairs;
  /** Mean similarity of each head to uniform attention over the real keys. */
  uniform: number[][];
}

export interface Candidate {
  mode: ReuseMode;
  /** Reuse (or skip) layers, the paper's P. */
  P: number;
  /** Reuse heads per reuse layer, the paper's K. */
  K: number;
  heads: HeadMap;
  cost: CostEstimate;
  similarityKept: number | null;
  /** Standard error of similarityKept (an upper bound, `similarityKeptSe`); null without errors in the analysis. */
  similarityKeptSe?: number | null;
  uniformBaseline: number | null;
}

export interface Plan {
  stack: string;
  shape: ModelShape;
  seqLen: number;
  /** Where seqLen came from: the option, the analysis's mean real tokens per example, or the position count. */
  seqLenFrom?: 'option' | 'analysis' | 'positions';
  candidates: Candidate[];
  /** Indices into `candidates` of the Pareto front (most similarity kept for the FLOPs), by FLOPs ratio. */
  pareto: number[];
  targetFlops: number;
  /** Index of the candidate with the most similarity kept at FLOPs ratio ≤ targetFlops; null if none reaches it. */
  recommended: number | null;
  /**
   * Candidates at FLOPs ratio ≤ targetFlops whose 95% interval of similarity kept overlaps the
   * recommendation's (the analysis cannot tell them apart), by FLOPs ratio; absent without errors.
   */
  withinNoise?: number[];
  /** With `excludeSinks`: the sink heads [layer, head] whose pairs were scored 0. */
  excludedSinks?: [number, number][];
}

/**
 * The model sizes of a stack, filled from `override` where the analysis could not read
 * them from the graph. maxPositions falls back to BERT's 512.
 */
export function stackShape(stack: PlannerStack, override: Partial<ModelShape> = {}): ModelShape {
  const pick = (key: 'hidden' | 'ffn' | 'vocab'): number => {
    const v = override[key] ?? stack.dims[key];
    if (v === null || v === undefined)
      throw new InputError(`the analysis does not know the ${key} size of stack "${stack.name}"; pass {field}`, key);
    return v;
  };
  return {
    layers: stack.layerCount,
    heads: stack.headCount,
    hidden: pick('hidden'),
    ffn: pick('ffn'),
    vocab: pick('vocab'),
    maxPositions: override.maxPositions ?? stack.dims.maxPositions ?? 512,
  };
}

/**
 * The head map of one configuration. Modes that allow it place the model's heads into their
 * slots by maximum-weight assignment unless `canonical` asks for the paper's slot order;
 * guided chooses heads and sources from the measured similarity. With `extraLayers` the
 * stack is deeper than the analysis (new layers appended last, P and K counted in the deeper
 * stack): nothing was measured in the new layers, so the map keeps the paper's slot order
 * and guided, which needs a measurement for every layer it plans, is refused.
 */
export function configurationHeads(
  stack: PlannerStack,
  mode: ReuseMode,
  P: number,
  K: number,
  canonical = false,
  extraLayers = 0,
): HeadMap {
  const L = stack.layerCount + extraLayers;
  const H = stack.headCount;
  checkModeBounds(mode, L, H, P, K);
  if (extraLayers > 0) {
    if (modeRow(mode).measured) {
      throw new InputError(
        `mode "${mode}" chooses heads from measured similarity, which the ${extraLayers} extra layer(s) do not have; use partial or full with {field}`,
        'extraLayers',
      );
    }
    return presetHeadMap(mode, L, H, P, K);
  }
  const slots = presetHeadMap(mode, L, H, P, K, stack.headPairs);
  if (canonical || !modeRow(mode).placeHeads) return slots;
  // The paper's order unless placing the heads keeps strictly more similarity (ties, such as
  // an untrained model's, should not scramble the map).
  const assigned = assignPresetHeads(slots, stack.headPairs);
  const gain = (similarityKept(assigned, stack.headPairs) ?? 0) - (similarityKept(slots, stack.headPairs) ?? 0);
  return gain > 1e-12 ? assigned : slots;
}

export function scoreCandidate(
  stack: PlannerStack,
  shape: ModelShape,
  seqLen: number,
  mode: ReuseMode,
  P: number,
  K: number,
  heads: HeadMap,
): Candidate {
  const kept = similarityKept(heads, stack.headPairs);
  return {
    mode,
    P,
    K,
    heads,
    // Rows beyond the analysed layers are extra layers (configurationHeads).
    cost: costOf(shape, heads, seqLen, heads.length - shape.layers),
    similarityKept: kept,
    ...(stack.errors && kept !== null && heads.length === stack.headPairs.length
      ? { similarityKeptSe: similarityKeptSe(heads, stack) }
      : {}),
    uniformBaseline: uniformBaseline(heads, stack.uniform),
  };
}

/**
 * Candidates not dominated in (similarity kept ↑, FLOPs ratio ↓). Skip layers keep no
 * attention, so they have no similarity to compare and stay off the front.
 */
export function paretoFront(candidates: Candidate[]): number[] {
  const scored = candidates.map((c, i) => ({ i, s: c.similarityKept, f: c.cost.flopsRatio })).filter((c) => c.s !== null) as {
    i: number;
    s: number;
    f: number;
  }[];
  const eps = 1e-12;
  const front = scored.filter(
    (a) => !scored.some((b) => b.i !== a.i && b.s >= a.s - eps && b.f <= a.f + eps && (b.s > a.s + eps || b.f < a.f - eps)),
  );
  // Equal points: keep the first listed only.
  const unique = front.filter((a, k) => !front.slice(0, k).some((b) => Math.abs(b.s - a.s) <= eps && Math.abs(b.f - a.f) <= eps));
  return unique.sort((a, b) => a.f - b.f || b.s - a.s).map((a) => a.i);
}

/** The candidate with the most similarity kept among those at or under the FLOPs target (ties: fewer FLOPs, then fewer parameters). */
/**
 * Whether a configuration keeps no more similarity than its uniform baseline: the heads it
 * pairs are then about as alike as diffuse heads are anyway, and the number says little.
 */
export function keptBelowBaseline(c: { similarityKept: number | null; uniformBaseline: number | null }): boolean {
  return c.similarityKept !== null && c.uniformBaseline !== null && c.similarityKept <= c.uniformBaseline;
}

export function recommend(candidates: Candidate[], targetFlops: number): number | null {
  let best: number | null = null;
  candidates.forEach((c, i) => {
    if (c.similarityKept === null || c.cost.flopsRatio > targetFlops + 1e-12) return;
    if (best === null) {
      best = i;
      return;
    }
    const b = candidates[best];
    const better =
      c.similarityKept > b.similarityKept! + 1e-12 ||
      (Math.abs(c.similarityKept - b.similarityKept!) <= 1e-12 &&
        (c.cost.flopsRatio < b.cost.flopsRatio - 1e-12 ||
          (Math.abs(c.cost.flopsRatio - b.cost.flopsRatio) <= 1e-12 && c.cost.paramsRatio < b.cost.paramsRatio)));
    if (better) best = i;
  });
  return best;
}

export interface PlanOptions {
  seqLen?: number;
  targetFlops?: number;
  shape?: Partial<ModelShape>;
  /** Layers appended to the analysed ones (the paper's Reuse 13L); ratios stay against the analysed model. */
  extraLayers?: number;
  /** Score every pair that involves a sink head 0 (`withoutSinks`). */
  excludeSinks?: boolean;
}

/** The sequence length costs are counted at: the option, else the analysis's mean length, else the position count. */
export function planSeqLen(
  stack: PlannerStack,
  shape: ModelShape,
  seqLen?: number,
): { seqLen: number; from: NonNullable<Plan['seqLenFrom']> } {
  if (seqLen !== undefined) return { seqLen, from: 'option' };
  const analysed = analysedLength(stack);
  return analysed !== undefined ? { seqLen: analysed, from: 'analysis' } : { seqLen: shape.maxPositions, from: 'positions' };
}

/** Scores every configuration of the grid on one stack and picks the front and a recommendation. */
export function planStack(original: PlannerStack, options: PlanOptions = {}): Plan {
  const { stack, sinks } = options.excludeSinks ? withoutSinks(original) : { stack: original, sinks: undefined };
  const shape = stackShape(stack, options.shape);
  const { seqLen, from } = planSeqLen(stack, shape, options.seqLen);
  const targetFlops = options.targetFlops ?? 0.9;
  const extra = options.extraLayers ?? 0;
  // Measured choices (guided) need every layer analysed; the extra layers are not.
  const grid = candidateGrid(shape.layers + extra, shape.heads).filter(({ mode }) => extra === 0 || !modeRow(mode).measured);
  const candidates = grid.map(({ mode, P, K }) =>
    scoreCandidate(stack, shape, seqLen, mode, P, K, configurationHeads(stack, mode, P, K, false, extra)),
  );
  const recommended = recommend(candidates, targetFlops);
  return {
    stack: stack.name,
    shape,
    seqLen,
    seqLenFrom: from,
    candidates,
    pareto: paretoFront(candidates),
    targetFlops,
    recommended,
    ...(recommended !== null && candidates[recommended].similarityKeptSe != null
      ? { withinNoise: noiseOf(candidates, recommended, targetFlops) }
      : {}),
    ...(sinks ? { excludedSinks: sinks } : {}),
  };
}

/** Candidates under the FLOPs target that the analysis cannot tell apart from candidate `r`, by FLOPs ratio. */
export function noiseOf(candidates: Candidate[], r: number, targetFlops: number): number[] {
  const point = (c: Candidate) => ({ kept: c.similarityKept!, se: c.similarityKeptSe! });
  return candidates
    .map((c, i) => ({ c, i }))
    .filter(
      ({ c, i }) =>
        i !== r &&
        c.similarityKept !== null &&
        c.similarityKeptSe != null &&
        c.cost.flopsRatio <= targetFlops + 1e-12 &&
        withinNoise(point(c), point(candidates[r])),
    )
    .sort((a, b) => a.c.cost.flopsRatio - b.c.cost.flopsRatio || b.c.similarityKept! - a.c.similarityKept!)
    .map(({ i }) => i);
}
