import { resolve } from 'node:path';
import { InputError } from '../errors';
import { formatLayerPairs, mergeAnalyses, readAnalysisFile } from '../result/analysisFile';
import { parse } from './args';
import { writeFileAtomic } from './files';

export const mergeHelp = `Usage: attention-reuse merge PART.json... --out analysis.json [--force]

Merges the analysis files of shards of one run (analyze --shard I/N) into one result, by
adding their exact sums and counts: the same numbers as one run over all examples.
Refuses files of another model, other stacks, another shard count, or a shard twice.`;

export async function mergeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string' }, force: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } }, 'merge');
  if (values.help) {
    console.log(mergeHelp);
    return 0;
  }
  if (positionals.length === 0) throw new InputError('merge needs the analysis files to merge (see attention-reuse merge --help)');
  if (typeof values.out !== 'string') throw new InputError('merge needs --out analysis.json');
  const files = [];
  for (const path of positionals) files.push({ path, file: await readAnalysisFile(path) });
  const merged = mergeAnalyses(files);
  await writeFileAtomic(resolve(values.out), JSON.stringify(merged), values.force === true);
  if (!values.quiet) for (const s of merged.stacks) console.log(`${formatLayerPairs(s)}\n`);
  const missing = merged.run.shard ? ` (shards ${merged.run.shard.indices.join(', ')} of ${merged.run.shard.count}; the others are still missing)` : '';
  console.log(`${merged.run.examples} examples from ${files.length} files${missing} → ${resolve(values.out)}`);
  return 0;
}
