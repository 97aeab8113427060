/**
 * One analysis at a time: runs it in a cancellable notification, writes its file into the
 * output folder under a new name that says model and time (never over an input or an earlier
 * analysis), and tells the panel how it went. A failed or cancelled run leaves the analysis
 * on screen as it was; a second analysis asked for while one runs is refused, never
 * interleaved, because the two would race for the panel and the ONNX Runtime session.
 */
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeModel } from '../analysis/app/analyze';
import type { AnalyzeOptions } from '../analysis/app/analyze';
import type { ServiceCallbacks } from '../analysis/app/service';
import { CancelledError } from '../analysis/errors';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { ExampleSource } from '../analysis/runtime/exampleSource';
import type { ModelSummaryPayload } from '../protocol/modelMessages';
import type { Deps } from './deps';
import { failureHints, fullMessage, showLogHint, userMessage } from './errorWording';
import type { ShownAnalysis } from './panelHub';

/** What to analyze and how to name it. */
export interface RunRequest {
  model: string;
  source: ExampleSource;
  /** What the progress, the panel and the recent list call it. */
  label: string;
  /** The file-name stem of the analysis (the model's name). */
  stem: string;
  /** Read every example, whatever the examples setting (the bundled sample, whose 300 sentences the walkthrough names). */
  allExamples?: boolean;
}

export type AnalyzeService = (options: AnalyzeOptions, callbacks: ServiceCallbacks) => Promise<AnalysisFile>;

/** `STEM-YYYYMMDD-HHMMSS.analysis.json` in `folder`, with `-2`, `-3`… where that name is taken. */
export function analysisFileFor(folder: string, stem: string, when: Date, taken: (path: string) => boolean = existsSync): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${when.getFullYear()}${pad(when.getMonth() + 1)}${pad(when.getDate())}-${pad(when.getHours())}${pad(when.getMinutes())}${pad(when.getSeconds())}`;
  // A stem is a file name already, but one made of dots or separators would name another folder.
  const safe = stem.replace(/[\\/:*?"<>|\s]+/g, '-').replace(/^[.-]+/, '') || 'model';
  for (let n = 1; ; n++) {
    const path = join(folder, `${safe}-${stamp}${n > 1 ? `-${n}` : ''}.analysis.json`);
    if (!taken(path)) return path;
  }
}

export class AnalysisRuns {
  private running: { label: string; abort: AbortController } | undefined;

  constructor(
    private readonly deps: Deps,
    private readonly analyze: AnalyzeService = analyzeModel,
  ) {}

  /** What is being analyzed now, if anything. */
  get current(): string | undefined {
    return this.running?.label;
  }

  /** Runs one analysis and shows it; undefined when it was refused, cancelled or failed (the panel says which). */
  async run(request: RunRequest): Promise<ShownAnalysis | undefined> {
    const { output, settings, panel } = this.deps;
    if (this.running) {
      const message = `Attention Reuse: ${this.running.label} is still being analyzed. Wait for it or cancel it, then analyze ${request.label}.`;
      output.warn(`analyze ${request.model}: refused, ${this.running.label} is running`);
      void vscode.window.showWarningMessage(message);
      return undefined;
    }
    const abort = new AbortController();
    this.running = { label: request.label, abort };
    try {
      const { examples, batchSize, executionProvider } = settings.read();
      const out = analysisFileFor(join(settings.outputFolder(), 'analyses'), request.stem, new Date());
      // analyzeModel checks `out` before any work (never an input, never an existing file) and writes it at the end.
      const options: AnalyzeOptions = {
        model: request.model,
        source: request.source,
        examples: request.allExamples ? undefined : examples,
        batch: batchSize,
        ep: executionProvider,
        out,
        force: false,
      };
      panel.setRunStatus({ state: 'running', label: request.label, at: Date.now() });
      const file = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Attention Reuse: analyzing ${request.label}`, cancellable: true },
        async (progress, token) => {
          const cancel = token.onCancellationRequested(() => abort.abort());
          let reported = 0;
          try {
            return await this.analyze(options, {
              signal: abort.signal,
              onProgress: (done, total) => {
                const pct = total > 0 ? (100 * done) / total : 0;
                progress.report({ message: `${done}/${total} examples`, increment: pct - reported });
                reported = pct;
              },
              onNote: (line) => output.info(`analyze ${request.model}: ${line}`),
            });
          } finally {
            cancel.dispose();
          }
        },
      );
      output.info(
        `analyze ${request.model}: ${file.run.examples} examples, ${file.run.executionProvider}, ${file.run.seconds.toFixed(1)} s → ${out}`,
      );
      const shown: ShownAnalysis = { file, path: out, label: request.label, source: request.source };
      panel.setRunStatus(null);
      await panel.show(shown, { reveal: true });
      return shown;
    } catch (err) {
      if (err instanceof CancelledError) {
        output.info(`analyze ${request.model}: cancelled`);
        panel.setRunStatus({ state: 'cancelled', label: request.label, at: Date.now() });
        return undefined;
      }
      this.fail(request.label, request.model, fullMessage(err), failureHints(err), userMessage(err));
      return undefined;
    } finally {
      this.running = undefined;
    }
  }

  /** A model that cannot be analyzed, found before any input was asked for: said in the panel and a notification. */
  refuseModel(label: string, summary: ModelSummaryPayload): void {
    const problem = summary.problem;
    if (!problem) return;
    this.fail(
      label,
      summary.path,
      `${problem.title}. ${problem.message}`,
      [...problem.hints, showLogHint],
      `${problem.title}: ${problem.message}`,
    );
  }

  /** Shows a failure in full in the panel, and in one line in a notification with "Show in Panel" and "Show Log". */
  fail(label: string, model: string, message: string, hints: string[], oneLine = message): void {
    const { output, panel } = this.deps;
    output.error(`analyze ${model}: ${oneLine}`);
    panel.setRunStatus({ state: 'failed', label, at: Date.now(), message, hints });
    void vscode.window
      .showErrorMessage(`Attention Reuse: could not analyze ${label}: ${oneLine}`, 'Show in Panel', 'Show Log')
      .then((answer) => {
        if (answer === 'Show in Panel') panel.revealDetail();
        else if (answer === 'Show Log') output.show(true);
      });
  }

  /** Cancels the running analysis, if any. */
  dispose(): void {
    this.running?.abort.abort();
  }
}
