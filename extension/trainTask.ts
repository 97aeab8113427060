/**
 * "Train Reuse Model" and the `attentionReuse.train` task type: the CLI's `train` runs as a
 * VS Code task (its own terminal, stoppable, with an exit code) under the extension host's
 * Node, and the run's metrics.jsonl is followed into the panel's loss chart. Training
 * starts a Python interpreter named by the settings, so it needs a trusted workspace.
 */
import * as vscode from 'vscode';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { readReuseConfig } from '../analysis/app/readers';
import type { Deps } from './deps';
import { userMessage } from './errorWording';
import { MetricsWatcher } from './metricsWatcher';
import type { PanelHub } from './panelHub';
import type { Settings, SettingsReader } from './settings';

export const trainTaskType = 'attentionReuse.train';

/** The task definition package.json declares (`taskDefinitions`); paths may be relative to the workspace folder. */
export interface TrainTaskDefinition extends vscode.TaskDefinition {
  type: typeof trainTaskType;
  config: string;
  data?: string;
  tokenizer?: string;
  out?: string;
  steps?: number;
  launcher?: Settings['launcher'];
  nproc?: number;
}

/** Arguments of `attentionReuse.train`: a config Uri, or the task's fields (then nothing is asked). */
export type TrainArgs = Partial<Omit<TrainTaskDefinition, 'type' | 'config'>> & { config?: string | vscode.Uri };

export interface TrainFinished {
  runDir: string;
  /** The CLI's exit code; undefined when the task ended without one (stopped before its process started). */
  exitCode: number | undefined;
  /** metrics.jsonl lines handed to the panel. */
  metricsForwarded: number;
}

export type TrainResult = TrainFinished | { refused: string } | { error: string } | undefined;

export const restrictedModeMessage =
  'Attention Reuse: training is disabled in Restricted Mode, because it starts the Python interpreter that the settings name. Trust this workspace to train.';

interface Run {
  watcher?: MetricsWatcher;
  finished: boolean;
  /** Set while a `train` command waits for this run. */
  settle?: (result: TrainFinished) => void;
  fallback?: ReturnType<typeof setTimeout>;
}

export class TrainTasks implements vscode.Disposable {
  private readonly runs = new Map<string, Run>();
  private provider: vscode.Disposable | undefined;

