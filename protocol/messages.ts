/**
 * Messages between the extension host and the panel webview (types only; both sides import
 * it, and this folder's tsconfig has neither the DOM nor vscode, so neither leaks in). Large
 * matrices travel as flat typed arrays with their shape, which VS Code passes to the webview
 * without turning every number into JSON text. Indices are 0-based (DESIGN.md).
 *
 * A request carries a `messageId`; its reply carries the same number as `inReplyTo`, and
 * `Exchanges` ties each request type to the reply it gets (see requests.ts).
 */
import type { ModelActionMessage, ModelSummaryMessage } from './modelMessages';

/** A row-major array of any rank: `data.length` is the product of `shape`. */
export interface Tensor<T extends Float32Array | Float64Array | Int32Array> {
  shape: number[];
  data: T;
}

/** One stack of an analysis (`AnalysisStack`), flattened; L layers and H heads. */
export interface StackPayload {
  name: string;
  kind: 'self' | 'cross';
  /** Causal self-attention (a decoder). */
  causal?: boolean;
  layerCount: number;
  /** Query heads per layer. */
  headCount: number;
  /** Key/value heads of grouped-query attention, where fewer than the query heads. */
  kvHeadCount?: number;
  dims: { hidden: number | null; ffn: number | null; vocab: number | null; maxPositions: number | null };
  /** [L, H, L, H]: mean TV similarity of two heads. */
  headPairs: Tensor<Float64Array>;
  /** [L, H, L]: c[(l,h), l'] (paper eq. 3). */
  c: Tensor<Float64Array>;
  /** [L, H, L]: the h' that attains c. */
  cArgmax: Tensor<Int32Array>;
  /** [L, L]: M[l][l'] = max_h c[(l,h), l'] (paper Fig. 2). */
  layerPairs: Tensor<Float64Array>;
  /** [L-1, H]: heads of layers 1..L-1, ascending by c[(l,h), l-1] (paper Fig. 3). */
  sequentialHeads: Tensor<Int32Array>;
  /** [L-1, H]: the values that go with `sequentialHeads`. */
  sequentialValues: Tensor<Float64Array>;
  /** [L, H]: mean similarity of a head to uniform attention over the real keys (a causal row's visible ones). */
  uniform: Tensor<Float64Array>;
  /** [L, H]: mean row entropy of a head, in nats. */
  entropy: Tensor<Float64Array>;
  /** [L, H]: mean row entropy over ln(keys the row sees), in [0, 1]; absent for files written before it. */
  entropyNormalized?: Tensor<Float64Array>;
  /** 95% intervals over examples of layerPairs, c and headPairs (same shapes); absent with fewer than two examples or in older files. */
  intervals?: { level: number; layerPairs: Interval; c: Interval; headPairs: Interval };
  /** Attention mass on the first or special tokens per head; absent in files written before it. */
  sinks?: {
    /** Heads with mass ≥ threshold are flagged "sink". */
    threshold: number;
    /** Whether special tokens were known; else only the first token counts. */
    specialTokens: boolean;
    /** [L, H] */
    mass: Tensor<Float64Array>;
  };
  /** Mean cross-layer similarity per sequence-length bucket, shortest first; absent in files written before it. */
  lengths?: LengthPoint[];
  /** The same analysis of a copy of the model with every weight tensor's entries shuffled (`analyze --baseline shuffled`). */
  baseline?: { kind: 'shuffled'; seed: number; layerPairs: Tensor<Float64Array> };
}

/** Lower and upper ends of a 95% interval, beside the means they go with. */
export interface Interval {
  low: Tensor<Float64Array>;
  high: Tensor<Float64Array>;
}

/** One sequence-length bucket of a stack: examples with min ≤ real tokens ≤ max. */
export interface LengthPoint {
  min: number;
  max: number;
  examples: number;
  meanTokens: number;
  /** Mean over examples of the mean similarity between heads of different layers, and its 95% interval (null with one example). */
  similarity: number;
  low: number | null;
  high: number | null;
  /** The heads' mean similarity to uniform attention in the bucket. */
  uniform: number;
}

