/**
 * The `attention-reuse train` process of one run, as the task's terminal shows it: started
 * from an argument array in a process group of its own, its output passed on while the last
 * lines are kept for a failure report, and stopped the way the trainer can save its work.
 *
 * Why a group: a stop goes to the CLI and the trainer (and torchrun's workers) at once, so it
 * reaches the trainer even when the CLI was still checking its inputs and would start the
 * trainer after the stop; the trainer finishes its step, saves a checkpoint and exits 130.
 * Why not a pty of VS Code's: closing it hangs up the whole session, which the trainer cannot
 * survive with a checkpoint. No vscode here (test/unit/trainerProcess.test.ts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

/** Lines of output kept for the failure report. */
export const tailLines = 20;

export interface TrainerExit {
  /** The exit code, or 128 + n when signal n ended the process. */
  code: number;
  signal: NodeJS.Signals | null;
  /** Whether a stop was asked for before it ended. */
  stopRequested: boolean;
  /** The last lines of its output (stdout and stderr). */
  tail: string[];
}

/** Keeps the last `limit` non-empty lines of a stream (and an unterminated rest). */
export class LineTail {
  private lines: string[] = [];
  private partial = '';

  constructor(private readonly limit = tailLines) {}

  push(text: string): void {
    const parts = (this.partial + text).split(/\r?\n|\r/);
    this.partial = parts.pop() ?? '';
    for (const line of parts) if (line.trim()) this.lines.push(line);
    if (this.lines.length > this.limit) this.lines = this.lines.slice(-this.limit);
  }

  get(): string[] {
    return [...this.lines, ...(this.partial.trim() ? [this.partial] : [])].slice(-this.limit);
  }
}

export interface TrainerStart {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Each chunk of output, as it comes (the terminal shows it). */
  onOutput: (text: string) => void;
}

export class TrainerProcess {
  readonly exited: Promise<TrainerExit>;
  private readonly child: ChildProcess;
  private readonly tail = new LineTail();
  private stopRequested = false;
  private killed = false;
  private ended = false;

  constructor({ command, args, cwd, env, onOutput }: TrainerStart) {
    // detached: a process group of its own (setsid), which `stop` signals as a whole.
    this.child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.tail.push(text);
      onOutput(text);
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.exited = new Promise((done) => {
      // 'close' waits for the output of every process that holds the pipes, trainer included.
      this.child.on('close', (code, signal) => {
        this.ended = true;
        done({
          code: code ?? 128 + (signal ? (constants.signals[signal] ?? 1) : 1),
          signal,
          stopRequested: this.stopRequested,
          tail: this.tail.get(),
        });
      });
      this.child.on('error', (err) => {
        this.tail.push(`could not start ${command}: ${err.message}\n`);
        if (!this.child.pid) {
          this.ended = true;
          done({ code: 127, signal: null, stopRequested: this.stopRequested, tail: this.tail.get() });
        }
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.ended;
  }

  /** Whether `stop` was called. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Asks the run to stop with a checkpoint (SIGTERM to its group); may be repeated, which the trainer takes as the same request. */
  stop(): void {
    this.stopRequested = true;
    this.signal('SIGTERM');
  }

  /** Ends the run at once (SIGKILL to its group): the step in progress is lost, the last checkpoint stays (it is written atomically). */
  kill(): void {
    this.stopRequested = true;
    this.killed = true;
    this.signal('SIGKILL');
  }

  get wasKilled(): boolean {
    return this.killed;
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.ended || !this.child.pid) return;
    try {
      if (process.platform === 'win32') this.child.kill(signal);
      else process.kill(-this.child.pid, signal);
    } catch (err) {
      // ESRCH: the group ended meanwhile.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
