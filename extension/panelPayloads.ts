/**
 * What the host sends the panel, built from analysis/ results without `vscode`: an analysis
 * file as the flat typed arrays the webview draws from, and a plan as candidate rows with
 * the mode table's labels (the webview cannot import the table).
 */
import { reuseModes } from '../analysis/planner/modes';
import type { Plan } from '../analysis/planner/plan';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { AnalysisInfo, AnalysisMessage, MetricsMessage, PlanCandidatesMessage, StackPayload, Tensor } from '../protocol/messages';

/** Flattens nested arrays of a known shape into one typed array, checking every length. */
function flat<T extends Float64Array | Int32Array>(Type: new (n: number) => T, nested: unknown, shape: number[], what: string): Tensor<T> {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Type(size);
  let at = 0;
  const walk = (v: unknown, depth: number) => {
    if (depth === shape.length) {
      out[at++] = v as number;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw new Error(`${what} does not have shape [${shape.join(', ')}]`);
    for (const x of v) walk(x, depth + 1);
  };
  walk(nested, 0);
  return { shape, data: out };
}

export function stackPayload(s: AnalysisFile['stacks'][number]): StackPayload {
  const L = s.layerCount; // the paper's L
  const H = s.headCount; // the paper's H
  return {
    name: s.name,
    kind: s.kind,
    ...(s.causal ? { causal: true } : {}),
    layerCount: L,
    headCount: H,
    ...(s.kvHeadCount ? { kvHeadCount: s.kvHeadCount } : {}),
    dims: s.dims,
    headPairs: flat(Float64Array, s.headPairs, [L, H, L, H], 'headPairs'),
    c: flat(Float64Array, s.c, [L, H, L], 'c'),
    cArgmax: flat(Int32Array, s.cArgmax, [L, H, L], 'cArgmax'),
    layerPairs: flat(Float64Array, s.layerPairs, [L, L], 'layerPairs'),
    sequentialHeads: flat(Int32Array, s.sequential.map((row) => row.map((e) => e.head)), [Math.max(0, L - 1), H], 'sequential'),
    sequentialValues: flat(Float64Array, s.sequential.map((row) => row.map((e) => e.value)), [Math.max(0, L - 1), H], 'sequential'),
    uniform: flat(Float64Array, s.uniform, [L, H], 'uniform'),
    entropy: flat(Float64Array, s.entropy, [L, H], 'entropy'),
    ...(s.entropyNormalized ? { entropyNormalized: flat(Float64Array, s.entropyNormalized, [L, H], 'entropyNormalized') } : {}),
  };
}

export function analysisMessage(file: AnalysisFile | null, label: string, canShowAttention: boolean): AnalysisMessage {
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
  };
  return { type: 'analysis', info, stacks: file.stacks.map(stackPayload) };
}

/** A plan as the planner view takes it: flat candidate rows, the Pareto front as a flag. */
export function planMessage(plan: Plan): PlanCandidatesMessage {
  const front = new Set(plan.pareto);
  const present = new Set(plan.candidates.map((c) => c.mode));
  return {
    type: 'planCandidates',
    stack: plan.stack,
    seqLen: plan.seqLen,
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
  return {
    type: 'metrics',
    run,
    reset,
    points: { step: column('step'), loss: column('loss'), lr: column('lr'), tokensPerSecond: column('tokensPerSecond'), elapsedSeconds: column('elapsedSeconds') },
  };
}
