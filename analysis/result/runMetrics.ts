/**
 * What a training run's metrics.jsonl says about its held-out evaluations, for compare:
 * the first and the last evaluation (a warm start logs step 0, before training) and the
 * last training loss. Lines that are not JSON objects (a half-written last line) are skipped.
 */
import type { TextLine } from '../textLine';

export interface Evaluation {
  step: number;
  evalLoss: number;
  evalAccuracy: number | null;
  evalPerplexity: number | null;
}

export interface RunMetrics {
  path: string;
  /** The first and last lines with an evalLoss; null without evaluations. */
  first: Evaluation | null;
  last: Evaluation | null;
  /** The last logged step and its training loss (null at step 0). */
  step: number | null;
  loss: number | null;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Folds metrics.jsonl lines into their evaluations. */
export function summarizeMetrics(path: string, lines: Iterable<TextLine>): RunMetrics {
  const out: RunMetrics = { path, first: null, last: null, step: null, loss: null };
  for (const { text } of lines) {
    let row: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
      row = v as Record<string, unknown>;
    } catch {
      continue;
    }
    const step = num(row.step);
    if (step === null) continue;
    out.step = step;
    out.loss = num(row.loss);
    const evalLoss = num(row.evalLoss);
    if (evalLoss === null) continue;
    const evaluation = { step, evalLoss, evalAccuracy: num(row.evalAccuracy), evalPerplexity: num(row.evalPerplexity) };
    out.first ??= evaluation;
    out.last = evaluation;
  }
  return out;
}
