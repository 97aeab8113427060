/**
 * One training run's metrics keyed by step: the host keeps one per run to replay it to a view
 * that opens mid-run, and the training chart keeps one per run it draws. However the lines
 * arrive (a replay overlapping live lines, a file re-read after a resume rewrote it, a batch out
 * of order), a run holds at most one point per step, in step order; the last line for a step
 * wins, because a resumed run logs again the steps after its checkpoint. No DOM, no vscode.
 */
import type { MetricColumns } from './messages';

/** The columns besides `step`, in the order CSV exports list them. */
export const metricKeys = ['loss', 'lr', 'tokensPerSecond', 'elapsedSeconds', 'evalLoss', 'evalAccuracy', 'evalPerplexity'] as const;
export type MetricKey = (typeof metricKeys)[number];

/** One logged step; NaN where its line had no value (evaluations appear on some steps only). */
export type MetricPoint = { step: number } & Record<MetricKey, number>;

/** What one merge did, so that a chart can append instead of redrawing everything. */
export interface MergeResult {
  /** Points whose step the series did not hold. */
  added: number;
  /** Points that replaced the one the series held for their step. */
  replaced: number;
  /** Lines without a finite step, which cannot be placed. */
  skipped: number;
  /** Only new steps after the last one were added: the points before `from` are unchanged. */
  appendedOnly: boolean;
  /** Index of the first point that changed. */
  from: number;
}

export class StepSeries {
  private rows: MetricPoint[] = [];

  get points(): readonly MetricPoint[] {
    return this.rows;
  }

  get length(): number {
    return this.rows.length;
  }

  get last(): MetricPoint | undefined {
    return this.rows[this.rows.length - 1];
  }

  /** Merges a batch of columns by step; `reset` drops what the series held first (a new run, or the whole run again). */
  merge(columns: MetricColumns, reset = false): MergeResult {
    const before = this.rows.length;
    if (reset) this.rows = [];
    const result: MergeResult = { added: 0, replaced: 0, skipped: 0, appendedOnly: !reset, from: reset ? 0 : before };
    for (const point of pointsOf(columns)) {
      if (!Number.isFinite(point.step)) {
        result.skipped++;
        continue;
      }
      const at = this.place(point.step);
      if (at < this.rows.length && this.rows[at].step === point.step) {
        this.rows[at] = point;
        result.replaced++;
      } else {
        this.rows.splice(at, 0, point);
        result.added++;
      }
      if (at < before) result.appendedOnly = false;
      result.from = Math.min(result.from, at);
    }
    return result;
  }

  /** The series as the columns a `metrics` message carries. */
  toColumns(): MetricColumns {
    const column = (get: (p: MetricPoint) => number) => Float64Array.from(this.rows, get);
    const columns = { step: column((p) => p.step) } as MetricColumns;
    for (const key of metricKeys) columns[key] = column((p) => p[key]);
    return columns;
  }

  /** Drops the first `count` points (a cap on what the host keeps). */
  dropFirst(count: number): void {
    this.rows.splice(0, count);
  }

  /** Where a point of `step` goes: after the last point of a smaller step (binary search; appends cost O(1)). */
  private place(step: number): number {
    const rows = this.rows;
    if (rows.length === 0 || rows[rows.length - 1].step < step) return rows.length;
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rows[mid].step < step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The rows of a `metrics` message; a column that is missing or too short reads as NaN. */
export function pointsOf(c: MetricColumns): MetricPoint[] {
  const at = (col: Float64Array | undefined, i: number) => (col && i < col.length ? col[i] : NaN);
  return Array.from({ length: c.step.length }, (_, i) => {
    const point = { step: c.step[i] } as MetricPoint;
    for (const key of metricKeys) point[key] = at(c[key], i);
    return point;
  });
}

/** The last path segment of a run's name (runs are named by their folder). */
export function runLabel(run: string): string {
  return run.split(/[\\/]/).filter(Boolean).pop() ?? run;
}
