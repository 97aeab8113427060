import { resolve } from 'node:path';
import { InputError } from '../errors';
import { modelDims } from '../onnx/dims';
import { elemTypeOf } from '../onnx/expose';
import { openAttentionModel } from '../onnx/inspect';
import { analysisSchema, analysisStacks, formatLayerPairs } from '../result/analysisFile';
import type { AnalysisFile } from '../result/analysisFile';
import { openExamples } from '../runtime/exampleSource';
import type { ExampleInput } from '../runtime/inputs';
import { AttentionRunner } from '../runtime/runner';
import { SimilarityAccumulator } from '../similarity/accumulator';
import type { ShardInfo } from '../similarity/accumulator';
import { openKernel } from '../similarity/similarityKernel';
import { parse, positiveInt, requireOne } from './args';
import { sha256File, writeFileAtomic } from './files';
import { note, Progress } from './progress';
import { readSourceFlags, sourceHelp, sourceOptions } from './sourceFlags';

export const analyzeHelp = `Usage: attention-reuse analyze MODEL.onnx (--inputs FILE.jsonl | --text FILE --tokenizer tokenizer.json) --out analysis.json [options]

Measures how alike every pair of attention heads is (total-variation similarity, Reuse
Transformers eq. 2-3) over the examples, and writes the analysis file
(attention-reuse/analysis@1): head pairs, c[(l,h), l'], the layer-pair matrix, the
sequential ranks, similarity to uniform attention, entropy, and the sums behind them.

${sourceHelp}
  --shard I/N            analyze only examples e with e mod N = I (0-based); merge the
                         parts with attention-reuse merge
  --threads T            similarity worker threads (default 1: they work while ONNX Runtime runs
                         the next batch on every core)
  --out FILE             the analysis file (not replaced without --force)
  --force                replace --out if it exists`;

export async function analyzeCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...sourceOptions, out: { type: 'string' }, force: { type: 'boolean' }, shard: { type: 'string' }, threads: { type: 'string' } },
    'analyze',
  );
  if (values.help) {
    console.log(analyzeHelp);
    return 0;
  }
  const modelPath = requireOne(positionals, 'model file', 'analyze');
  const flags = readSourceFlags(values, 'analyze');
  if (typeof values.out !== 'string') throw new InputError('analyze needs --out analysis.json');
  const outPath = resolve(values.out);
  const shard = parseShard(values.shard as string | undefined);
  const threads = positiveInt(values.threads as string | undefined, '--threads', 1);
  const result = await analyzeModel(modelPath, flags, shard, threads, signal);
  await writeFileAtomic(outPath, JSON.stringify(result), values.force === true);
  if (!flags.quiet) {
    for (const s of result.stacks) console.log(`${formatLayerPairs(s)}\n`);
  }
  console.log(`${result.run.examples} examples, ${result.run.tokens} tokens, ${result.run.executionProvider}, ${result.run.seconds.toFixed(1)} s → ${outPath}`);
  return 0;
}

export function parseShard(value: string | undefined): ShardInfo {
  if (value === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index >= count) throw new InputError(`--shard must be I/N with 0 ≤ I < N (got "${value}")`);
  return { index, count };
}

async function* shardOf(examples: AsyncIterable<ExampleInput>, shard: ShardInfo): AsyncGenerator<ExampleInput> {
  for await (const ex of examples) if (ex.index % shard.count === shard.index) yield ex;
}

/** Runs the model over the examples and folds each example's attention into per-stack accumulators. */
export async function analyzeModel(
  modelPath: string,
  flags: ReturnType<typeof readSourceFlags>,
  shard: ShardInfo,
  threads: number,
  signal: AbortSignal,
  onProgress?: (done: number, total: number) => void,
): Promise<AnalysisFile> {
  const started = Date.now();
  const model = await openAttentionModel(modelPath);
  const opened = await openExamples(model, flags.source, flags.examples);
  const total = Math.ceil(Math.max(0, opened.total - shard.index) / shard.count);
  const runner = await AttentionRunner.start(model, flags.ep);
  for (const line of runner.providerLines) if (!flags.quiet || line.includes('falling back')) note(line);
  // The similarity of a batch runs on worker threads while this thread runs the model on the next.
  const pool = openKernel({ threads });
  const progress = new Progress('analyze', total, flags.quiet);
  const accs = new Map<string, SimilarityAccumulator>();
  try {
    const stream = runner.runBatches(shardOf(opened.examples, shard), {
      batchSize: flags.batch,
      signal,
      // The similarity's scan checks every row of every example.
      checkRows: false,
      onProgress: (n) => {
        progress.update(n);
        onProgress?.(n, total);
      },
    });
    for await (const batch of stream) {
      // The first stack's jobs are posted before anything is awaited, so they run beside the next batch.
      const folds = model.stacks.map((stack, i) => {
        const inputs = batch.map((ex) => ex.stacks[i]);
        let acc = accs.get(stack.name);
        if (!acc) {
          const s = inputs[0];
          acc = new SimilarityAccumulator({ name: s.name, kind: s.kind, layerCount: s.layers.length, headCount: s.heads }, shard);
          accs.set(stack.name, acc);
        }
        return acc.add(inputs, pool);
      });
      await Promise.all(folds);
    }
    progress.finish();
  } finally {
    await pool.close();
    await runner.dispose();
  }
  if (accs.size === 0) throw new InputError(`shard ${shard.index}/${shard.count} holds no examples`);
  const tokenInput = model.inputs.find((i) => /input_ids$/.test(i.name))?.name;
  const dims = modelDims(model.graph, tokenInput);
  const ordered = model.stacks.map((s) => accs.get(s.name)!);
  const stacks = analysisStacks(
    ordered,
    model.stacks.map((s) => ({ name: s.name, kind: s.kind, tensors: s.layers.map((l) => l.tensor), dims })),
  );
  const attentionType = elemTypeOf(model.graph, model.stacks[0].layers[0].tensor);
  const file: AnalysisFile = {
    schema: analysisSchema,
    model: { path: resolve(modelPath), sha256: await sha256File(modelPath) },
    run: {
      examples: ordered[0].examples,
      tokens: ordered[0].tokens,
      executionProvider: runner.provider,
      precision: attentionType === 10 ? 'float16' : 'float32',
      seconds: (Date.now() - started) / 1000,
      inputs: resolve(flags.source.path),
    },
    stacks,
  };
  if (shard.count > 1) file.run.shard = { indices: [shard.index], count: shard.count };
  return file;
}
