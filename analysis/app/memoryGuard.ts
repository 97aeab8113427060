/**
 * The memory guard of `analyze`, before any run: what a batch needs against a budget (by
 * default three quarters of the memory available when the run starts). An over-large
 * `--batch` is lowered with one note, never refused; where one example does not fit, each
 * example runs in passes that fetch a few layers at a time (`similarity/layerPasses.ts`),
 * never failing: at worst two layers per run and a note that even that is over the budget.
 *
 * The estimate, in bytes, for B examples of at most n tokens:
 *   fixed    = 3 × model file (our copy, ONNX Runtime's weights and its pre-packed copies) + 256 MiB
 *   per run  = B × 3 × H × n² × 4          scores, probabilities and one more tensor of one
 *                                          layer, which ONNX Runtime holds while it runs
 *            + B × 3 × Σ layers × H × r × n × 4   the outputs fetched (r = n, or the sampled rows):
 *                                          ONNX Runtime's buffer, the copy handed out, and the
 *                                          previous batch's copy still being folded.
 */
import { freemem } from 'node:os';

/** Memory this process may still take: Node's own figure where it has one (it knows cgroup limits), else the system's free memory. */
const availableMemory = () => (process as { availableMemory?: () => number }).availableMemory?.() ?? freemem();

const GiB = 2 ** 30;
const fixedOverhead = 256 * 2 ** 20;

/** The stacks as the guard counts them: layers and heads each. */
export interface GuardStack {
  layers: number;
  heads: number;
}

export interface GuardInput {
  modelBytes: number;
  stacks: GuardStack[];
  /** The longest example's tokens (queries and keys), or undefined where the inputs do not say (then no guard). */
  tokens: number | undefined;
  /** --rows: query rows fetched per example. */
  rows?: number;
  batch: number;
  /** Bytes the run may use (default: three quarters of the available memory). */
  budget?: number;
}

export interface MemoryPlan {
  batch: number;
  /** Layer groups per stack: 1 runs every layer at once; G gives G(G+1)/2 runs per batch. */
  groups: number;
  /** Estimated bytes of the plan. */
  estimate: number;
  budget: number;
  /** One line each for what was changed and why. */
  notes: string[];
}

const gib = (bytes: number) => `${(bytes / GiB).toFixed(bytes < 10 * GiB ? 1 : 0)} GiB`;

/** Bytes a run of `batch` examples needs when each run fetches at most `layersPerRun` layers of each stack. */
export function estimateBytes(input: GuardInput, batch: number, layersPerRun?: number): number {
  const n = input.tokens ?? 0;
  const r = Math.min(n, input.rows ?? n);
  const heads = Math.max(...input.stacks.map((s) => s.heads));
  const transient = 3 * heads * n * n * 4;
  const outputs = input.stacks.reduce((sum, s) => sum + Math.min(s.layers, layersPerRun ?? s.layers) * s.heads * r * n * 4, 0);
  return 3 * input.modelBytes + fixedOverhead + batch * (transient + 3 * outputs);
}

/** The batch and layer groups a run takes so that it fits the budget, with a note for each change. */
export function planMemory(input: GuardInput): MemoryPlan {
  const budget = input.budget ?? Math.floor(0.75 * availableMemory());
  const plan = (batch: number, groups: number, notes: string[]): MemoryPlan => {
    const maxLayers = Math.max(...input.stacks.map((s) => s.layers));
    const perRun = groups === 1 ? maxLayers : 2 * Math.ceil(maxLayers / groups);
    return { batch, groups, estimate: estimateBytes(input, batch, perRun), budget, notes };
  };
  if (input.tokens === undefined || input.stacks.length === 0) return plan(input.batch, 1, []);
  const tokens = `${input.tokens} tokens${input.rows ? `, ${input.rows} sampled rows` : ''}`;
  if (estimateBytes(input, input.batch) <= budget) return plan(input.batch, 1, []);
  let batch = input.batch;
  while (batch > 1 && estimateBytes(input, batch) > budget) batch = Math.max(1, Math.floor(batch / 2));
  if (estimateBytes(input, batch) <= budget) {
    return plan(batch, 1, [
      `--batch ${input.batch} lowered to ${batch}: a batch of ${input.batch} examples of up to ${tokens} needs about ${gib(estimateBytes(input, input.batch))}, over the memory budget of ${gib(budget)}`,
    ]);
  }
  // One example is too much with every layer: fetch fewer layers per run (pairs of layer groups).
  const maxLayers = Math.max(...input.stacks.map((s) => s.layers));
  let groups = 2;
  while (groups < maxLayers && estimateBytes(input, 1, 2 * Math.ceil(maxLayers / groups)) > budget) groups++;
  const perRun = 2 * Math.ceil(maxLayers / groups);
  const runs = (groups * (groups + 1)) / 2;
  const over =
    estimateBytes(input, 1, perRun) > budget ? `; even that needs about ${gib(estimateBytes(input, 1, perRun))}, running anyway` : '';
  const lowered = input.batch > 1 ? `--batch ${input.batch} lowered to 1 and ` : '';
  return plan(1, groups, [
    `${lowered}each example runs in ${runs} passes of at most ${Math.min(perRun, maxLayers)} layers: one example of up to ${tokens} needs about ${gib(estimateBytes(input, 1))} with all ${maxLayers} layers at once, over the memory budget of ${gib(budget)}${over}`,
  ]);
}
