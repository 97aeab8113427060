/**
 * `plan ANALYSIS.json --model MODEL.onnx`: every candidate configuration rewritten into the
 * model and measured on a calibration set, ranked by the drift it causes at the savings
 * target; with `search`, a greedy search in which similarity proposes and drift decides.
 */
import { dirname, resolve } from 'node:path';
import { CancelledError, InputError, checkCancelled } from '../errors';
import { rewriteForReuse } from '../onnx/reuseRewrite';
import { costOf } from '../planner/cost';
import { impliedPK } from '../planner/headMap';
import type { HeadMap } from '../planner/headMap';
import { measuredSearch, paretoByDrift, recommendByDrift, spearman } from '../planner/measuredSearch';
import type { SearchStep } from '../planner/measuredSearch';
import { scoreCandidate } from '../planner/plan';
import type { Candidate, Plan } from '../planner/plan';
import { pickStack } from '../result/analysisFile';
import type { AnalysisFile } from '../result/analysisFile';
import type { ExampleSource } from '../runtime/exampleSource';
import { modelBatches, TimedSession } from '../runtime/modelSession';
import type { ModelBatch } from '../runtime/modelSession';
import { describeProvider } from '../runtime/providers';
import type { ProviderChoice } from '../runtime/providers';
import { buildReuseConfig, writeReuseConfig } from './emit';
import { openExamples } from './examples';
import { readExternalTensors, slicedTensorNames } from './externalData';
import { compareModels, OriginalCache } from './measure';
import { planAnalysis } from './plan';
import type { PlanOptions } from './plan';
import type { ServiceCallbacks } from './service';
import { checkOutput, sha256File } from './storage';
import type { OutputOptions } from './storage';
import { openRewritable, rewriteNotes } from './whatif';
import type { RewritableModel } from './whatif';

export interface MeasuredPlanOptions extends PlanOptions {
  model: string;
  source: ExampleSource;
  /** Calibration examples (default 64). */
  calibration?: number;
  batch?: number;
  ep?: ProviderChoice;
  /** Run the measured greedy search too. */
  search?: boolean;
  /** Moves measured per search step, the best by similarity (default 4). */
  searchWidth?: number;
  /** Write the search result (or, without search, the recommendation) as a reuse config. */
  out?: string;
  force?: boolean;
}

export interface CandidateMeasurement {
  kl: number | null;
  top1: number | null;
  /** Mean cosine of the first output over real tokens. */
  cosine: number;
  /** What the plan ranks by: KL, else 1 − cosine. */
  drift: number;
  /** original / rewritten latency on the calibration set. */
  speedRatio: number;
  /** False where the rewrite only substitutes probabilities: then the ratio is 1 / the cost model's FLOPs ratio. */
  speedMeasured: boolean;
}

export type MeasuredCandidate = Candidate & { measured: CandidateMeasurement };

export interface SearchOutcome extends MeasuredCandidate {
  steps: SearchStep[];
  reached: boolean;
  width: number;
}

export interface MeasuredPlan extends Plan {
  candidates: MeasuredCandidate[];
  /** The candidate the similarity criterion recommends (`recommended` is by measured drift). */
  recommendedBySimilarity: number | null;
  measured: {
    model: string;
    examples: number;
    tokens: number;
    executionProvider: string;
    criterion: 'kl' | '1-cosine';
    klOutput: string | null;
    /** Spearman's ρ between similarity kept and measured drift over the candidates that keep similarity. */
    rankCorrelation: number | null;
    rankCorrelationOver: number;
    /** Pareto front in (drift ↓, FLOPs ↓). */
    pareto: number[];
  };
  search: SearchOutcome | null;
  /** The reuse config written with `out`. */
  written: string | null;
}

