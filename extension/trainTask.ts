/**
 * "Train Reuse Model" and the `attentionReuse.train` task type: the CLI's `train` runs as a
 * VS Code task under the extension host's Node, in a terminal the extension drives itself
 * (a CustomExecution), so that stopping the task — "Terminate Task", Ctrl+C, the panel's or
 * the status bar's Cancel — lets the trainer save a checkpoint, and the task's end says how
 * the run ended (trainRuns.ts). The task's fields are checked and become the CLI's arguments
 * in trainArgs.ts. Training starts a Python interpreter named by the settings, so it needs a
 * trusted workspace.
 */
import * as vscode from 'vscode';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { readReuseConfig } from '../analysis/app/readers';
import { InputError } from '../analysis/errors';
import type { Deps } from './deps';
import { userMessage } from './errorWording';
import type { SettingsReader } from './settings';
import type { FieldSchema, TrainFields } from './trainArgs';
import { batchSplitProblem, checkTrainFields, effectiveTrainOptions, trainArgv } from './trainArgs';
import type { PreparedRun, RunSink, TrainFinished } from './trainRuns';
import { TrainRuns } from './trainRuns';

export const trainTaskType = 'attentionReuse.train';

/** The task definition package.json declares (`taskDefinitions`); paths may be relative to the workspace folder. */
export interface TrainTaskDefinition extends vscode.TaskDefinition, TrainFields {
  type: typeof trainTaskType;
}

/** Arguments of `attentionReuse.train`: a config Uri, or the task's fields (then nothing is asked). */
export type TrainArgs = Partial<Omit<TrainTaskDefinition, 'type' | 'config'>> & { config?: string | vscode.Uri };

export type { TrainFinished } from './trainRuns';
export type TrainResult = TrainFinished | { refused: string } | { error: string } | undefined;

export const restrictedModeMessage =
  'Attention Reuse: training is disabled in Restricted Mode, because it starts the Python interpreter that the settings name. Trust this workspace to train.';

export class TrainTasks implements vscode.Disposable {
  private provider: vscode.Disposable | undefined;
  /** Set while a `train` command waits for the run in that folder to start. */
  private readonly waiting = new Map<string, (finished: Promise<TrainFinished> | Error) => void>();
  private readonly properties: Record<string, FieldSchema>;

