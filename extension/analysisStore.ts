/**
 * The analyses the panel showed, remembered in globalState: the last one, which the panel
 * reopens in the next window and Plan Reuse plans when it is given nothing, and the recent
 * ones, which the "Recent Analyses" view lists. The one owner of those state keys. What is
 * stored was written by this or an older version, so it is checked on read.
 */
import { existsSync } from 'node:fs';
import type * as vscode from 'vscode';
import type { ExampleSource } from '../analysis/runtime/exampleSource';

export interface RememberedAnalysis {
  path: string;
  /** What the panel called it. */
  label: string;
  /** Where its examples came from, to re-run the model for attention maps. */
  source?: ExampleSource;
  /** When the analysis file was written (ms since the epoch), where known. */
  at?: number;
}

export const lastAnalysisKey = 'attentionReuse.lastAnalysis';
export const recentAnalysesKey = 'attentionReuse.recentAnalyses';
/** How many the recent list keeps. */
export const maxRecent = 20;

export class AnalysisStore {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly state: Pick<vscode.Memento, 'get' | 'update'>) {}

  /** The analysis shown last, if its file is still there. */
  last(): RememberedAnalysis | undefined {
    return remembered(this.state.get<unknown>(lastAnalysisKey));
  }

  /** The analyses shown recently, newest first, whose files are still there. */
  recent(): RememberedAnalysis[] {
    const saved = this.state.get<unknown>(recentAnalysesKey);
    const list = (Array.isArray(saved) ? saved : []).map(remembered).filter((r): r is RememberedAnalysis => r !== undefined);
    const last = this.last();
    // Windows of an older version remembered only the last one.
    if (last && !list.some((r) => r.path === last.path)) list.unshift(last);
    return list;
  }

  async remember(analysis: RememberedAnalysis): Promise<void> {
    const recent = [analysis, ...this.recent().filter((r) => r.path !== analysis.path)].slice(0, maxRecent);
    await this.state.update(lastAnalysisKey, analysis);
    await this.state.update(recentAnalysesKey, recent);
    for (const listener of this.listeners) listener();
  }

  /** Called after every `remember`; the returned object stops it. */
  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }
}

function remembered(saved: unknown): RememberedAnalysis | undefined {
  if (typeof saved !== 'object' || saved === null) return undefined;
  const { path, label, source, at } = saved as Record<string, unknown>;
  if (typeof path !== 'string' || path === '' || !existsSync(path)) return undefined;
  const found: RememberedAnalysis = { path, label: typeof label === 'string' ? label : path, source: exampleSource(source) };
  if (typeof at === 'number' && Number.isFinite(at)) found.at = at;
  return found;
}

function exampleSource(v: unknown): ExampleSource | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.path !== 'string') return undefined;
  if (o.kind === 'jsonl' || o.kind === 'arrays') return { kind: o.kind, path: o.path };
  if (o.kind === 'images') return imagesSource(o, o.path);
  if (o.kind !== 'text' || typeof o.tokenizer !== 'string') return undefined;
  return typeof o.maxLength === 'number'
    ? { kind: 'text', path: o.path, tokenizer: o.tokenizer, maxLength: o.maxLength }
    : { kind: 'text', path: o.path, tokenizer: o.tokenizer };
}

/** A remembered images source: its folder, and the config and flags it was prepared with where they are well-formed. */
function imagesSource(o: Record<string, unknown>, path: string): ExampleSource {
  const source: ExampleSource = { kind: 'images', path };
  const numbers = (v: unknown, n: number) =>
    Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (typeof o.preprocessor === 'string') source.preprocessor = o.preprocessor;
  if (numbers(o.imageSize, 2)) source.imageSize = o.imageSize as [number, number];
  if (numbers(o.imageMean, 3)) source.imageMean = o.imageMean as number[];
  if (numbers(o.imageStd, 3)) source.imageStd = o.imageStd as number[];
  return source;
}
