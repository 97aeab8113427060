/**
 * `attention-reuse compare A.analysis.json B.analysis.json`: two analyses side by side with
 * their differences (result/compare.ts) and, where a run's metrics.jsonl is given or sits
 * beside the analysed model (RUN_DIR/model.onnx of `train`), its held-out evaluations.
 */
import { dirname, join, resolve } from 'node:path';
import { compareAnalysisFiles } from '../result/compare';
import type { Comparison } from '../result/compare';
import { summarizeMetrics } from '../result/runMetrics';
import type { RunMetrics } from '../result/runMetrics';
import type { TextLine } from '../textLine';
import { readAnalysis } from './readers';
import type { ServiceCallbacks } from './service';
import { exists, readLines } from './storage';

export interface CompareOptions {
  a: string;
  b: string;
  /** metrics.jsonl of the run behind A or B (default: one beside the analysed model). */
  metricsA?: string;
  metricsB?: string;
}

export interface ComparedFile {
  path: string;
  model: { path: string; sha256: string };
  examples: number;
  tokens: number;
  metrics: RunMetrics | null;
}

export interface CompareResult extends Comparison {
  a: ComparedFile;
  b: ComparedFile;
}

async function metricsOf(given: string | undefined, modelPath: string, signal?: AbortSignal): Promise<RunMetrics | null> {
  const path = given ?? join(dirname(modelPath), 'metrics.jsonl');
  if (given === undefined && !(await exists(path))) return null;
  const lines: TextLine[] = [];
  for await (const line of readLines(path, 'training metrics', signal)) lines.push(line);
  return summarizeMetrics(resolve(path), lines);
}

export async function compareAnalyses(options: CompareOptions, callbacks: ServiceCallbacks = {}): Promise<CompareResult> {
  const { signal, onNote } = callbacks;
  const [a, b] = [await readAnalysis(options.a, signal), await readAnalysis(options.b, signal)];
  const comparison = compareAnalysisFiles(a, b);
  comparison.mismatches.forEach((line) => onNote?.(line));
  const side = async (path: string, file: typeof a, metrics?: string): Promise<ComparedFile> => ({
    path: resolve(path),
    model: file.model,
    examples: file.run.examples,
    tokens: file.run.tokens,
    metrics: await metricsOf(metrics, file.model.path, signal),
  });
  return { ...comparison, a: await side(options.a, a, options.metricsA), b: await side(options.b, b, options.metricsB) };
}