/** Scores every candidate of the plan by measurement on the model. */
export async function planMeasured(
  options: MeasuredPlanOptions,
  callbacks: ServiceCallbacks = {},
): Promise<{ analysis: AnalysisFile; plan: MeasuredPlan }> {
  const { signal, onProgress, onNote } = callbacks;
  if ((options.extraLayers ?? 0) > 0) {
    throw new InputError(
      '{field} plans layers the model does not have, so they cannot be measured on it: plan them without --model',
      'extraLayers',
    );
  }
  const output: OutputOptions = { overwrite: options.force === true, inputs: [options.analysis, options.model, options.source.path] };
  // The output is checked before any work, and again when it is written.
  if (options.out) await checkOutput(options.out, output);
  const { analysis, plans } = await planAnalysis(options);
  const plan = plans[0];
  const stack = pickStack(analysis.stacks, plan.stack, options.analysis);
  const opened = await openRewritable(options.model, plan.stack);
  if (analysis.model.sha256 !== opened.sha256) {
    throw new InputError(
      `${options.analysis} was made from another model (sha256 ${analysis.model.sha256.slice(0, 12)}…), not {field} ${options.model} (${opened.sha256.slice(0, 12)}…)`,
      'model',
    );
  }
  const calibration = await openExamples(opened.model, options.source, options.calibration ?? 64, signal);
  const batches: ModelBatch[] = [];
  for await (const b of modelBatches(opened.model.inputs, calibration.examples, options.batch ?? 8, signal)) batches.push(b);
  const folder = dirname(resolve(options.model));
  const original = await TimedSession.start(opened.model.bytes, options.ep ?? 'auto', options.model, folder);
  try {
    describeProvider(options.ep ?? 'auto', original.provider, original.notes).forEach((l) => onNote?.(l));
    const noted = new Set<string>();
    const measure = (heads: HeadMap, time: boolean, cache?: OriginalCache) =>
      measureMap(
        opened,
        original,
        batches,
        plan,
        heads,
        time,
        cache,
        (line) => {
          if (!noted.has(line)) onNote?.(line);
          noted.add(line);
        },
        signal,
      );
    const total = plan.candidates.length + (options.search ? 1 : 0);
    const candidates: MeasuredCandidate[] = [];
    let examples = 0;
    let tokens = 0;
    for (const c of plan.candidates) {
      checkCancelled(signal);
      const m = await measure(c.heads, true);
      ({ examples, tokens } = m);
      candidates.push({ ...c, measured: m.measurement });
      onProgress?.(candidates.length, total);
    }
    const points = candidates.map((c) => ({ drift: c.measured.drift, flopsRatio: c.cost.flopsRatio, paramsRatio: c.cost.paramsRatio }));
    const correlated = candidates.filter((c) => c.similarityKept !== null);
    let search: SearchOutcome | null = null;
    if (options.search) {
      const cache = new OriginalCache();
      const width = options.searchWidth ?? 4;
      const found = await measuredSearch({
        shape: plan.shape,
        seqLen: plan.seqLen,
        headPairs: stack.headPairs,
        targetFlops: plan.targetFlops,
        width,
        evaluate: async (heads) => (await measure(heads, false, cache)).measurement.drift,
        onStep: (st) =>
          onNote?.(
            `search: ${st.layer}.${st.head} reuses ${st.source.layer}.${st.source.head} (similarity ${st.similarity.toFixed(3)}, drift ${st.drift.toFixed(5)}, FLOPs ${st.flopsRatio.toFixed(4)})`,
          ),
        signal,
      });
      checkCancelled(signal);
      const { P, K } = impliedPK(found.heads);
      const scored = scoreCandidate(stack, plan.shape, plan.seqLen, 'custom', P, K, found.heads);
      search = { ...scored, measured: (await measure(found.heads, true)).measurement, steps: found.steps, reached: found.reached, width };
      onProgress?.(total, total);
    }
    const recommended = recommendByDrift(points, plan.targetFlops);
    let written: string | null = null;
    if (options.out) {
      const chosen = search ?? (recommended === null ? undefined : candidates[recommended]);
      if (!chosen) throw new InputError(`no candidate reaches a FLOPs ratio ≤ ${plan.targetFlops}: nothing to write to {field}`, 'out');
      const source = { analysisSha256: await sha256File(options.analysis, 'analysis file'), modelSha256: opened.sha256 };
      const config = buildReuseConfig(
        stack,
        { mode: chosen.mode, headMap: chosen.heads, seqLen: plan.seqLen, shape: options.shape },
        source,
      );
      await writeReuseConfig(config, options.out, output);
      written = resolve(options.out);
    }
    const result: MeasuredPlan = {
      ...plan,
      candidates,
      recommended,
      recommendedBySimilarity: plan.recommended,
      measured: {
        model: resolve(options.model),
        examples,
        tokens,
        executionProvider: original.provider,
        criterion: opened.klOutput ? 'kl' : '1-cosine',
        klOutput: opened.klOutput,
        rankCorrelation: spearman(
          correlated.map((c) => c.similarityKept!),
          correlated.map((c) => c.measured.drift),
        ),
        rankCorrelationOver: correlated.length,
        pareto: paretoByDrift(points),
      },
      search,
      written,
    };
    return { analysis, plan: result };
  } catch (err) {
    if (signal?.aborted && !(err instanceof CancelledError)) throw new CancelledError();
    throw err;
  } finally {
    await original.dispose();
  }
}

export interface MeasureCandidatesOptions {
  /** The analysed model; it must be the one the plan's analysis was made from (`modelSha256`). */
  model: string;
  modelSha256: string;
  /** The plan whose candidates are measured (its shape and sequence length give the speed estimate). */
  plan: Plan;
  /** Indices into `plan.candidates`. */
  candidates: number[];
  source: ExampleSource;
  /** Calibration examples (default 64). */
  calibration?: number;
  batch?: number;
  ep?: ProviderChoice;
}

