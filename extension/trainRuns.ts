/**
 * The training runs of this window while they live and how they ended: each run's trainer
 * process, its metrics followed into the panel, its state in the panel and the status bar,
 * and the ways to stop it (the panel's Cancel, the status-bar item, the palette's "Cancel
 * Training", Ctrl+C in its terminal, "Terminate Task"). A stop lets the trainer finish its
 * step and save a checkpoint; a second stop ends it at once. When it ends, status.json says
 * how (a time limit exits 0 without a model), and the toast and the panel say so in words.
 */
import * as vscode from 'vscode';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TrainingRun } from '../protocol/messages';
import { MetricsWatcher } from './metricsWatcher';
import type { PanelHub } from './panelHub';
import type { TrainOptionsUsed } from './trainArgs';
import { runOutcome } from './trainOutcome';
import type { TrainerExit } from './trainerProcess';
import { TrainerProcess } from './trainerProcess';

/**
 * Whether the trainer has written metrics.jsonl since the run started: its first step (or its
 * step-0 evaluation) is logged there before the line on its output reaches this window.
 */
function metricsWrittenSince(runDir: string, startedAt: number): boolean {
  try {
    return statSync(join(runDir, 'metrics.jsonl')).mtimeMs >= startedAt;
  } catch {
    return false;
  }
}

/** A run ready to start: the command line and what the outcome needs to know. */
export interface PreparedRun {
  runDir: string;
  /** The reuse config's file name, for messages. */
  label: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  options: TrainOptionsUsed;
  /** Runs it again with --resume (the task it came from); absent when it cannot be resumed. */
  resume?: () => void;
}

/** Where a run's output goes: its task terminal. */
export interface RunSink {
  write(text: string): void;
  close(code: number): void;
}

export interface TrainFinished {
  runDir: string;
  /** The CLI's exit code (128 + n when signal n ended it). */
  exitCode: number | undefined;
  /** metrics.jsonl lines handed to the panel. */
  metricsForwarded: number;
  state: TrainingRun['state'];
  /** What the toast and the panel said. */
  message: string;
}

interface LiveRun {
  prepared: PreparedRun;
  process: TrainerProcess;
  watcher: MetricsWatcher;
  startedAt: number;
  lastStep: number | null;
  /** The step when the stop was asked for: a trainer that keeps going got the stop before it started. */
  stopAtStep: number | null;
  /** The last step the trainer's output named in this run ("step N/M"), ahead of metrics.jsonl, which is polled. */
  outputStep: number | null;
  status: TrainingRun;
  ended: Promise<TrainFinished>;
}

const contextKey = 'attentionReuse.trainingRunning';

