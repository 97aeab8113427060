/**
 * The training runs the panel shows, kept by the host so that a view opened mid-run draws
 * every run from its start: each run's metrics merged by step (protocol/metricSeries.ts) and
 * its last state. A view catches up with one `metrics` message per run that replaces what it
 * holds, so live lines that reach it before or after the replay cannot make a step appear
 * twice. The oldest runs go first when there are too many or too many points.
 */
import type { MetricsMessage, ToWebview, TrainingRun } from '../protocol/messages';
import { StepSeries } from '../protocol/metricSeries';
import { metricsMessage } from './panelPayloads';

/** Runs the panel overlays; an older one is dropped when a new one starts. */
export const maxRuns = 8;
/** Points kept over all runs (a 200,000-step run at one line per step). */
export const maxPoints = 200_000;

interface KeptRun {
  series: StepSeries;
  status: TrainingRun | null;
}

export class PanelTraining {
  /** In the order the runs first appeared. */
  private readonly runs = new Map<string, KeptRun>();

  /** Merges metrics lines into a run (`reset`: they replace it) and returns the message that tells the views. */
  append(run: string, lines: Record<string, unknown>[], reset: boolean): MetricsMessage {
    const message = metricsMessage(run, lines, reset);
    this.kept(run).series.merge(message.points, reset);
    this.trim(run);
    return message;
  }

  /** Records a run's state. */
  setStatus(status: TrainingRun): void {
    this.kept(status.run).status = status;
    this.trim(status.run);
  }

  status(run: string): TrainingRun | null {
    return this.runs.get(run)?.status ?? null;
  }

  /** Every run as a view that just opened needs it: all its points at once, then its state. */
  replay(): ToWebview[] {
    const messages: ToWebview[] = [];
    for (const [run, kept] of this.runs) {
      if (kept.series.length > 0) messages.push({ type: 'metrics', run, reset: true, points: kept.series.toColumns() });
      if (kept.status) messages.push({ type: 'trainingRun', status: kept.status });
    }
    return messages;
  }

  private kept(run: string): KeptRun {
    let kept = this.runs.get(run);
    if (!kept) {
      kept = { series: new StepSeries(), status: null };
      this.runs.set(run, kept);
    }
    return kept;
  }

  /** Drops the oldest runs (never `current`) beyond the limits, then the oldest points of `current`. */
  private trim(current: string): void {
    const total = () => [...this.runs.values()].reduce((n, r) => n + r.series.length, 0);
    for (const run of this.runs.keys()) {
      if (this.runs.size <= maxRuns && total() <= maxPoints) break;
      if (run !== current && this.runs.get(run)?.status?.state !== 'running') this.runs.delete(run);
    }
    const excess = total() - maxPoints;
    if (excess > 0) this.runs.get(current)?.series.dropFirst(excess);
  }
}