/** Where an analysis came from and how it ran. */
export interface AnalysisInfo {
  /** What the panel calls it (file name or "sample model"). */
  label: string;
  model: { path: string; sha256: string };
  run: { examples: number; tokens: number; executionProvider: string; precision: string; seconds: number; inputs?: string };
  /** Whether the host can re-run the model to show single attention maps. */
  canShowAttention: boolean;
  /** Names this analysis: when it changes, the panel drops the previous one's selection and scroll. */
  id: string;
  /** The analysis file shown and when it was written; null for one that was never saved. */
  file: { path: string; name: string; savedAt: number } | null;
}

/** An analysis that runs, failed or was cancelled; the panel keeps showing the previous result meanwhile. */
export interface RunStatus {
  state: 'running' | 'failed' | 'cancelled';
  /** What was analyzed: the model and the inputs (untrusted text). */
  label: string;
  /** When it started (running) or ended, in ms since the epoch. */
  at: number;
  /** failed: the whole message, however long. */
  message?: string;
  /** failed: what to do next, one sentence each. */
  hints?: string[];
}

/** Role of one head in a reuse configuration (mirrors the planner's `HeadEntry`). */
export type HeadRole = 'exact' | 'skip' | { reuse: { layer: number; head: number } };

/** A reuse mode as menus name it (a row of analysis/planner/modes.ts, which the webview cannot import). */
export interface ModeLabel {
  /** As files and options spell it, e.g. `all-end`. */
  name: string;
  /** A few words for menus, e.g. "All at the end". */
  label: string;
}

/** One configuration the planner scored. */
export interface PlanCandidate {
  mode: string;
  /** Reuse (or skip) layers, the paper's P. */
  P: number;
  /** Reuse heads per reuse layer, the paper's K. */
  K: number;
  paramsRatio: number;
  flopsRatio: number;
  scoreMemoryRatio: number;
  /** Mean headPairs similarity over the reuse heads; null where nothing is reused. */
  similarityKept: number | null;
  /** Mean similarity to uniform attention of the same heads, to read `similarityKept` against. */
  uniformBaseline: number | null;
  /** Similarity kept at or below its uniform baseline: the pairs it reuses are no more alike than diffuse heads. */
  belowBaseline: boolean;
  /** 95% interval of similarityKept (its ± is an upper bound); absent for analyses without error bars. */
  keptInterval?: [number, number];
  /** Under the FLOPs target and within noise of the recommended candidate: their intervals overlap. */
  withinNoise?: boolean;
  /** Activation bytes kept for the backward pass, against the exact model (planner/cost.ts). */
  trainingMemoryRatio: number;
  /** [L][H] */
  heads: HeadRole[][];
  /** On the Pareto front of FLOPs ratio against similarity kept. */
  pareto: boolean;
}

/** Columns of training metrics (metrics.jsonl), one entry per logged line; metricSeries.ts merges them by step. */
export interface MetricColumns {
  step: Float64Array;
  /** NaN on a line without a training loss (a warm start's evaluation at step 0). */
  loss: Float64Array;
  /** Optional columns are absent or hold NaN where a line had no value. */
  lr?: Float64Array;
  tokensPerSecond?: Float64Array;
  elapsedSeconds?: Float64Array;
  /** Held-out evaluation, on the steps that ran one (`--eval-every`). */
  evalLoss?: Float64Array;
  evalAccuracy?: Float64Array;
  evalPerplexity?: Float64Array;
}

