// Test helper: the fuzz worker thread. Runs fast-check over one target and posts one report; counts runs in shared memory so that the parent can name the run that hung.
import * as fc from 'fast-check';
import { parentPort, workerData } from 'node:worker_threads';
import type { FuzzOptions, FuzzTarget, TargetRef } from './harness';
import { defaultAllowed } from './harness';

const { ref, options, progress } = workerData as { ref: TargetRef; options: FuzzOptions & { seed: number }; progress: Int32Array };

async function main(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const target = (require(ref.module) as { targets: Record<string, FuzzTarget> }).targets[ref.name];
  if (!target) throw new Error(`no fuzz target ${ref.name} in ${ref.module}`);
  const allowed = target.allowed ?? defaultAllowed;
  const property = fc.asyncProperty(target.arbitrary(), async (input) => {
    Atomics.add(progress, 0, 1);
    try {
      await target.run(input);
    } catch (err) {
      if (!allowed(err)) throw err;
    }
  });
  const details = await fc.check(property, {
    numRuns: options.numRuns,
    seed: options.seed,
    path: options.path,
    interruptAfterTimeLimit: options.timeLimitMs,
    markInterruptAsFailure: false,
  });
  // Errors thrown from timers a run left behind surface on the next turns of the event loop,
  // as the worker's 'error' event: give them those turns before the report ends the worker.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const err = details.errorInstance as Error | undefined;
  const shown = details.counterexample
    ? target.show
      ? target.show(details.counterexample[0])
      : fc.stringify(details.counterexample[0])
    : undefined;
  parentPort!.postMessage({
    runs: details.numRuns,
    failed: details.failed,
    error: err ? `${err.name}: ${err.message.split('\n')[0]}\n${err.stack?.split('\n').slice(1, 6).join('\n')}` : undefined,
    counterexample: shown && shown.length > 600 ? `${shown.slice(0, 600)}… (${shown.length} characters)` : shown,
    path: details.counterexamplePath ?? undefined,
  });
}

main().catch((err: Error) =>
  parentPort!.postMessage({ runs: Atomics.load(progress, 0), failed: true, error: `the harness failed: ${err.stack ?? err}` }),
);
