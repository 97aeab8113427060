/**
 * What `activate()` returns, read as `vscode.extensions.getExtension(id).exports`: typed entry
 * points for the extension tests (and other extensions) where a command would need untyped
 * arguments. The public commands stay the way users and the walkthrough run things.
 */
import type { Plan } from '../analysis/planner/plan';
import type { RunStatus, TrainingRun } from '../protocol/messages';
import type { MetricsLine } from './metricsWatcher';
import type { WriteCandidateArgs, WriteResult } from './planCommands';
import type { EffectiveSettings } from './settings';

export interface AttentionReuseApi {
  /** The settings as the extension applies them (bounds, defaults and Restricted Mode included). */
  effectiveSettings(): Promise<EffectiveSettings>;
  /** Shows a plan's candidates in the panel's planner. */
  showPlan(plan: Plan): void;
  /** Appends trainer metrics lines to the panel's loss chart; `reset` starts the run over. */
  appendMetrics(run: string, lines: MetricsLine[], reset?: boolean): void;
  /** Writes one candidate's reuse config, as the panel's "Emit config…" does (`out` skips the dialog). */
  writeCandidate(args: WriteCandidateArgs): Promise<WriteResult>;
  /** What the panel says about the last analysis run (running, failed with its whole message, cancelled), or null. */
  runStatus(): RunStatus | null;
  /** What the panel says about a training run (its folder): running, cancelling, or how it ended; null if it never heard of it. */
  trainingRun(runDir: string): TrainingRun | null;
}