/** How a training run stands: running, or how it ended, as its exit code and RUN_DIR/status.json tell. */
export interface TrainingRun {
  /** Names the run: its folder, as `metrics` messages name it. */
  run: string;
  /**
   * running; cancelling (asked to stop: the trainer finishes its step and saves a checkpoint);
   * finished (model.pt written); cancelled; time-limit (`--max-minutes`, no model.pt); stopped
   * (`--stop-at-step`); failed (refused its input, or died).
   */
  state: 'running' | 'cancelling' | 'finished' | 'cancelled' | 'time-limit' | 'stopped' | 'failed';
  /** The last step done and the steps asked for, when known. */
  step: number | null;
  steps: number | null;
  /** The step of RUN_DIR/checkpoint.pt that a resume continues from, when known. */
  checkpointStep: number | null;
  /** The CLI's exit code (128 + n when signal n ended it); null while it runs. */
  exitCode: number | null;
  /** One or two sentences: what happened and what to do next. */
  message: string;
  /** failed: the last lines of the trainer's output (untrusted text). */
  logTail: string[];
  /** Whether the host can run it again with --resume (a checkpoint and the task that made it). */
  canResume: boolean;
  /** When it started (running) or ended, in ms since the epoch. */
  at: number;
}

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

// ---- host → webview ----

/** Display settings; sent first after `ready` and again when they change. */
export interface SettingsMessage {
  type: 'settings';
  theme: ThemeKind;
  /** The narrow activity-bar view or the full editor panel. */
  host: 'sidebar' | 'editor';
}

/** An analysis to show, or null to clear the panel. */
export interface AnalysisMessage {
  type: 'analysis';
  info: AnalysisInfo | null;
  stacks: StackPayload[];
}

/** Reply to `requestAttentionMap`: one head's attention on one example, and its best match in the layer asked for. */
export interface AttentionMapMessage {
  type: 'attentionMap';
  inReplyTo: number;
  example: number;
  stack: string;
  layer: number;
  head: number;
  /** Token labels (untrusted text) for query rows and key columns. */
  queryTokens: string[];
  keyTokens: string[];
  /** What the labels are: token strings (text inputs), token ids (JSONL inputs) or positions (neither known). */
  queryLabels: TokenLabels;
  keyLabels: TokenLabels;
  /** [queries, keys] attention probabilities; each row sums to 1. */
  map: Tensor<Float32Array>;
  /** Head cArgmax[layer][head][match layer] of the layer asked for (else the previous one); null when the stack has one layer. */
  match: { layer: number; head: number; similarity: number; map: Tensor<Float32Array> } | null;
  /** The image the model saw, when the example is one and its key tokens tile it as patches. */
  image?: ImageOverlay;
}

/** An image and how attention keys lie on it: `offset` leading tokens (class token), then rows × cols patches, row-major. */
export interface ImageOverlay {
  width: number;
  height: number;
  /** RGB, 8 bits a channel, row-major. */
  rgb: Uint8Array;
  rows: number;
  cols: number;
  offset: number;
}

/** Token strings (text), token ids (JSONL), positions, an image's `[CLS]` and `(row,col)` patches, or audio frames with their time. */
export type TokenLabels = 'text' | 'ids' | 'positions' | 'patches' | 'frames';

/** Reply to any request that could not be served. */
export interface RequestFailedMessage {
  type: 'requestFailed';
  inReplyTo: number;
  message: string;
}

/** Reuse configurations the planner scored for one stack. */
export interface PlanCandidatesMessage {
  type: 'planCandidates';
  stack: string;
  /** Sequence length the FLOPs and memory ratios assume. */
  seqLen: number;
  /** Where seqLen came from: the user's choice, the analysis's mean real tokens per example, or the model's positions. */
  seqLenFrom?: 'option' | 'analysis' | 'positions';
  /** The FLOPs ratio a recommendation must reach. */
  targetFlops?: number;
  candidates: PlanCandidate[];
  /** Index into `candidates` the planner recommends; null if none reaches `targetFlops`. */
  recommended: number | null;
  /** The modes of `candidates`, in the order the mode table lists them. */
  modes: ModeLabel[];
}