  private constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    private readonly settings: SettingsReader,
    private readonly runs: TrainRuns,
  ) {
    const pkg = context.extension.packageJSON as {
      contributes?: { taskDefinitions?: { type: string; properties?: Record<string, FieldSchema> }[] };
    };
    this.properties = pkg.contributes?.taskDefinitions?.find((d) => d.type === trainTaskType)?.properties ?? {};
  }

  static register(context: vscode.ExtensionContext, { output, settings, panel }: Deps): vscode.Disposable {
    const runs = new TrainRuns(output, panel);
    const tasks = new TrainTasks(context, output, settings, runs);
    if (vscode.workspace.isTrusted) tasks.registerProvider();
    return vscode.Disposable.from(
      tasks,
      runs,
      runs.wire(),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        output.info('workspace trusted: training is available');
        tasks.registerProvider();
      }),
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
    return configs.map((uri) => {
      const folder = vscode.workspace.getWorkspaceFolder(uri);
      const config = folder ? vscode.workspace.asRelativePath(uri, false) : uri.fsPath;
      return this.taskFor({ type: trainTaskType, config }, folder);
    });
  }

  private resolveTask(task: vscode.Task): vscode.Task | undefined {
    const definition = task.definition as TrainTaskDefinition;
    if (!vscode.workspace.isTrusted || definition.type !== trainTaskType || typeof definition.config !== 'string') return undefined;
    return this.taskFor(definition, typeof task.scope === 'object' ? task.scope : undefined);
  }

  /** The task: its terminal starts the run when it opens, so each execution gets its own run folder unless `out` names one. */
  private taskFor(definition: TrainTaskDefinition, folder: vscode.WorkspaceFolder | undefined): vscode.Task {
    const execution = new vscode.CustomExecution(
      async (resolved) =>
        new TrainTerminal((terminal, sink) => this.startRun(resolved as TrainTaskDefinition, folder, terminal, sink), this.runs),
    );
    const task = new vscode.Task(
      definition,
      folder ?? vscode.TaskScope.Workspace,
      `train ${basename(definition.config)}`,
      'Attention Reuse',
      execution,
    );
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
    return task;
  }

  /**
   * The command line of a definition: fields checked against the declared task definition,
   * each left out taken from its setting, paths resolved, the batch split checked.
   */
  async prepare(definition: TrainTaskDefinition, folder: vscode.WorkspaceFolder | undefined): Promise<PreparedRun> {
    const { fields, problems } = checkTrainFields(definition, this.properties);
    if (problems.length > 0) throw new InputError(`the attentionReuse.train task cannot run: ${problems.join('; ')}`);
    const settings = this.settings.read(folder?.uri);
    const options = effectiveTrainOptions(fields, settings);
    const split = batchSplitProblem(options);
    if (split) throw new InputError(split);
    const base = folder?.uri.fsPath;
    const path = this.pathIn(folder);
    const sample = (name: string) => vscode.Uri.joinPath(this.context.extensionUri, 'media', 'sample', name).fsPath;
    const config = path(fields.config);
    const data = fields.data ? path(fields.data) : sample('sentences.txt');
    const beside = join(dirname(data), 'tokenizer.json');
    const tokenizer = fields.tokenizer ? path(fields.tokenizer) : existsSync(beside) ? beside : sample('tokenizer.json');
    const runDir = fields.out ? path(fields.out) : this.newRunDir(config, folder);
    const python = await this.settings.resolvePython(folder?.uri);
    const cli = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'cli.js').fsPath;
    const args = trainArgv(
      { cli, config, data, tokenizer, out: runDir, python: python.path, initFrom: fields.initFrom && path(fields.initFrom) },
      options,
    );
    const again: TrainTaskDefinition = { ...definition, config, data, tokenizer, out: runDir, resume: true };
    return {
      runDir,
      label: basename(config),
      // The extension host's own Node runs the CLI; in desktop VS Code that is Electron, which this turns into plain Node.
      command: process.execPath,
      args,
      cwd: base ?? dirname(config),
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ORT_DISABLE_TELEMETRY: '1', PYTHONUNBUFFERED: '1' },
      options,
      resume: () => void vscode.tasks.executeTask(this.taskFor(again, folder)).then(undefined, (err) => this.report(err)),
    };
  }

  /** Called by a task's terminal when it opens: starts the run, or says in the terminal why it cannot. */
  private async startRun(
    definition: TrainTaskDefinition,
    folder: vscode.WorkspaceFolder | undefined,
    terminal: TrainTerminal,
    sink: RunSink,
  ): Promise<void> {
    const path = this.pathIn(folder);
    const out = definition.out ? path(definition.out) : this.newRunDir(path(String(definition.config)), folder);
    const settle = (result: Promise<TrainFinished> | Error) => this.waiting.get(out)?.(result);
    try {
      const prepared = await this.prepare({ ...definition, out }, folder);
      if (this.runs.isRunning(prepared.runDir)) throw new InputError(`a run is already training into ${prepared.runDir}`);
      if (!terminal.follow(prepared.runDir)) {
        this.output.info(`train ${prepared.runDir}: the task was stopped before the run started`);
        settle(new Error('the task was stopped before the run started'));
        return;
      }
      settle(this.runs.start(prepared, sink));
    } catch (err) {
      const message = userMessage(err);
      sink.write(`Attention Reuse: ${message}\n`);
      sink.close(2);
      this.output.error(`train: ${message}`);
      settle(err instanceof Error ? err : new Error(message));
    }
  }

  /** A task's path as tasks.json means it: `${workspaceFolder}` expanded, relative to the folder (else to the output folder). */
  private pathIn(folder: vscode.WorkspaceFolder | undefined): (p: string) => string {
    const base = folder?.uri.fsPath;
    return (p) => resolve(base ?? this.settings.outputFolder(), base ? p.replace(/\$\{workspaceFolder\}/g, base) : p);
  }

  private newRunDir(config: string, folder: vscode.WorkspaceFolder | undefined): string {
    const stamp = new Date()
      .toISOString()
      .replace(/\.\d+Z$/, '')
      .replace(/[-:]/g, '')
      .replace('T', '-');
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
      const data =
        args.data ??
        (interactive ? await this.pickFile('Training text', 'sentences.txt', 'Sample sentences (300 English sentences)') : undefined);
      if (interactive && data === undefined) return undefined;
      const tokenizer =
        args.tokenizer ??
        (interactive ? await this.pickFile('Tokenizer', 'tokenizer.json', 'The sample model’s tokenizer', data) : undefined);
      if (interactive && tokenizer === undefined) return undefined;
      const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(config));
      const paths = (p: string | undefined) => (p ? absolute(p) : undefined);
      const definition = {
        ...args,
        type: trainTaskType,
        config,
        data: paths(data),
        tokenizer: paths(tokenizer),
        initFrom: paths(args.initFrom),
        out: args.out ? absolute(args.out) : this.newRunDir(config, folder),
      } as TrainTaskDefinition;
      for (const key of Object.keys(definition) as (keyof TrainTaskDefinition)[]) if (definition[key] === undefined) delete definition[key];
      const prepared = await this.prepare(definition, folder); // a field or a batch split it cannot take, before a terminal opens
      if (this.runs.isRunning(prepared.runDir)) throw new InputError(`a run is already training into ${prepared.runDir}`);
      const started = new Promise<Promise<TrainFinished> | Error>((settle) => this.waiting.set(prepared.runDir, settle));
      try {
        await vscode.tasks.executeTask(this.taskFor(definition, folder));
        const finished = await started;
        if (finished instanceof Error) throw finished;
        return await finished;
      } finally {
        this.waiting.delete(prepared.runDir);
      }
    } catch (err) {
      return this.report(err);
    }
  }

  private report(err: unknown): { error: string } {
    const message = userMessage(err);
    this.output.error(`train: ${message}`);
    void vscode.window.showErrorMessage(`Attention Reuse: ${message}`);
    return { error: message };
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
    const items: Item[] = [...new Set(found)].map((path) => ({
      label: basename(path),
      description: vscode.workspace.asRelativePath(path),
      path,
    }));
    items.push({ label: '$(folder-opened) Browse…' });
    const chosen = await vscode.window.showQuickPick(items, {
      title: 'Train Reuse Model: which reuse config?',
      placeHolder: 'Write one with "Attention Reuse: Emit Reuse Config"',
    });
    if (!chosen) return undefined;
    if (chosen.path) return chosen.path;
    const picked = await vscode.window.showOpenDialog({
      title: 'Reuse config',
      filters: { 'Reuse config': ['json'] },
      canSelectMany: false,
    });
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

  dispose(): void {
    this.provider?.dispose();
    this.waiting.clear();
  }
}

