import { resolve } from 'node:path';
import { mergeAnalysisFiles } from '../app/merge';
import { InputError } from '../errors';
import { formatLayerPairs } from '../result/analysisFile';
import { parse, stringFlag } from './args';
import { note } from './progress';

export const mergeHelp = () => `Usage: attention-reuse merge PART.json... --out analysis.json [--force]

Merges the analysis files of shards of one run (analyze --shard I/N) into one result, by
adding their exact sums and counts: the same numbers as one run over all examples.
Refuses files of another model, other inputs, other stacks, another shard count, example
counts that no single run splits into, or a shard twice.`;

export async function mergeCommand(argv: string[], signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { out: { type: 'string' }, force: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    'merge',
  );
  if (values.help) {
    console.log(mergeHelp());
    return 0;
  }
  if (positionals.length === 0) throw new InputError('merge needs the analysis files to merge (see attention-reuse merge --help)');
  const out = stringFlag(values, 'out');
  if (out === undefined) throw new InputError('merge needs --out analysis.json');
  const merged = await mergeAnalysisFiles(positionals, { out: resolve(out), force: values.force === true }, { signal, onNote: note });
  if (!values.quiet) for (const s of merged.stacks) console.log(`${formatLayerPairs(s)}\n`);
  const missing = merged.run.shard
    ? ` (shards ${merged.run.shard.indices.join(', ')} of ${merged.run.shard.count}; the others are still missing)`
    : '';
  console.log(`${merged.run.examples} examples from ${positionals.length} files${missing} → ${resolve(out)}`);
  return 0;
}