/** Training metrics of one run, merged by step into its curve (`reset`: these replace the run's points). */
export interface MetricsMessage {
  type: 'metrics';
  /** The run's folder; its last segment labels the curve. */
  run: string;
  reset: boolean;
  points: MetricColumns;
}

/** A training run started, changed state or ended. */
export interface TrainingRunMessage {
  type: 'trainingRun';
  status: TrainingRun;
}

/** Select a layer pair (the other view of the same analysis selected it). */
export interface FocusLayerPairMessage {
  type: 'focusLayerPair';
  stack: string;
  layer: number;
  otherLayer: number;
}

/** One stack of two compared analyses (stacks matched by position; L layers, H heads of the overlap). */
export interface ComparisonStackPayload {
  index: number;
  /** The stack's name, or "A-name ↔ B-name" where they differ. */
  label: string;
  layers: number;
  heads: number;
  /** [L, L] layer-pair similarity of A, of B, and B − A. */
  a: Tensor<Float64Array>;
  b: Tensor<Float64Array>;
  diff: Tensor<Float64Array>;
  /** [L, H, 2]: A's and B's value per head: similarity to uniform, entropy (nats), best match in an earlier layer (NaN for layer 0). */
  uniform: Tensor<Float64Array>;
  entropy: Tensor<Float64Array>;
  earlier: Tensor<Float64Array>;
}

/** A held-out evaluation of a training run (metrics.jsonl). */
export interface EvaluationPoint {
  step: number;
  loss: number;
  accuracy: number | null;
}

/** One side of a comparison. */
export interface ComparisonSide {
  /** File name of the analysis. */
  label: string;
  path: string;
  model: string;
  examples: number;
  /** First and last held-out evaluation of the run behind it; null without metrics. */
  evaluations: { first: EvaluationPoint; last: EvaluationPoint } | null;
}

/** Two analyses side by side (Compare Analyses), or null to clear the view. */
export interface ComparisonMessage {
  type: 'comparison';
  comparison: { a: ComparisonSide; b: ComparisonSide; stacks: ComparisonStackPayload[]; mismatches: string[] } | null;
}

/** The state of the last analysis run (null: nothing to report). */
export interface RunStatusMessage {
  type: 'runStatus';
  status: RunStatus | null;
}

/** The output drift one candidate's rewrite caused on the analysed model (analysis/app/measuredPlan.ts). */
export interface CandidateDrift {
  /** Index into the stack's `planCandidates`. */
  candidate: number;
  /** Mean KL(original ‖ rewritten) in nats per real token; null where the model has no logits-like output. */
  kl: number | null;
  /** Fraction of real tokens whose arg-max agrees; null as `kl`. */
  top1: number | null;
  /** Mean cosine of the first output over real tokens. */
  cosine: number;
  /** original / rewritten latency; above 1 the rewrite is faster. */
  speedRatio: number;
  /** False where the rewrite only substitutes probabilities: then the speed-up is the cost model's estimate. */
  speedMeasured: boolean;
}

/** Progress and results of "Try on model" for some candidates of a stack's plan. */
export interface TryOnModelStatusMessage {
  type: 'tryOnModelStatus';
  stack: string;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  /** The candidates asked for, and how many of them are measured so far. */
  candidates: number[];
  done: number;
  /** What it measures on, once the model and inputs are open. */
  on: { model: string; examples: number; tokens: number; executionProvider: string } | null;
  /** The candidates measured so far. */
  results: CandidateDrift[];
  /** Why it failed (state `failed`). */
  message?: string;
}

export type ToWebview =
  | SettingsMessage
  | RunStatusMessage
  | ModelSummaryMessage
  | AnalysisMessage
  | AttentionMapMessage
  | RequestFailedMessage
  | PlanCandidatesMessage
  | MetricsMessage
  | TrainingRunMessage
  | FocusLayerPairMessage
  | ComparisonMessage
  | TryOnModelStatusMessage;

// ---- webview → host ----

