/**
 * The trainer's process: started with an argument array, its output passed through while the
 * last lines are kept, and, when it dies (an exit code other than 0, 2 and 130, or a signal),
 * a report of how far it got and its last lines, also written into RUN_DIR/status.json for
 * the panel. The trainer keeps status.json itself while it lives (docs/planning.md lists the
 * fields); only a process that cannot (killed, out of memory) leaves it to this module.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import { exists, readJson, writeFileAtomic } from './storage';

/** Lines of the trainer's output kept for a failure report. */
export const tailLines = 20;

/** What a dead trainer left: how it ended, how far it got, and its last output. */
export interface TrainFailure {
  exitCode: number;
  /** The signal that ended it (SIGKILL, SIGSEGV…), or null. */
  signal: string | null;
  /** The last step it completed, as far as status.json and its output tell; null if none. */
  step: number | null;
  steps: number;
  /** The step of RUN_DIR/checkpoint.pt, which --resume continues from (checkpoints are written atomically); null if none. */
  checkpointStep: number | null;
  /** The trainer's own reason, when it could write one (an exception's type and message). */
  reason: string;
  logTail: string[];
  statusFile: string;
}

/** Keeps the last `limit` complete lines of a stream (and the unterminated rest). */
export class LineTail {
  private lines: string[] = [];
  private partial = '';
  constructor(private readonly limit = tailLines) {}
  push(text: string): void {
    const parts = (this.partial + text).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts.filter((l) => l.trim() !== ''));
    if (this.lines.length > this.limit) this.lines = this.lines.slice(-this.limit);
  }
  get(): string[] {
    return [...this.lines, ...(this.partial.trim() ? [this.partial] : [])].slice(-this.limit);
  }
}

/** Runs the trainer; resolves with its exit code (128 + n for signal n) and, if it died, the report. */
export function runTrainer(
  python: string,
  args: string[],
  runDir: string,
  steps: number,
  signal?: AbortSignal,
): Promise<{ code: number; failure?: TrainFailure }> {
  // A cancel that came while the run was being prepared: nothing is started.
  if (signal?.aborted) return Promise.resolve({ code: 130 });
  return new Promise((done, fail) => {
    // An argument array, never a shell string: paths with spaces or quotes stay intact.
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    const tail = new LineTail();
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      tail.push(d.toString());
    });
    child.stderr.on('data', (d: Buffer) => {
      process.stderr.write(d);
      tail.push(d.toString());
    });
    const onAbort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', fail);
    child.on('close', (exit, sig) => {
      signal?.removeEventListener('abort', onAbort);
      const code = exit ?? 128 + (sig ? (constants.signals[sig] ?? 1) : 1);
      if (code === 0 || code === 2 || code === 130) return done({ code });
      recordFailure(runDir, steps, code, sig, tail.get()).then((failure) => done({ code, failure }), fail);
    });
  });
}

/** Merges what the trainer wrote into status.json with how it ended, and writes it back as `failed`. */
async function recordFailure(
  runDir: string,
  steps: number,
  exitCode: number,
  signal: NodeJS.Signals | null,
  logTail: string[],
): Promise<TrainFailure> {
  const statusFile = join(runDir, 'status.json');
  const saved = (await exists(statusFile)) ? ((await readJson(statusFile, 'run status').catch(() => ({}))) as Record<string, unknown>) : {};
  const number = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : null);
  // A killed trainer last wrote its status at a checkpoint; its output names later steps.
  const logged = logTail
    .map((l) => /\bstep (\d+)\/\d+/.exec(l)?.[1])
    .filter(Boolean)
    .map(Number);
  const step = Math.max(number(saved.step) ?? -1, ...logged);
  const failure: TrainFailure = {
    exitCode,
    signal: signal ?? null,
    step: step >= 0 ? step : null,
    steps,
    checkpointStep: number(saved.checkpointStep),
    reason: typeof saved.reason === 'string' && saved.state === 'failed' ? saved.reason : '',
    logTail,
    statusFile,
  };
  const status = {
    ...saved,
    state: 'failed',
    step: failure.step,
    steps,
    reason: failure.reason || describeEnd(failure),
    checkpointStep: failure.checkpointStep,
    exitCode,
    signal: failure.signal,
    logTail,
    updated: new Date().toISOString(),
  };
  await writeFileAtomic(statusFile, JSON.stringify(status, null, 2) + '\n', { overwrite: true });
  return failure;
}

function describeEnd(f: Pick<TrainFailure, 'exitCode' | 'signal'>): string {
  if (f.signal === 'SIGKILL') return 'killed by SIGKILL (out of memory, or killed from outside)';
  return f.signal ? `killed by ${f.signal}` : `exit code ${f.exitCode}`;
}

/** The failure as the CLI prints it: one clear line, then the trainer's last lines. */
export function failureReport(f: TrainFailure, runDir: string): string[] {
  const where = f.step === null ? 'before its first step' : `after step ${f.step} of ${f.steps}`;
  const checkpoint =
    f.checkpointStep === null
      ? 'it saved no checkpoint'
      : `its last checkpoint (step ${f.checkpointStep}, ${join(runDir, 'checkpoint.pt')}) is intact: continue with --resume`;
  const why = f.reason ? ` (${f.reason})` : '';
  return [
    `attention-reuse: the trainer died ${where} — ${describeEnd(f)}${why}; ${checkpoint}`,
    `last ${f.logTail.length} lines of its output:`,
    ...f.logTail.map((l) => `  | ${l}`),
  ];
}