  private constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    private readonly settings: SettingsReader,
    private readonly panel: PanelHub,
  ) {}

  static register(context: vscode.ExtensionContext, { output, settings, panel }: Deps): vscode.Disposable {
    const tasks = new TrainTasks(context, output, settings, panel);
    if (vscode.workspace.isTrusted) tasks.registerProvider();
    return vscode.Disposable.from(
      tasks,
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        output.info('workspace trusted: training is available');
        tasks.registerProvider();
      }),
      vscode.tasks.onDidStartTaskProcess((e) => tasks.started(e.execution)),
      vscode.tasks.onDidEndTaskProcess((e) => void tasks.ended(e.execution, e.exitCode)),
      // A task stopped before its process started has no process end; give the process event a moment first.
      vscode.tasks.onDidEndTask((e) => tasks.endedLater(e.execution)),
      vscode.commands.registerCommand('attentionReuse.train', (arg?: vscode.Uri | TrainArgs) => tasks.train(arg)),
    );
  }

  private registerProvider(): void {
    this.provider ??= vscode.tasks.registerTaskProvider(trainTaskType, {
      provideTasks: () => this.provideTasks(),
      resolveTask: (task) => this.resolveTask(task),
    });
  }

  /** One task per reuse config in the workspace, with the default data and settings. */
  private async provideTasks(): Promise<vscode.Task[]> {
    if (!vscode.workspace.isTrusted) return [];
    const configs = await vscode.workspace.findFiles('**/*.reuse.json', '**/node_modules/**', 50);
    const tasks: vscode.Task[] = [];
    for (const uri of configs) {
      const folder = vscode.workspace.getWorkspaceFolder(uri);
      const config = folder ? vscode.workspace.asRelativePath(uri, false) : uri.fsPath;
      tasks.push(await this.taskFor({ type: trainTaskType, config }, folder));
    }
    return tasks;
  }

  private async resolveTask(task: vscode.Task): Promise<vscode.Task | undefined> {
    const definition = task.definition as TrainTaskDefinition;
    if (!vscode.workspace.isTrusted || definition.type !== trainTaskType || typeof definition.config !== 'string') return undefined;
    const folder = typeof task.scope === 'object' ? task.scope : undefined;
    return this.taskFor(definition, folder);
  }

  /** The task that runs `node dist/cli.js train …` for a definition (an argument array, never a shell line). */
  private async taskFor(definition: TrainTaskDefinition, folder: vscode.WorkspaceFolder | undefined): Promise<vscode.Task> {
    const settings = this.settings.read(folder?.uri);
    const base = folder?.uri.fsPath;
    const path = (p: string) => resolve(base ?? this.settings.outputFolder(), base ? p.replace(/\$\{workspaceFolder\}/g, base) : p);
    const sample = (name: string) => vscode.Uri.joinPath(this.context.extensionUri, 'media', 'sample', name).fsPath;
    const config = path(definition.config);
    const data = definition.data ? path(definition.data) : sample('sentences.txt');
    const beside = join(dirname(data), 'tokenizer.json');
    const tokenizer = definition.tokenizer ? path(definition.tokenizer) : existsSync(beside) ? beside : sample('tokenizer.json');
    const out = definition.out ? path(definition.out) : this.newRunDir(config, folder);
    const launcher = definition.launcher ?? settings.launcher;
    const steps = clampCount(definition.steps, settings.steps, 1_000_000);
    const python = await this.settings.resolvePython(folder?.uri);
    const args = [
      vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'cli.js').fsPath,
      'train', config,
      '--data', data,
      '--tokenizer', tokenizer,
      '--out', out,
      '--steps', String(steps),
      '--python', python.path,
      '--launcher', launcher,
      ...(launcher === 'torchrun' ? ['--nproc', String(clampCount(definition.nproc, settings.processes, 64))] : []),
    ];
    // The extension host's own Node runs the CLI; in desktop VS Code that is Electron, which this turns into plain Node.
    const execution = new vscode.ProcessExecution(process.execPath, args, {
      cwd: base ?? dirname(config),
      env: { ELECTRON_RUN_AS_NODE: '1', ORT_DISABLE_TELEMETRY: '1' },
    });
    const task = new vscode.Task(definition, folder ?? vscode.TaskScope.Workspace, `train ${basename(config)}`, 'Attention Reuse', execution);
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
    return task;
  }

  private newRunDir(config: string, folder: vscode.WorkspaceFolder | undefined): string {
    const stamp = new Date().toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '').replace('T', '-');
    return join(this.settings.outputFolder(folder?.uri), 'runs', `${basename(config).replace(/\.reuse\.json$|\.json$/, '')}-${stamp}`);
  }

  async train(arg?: vscode.Uri | TrainArgs): Promise<TrainResult> {
    if (!vscode.workspace.isTrusted) {
      this.output.warn('train: refused in Restricted Mode');
      void vscode.window.showWarningMessage(restrictedModeMessage, 'Manage Workspace Trust').then((choice) => {
        if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
      });
      return { refused: restrictedModeMessage };
    }
    const args: TrainArgs = arg instanceof vscode.Uri ? { config: arg } : (arg ?? {});
    const interactive = arg === undefined || arg instanceof vscode.Uri;
    try {
      // Relative paths in the arguments are taken from the first workspace folder, as in tasks.json.
      const absolute = (p: string) => resolve(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '', p);
      const given = args.config instanceof vscode.Uri ? args.config.fsPath : (args.config ?? (await this.pickConfig()));
      if (!given) return undefined;
      const config = absolute(given);
      await readReuseConfig(config); // a broken config is reported here, before a terminal opens
      const data = args.data ?? (interactive ? await this.pickFile('Training text', 'sentences.txt', 'Sample sentences (300 English sentences)') : undefined);
      if (interactive && data === undefined) return undefined;
      const tokenizer = args.tokenizer ?? (interactive ? await this.pickFile('Tokenizer', 'tokenizer.json', 'The sample model’s tokenizer', data) : undefined);
      if (interactive && tokenizer === undefined) return undefined;
      const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(config));
      const definition: TrainTaskDefinition = {
        type: trainTaskType,
        config,
        ...(data ? { data: absolute(data) } : {}),
        ...(tokenizer ? { tokenizer: absolute(tokenizer) } : {}),
        out: args.out ? absolute(args.out) : this.newRunDir(config, folder),
        ...(args.steps !== undefined ? { steps: args.steps } : {}),
        ...(args.launcher !== undefined ? { launcher: args.launcher } : {}),
        ...(args.nproc !== undefined ? { nproc: args.nproc } : {}),
      };
      const task = await this.taskFor(definition, folder);
      const runDir = runDirOf(task.execution)!;
      const finished = new Promise<TrainFinished>((settle) => this.runs.set(runDir, { finished: false, settle }));
      this.output.info(`train ${config} → ${runDir}`);
      try {
        await vscode.tasks.executeTask(task);
      } catch (err) {
        this.runs.delete(runDir);
        throw err;
      }
      vscode.window.setStatusBarMessage(`$(sync~spin) Attention Reuse: training ${basename(config)}`, finished);
      return await finished;
    } catch (err) {
      const message = userMessage(err);
      this.output.error(`train: ${message}`);
      void vscode.window.showErrorMessage(`Attention Reuse: ${message}`);
      return { error: message };
    }
  }

  /** The active editor's reuse config, else one the user picks from the workspace and output folder. */
  private async pickConfig(): Promise<string | undefined> {
    const active = vscode.window.activeTextEditor?.document;
    if (active?.uri.scheme === 'file' && active.uri.fsPath.endsWith('.reuse.json')) {
      // The trainer reads the file, so what the editor shows must be on disk.
      if (active.isDirty && !(await active.save())) return undefined;
      return active.uri.fsPath;
    }
    const found = (await vscode.workspace.findFiles('**/*.reuse.json', '**/node_modules/**', 50)).map((uri) => uri.fsPath);
    const outputFolder = this.settings.outputFolder();
    if (existsSync(outputFolder)) {
      for (const name of readdirSync(outputFolder)) if (name.endsWith('.reuse.json')) found.push(join(outputFolder, name));
    }
    type Item = vscode.QuickPickItem & { path?: string };
    const items: Item[] = [...new Set(found)].map((path) => ({ label: basename(path), description: vscode.workspace.asRelativePath(path), path }));
    items.push({ label: '$(folder-opened) Browse…' });
    const chosen = await vscode.window.showQuickPick(items, { title: 'Train Reuse Model: which reuse config?', placeHolder: 'Write one with "Attention Reuse: Emit Reuse Config"' });
    if (!chosen) return undefined;
    if (chosen.path) return chosen.path;
    const picked = await vscode.window.showOpenDialog({ title: 'Reuse config', filters: { 'Reuse config': ['json'] }, canSelectMany: false });
    return picked?.[0]?.fsPath;
  }

  /** The bundled sample file (the default) or one the user browses to; `near` offers a file of that name beside it. */
  private async pickFile(what: string, sampleName: string, sampleLabel: string, near?: string): Promise<string | undefined> {
    const sample = vscode.Uri.joinPath(this.context.extensionUri, 'media', 'sample', sampleName).fsPath;
    type Item = vscode.QuickPickItem & { path?: string };
    const items: Item[] = [{ label: sampleLabel, description: 'default', path: sample }];
    const beside = near && near !== sample ? join(dirname(near), sampleName) : undefined;
    if (beside && existsSync(beside)) items.unshift({ label: `${sampleName} beside the training text`, description: beside, path: beside });
    items.push({ label: '$(folder-opened) Browse…' });
    const chosen = await vscode.window.showQuickPick(items, { title: `Train Reuse Model: ${what}` });
    if (!chosen) return undefined;
    if (chosen.path) return chosen.path;
    return (await vscode.window.showOpenDialog({ title: what, canSelectMany: false }))?.[0]?.fsPath;
  }

  private started(execution: vscode.TaskExecution): void {
    if (execution.task.definition.type !== trainTaskType) return;
    const runDir = runDirOf(execution.task.execution);
    if (!runDir) return;
    const run = this.runs.get(runDir) ?? { finished: false };
    this.runs.set(runDir, run);
    run.watcher ??= new MetricsWatcher(
      join(runDir, 'metrics.jsonl'),
      basename(runDir),
      (name, lines, reset) => this.panel.appendMetrics(name, lines, reset),
      (message) => this.output.warn(message),
    );
  }

  private endedLater(execution: vscode.TaskExecution): void {
    const run = this.runOf(execution);
    if (run && !run.finished) run.fallback = setTimeout(() => void this.ended(execution, undefined), 1000);
  }

  private async ended(execution: vscode.TaskExecution, exitCode: number | undefined): Promise<void> {
    const run = this.runOf(execution);
    if (!run || run.finished) return;
    run.finished = true;
    if (run.fallback) clearTimeout(run.fallback);
    const runDir = runDirOf(execution.task.execution)!;
    this.runs.delete(runDir);
    const metricsForwarded = (await run.watcher?.stop()) ?? 0;
    this.output.info(`train ${runDir}: exit code ${exitCode ?? '(none)'}, ${metricsForwarded} metrics lines`);
    if (exitCode === 0) void vscode.window.showInformationMessage(`Attention Reuse: training finished; the model is in ${runDir}.`);
    else void vscode.window.showWarningMessage(`Attention Reuse: training ended with exit code ${exitCode ?? 'none'}; see its terminal.`);
    run.settle?.({ runDir, exitCode, metricsForwarded });
  }

  private runOf(execution: vscode.TaskExecution): Run | undefined {
    if (execution.task.definition.type !== trainTaskType) return undefined;
    const runDir = runDirOf(execution.task.execution);
    return runDir ? this.runs.get(runDir) : undefined;
  }

  dispose(): void {
    this.provider?.dispose();
    for (const run of this.runs.values()) void run.watcher?.stop();
    this.runs.clear();
  }
}

/** RUN_DIR of a train task: the argument after `--out` (the definition may leave it to a default). */
function runDirOf(execution: vscode.Task['execution']): string | undefined {
  const args = (execution as { args?: unknown } | undefined)?.args;
  if (!Array.isArray(args)) return undefined;
  const at = args.indexOf('--out');
  return at >= 0 && typeof args[at + 1] === 'string' ? resolve(args[at + 1] as string) : undefined;
}

function clampCount(value: unknown, fallback: number, max: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(max, Math.max(1, Math.round(value))) : fallback;
}
