import { InputError, checkCancelled } from '../errors';
import { mergeAnalyses } from '../result/analysisFile';
import type { AnalysisFile } from '../result/analysisFile';
import { readAnalysis } from './readers';
import type { ServiceCallbacks } from './service';
import { checkOutput, writeFileAtomic } from './storage';

export interface MergeOptions {
  /** Where to write the merged file, checked before any shard is read; never one of the shards. */
  out?: string;
  force?: boolean;
}

/** Reads the shard files of one run and merges them into one analysis (exact sums and counts added). */
export async function mergeAnalysisFiles(
  paths: string[],
  options: MergeOptions = {},
  callbacks: ServiceCallbacks = {},
): Promise<AnalysisFile> {
  const { signal, onNote } = callbacks;
  if (paths.length === 0) throw new InputError('merge needs at least one analysis file');
  const output = options.out === undefined ? undefined : { overwrite: options.force === true, inputs: paths, signal, onNote };
  if (output) await checkOutput(options.out!, output);
  const files = [];
  for (const path of paths) {
    checkCancelled(signal);
    files.push({ path, file: await readAnalysis(path, signal) });
  }
  const merged = mergeAnalyses(files);
  if (output) await writeFileAtomic(options.out!, JSON.stringify(merged), output);
  return merged;
}
