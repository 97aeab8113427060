import { resolve } from 'node:path';
import { InputError } from '../errors';
import { modelDims } from '../onnx/dims';
import { elemTypeOf } from '../onnx/expose';
import type { AttentionStack } from '../onnx/attentionFinder';
import type { BranchMode } from '../onnx/branches';
import type { ModelDims } from '../onnx/dims';
import { analysisSchema, analysisStacks } from '../result/analysisFile';
import type { AnalysisFile, StackInfo } from '../result/analysisFile';
import { inputRole, tokenInputOf } from '../runtime/inputRoles';
import type { ExampleSource } from '../runtime/exampleSource';
import type { ExampleInput } from '../runtime/inputs';
import type { ProviderChoice } from '../runtime/providers';
import { AttentionRunner } from '../runtime/runner';
import type { RunOptions } from '../runtime/runner';
import type { AttentionModel } from '../onnx/inspect';
import { openAttentionModel } from '../onnx/inspect';
import { shuffleWeights } from '../onnx/shuffleWeights';
import { SimilarityAccumulator } from '../similarity/accumulator';
import { planLayerPasses } from '../similarity/layerPasses';
import type { ShardInfo } from '../similarity/stackSums';
import { openKernel } from '../similarity/similarityKernel';
import type { SimilarityKernel } from '../similarity/similarityKernel';
import { planMemory } from './memoryGuard';
import { openExamples, runBranches } from './examples';
import { readModel } from './readers';
import type { ServiceCallbacks } from './service';
import { checkOutput, sha256File, writeFileAtomic } from './storage';

/** What `analyzeModel` runs: the options of `attention-reuse analyze`, by name. */
export interface AnalyzeOptions {
  model: string;
  source: ExampleSource;
  /** Read at most this many examples (default: all). */
  examples?: number;
  /** Examples per model run (default 8). */
  batch?: number;
  /** Execution provider (default auto). */
  ep?: ProviderChoice;
  /** Analyze only examples e with e mod count = index (default: all). */
  shard?: ShardInfo;
  /** Similarity worker threads (default 1). */
  threads?: number;
  /** Attention inside If branches: the branch the examples select (default), or every branch. */
  branches?: BranchMode;
  /**
   * Where to write the analysis file, checked before any work starts (the extension writes
   * the returned file itself); never one of the inputs.
   */
  out?: string;
  /** Replace `out` if it exists. */
  force?: boolean;
  /**
   * Measure R query rows per example, sampled inside the graph (at least 2), with the sampling
   * error of eq. 2 in the file; default: every row (exact).
   */
  rows?: number;
  /** Seed of the row sample (default 0). */
  seed?: number;
  /** Bytes a run may use (default: three quarters of the available memory): the memory guard's budget. */
  memoryBudget?: number;
  /**
   * `shuffled`: also analyse a copy of the model whose weight tensors' entries are permuted
   * (seeded by `seed`) on the same examples, and keep its sums and layer-pair map beside the
   * real ones (`stacks[].baseline`).
   */
  baseline?: 'shuffled';
}

/** The files an analysis reads: an output may be none of them. */
export function sourceFiles(model: string, source: ExampleSource): string[] {
  return [
    model,
    source.path,
    ...(source.kind === 'text' ? [source.tokenizer] : source.kind === 'images' && source.preprocessor ? [source.preprocessor] : []),
  ];
}

async function* shardOf(examples: AsyncIterable<ExampleInput>, shard: ShardInfo): AsyncGenerator<ExampleInput> {
  for await (const ex of examples) if (ex.index % shard.count === shard.index) yield ex;
}

