/**
 * How a training run ended, in words, from what the CLI's exit and the run folder tell:
 * RUN_DIR/status.json (the trainer's `state` — finished, stopped, time-limit, interrupted,
 * failed — its `step`, `steps`, `reason`, and where present `checkpointStep`, `exitCode`,
 * `signal` and `logTail`), whether model.pt and checkpoint.pt exist, and whether the user
 * asked it to stop. An exit code alone misleads: a `--max-minutes` stop exits 0 without a
 * model, and a task stopped from VS Code has no code of its own. No vscode here.
 */
import type { TrainingRun } from '../protocol/messages';
import type { TrainerExit } from './trainerProcess';

export interface RunFacts {
  exit: TrainerExit;
  /** status.json as the trainer (or the CLI) wrote it during this run; null when absent or older than the run. */
  status: Record<string, unknown> | null;
  /** The last step the metrics showed during this run. */
  lastStep: number | null;
  /** Steps asked for. */
  steps: number;
  /** The time limit asked for, in minutes (0: none). */
  maxMinutes: number;
  runDir: string;
  /** Whether RUN_DIR/model.pt and RUN_DIR/checkpoint.pt exist. */
  modelWritten: boolean;
  checkpointSaved: boolean;
}

export type Outcome = Pick<TrainingRun, 'state' | 'step' | 'steps' | 'checkpointStep' | 'exitCode' | 'message' | 'logTail'>;

const whole = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null);
const words = (v: unknown) => (typeof v === 'string' ? v.trim() : '');

export function runOutcome(f: RunFacts): Outcome {
  const s = f.status ?? {};
  const state = words(s.state);
  const step = whole(s.step) ?? f.lastStep;
  const steps = whole(s.steps) ?? f.steps;
  // An interrupted, stopped or timed-out trainer saved a checkpoint at the step it stopped after.
  const checkpointStep = whole(s.checkpointStep) ?? (['interrupted', 'time-limit', 'stopped'].includes(state) ? whole(s.step) : null);
  const code = f.exit.code;
  const base = { step, steps, checkpointStep, exitCode: code, logTail: [] as string[] };
  const after = step === null ? 'before its first step' : `after step ${step} of ${steps}`;
  const checkpoint =
    checkpointStep !== null
      ? `its checkpoint at step ${checkpointStep} is saved; Resume continues from it.`
      : f.checkpointSaved
        ? 'its last checkpoint (checkpoint.pt) is kept; Resume continues from it.'
        : 'it saved no checkpoint.';

  if (code === 0 && state === 'time-limit') {
    const limit = f.maxMinutes > 0 ? ` (${f.maxMinutes} min)` : '';
    return {
      ...base,
      state: 'time-limit',
      message: `Training stopped at its time limit${limit} ${after}, without model.pt; ${checkpoint}`,
    };
  }
  if (code === 0 && state === 'stopped')
    return { ...base, state: 'stopped', message: `Training stopped ${after}, without model.pt; ${checkpoint}` };
  if (code === 0 && !f.exit.stopRequested) {
    const where = f.modelWritten ? `the model is in ${f.runDir}.` : `it wrote no model.pt into ${f.runDir}.`;
    return { ...base, state: 'finished', message: `Training finished; ${where}` };
  }
  if (f.exit.stopRequested || code === 130 || state === 'interrupted') {
    if (code === 0 && f.modelWritten)
      return { ...base, state: 'finished', message: `Training finished before it could stop; the model is in ${f.runDir}.` };
    const how = f.exit.signal === 'SIGKILL' ? 'stopped at once' : 'cancelled';
    const trained = step !== null && (state === 'interrupted' || f.lastStep !== null);
    return {
      ...base,
      state: 'cancelled',
      message: trained ? `Training ${how} ${after}; ${checkpoint}` : `Training ${how} before its first step; ${checkpoint}`,
    };
  }
  const tail = Array.isArray(s.logTail) && s.logTail.every((l) => typeof l === 'string') ? (s.logTail as string[]) : f.exit.tail;
  if (code === 2) {
    // The CLI refused its input: its one line says what and names the flag.
    const line = lastMessage(tail) ?? 'the CLI refused the run';
    return { ...base, logTail: tail, state: 'failed', message: `Training was refused (exit code 2): ${line}` };
  }
  const signal = words(s.signal) || f.exit.signal;
  const how = signal ? `killed by ${signal}` : `exit code ${code}`;
  const reason = words(s.reason) || lastMessage(tail);
  return {
    ...base,
    logTail: tail,
    state: 'failed',
    message: `Training failed (${how}) ${after}${reason ? `: ${reason}` : ''}; ${checkpoint}`,
  };
}

/** The most telling line of the output: the CLI's own error line, else a Python exception, else the last line. */
function lastMessage(tail: string[]): string | undefined {
  const ours = /^\s*(\[\w+\]:)?\s*attention-reuse( trainer)?:\s*/;
  const cli = [...tail].reverse().find((l) => ours.test(l));
  if (cli) return cli.replace(ours, '');
  const exception = [...tail].reverse().find((l) => /^\s*(\[\w+\]:)?\s*\w+(Error|Exception)\b/.test(l));
  return (exception ?? tail[tail.length - 1])?.trim();
}
