/**
 * The analysis the panel showed last, remembered in globalState: the panel reopens it in the
 * next window, and Plan Reuse plans it when it is given nothing. The one owner of that state
 * key. What is stored was written by this or an older version, so it is checked on read.
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
}

export const lastAnalysisKey = 'attentionReuse.lastAnalysis';

export class AnalysisStore {
  constructor(private readonly state: Pick<vscode.Memento, 'get' | 'update'>) {}

  /** The analysis shown last, if its file is still there. */
  last(): RememberedAnalysis | undefined {
    const saved = this.state.get<unknown>(lastAnalysisKey);
    if (typeof saved !== 'object' || saved === null) return undefined;
    const { path, label, source } = saved as Record<string, unknown>;
    if (typeof path !== 'string' || path === '' || !existsSync(path)) return undefined;
    return { path, label: typeof label === 'string' ? label : path, source: exampleSource(source) };
  }

  remember(analysis: RememberedAnalysis): Thenable<void> {
    return this.state.update(lastAnalysisKey, analysis);
  }
}

function exampleSource(v: unknown): ExampleSource | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.path !== 'string') return undefined;
  if (o.kind === 'jsonl') return { kind: 'jsonl', path: o.path };
  if (o.kind !== 'text' || typeof o.tokenizer !== 'string') return undefined;
  return typeof o.maxLength === 'number' ? { kind: 'text', path: o.path, tokenizer: o.tokenizer, maxLength: o.maxLength } : { kind: 'text', path: o.path, tokenizer: o.tokenizer };
}