/** Runs the model over the examples and folds each example's attention into per-stack accumulators. */
export async function analyzeModel(options: AnalyzeOptions, callbacks: ServiceCallbacks = {}): Promise<AnalysisFile> {
  const { signal, onProgress, onNote } = callbacks;
  const shard = options.shard ?? { index: 0, count: 1 };
  const started = Date.now();
  const output =
    options.out === undefined
      ? undefined
      : { overwrite: options.force === true, inputs: sourceFiles(options.model, options.source), signal, onNote };
  if (output) await checkOutput(options.out!, output);
  const file = await readModel(options.model, signal);
  const opened = await openExamples(file, options.source, options.examples ?? Number.MAX_SAFE_INTEGER, signal, onNote);
  const model = runBranches(file, opened, options.branches);
  const total = Math.ceil(Math.max(0, opened.total - shard.index) / shard.count);
  if (total === 0) throw new InputError(`shard ${shard.index}/${shard.count} holds no examples (the inputs hold ${opened.total})`, 'shard');
  if (options.rows !== undefined && !(Number.isInteger(options.rows) && options.rows >= 2)) {
    throw new InputError(`{field} must be a whole number ≥ 2 (the sampling error needs two rows), got ${options.rows}`, 'rows');
  }
  const rows = options.rows === undefined ? undefined : { count: options.rows, seed: options.seed ?? 0 };
  const guard = planMemory({
    modelBytes: file.bytes.length,
    // A stack whose heads the graph does not state is counted as BERT-base's 12.
    stacks: model.stacks.map((s) => ({ layers: s.layers.length, heads: s.layers[0].heads ?? 12 })),
    tokens: opened.maxTokens,
    rows: rows?.count,
    batch: options.batch ?? 8,
    budget: options.memoryBudget,
  });
  for (const note of guard.notes) onNote?.(note);
  if (options.baseline !== undefined && options.baseline !== 'shuffled')
    throw new InputError(`{field} must be "shuffled" (got "${options.baseline}")`, 'baseline');
  const runs = options.baseline ? 2 : 1;
  const measure = async (m: AttentionModel, examples: AsyncIterable<ExampleInput>, done: number) => {
    const runner = await AttentionRunner.start(m, options.ep ?? 'auto', { rows });
    if (done === 0) for (const line of runner.providerLines) onNote?.(line);
    // The similarity of a batch runs on worker threads while this thread runs the model on the next.
    const pool = openKernel({ threads: options.threads ?? 1 });
    try {
      const accs = await measureStacks(m, runner, pool, shardOf(examples, shard), {
        batchSize: guard.batch,
        passes:
          guard.groups > 1
            ? planLayerPasses(
                m.stacks.map((s) => s.layers.length),
                guard.groups,
              )
            : undefined,
        signal,
        onProgress: (n) => onProgress?.(done + n, runs * total),
        shard,
        specialTokens: options.source.kind === 'text',
      });
      return { accs, provider: runner.provider };
    } finally {
      await pool.close();
      await runner.dispose();
    }
  };
  const { accs, provider } = await measure(model, opened.examples, 0);
  let baselines: SimilarityAccumulator[] | undefined;
  if (options.baseline === 'shuffled') {
    const seed = options.seed ?? 0;
    const shuffled = shuffleWeights(file, seed);
    const kept = shuffled.kept.mask + shuffled.kept.notRaw;
    onNote?.(
      `baseline: ${shuffled.shuffled} weight tensors shuffled (seed ${seed})${kept ? `; ${shuffled.kept.mask} mask-like and ${shuffled.kept.notRaw} not stored as raw bytes left as they are` : ''}`,
    );
    const copy = runBranches(openAttentionModel(shuffled.bytes, file.path), opened, options.branches);
    const again = await openExamples(file, options.source, options.examples ?? Number.MAX_SAFE_INTEGER, signal);
    baselines = (await measure(copy, again.examples, total)).accs;
  }
  // An audio encoder-decoder has token ids on its decoder side only: they give the sizes then.
  const dims = modelDims(model.graph, (tokenInputOf(model.inputs) ?? model.inputs.find((i) => inputRole(i) === 'tokens'))?.name);
  const ordered = accs;
  const stacks = analysisStacks(
    ordered,
    model.stacks.map((s) => stackInfoOf(s, dims)),
    baselines && { kind: 'shuffled', seed: options.seed ?? 0, accumulators: baselines },
  );
  const attentionType = elemTypeOf(model.graph, model.stacks[0].layers[0].tensor);
  const result: AnalysisFile = {
    schema: analysisSchema,
    model: { path: resolve(options.model), sha256: await sha256File(options.model, 'model', signal) },
    run: {
      examples: ordered[0].examples,
      tokens: ordered[0].tokens,
      executionProvider: provider,
      // bfloat16 runs as such only on a GPU; the CPU ran the model widened to float32.
      precision: attentionType === 10 ? 'float16' : attentionType === 16 && provider !== 'cpu' ? 'bfloat16' : 'float32',
      seconds: (Date.now() - started) / 1000,
      inputs: resolve(options.source.path),
    },
    stacks,
  };
  if (shard.count > 1) result.run.shard = { indices: [shard.index], count: shard.count };
  if (output) await writeFileAtomic(options.out!, JSON.stringify(result), output);
  return result;
}

/** How `measureStacks` runs: the runner's options and what the accumulators are told. */
interface MeasureOptions extends RunOptions {
  shard: ShardInfo;
  specialTokens: boolean;
}

/** Runs the model over the examples and folds each example's attention (or its sampled rows) into one accumulator per stack. */
async function measureStacks(
  model: AttentionModel,
  runner: AttentionRunner,
  pool: SimilarityKernel,
  examples: AsyncIterable<ExampleInput>,
  options: MeasureOptions,
): Promise<SimilarityAccumulator[]> {
  const accs: (SimilarityAccumulator | undefined)[] = model.stacks.map(() => undefined);
  const rows = runner.rows;
  // The similarity's scan checks every row of every example.
  for await (const batch of runner.runBatches(examples, { ...options, checkRows: false })) {
    // The first stack's jobs are posted before anything is awaited, so they run beside the next batch.
    const folds = model.stacks.map((stack, i) => {
      const pass = batch[0].pass?.[i];
      if (pass === null) return undefined;
      const first = rows ? batch[0].sampled![i] : batch[0].stacks[i];
      const shape = { name: first.name, kind: first.kind, causal: first.causal, layerCount: stack.layers.length, headCount: first.heads };
      const acc = (accs[i] ??= new SimilarityAccumulator(shape, options.shard, { rows, specialTokens: options.specialTokens }));
      if (rows)
        return acc.addSampled(
          batch.map((ex) => ({ ...ex.sampled![i], example: ex.index })),
          pool,
          pass,
        );
      return acc.add(
        batch.map((ex) => ({ ...ex.stacks[i], example: ex.index })),
        pool,
        pass,
      );
    });
    await Promise.all(folds);
  }
  return accs.map((acc) => acc!);
}

/** What the analysis file says of a stack besides its numbers. */
function stackInfoOf(s: AttentionStack, dims: ModelDims): StackInfo {
  return {
    name: s.name,
    kind: s.kind,
    causal: s.causal === true,
    ...(s.kvHeads ? { kvHeadCount: s.kvHeads } : {}),
    ...(s.branch?.length ? { branch: s.branch } : {}),
    tensors: s.layers.map((l) => l.tensor),
    dims,
  };
}
