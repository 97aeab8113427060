// Test helper: runs a fuzz target (fast-check) on a worker thread with a watchdog, so that a crash, an uncaught error and a hang all come back as a report with a reproducible seed.
import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as fc from 'fast-check';
import { CancelledError, InputError } from '../../analysis/errors';

/**
 * A reader under fuzz: inputs from `arbitrary`, fed to `run`, which may refuse them only in
 * the ways `allowed` accepts (by default an InputError, the one-line refusal every reader
 * owes a bad file). Any target fits: a validator that returns `{ok: false}` for bad messages
 * (the webview's `checkWebviewMessage`) is a `run` that throws when it throws, with `allowed`
 * accepting nothing.
 */
export interface FuzzTarget<T = unknown> {
  arbitrary: () => fc.Arbitrary<T>;
  run: (input: T) => unknown;
  allowed?: (err: unknown) => boolean;
  /** A short form of an input for reports (default: fast-check's stringify, cut). */
  show?: (input: T) => string;
}

/** Where the targets live: a compiled module exporting `targets: Record<string, FuzzTarget>`. */
export interface TargetRef {
  module: string;
  name: string;
}

export interface FuzzOptions {
  numRuns: number;
  /** Generation stops after this long (the runs done so far count). */
  timeLimitMs: number;
  /** A hang: the worker is stopped this long after the time limit. */
  graceMs?: number;
  seed?: number;
  /** With `seed`, replays one counterexample (fast-check's path). */
  path?: string;
}

export interface FuzzReport {
  target: string;
  runs: number;
  ms: number;
  seed: number;
  failed: boolean;
  /** What went wrong: the error of the shrunk counterexample, an uncaught error, or a hang. */
  error?: string;
  counterexample?: string;
  path?: string;
}

export const defaultAllowed = (err: unknown): boolean => err instanceof InputError || err instanceof CancelledError;

/** The worker beside this module: .ts under tsx (which worker threads inherit), .js when compiled. */
const workerFile = join(__dirname, `worker${extname(__filename)}`);

/** Runs one target to its time limit on a worker thread; a worker that stops answering is terminated and reported as a hang. */
export function runFuzz(ref: TargetRef, options: FuzzOptions): Promise<FuzzReport> {
  const seed = options.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const progress = new Int32Array(new SharedArrayBuffer(4));
  const started = Date.now();
  return new Promise((done) => {
    const worker = new Worker(workerFile, { workerData: { ref, options: { ...options, seed }, progress } });
    let settled = false;
    const finish = (report: Omit<FuzzReport, 'target' | 'ms' | 'seed'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      void worker.terminate();
      done({ target: ref.name, ms: Date.now() - started, seed, ...report });
    };
    const watchdog = setTimeout(
      () =>
        finish({
          runs: Atomics.load(progress, 0),
          failed: true,
          error: `hang: run ${Atomics.load(progress, 0) + 1} did not end (replay with seed ${seed})`,
        }),
      options.timeLimitMs + (options.graceMs ?? 10_000),
    );
    worker.on('message', (report: Omit<FuzzReport, 'target' | 'ms' | 'seed'>) => finish(report));
    worker.on('error', (err) =>
      finish({ runs: Atomics.load(progress, 0), failed: true, error: `uncaught in the worker: ${err.stack ?? err}` }),
    );
    worker.on('exit', (code) => finish({ runs: Atomics.load(progress, 0), failed: true, error: `worker exited with ${code}` }));
  });
}
