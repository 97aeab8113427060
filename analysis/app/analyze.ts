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
import { SimilarityAccumulator } from '../similarity/accumulator';
import type { ShardInfo } from '../similarity/accumulator';
import { openKernel } from '../similarity/similarityKernel';
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
}

/** The files an analysis reads: an output may be none of them. */
export function sourceFiles(model: string, source: ExampleSource): string[] {
  return [model, source.path, ...(source.kind === 'text' ? [source.tokenizer] : source.kind === 'images' && source.preprocessor ? [source.preprocessor] : [])];
}

async function* shardOf(examples: AsyncIterable<ExampleInput>, shard: ShardInfo): AsyncGenerator<ExampleInput> {
  for await (const ex of examples) if (ex.index % shard.count === shard.index) yield ex;
}

/** Runs the model over the examples and folds each example's attention into per-stack accumulators. */
export async function analyzeModel(options: AnalyzeOptions, callbacks: ServiceCallbacks = {}): Promise<AnalysisFile> {
  const { signal, onProgress, onNote } = callbacks;
  const shard = options.shard ?? { index: 0, count: 1 };
  const started = Date.now();
  const output = options.out === undefined ? undefined : { overwrite: options.force === true, inputs: sourceFiles(options.model, options.source), signal, onNote };
  if (output) await checkOutput(options.out!, output);
  const file = await readModel(options.model, signal);
  const opened = await openExamples(file, options.source, options.examples ?? Number.MAX_SAFE_INTEGER, signal, onNote);
  const model = runBranches(file, opened, options.branches);
  const total = Math.ceil(Math.max(0, opened.total - shard.index) / shard.count);
  if (total === 0) throw new InputError(`shard ${shard.index}/${shard.count} holds no examples (the inputs hold ${opened.total})`, 'shard');
  const runner = await AttentionRunner.start(model, options.ep ?? 'auto');
  for (const line of runner.providerLines) onNote?.(line);
  // The similarity of a batch runs on worker threads while this thread runs the model on the next.
  const pool = openKernel({ threads: options.threads ?? 1 });
  const accs = new Map<string, SimilarityAccumulator>();
  try {
    const stream = runner.runBatches(shardOf(opened.examples, shard), {
      batchSize: options.batch ?? 8,
      signal,
      // The similarity's scan checks every row of every example.
      checkRows: false,
      onProgress: (n) => onProgress?.(n, total),
    });
    for await (const batch of stream) {
      // The first stack's jobs are posted before anything is awaited, so they run beside the next batch.
      const folds = model.stacks.map((stack, i) => {
        const inputs = batch.map((ex) => ex.stacks[i]);
        let acc = accs.get(stack.name);
        if (!acc) {
          const s = inputs[0];
          acc = new SimilarityAccumulator({ name: s.name, kind: s.kind, causal: s.causal, layerCount: s.layers.length, headCount: s.heads }, shard);
          accs.set(stack.name, acc);
        }
        return acc.add(inputs, pool);
      });
      await Promise.all(folds);
    }
  } finally {
    await pool.close();
    await runner.dispose();
  }
  // An audio encoder-decoder has token ids on its decoder side only: they give the sizes then.
  const dims = modelDims(model.graph, (tokenInputOf(model.inputs) ?? model.inputs.find((i) => inputRole(i) === 'tokens'))?.name);
  const ordered = model.stacks.map((s) => accs.get(s.name)!);
  const stacks = analysisStacks(ordered, model.stacks.map((s) => stackInfoOf(s, dims)));
  const attentionType = elemTypeOf(model.graph, model.stacks[0].layers[0].tensor);
  const result: AnalysisFile = {
    schema: analysisSchema,
    model: { path: resolve(options.model), sha256: await sha256File(options.model, 'model', signal) },
    run: {
      examples: ordered[0].examples,
      tokens: ordered[0].tokens,
      executionProvider: runner.provider,
      // bfloat16 runs as such only on a GPU; the CPU ran the model widened to float32.
      precision: attentionType === 10 ? 'float16' : attentionType === 16 && runner.provider !== 'cpu' ? 'bfloat16' : 'float32',
      seconds: (Date.now() - started) / 1000,
      inputs: resolve(options.source.path),
    },
    stacks,
  };
  if (shard.count > 1) result.run.shard = { indices: [shard.index], count: shard.count };
  if (output) await writeFileAtomic(options.out!, JSON.stringify(result), output);
  return result;
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
