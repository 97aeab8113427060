/**
 * What the planner reads from an analysis's uncertainty and sinks: the length the analysis
 * saw, how well a candidate's similarity kept is known, which candidates the data cannot tell
 * apart, and the stack with its sink heads' similarity left out.
 */
import { InputError } from '../errors';
import type { SinkView, StackErrors } from '../similarity/stackViews';
import { Z95 } from '../similarity/stackViews';
import { similarityKept } from './headAssignment';
import type { HeadPairs } from './headAssignment';
import type { HeadMap } from './headMap';

/** The fields of an analysis stack this module reads (all optional: files written before them lack them). */
export interface StackEvidence {
  name: string;
  headPairs: HeadPairs;
  errors?: Pick<StackErrors, 'headPairs'>;
  sinks?: Pick<SinkView, 'threshold' | 'mass'>;
  sums?: { tokens: number; examples: number };
}

/** The mean real tokens per example of the analysis, rounded; undefined without sums. */
export function analysedLength(stack: StackEvidence): number | undefined {
  const s = stack.sums;
  if (!s || !(s.examples > 0)) return undefined;
  return Math.max(1, Math.round(s.tokens / s.examples));
}

/**
 * The standard error of a head map's similarity kept (a mean over its reuse pairs), bounded
 * above by the mean of the pairs' standard errors: the pairs' per-example values are
 * correlated and the file keeps no covariances, and sd(Σ aᵢXᵢ) ≤ Σ aᵢ sd(Xᵢ) whatever they are.
 * Null where the analysis has no errors or the map keeps no attention.
 */
export function similarityKeptSe(map: HeadMap, stack: StackEvidence): number | null {
  return stack.errors ? similarityKept(map, stack.errors.headPairs.se) : null;
}

/** Two (similarity kept, se) points whose 95% intervals overlap: the analysis cannot rank them. */
export function withinNoise(a: { kept: number; se: number }, b: { kept: number; se: number }): boolean {
  return Math.abs(a.kept - b.kept) <= Z95 * (a.se + b.se);
}

/** The heads flagged "sink" (mean mass on the first or special tokens ≥ the threshold), as [layer, head]. */
export function sinkHeads(stack: StackEvidence): [number, number][] {
  const out: [number, number][] = [];
  stack.sinks?.mass.forEach((row, l) => row.forEach((m, h) => m >= stack.sinks!.threshold && out.push([l, h])));
  return out;
}

/**
 * The stack with every pair that involves a sink head scored 0, so that no configuration is
 * credited for reusing a head whose likeness to others comes from parking on the same token;
 * placement and guided search then keep away from them. Refused for an analysis without sinks.
 */
export function withoutSinks<S extends StackEvidence>(stack: S): { stack: S; sinks: [number, number][] } {
  if (!stack.sinks) {
    throw new InputError(
      `stack "${stack.name}" of the analysis has no sink measurements (it was written before them): analyse again or drop {field}`,
      'excludeSinks',
    );
  }
  const sinks = sinkHeads(stack);
  if (sinks.length === 0) return { stack, sinks };
  const isSink = stack.sinks.mass.map((row) => row.map((m) => m >= stack.sinks!.threshold));
  const mask = (grid: HeadPairs) =>
    grid.map((r, l) => r.map((t, h) => t.map((u, l2) => u.map((v, h2) => (isSink[l][h] || isSink[l2][h2] ? 0 : v)))));
  const errors = stack.errors
    ? { ...stack.errors, headPairs: { ...stack.errors.headPairs, se: mask(stack.errors.headPairs.se) } }
    : undefined;
  return { stack: { ...stack, headPairs: mask(stack.headPairs), ...(errors ? { errors } : {}) }, sinks };
}
