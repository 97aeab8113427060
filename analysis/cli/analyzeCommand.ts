import { resolve } from 'node:path';
import { analyzeModel } from '../app/analyze';
import { InputError } from '../errors';
import { formatLayerPairs } from '../result/analysisFile';
import type { ShardInfo } from '../similarity/stackSums';
import { intFlag, numberFlag, parse, requireOne, stringFlag } from './args';
import { Progress, providerNote } from './progress';
import { readSourceFlags, sourceHelp, sourceOptions } from './sourceFlags';

export const analyzeHelp =
  () => `Usage: attention-reuse analyze MODEL.onnx (--inputs FILE.jsonl|.npz|.npy | --text FILE --tokenizer tokenizer.json | --images FOLDER) --out analysis.json [options]

Measures how alike every pair of attention heads is (total-variation similarity, Reuse
Transformers eq. 2-3) over the examples, and writes the analysis file
(attention-reuse/analysis@1): head pairs, c[(l,h), l'], the layer-pair matrix, the
sequential ranks, similarity to uniform attention, entropy, and the sums behind them.

${sourceHelp}
  --shard I/N            analyze only examples e with e mod N = I (0-based); merge the
                         parts with attention-reuse merge
  --threads T            similarity worker threads (default 1: they work while ONNX Runtime runs
                         the next batch on every core)
  --rows R               measure R query rows per example (R ≥ 2), sampled inside the model, so
                         that only layers × heads × R × tokens values leave it (long sequences);
                         eq. 2 is then an estimate and the file carries its sampling error
  --seed N               seed of the row sample and of --baseline's shuffle (default 0; every
                         shard draws the same rows)
  --baseline shuffled    also analyse a copy of the model whose weight tensors' entries are
                         permuted (seeded): the layer-pair map that structure alone gives
                         (Reuse Transformers Fig. 4), kept beside the real one; twice the time
  --memory-budget GIB    memory the run may use (default: three quarters of what is available):
                         a larger --batch is lowered, and an example that does not fit runs a few
                         layers at a time
  --out FILE             the analysis file (not replaced without --force)
  --force                replace --out if it exists`;

export async function analyzeCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...sourceOptions,
      out: { type: 'string' },
      force: { type: 'boolean' },
      shard: { type: 'string' },
      threads: { type: 'string' },
      rows: { type: 'string' },
      seed: { type: 'string' },
      baseline: { type: 'string' },
      'memory-budget': { type: 'string' },
    },
    'analyze',
  );
  if (values.help) {
    console.log(analyzeHelp());
    return 0;
  }
  const model = requireOne(positionals, 'model file', 'analyze');
  const flags = readSourceFlags(values, 'analyze');
  const out = stringFlag(values, 'out');
  if (out === undefined) throw new InputError('analyze needs --out analysis.json');
  const outPath = resolve(out);
  const shard = parseShard(stringFlag(values, 'shard'));
  const budget = numberFlag(values, 'memoryBudget');
  if (budget !== undefined && !(budget > 0))
    throw new InputError(`{field} must be a number of GiB above 0 (got ${budget})`, 'memoryBudget');
  const baseline = stringFlag(values, 'baseline');
  if (baseline !== undefined && baseline !== 'shuffled') throw new InputError(`{field} must be "shuffled" (got "${baseline}")`, 'baseline');
  const progress = new Progress('analyze', flags.quiet);
  const result = await analyzeModel(
    {
      model,
      ...flags,
      shard,
      threads: intFlag(values, 'threads'),
      rows: intFlag(values, 'rows', 2),
      seed: intFlag(values, 'seed', 0),
      memoryBudget: budget === undefined ? undefined : budget * 2 ** 30,
      baseline,
      out: outPath,
      force: values.force === true,
    },
    { signal, onProgress: (done, total) => progress.update(done, total), onNote: providerNote(flags.quiet) },
  );
  progress.finish();
  if (!flags.quiet) {
    for (const s of result.stacks) {
      console.log(`${formatLayerPairs(s)}\n`);
      if (s.baseline)
        console.log(`${formatLayerPairs({ ...s, layerPairs: s.baseline.layerPairs }, `shuffled weights (seed ${s.baseline.seed})`)}\n`);
    }
  }
  console.log(
    `${result.run.examples} examples, ${result.run.tokens} tokens, ${result.run.executionProvider}, ${result.run.seconds.toFixed(1)} s → ${outPath}`,
  );
  return 0;
}

export function parseShard(value: string | undefined): ShardInfo {
  if (value === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index >= count) throw new InputError(`{field} must be I/N with 0 ≤ I < N (got "${value}")`, 'shard');
  return { index, count };
}