/**
 * The task's terminal: the run's output, with line ends as a terminal wants them. Closing it
 * (Terminate Task, or the trash can) asks the run to stop; Ctrl+C does too.
 */
class TrainTerminal implements vscode.Pseudoterminal {
  private readonly written = new vscode.EventEmitter<string>();
  private readonly closed = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.written.event;
  readonly onDidClose = this.closed.event;
  private runDir: string | undefined;
  private done = false;

  constructor(
    private readonly start: (terminal: TrainTerminal, sink: RunSink) => void,
    private readonly runs: TrainRuns,
  ) {}

  open(): void {
    this.start(this, {
      write: (text) => {
        if (!this.done) this.written.fire(text.replace(/\r?\n/g, '\r\n'));
      },
      close: (code) => {
        if (this.done) return;
        this.done = true;
        this.closed.fire(code);
      },
    });
  }

  /** The run is about to start: a stop reaches it from now on. False when the terminal was closed meanwhile (then it does not start). */
  follow(runDir: string): boolean {
    this.runDir = runDir;
    return !this.done;
  }

  close(): void {
    this.done = true;
    if (this.runDir && this.runs.isRunning(this.runDir)) this.runs.cancel(this.runDir);
  }

  handleInput(data: string): void {
    if (data === '\x03' && this.runDir && this.runs.isRunning(this.runDir)) this.runs.cancel(this.runDir);
  }
}
