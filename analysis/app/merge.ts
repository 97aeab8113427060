import { InputError } from '../errors';
import { mergeAnalyses } from '../result/analysisFile';
import type { AnalysisFile } from '../result/analysisFile';
import { readAnalysis } from './readers';

/** Reads the shard files of one run and merges them into one analysis (exact sums and counts added). */
export async function mergeAnalysisFiles(paths: string[]): Promise<AnalysisFile> {
  if (paths.length === 0) throw new InputError('merge needs at least one analysis file');
  const files = [];
  for (const path of paths) files.push({ path, file: await readAnalysis(path) });
  return mergeAnalyses(files);
}