/** The webview has loaded and can receive data; the host posts nothing before it. */
export interface ReadyMessage {
  type: 'ready';
}

/** Ask for one head's attention on one example (answered by `attentionMap` or `requestFailed`). */
export interface RequestAttentionMapMessage {
  type: 'requestAttentionMap';
  messageId: number;
  example: number;
  stack: string;
  layer: number;
  head: number;
  /** The layer to take the best match from (the layer pair the map was opened from); default the previous one. */
  matchLayer?: number;
}

/** The user selected a cell of the layer-pair heatmap. */
export interface SelectLayerPairMessage {
  type: 'selectLayerPair';
  stack: string;
  layer: number;
  otherLayer: number;
}

/** Write the reuse config of candidate `candidate` of the last `planCandidates` for `stack`. */
export interface EmitConfigMessage {
  type: 'emitConfig';
  stack: string;
  candidate: number;
}

/** Measure candidates of the last `planCandidates` for `stack` on the analysed model, with the analysis's inputs. */
export interface TryOnModelMessage {
  type: 'tryOnModel';
  stack: string;
  candidates: number[];
}

/** Stop the "Try on model" measurement in progress. */
export interface CancelTryOnModelMessage {
  type: 'cancelTryOnModel';
}

export type ExportFormat = 'png' | 'csv' | 'svg';

/** Save a chart: `data` is a `data:image/png;base64,` URL for PNG, text for CSV and SVG. */
export interface ExportChartMessage {
  type: 'exportChart';
  /** File-name stem, e.g. `layer-pairs-encoder`. */
  chart: string;
  format: ExportFormat;
  data: string;
}

/** Open the full editor panel (from the narrow view). */
export interface OpenDetailMessage {
  type: 'openDetail';
}

/** Run one of the extension's commands from a button of the empty panel. */
export interface RunCommandMessage {
  type: 'runCommand';
  command: 'analyzeSample' | 'analyzeModel' | 'openAnalysis' | 'showLog';
}

/** Stop a training run (the trainer saves a checkpoint); asked again while it stops, stop it at once. */
export interface CancelTrainingMessage {
  type: 'cancelTraining';
  run: string;
}

/** Run a stopped training run again from its checkpoint (`--resume`). */
export interface ResumeTrainingMessage {
  type: 'resumeTraining';
  run: string;
}

/** A line for the extension's log. */
export interface LogMessage {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
}

export type FromWebview =
  | ReadyMessage
  | RequestAttentionMapMessage
  | SelectLayerPairMessage
  | EmitConfigMessage
  | ExportChartMessage
  | OpenDetailMessage
  | RunCommandMessage
  | ModelActionMessage
  | CancelTrainingMessage
  | ResumeTrainingMessage
  | TryOnModelMessage
  | CancelTryOnModelMessage
  | LogMessage;

// ---- request → reply ----

/** Each request the webview can make and the reply it gets (or `requestFailed`). */
export interface Exchanges {
  requestAttentionMap: { request: RequestAttentionMapMessage; reply: AttentionMapMessage };
}

export type RequestType = keyof Exchanges;
export type RequestMessage<T extends RequestType = RequestType> = Exchanges[T]['request'];
export type Reply<T extends RequestType = RequestType> = Exchanges[T]['reply'];
export type ReplyMessage<T extends RequestType = RequestType> = Reply<T> | RequestFailedMessage;

type Holds<T extends true> = T;
/** Fails to compile when a message carries a `messageId` but `Exchanges` names no reply for it. */
export type EveryRequestHasAReply = Holds<
  [Exclude<Extract<FromWebview, { messageId: number }>['type'], RequestType>] extends [never] ? true : false
>;
/** Fails to compile when an `Exchanges` entry is filed under another type than its request's. */
export type ExchangesFiledByType = Holds<
  { [T in RequestType]: RequestMessage<T> extends FromWebview & { type: T } ? true : false }[RequestType]
>;
