/**
 * What the host sends the panel, built from analysis/ results without `vscode`: an analysis
 * file as the flat typed arrays the webview draws from, a plan as candidate rows with the
 * mode table's labels (the webview cannot import the table), and a model summary worded.
 */
import { basename } from 'node:path';
import type { ModelSummary } from '../analysis/app/model';
import { reuseModes } from '../analysis/planner/modes';
import { keptBelowBaseline } from '../analysis/planner/plan';
import type { Plan } from '../analysis/planner/plan';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import { Z95 } from '../analysis/similarity/stackViews';
import type { AnalysisInfo, AnalysisMessage, MetricColumns, MetricsMessage, PlanCandidatesMessage } from '../protocol/messages';
import { metricKeys } from '../protocol/metricSeries';
import type { ModelSummaryPayload } from '../protocol/modelMessages';
import { stackPayload } from '../protocol/stackPayload';
import { modelProblemWords } from './errorWording';

/** Where an analysis on screen is saved, and when it was written. */
export interface SavedAs {
  path: string;
  savedAt: number;
}

export function analysisMessage(file: AnalysisFile | null, label: string, canShowAttention: boolean, saved?: SavedAs): AnalysisMessage {
  if (!file) return { type: 'analysis', info: null, stacks: [] };
  const info: AnalysisInfo = {
    label,
    model: file.model,
    run: {
      examples: file.run.examples,
      tokens: file.run.tokens,
      executionProvider: file.run.executionProvider,
      precision: file.run.precision,
      seconds: file.run.seconds,
      inputs: file.run.inputs,
    },
    canShowAttention,
    // An unsaved analysis is named by its model and how long it ran, which differ between runs.
    id: saved ? `${saved.path}@${saved.savedAt}` : `unsaved:${file.model.sha256}:${file.run.seconds}`,
    file: saved ? { path: saved.path, name: basename(saved.path), savedAt: saved.savedAt } : null,
  };
  return { type: 'analysis', info, stacks: file.stacks.map(stackPayload) };
}

/** A model summary as the `.onnx` editor and the panel show it, its problem worded with what to do next. */
export function modelSummaryPayload(s: ModelSummary): ModelSummaryPayload {
  return {
    path: s.model,
    name: basename(s.model),
    bytes: s.bytes,
    opset: s.opset,
    producer: s.producer,
    inputs: s.inputs,
    stacks: s.stacks.map((st) => ({ name: st.name, kind: st.kind, layers: st.layers.length, heads: st.layers.map((l) => l.heads) })),
    dims: s.dims,
    problem: s.problem && { kind: s.problem.kind, message: s.problem.message, ...modelProblemWords[s.problem.kind] },
  };
}

/** A plan as the planner view takes it: flat candidate rows, the Pareto front as a flag. */
export function planMessage(plan: Plan): PlanCandidatesMessage {
  const front = new Set(plan.pareto);
  const present = new Set(plan.candidates.map((c) => c.mode));
  return {
    type: 'planCandidates',
    stack: plan.stack,
    seqLen: plan.seqLen,
    ...(plan.seqLenFrom ? { seqLenFrom: plan.seqLenFrom } : {}),
    targetFlops: plan.targetFlops,
    recommended: plan.recommended,
    candidates: plan.candidates.map((c, i) => ({
      mode: c.mode,
      P: c.P,
      K: c.K,
      paramsRatio: c.cost.paramsRatio,
      flopsRatio: c.cost.flopsRatio,
      scoreMemoryRatio: c.cost.scoreMemoryRatio,
      similarityKept: c.similarityKept,
      uniformBaseline: c.uniformBaseline,
      belowBaseline: keptBelowBaseline(c),
      ...(c.similarityKept !== null && c.similarityKeptSe != null
        ? {
            keptInterval: [
              Math.max(0, c.similarityKept - Z95 * c.similarityKeptSe),
              Math.min(1, c.similarityKept + Z95 * c.similarityKeptSe),
            ] as [number, number],
          }
        : {}),
      ...(plan.withinNoise?.includes(i) ? { withinNoise: true } : {}),
      trainingMemoryRatio: c.cost.trainingMemoryRatio,
      heads: c.heads,
      pareto: front.has(i),
    })),
    modes: reuseModes()
      .filter((row) => present.has(row.name))
      .map(({ name, label }) => ({ name, label })),
  };
}

/** Trainer metrics lines (`step`, `loss`, … as metrics.jsonl holds them) as columns; NaN where a line lacks a number. */
export function metricsMessage(run: string, lines: Record<string, unknown>[], reset: boolean): MetricsMessage {
  const column = (key: string) => Float64Array.from(lines, (l) => (typeof l[key] === 'number' ? (l[key] as number) : NaN));
  const points = { step: column('step') } as MetricColumns;
  for (const key of metricKeys) points[key] = column(key);
  return { type: 'metrics', run, reset, points };
}