export class TrainRuns implements vscode.Disposable {
  private readonly live = new Map<string, LiveRun>();
  /** Runs that ended, for Resume from the panel. */
  private readonly resumable = new Map<string, () => void>();
  private readonly statusItem: vscode.StatusBarItem;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly panel: PanelHub,
  ) {
    this.statusItem = vscode.window.createStatusBarItem('attentionReuse.training', vscode.StatusBarAlignment.Left, 10);
    this.statusItem.name = 'Attention Reuse Training';
  }

  /** Disposables for the cancel command and the panel's buttons. */
  wire(): vscode.Disposable {
    return vscode.Disposable.from(
      vscode.commands.registerCommand('attentionReuse.cancelTraining', (run?: string) => this.cancelCommand(run)),
      this.panel.onDidAskTrainingAction(({ action, run }) => (action === 'cancel' ? this.cancel(run) : this.resume(run))),
    );
  }

  /** Whether a run writes into `runDir` now. */
  isRunning(runDir: string): boolean {
    return this.live.has(runDir);
  }

  /** Starts a prepared run, its output into `sink`; resolves when it ends. */
  start(prepared: PreparedRun, sink: RunSink): Promise<TrainFinished> {
    const { runDir, options } = prepared;
    const startedAt = Date.now();
    const process = new TrainerProcess({
      command: prepared.command,
      args: prepared.args,
      cwd: prepared.cwd,
      env: prepared.env,
      onOutput: (text) => {
        sink.write(text);
        this.onOutput(run, text);
      },
    });
    const run: LiveRun = {
      prepared,
      process,
      startedAt,
      lastStep: null,
      stopAtStep: null,
      outputStep: null,
      status: {
        run: runDir,
        state: 'running',
        step: null,
        steps: options.steps,
        checkpointStep: null,
        exitCode: null,
        message: `Training ${prepared.label} for ${options.steps} steps into ${runDir}.`,
        logTail: [],
        canResume: false,
        at: startedAt,
      },
      watcher: new MetricsWatcher(
        join(runDir, 'metrics.jsonl'),
        runDir,
        (name, lines, reset) => this.onMetrics(run, name, lines, reset),
        (message) => this.output.warn(message),
      ),
      ended: process.exited.then((exit) => this.finish(run, exit, sink)),
    };
    this.resumable.delete(runDir);
    this.live.set(runDir, run);
    this.output.info(`train ${prepared.label} → ${runDir}: ${prepared.command} ${prepared.args.join(' ')}`);
    this.panel.setTrainingRun(run.status);
    this.refresh();
    return run.ended;
  }

  /** Asks a run to stop with a checkpoint; asked again while it stops, ends it at once. */
  cancel(runDir: string): void {
    const run = this.live.get(runDir);
    if (!run) {
      this.output.warn(`train: cancel for ${runDir}, which is not running`);
      return;
    }
    const started = run.outputStep !== null || metricsWrittenSince(runDir, run.startedAt);
    if (run.process.stopping || !started) {
      // Asked twice, or before the trainer's first step: nothing to save beyond the last checkpoint, which is written atomically.
      this.output.info(`train ${runDir}: stopping at once (${!started ? 'no step done yet' : 'asked twice'})`);
      run.process.kill();
      this.refresh();
      return;
    }
    this.output.info(`train ${runDir}: stopping after step ${(run.outputStep ?? 0) + 1}`);
    run.stopAtStep = run.outputStep ?? 0;
    run.process.stop();
    this.setStatus(run, {
      state: 'cancelling',
      message: 'Stopping after the step in progress and saving a checkpoint… Cancel again to stop at once.',
    });
    this.refresh();
  }

  private resume(runDir: string): void {
    const again = this.resumable.get(runDir);
    if (again) again();
    else
      void vscode.window.showWarningMessage(
        `Attention Reuse: ${basename(runDir)} cannot be resumed from here (no checkpoint, or started in another window).`,
      );
  }

  private async cancelCommand(run?: string): Promise<void> {
    if (typeof run === 'string') return this.cancel(run);
    const running = [...this.live.values()];
    if (running.length === 0) {
      void vscode.window.showInformationMessage('Attention Reuse: no training is running.');
      return;
    }
    if (running.length === 1) return this.cancel(running[0].prepared.runDir);
    const chosen = await vscode.window.showQuickPick(
      running.map((r) => ({
        label: basename(r.prepared.runDir),
        description: `step ${r.lastStep ?? 0} of ${r.prepared.options.steps}`,
        runDir: r.prepared.runDir,
      })),
      { title: 'Cancel Training: which run?' },
    );
    if (chosen) this.cancel(chosen.runDir);
  }

  private onMetrics(run: LiveRun, name: string, lines: Record<string, unknown>[], reset: boolean): void {
    this.panel.appendMetrics(name, lines, reset);
    for (const line of lines)
      if (typeof line.step === 'number' && (run.lastStep === null || line.step > run.lastStep)) run.lastStep = line.step;
    this.refresh();
  }

  /** Follows the steps the trainer prints ("step N/M"; torchrun of PyTorch 1.x prefixes "[defaultN]:"). */
  private onOutput(run: LiveRun, text: string): void {
    for (const m of text.matchAll(/\bstep (\d+)\/\d+/g)) run.outputStep = Math.max(run.outputStep ?? 0, Number(m[1]));
    // The trainer finishes the step in progress and stops; one that goes on did not get the stop: send it again.
    if (run.stopAtStep !== null && run.outputStep !== null && run.outputStep > run.stopAtStep + 2 && run.process.running) {
      this.output.info(`train ${run.prepared.runDir}: still training at step ${run.outputStep}; asking it to stop again`);
      run.stopAtStep = run.outputStep;
      run.process.stop();
    }
  }

  private async finish(run: LiveRun, exit: TrainerExit, sink: RunSink): Promise<TrainFinished> {
    const { runDir } = run.prepared;
    const metricsForwarded = await run.watcher.stop();
    const fresh = (file: string) => existsSync(file) && statSync(file).mtimeMs >= run.startedAt - 2000;
    const outcome = runOutcome({
      exit,
      status: fresh(join(runDir, 'status.json')) ? readStatus(join(runDir, 'status.json')) : null,
      lastStep: run.lastStep,
      steps: run.prepared.options.steps,
      maxMinutes: run.prepared.options.maxMinutes,
      runDir,
      modelWritten: fresh(join(runDir, 'model.pt')),
      checkpointSaved: existsSync(join(runDir, 'checkpoint.pt')),
    });
    const canResume = outcome.state !== 'finished' && existsSync(join(runDir, 'checkpoint.pt')) && run.prepared.resume !== undefined;
    if (canResume) this.resumable.set(runDir, run.prepared.resume!);
    this.live.delete(runDir);
    this.setStatus(run, { ...outcome, canResume, at: Date.now() });
    this.refresh();
    this.output.info(
      `train ${runDir}: ${outcome.state}, exit code ${exit.code}${exit.signal ? ` (${exit.signal})` : ''}, ${metricsForwarded} metrics lines`,
    );
    if (outcome.logTail.length > 0) this.output.info(`train ${runDir}: last lines:\n${outcome.logTail.join('\n')}`);
    sink.write(`\n${outcome.message}\n`);
    sink.close(exit.code);
    void this.notify(runDir, outcome.state, outcome.message, canResume);
    return { runDir, exitCode: exit.code, metricsForwarded, state: outcome.state, message: outcome.message };
  }

  private async notify(runDir: string, state: TrainingRun['state'], message: string, canResume: boolean): Promise<void> {
    const show = 'Show in Panel';
    const actions = canResume ? ['Resume', show] : [show];
    const text = `Attention Reuse: ${message}`;
    const choice =
      state === 'finished'
        ? await vscode.window.showInformationMessage(text, show)
        : state === 'failed'
          ? await vscode.window.showErrorMessage(text, show)
          : await vscode.window.showWarningMessage(text, ...actions);
    if (choice === show) this.panel.revealDetail();
    else if (choice === 'Resume') this.resume(runDir);
  }

  private setStatus(run: LiveRun, patch: Partial<TrainingRun>): void {
    run.status = { ...run.status, ...patch };
    this.panel.setTrainingRun(run.status);
  }

  /** The status-bar item and the context key follow the newest live run. */
  private refresh(): void {
    const runs = [...this.live.values()];
    void vscode.commands.executeCommand('setContext', contextKey, runs.length > 0);
    const run = runs[runs.length - 1];
    if (!run) {
      this.statusItem.hide();
      return;
    }
    const name = basename(run.prepared.runDir);
    const step = run.lastStep === null ? 'starting' : `step ${run.lastStep}/${run.prepared.options.steps}`;
    const more = runs.length > 1 ? ` (+${runs.length - 1})` : '';
    if (run.process.stopping) {
      this.statusItem.text = `$(loading~spin) Stopping ${name}…${more}`;
      this.statusItem.tooltip = 'Attention Reuse: the trainer finishes its step and saves a checkpoint. Click to stop it at once.';
    } else {
      this.statusItem.text = `$(sync~spin) Training: ${step}${more}`;
      this.statusItem.tooltip = `Attention Reuse: training ${name}. Click to cancel it (it saves a checkpoint first).`;
    }
    this.statusItem.command = {
      title: 'Cancel Training',
      command: 'attentionReuse.cancelTraining',
      arguments: runs.length > 1 ? [] : [run.prepared.runDir],
    };
    this.statusItem.accessibilityInformation = { label: `${this.statusItem.tooltip}`, role: 'button' };
    this.statusItem.show();
  }

  dispose(): void {
    // The window closes: a trainer at work gets the stop, one that has not started is ended, so none trains on unseen.
    for (const run of this.live.values()) {
      if (run.outputStep === null) run.process.kill();
      else run.process.stop();
      void run.watcher.stop();
    }
    this.live.clear();
    this.statusItem.dispose();
  }
}

function readStatus(path: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
