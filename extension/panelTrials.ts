/**
 * "Try on model" in the planner: measures a few candidates of a plan on the analysed model
 * with the analysis's inputs (analysis/app/measuredPlan.ts `measureCandidates`), one run at a
 * time, cancellable, and words each step as a `tryOnModelStatus` for the panel.
 */
import { measureCandidates } from '../analysis/app/measuredPlan';
import type { CandidateMeasurement } from '../analysis/app/measuredPlan';
import { CancelledError } from '../analysis/errors';
import type { Plan } from '../analysis/planner/plan';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { ExampleSource } from '../analysis/runtime/exampleSource';
import type { ProviderChoice } from '../analysis/runtime/providers';
import type { CandidateDrift, TryOnModelStatusMessage } from '../protocol/messages';
import { userMessage } from './errorWording';

/** Examples a trial measures on: the first of the analysis's inputs, as `plan --model` does by default. */
export const trialExamples = 64;

export interface Trial {
  file: AnalysisFile;
  source: ExampleSource | undefined;
  plan: Plan;
  candidates: number[];
  ep: ProviderChoice;
}

const drift = (candidate: number, m: CandidateMeasurement): CandidateDrift => ({
  candidate,
  kl: m.kl,
  top1: m.top1,
  cosine: m.cosine,
  speedRatio: m.speedRatio,
  speedMeasured: m.speedMeasured,
});

export class CandidateTrials {
  private running: AbortController | null = null;
  /** Counts resets: a run of an analysis no longer shown stops talking to the views. */
  private generation = 0;
  /** The last status of each stack, for a view that opens later. */
  private readonly last = new Map<string, TryOnModelStatusMessage>();

  constructor(
    private readonly post: (status: TryOnModelStatusMessage) => void,
    private readonly log: (line: string) => void,
  ) {}

  get busy(): boolean {
    return this.running !== null;
  }

  statuses(): TryOnModelStatusMessage[] {
    return [...this.last.values()];
  }

  /** Forgets every status (another analysis is shown) and stops a run in progress. */
  reset(): void {
    this.generation++;
    this.cancel();
    this.last.clear();
  }

  cancel(): void {
    this.running?.abort();
  }

  /** Runs one trial to its end; a second while one runs is refused in its status line. */
  async run(trial: Trial): Promise<void> {
    const status: TryOnModelStatusMessage = {
      type: 'tryOnModelStatus',
      stack: trial.plan.stack,
      state: 'running',
      candidates: trial.candidates,
      done: 0,
      on: null,
      results: [],
    };
    const generation = this.generation;
    const send = (patch: Partial<TryOnModelStatusMessage>) => {
      Object.assign(status, patch);
      if (generation !== this.generation) return;
      const copy = { ...status, results: [...status.results] };
      this.last.set(status.stack, copy);
      this.post(copy);
    };
    if (this.running) {
      this.post({ ...status, state: 'failed', message: 'another "Try on model" is measuring; cancel it or wait for it to finish' });
      return;
    }
    if (!trial.source) {
      send({ state: 'failed', message: 'the model or the inputs of this analysis cannot be found, so nothing can be measured on them' });
      return;
    }
    const controller = new AbortController();
    this.running = controller;
    send({});
    try {
      await measureCandidates(
        {
          model: trial.file.model.path,
          modelSha256: trial.file.model.sha256,
          plan: trial.plan,
          candidates: trial.candidates,
          source: trial.source,
          calibration: trialExamples,
          ep: trial.ep,
        },
        {
          signal: controller.signal,
          onNote: (line) => this.log(`try on model: ${line}`),
          onOpened: (on) => send({ on }),
          onMeasured: (candidate, m) => send({ results: [...status.results, drift(candidate, m)], done: status.done + 1 }),
        },
      );
      send({ state: 'done' });
    } catch (err) {
      if (err instanceof CancelledError || controller.signal.aborted) send({ state: 'cancelled' });
      else send({ state: 'failed', message: userMessage(err) });
    } finally {
      this.running = null;
    }
  }
}