/** What "Try on model" measured on, and each candidate's measurement in the order asked. */
export interface CandidatesMeasured {
  model: string;
  examples: number;
  tokens: number;
  executionProvider: string;
  criterion: 'kl' | '1-cosine';
  measured: { candidate: number; measurement: CandidateMeasurement }[];
}

/**
 * Measures a few candidates of a plan on the model (the panel's "Try on model"): the same
 * rewrite and measurement as `planMeasured`, for the candidates asked only. `onOpened` says
 * what it measures on once the model and inputs are open; `onMeasured` hands each result
 * over as it is done.
 */
export async function measureCandidates(
  options: MeasureCandidatesOptions,
  callbacks: ServiceCallbacks & {
    onOpened?: (on: { model: string; examples: number; tokens: number; executionProvider: string }) => void;
    onMeasured?: (candidate: number, measurement: CandidateMeasurement) => void;
  } = {},
): Promise<CandidatesMeasured> {
  const { signal, onProgress, onNote } = callbacks;
  const { plan } = options;
  for (const i of options.candidates) {
    if (!plan.candidates[i]) throw new InputError(`the plan of stack "${plan.stack}" has no candidate ${i} ({field})`, 'candidates');
  }
  const opened = await openRewritable(options.model, plan.stack);
  if (opened.sha256 !== options.modelSha256) {
    throw new InputError(
      `{field} ${options.model} has changed since it was analysed (sha256 ${opened.sha256.slice(0, 12)}…, the analysis says ${options.modelSha256.slice(0, 12)}…)`,
      'model',
    );
  }
  const calibration = await openExamples(opened.model, options.source, options.calibration ?? 64, signal);
  const batches: ModelBatch[] = [];
  for await (const b of modelBatches(opened.model.inputs, calibration.examples, options.batch ?? 8, signal)) batches.push(b);
  const original = await TimedSession.start(opened.model.bytes, options.ep ?? 'auto', options.model, dirname(resolve(options.model)));
  try {
    describeProvider(options.ep ?? 'auto', original.provider, original.notes).forEach((l) => onNote?.(l));
    const tokens = batches.reduce((n, b) => n + b.real.reduce((a, x) => a + x.length, 0), 0);
    const examples = batches.reduce((n, b) => n + b.examples.length, 0);
    const on = { model: resolve(options.model), examples, tokens, executionProvider: original.provider };
    callbacks.onOpened?.(on);
    const measured: CandidatesMeasured['measured'] = [];
    for (const i of options.candidates) {
      checkCancelled(signal);
      const m = await measureMap(
        opened,
        original,
        batches,
        plan,
        plan.candidates[i].heads,
        true,
        undefined,
        (line) => onNote?.(line),
        signal,
      );
      measured.push({ candidate: i, measurement: m.measurement });
      callbacks.onMeasured?.(i, m.measurement);
      onProgress?.(measured.length, options.candidates.length);
    }
    return { ...on, criterion: opened.klOutput ? 'kl' : '1-cosine', measured };
  } catch (err) {
    if (signal?.aborted && !(err instanceof CancelledError)) throw new CancelledError();
    throw err;
  } finally {
    await original.dispose();
  }
}

/** Rewrites the model for one head map and measures it against the original on the calibration batches. */
async function measureMap(
  opened: RewritableModel,
  original: TimedSession,
  batches: ModelBatch[],
  plan: Plan,
  heads: HeadMap,
  time: boolean,
  cache: OriginalCache | undefined,
  note: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<{ measurement: CandidateMeasurement; examples: number; tokens: number }> {
  const external = await readExternalTensors(opened.model.path, opened.model.graph, slicedTensorNames(opened.anatomy, heads));
  const rewrite = rewriteForReuse(opened.model.graph, opened.model.bytes, opened.anatomy, heads, external);
  rewriteNotes(rewrite.layers).forEach(note);
  const session = await TimedSession.start(rewrite.bytes, original.provider, 'the rewritten model', dirname(resolve(opened.model.path)));
  try {
    // A calibration set is small: the fastest of three runs per batch keeps other processes' load out of the speed.
    const c = await compareModels(original, session, batches, {
      inputs: opened.model.inputs,
      klOutput: opened.klOutput,
      time,
      repeats: 3,
      cache,
      signal,
    });
    const cosine = c.drift.outputs[0]?.cosine ?? 1;
    const meanLength = Math.max(1, Math.round(c.tokens / Math.max(1, c.examples)));
    const estimated = 1 / costOf(plan.shape, heads, meanLength).flopsRatio;
    const measuredRatio = c.latency ? c.latency.original / c.latency.rewritten : estimated;
    return {
      measurement: {
        kl: c.drift.kl,
        top1: c.drift.top1,
        cosine,
        drift: c.drift.kl ?? 1 - cosine,
        speedRatio: rewrite.doesLessWork ? measuredRatio : estimated,
        speedMeasured: rewrite.doesLessWork && c.latency !== null,
      },
      examples: c.examples,
      tokens: c.tokens,
    };
  } finally {
    await session.dispose();
  }
}
