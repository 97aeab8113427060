/**
 * What the panel's webviews (the activity-bar view and the editor panel) show, and the
 * host end of their protocol. Each webview gets data only after it says `ready`, and then
 * everything it needs at once, so a view that was hidden, reloaded or restored after a
 * restart catches up by itself. Features hand it what to show through typed methods.
 */
import * as vscode from 'vscode';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readAnalysis } from '../analysis/app/readers';
import { InputError } from '../analysis/errors';
import type { Candidate, Plan } from '../analysis/planner/plan';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { ExampleSource } from '../analysis/runtime/exampleSource';
import { assertNever } from '../protocol/assertNever';
import type {
  ComparisonMessage,
  ExportChartMessage,
  FromWebview,
  RequestMessage,
  RequestType,
  RunStatus,
  SettingsMessage,
  ThemeKind,
  ToWebview,
  TrainingRun,
} from '../protocol/messages';
import type { ModelSummaryPayload } from '../protocol/modelMessages';
import { failedReply, replyTo } from '../protocol/requests';
import type { ReplyBody } from '../protocol/requests';
import type { AnalysisStore } from './analysisStore';
import { userMessage } from './errorWording';
import type { MetricsLine } from './metricsWatcher';
import { AttentionMaps } from './panelAttention';
import { checkWebviewMessage } from './panelMessages';
import { analysisMessage, planMessage } from './panelPayloads';
import { PanelTraining } from './panelTraining';
import { CandidateTrials } from './panelTrials';
import type { SettingsReader } from './settings';

/** An analysis on screen: the file, where it lives and where its examples came from. */
export interface ShownAnalysis {
  file: AnalysisFile;
  path?: string;
  label: string;
  /** Needed to re-run the model for attention maps; guessed from the file when absent. */
  source?: ExampleSource;
  /** When the file was written (ms since the epoch); read from the file when absent. */
  savedAt?: number;
}

/** A candidate the user asked the panel to write as a reuse config. */
export interface ChosenCandidate {
  analysis: ShownAnalysis;
  plan: Plan;
  candidate: Candidate;
}

export interface ShowOptions {
  /** Remember it as the last analysis (default true; false when restoring that one). */
  remember?: boolean;
  /** Open or bring forward the editor panel. */
  reveal?: boolean;
}

type Host = SettingsMessage['host'];

interface Connection {
  webview: vscode.Webview;
  host: Host;
  ready: boolean;
}

function themeKind(kind: vscode.ColorThemeKind): ThemeKind {
  switch (kind) {
    case vscode.ColorThemeKind.Light:
      return 'light';
    case vscode.ColorThemeKind.HighContrast:
      return 'high-contrast';
    case vscode.ColorThemeKind.HighContrastLight:
      return 'high-contrast-light';
    default:
      return 'dark';
  }
}

/** Where an analysis file's examples can be read again, if the files are still there. */
export function guessSource(file: AnalysisFile): ExampleSource | undefined {
  const inputs = file.run.inputs;
  if (!inputs || !existsSync(inputs) || !existsSync(file.model.path)) return undefined;
  if (inputs.endsWith('.jsonl')) return { kind: 'jsonl', path: inputs };
  if (/\.np[yz]$/i.test(inputs)) return { kind: 'arrays', path: inputs };
  // A folder is a folder of images, prepared by the config beside the model (flags given to the CLI are not recorded).
  if (statSync(inputs).isDirectory()) return { kind: 'images', path: inputs };
  const tokenizer = [join(dirname(file.model.path), 'tokenizer.json'), join(dirname(inputs), 'tokenizer.json')].find((p) => existsSync(p));
  return tokenizer ? { kind: 'text', path: inputs, tokenizer } : undefined;
}

/** When a file was last written, or undefined when it cannot be read. */
function savedAt(path: string | undefined): number | undefined {
  try {
    return path ? statSync(path).mtimeMs : undefined;
  } catch {
    return undefined;
  }
}

export class PanelHub implements vscode.Disposable {
  private readonly connections = new Set<Connection>();
  private shown: ShownAnalysis | null = null;
  private maps: AttentionMaps | undefined;
  private readonly plans = new Map<string, Plan>();
  private readonly training = new PanelTraining();
  private readonly trials = new CandidateTrials(
    (status) => this.broadcast(status),
    (line) => this.output.info(line),
  );
  private comparison: ComparisonMessage | null = null;
  private restoring: Promise<void> | undefined;
  private runStatus: RunStatus | null = null;
  private modelSummary: ModelSummaryPayload | null = null;
  private readonly detailRequested = new vscode.EventEmitter<void>();
  private readonly candidateChosen = new vscode.EventEmitter<ChosenCandidate>();
  private readonly analyzeRequested = new vscode.EventEmitter<string>();
  private readonly trainingAction = new vscode.EventEmitter<{ action: 'cancel' | 'resume'; run: string }>();
  /** The editor panel should open or come forward (AttentionPanel listens). */
  readonly onDidRequestDetail = this.detailRequested.event;
  /** The user pressed "Emit config…" on a candidate (PlanCommands listens). */
  readonly onDidChooseCandidate = this.candidateChosen.event;
  /** The user pressed "Analyze…" on the model summary the panel shows (the analyze feature listens). */
  readonly onDidAskToAnalyze = this.analyzeRequested.event;
  /** The user pressed Cancel or Resume on a training run (TrainTasks listens). */
  readonly onDidAskTrainingAction = this.trainingAction.event;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly settings: SettingsReader,
    private readonly analyses: AnalysisStore,
  ) {}

  /** Wires a webview to the hub; the returned disposable unhooks it. */
  connect(webview: vscode.Webview, host: Host): vscode.Disposable {
    const conn: Connection = { webview, host, ready: false };
    this.connections.add(conn);
    const listener = webview.onDidReceiveMessage((raw: unknown) => {
      const checked = checkWebviewMessage(raw);
      if (!checked.ok) {
        this.output.warn(`panel: ignored a message from the webview (${checked.reason})`);
        return;
      }
      this.handle(conn, checked.message).catch((err) => this.output.error(`panel: ${checked.message.type}: ${userMessage(err)}`));
    });
    return new vscode.Disposable(() => {
      listener.dispose();
      this.connections.delete(conn);
    });
  }

  /** Shows an analysis in every view (and remembers it for the next session unless told not to). */
  async show(analysis: ShownAnalysis, options: ShowOptions = {}): Promise<void> {
    await this.maps?.dispose();
    this.maps = undefined;
    this.shown = {
      ...analysis,
      source: analysis.source ?? guessSource(analysis.file),
      savedAt: analysis.savedAt ?? savedAt(analysis.path),
    };
    this.plans.clear();
    this.trials.reset();
    if (options.remember !== false && analysis.path) {
      await this.analyses.remember({ path: analysis.path, label: analysis.label, source: this.shown.source, at: this.shown.savedAt });
    }
    // The model card stood in for an analysis of the model; now there is one.
    this.modelSummary = null;
    this.broadcast({ type: 'modelSummary', summary: null });
    this.broadcast(this.analysisMessage());
    if (options.reveal) this.revealDetail();
  }

  /** The path of the analysis on screen, if it is saved. */
  get shownPath(): string | undefined {
    return this.shown?.path;
  }

  /** What the views were last told about an analysis run. */
  get lastRunStatus(): RunStatus | null {
    return this.runStatus;
  }

  /** Tells every view how the last analysis run went; the analysis on screen stays as it is. */
  setRunStatus(status: RunStatus | null): void {
    this.runStatus = status;
    this.broadcast({ type: 'runStatus', status });
  }

  /** Shows a model's summary in the panel ("Inspect in panel"), above the analysis on screen if any. */
  showModelSummary(summary: ModelSummaryPayload, options: ShowOptions = {}): void {
    this.modelSummary = summary;
    this.broadcast({ type: 'modelSummary', summary });
    if (options.reveal) this.revealDetail();
  }

  /** Reads an analysis file and shows it. */
  async showFile(path: string, label: string, options: ShowOptions = {}): Promise<void> {
    await this.show({ file: await readAnalysis(path), path, label }, options);
  }

  /** Shows a plan's candidates in the planner. */
  showPlan(plan: Plan): void {
    this.plans.set(plan.stack, plan);
    this.broadcast(planMessage(plan));
  }

  /** Merges training metrics lines (`step`, `loss`, … as the trainer logs them) into a run's curve; `reset` replaces the run's points. */
  appendMetrics(run: string, lines: MetricsLine[], reset = false): void {
    this.broadcast(this.training.append(run, lines, reset));
  }

  /** What the views were last told about a training run. */
  trainingRun(run: string): TrainingRun | null {
    return this.training.status(run);
  }

  /** Tells every view how a training run stands. */
  setTrainingRun(status: TrainingRun): void {
    this.training.setStatus(status);
    this.broadcast({ type: 'trainingRun', status });
  }

  /** Shows two analyses side by side in the compare view (and brings the editor panel forward). */
  showComparison(message: ComparisonMessage): void {
    this.comparison = message;
    this.broadcast(message);
    this.revealDetail();
  }

  revealDetail(): void {
    this.detailRequested.fire();
  }

  broadcastSettings(): void {
    for (const c of this.connections) if (c.ready) void this.post(c, this.settingsMessage(c.host));
  }

  private settingsMessage(host: Host): SettingsMessage {
    return { type: 'settings', theme: themeKind(vscode.window.activeColorTheme.kind), host };
  }

  private analysisMessage(): ToWebview {
    const s = this.shown;
    const saved = s?.path && s.savedAt !== undefined ? { path: s.path, savedAt: s.savedAt } : undefined;
    return analysisMessage(s?.file ?? null, s?.label ?? '', s?.source !== undefined, saved);
  }

  private broadcast(message: ToWebview, except?: Connection): void {
    for (const c of this.connections) if (c.ready && c !== except) void this.post(c, message);
  }

  private async post(conn: Connection, message: ToWebview): Promise<void> {
    // The protocol says the host never posts before `ready`.
    if (!conn.ready) return;
    try {
      await conn.webview.postMessage(message);
    } catch (err) {
      this.output.warn(`panel: could not post ${message.type}: ${userMessage(err)}`);
    }
  }

  /** Loads the analysis shown last time, once, when the first view asks for data. */
  private restore(): Promise<void> {
    this.restoring ??= (async () => {
      if (this.shown) return;
      const last = this.analyses.last();
      if (!last) return;
      try {
        const file = await readAnalysis(last.path);
        if (!this.shown) await this.show({ file, path: last.path, label: last.label, source: last.source }, { remember: false });
      } catch (err) {
        this.output.warn(`panel: could not reopen ${last.path}: ${userMessage(err)}`);
      }
    })();
    return this.restoring;
  }

  private async handle(conn: Connection, msg: FromWebview): Promise<void> {
    switch (msg.type) {
      case 'ready': {
        await this.restore();
        // Everything the view needs as it stands now, posted in one go before any broadcast can
        // reach the view: a live training line never arrives ahead of its run's replay (which
        // would reorder the runs), and a line appended after the replay was taken comes after it.
        const messages: ToWebview[] = [
          this.settingsMessage(conn.host),
          this.analysisMessage(),
          ...(this.runStatus ? [{ type: 'runStatus', status: this.runStatus } as const] : []),
          ...(this.modelSummary ? [{ type: 'modelSummary', summary: this.modelSummary } as const] : []),
          ...[...this.plans.values()].map((plan) => planMessage(plan)),
          ...this.trials.statuses(),
          // Each run whole, replacing what the view holds.
          ...this.training.replay(),
          ...(this.comparison ? [this.comparison] : []),
        ];
        conn.ready = true;
        await Promise.all(messages.map((m) => this.post(conn, m)));
        return;
      }
      case 'requestAttentionMap':
        return this.answer(conn, msg, () => this.attentionMap(msg));
      case 'selectLayerPair':
        this.broadcast({ type: 'focusLayerPair', stack: msg.stack, layer: msg.layer, otherLayer: msg.otherLayer }, conn);
        return;
      case 'emitConfig':
        return this.chooseCandidate(msg.stack, msg.candidate);
      case 'exportChart':
        return this.exportChart(msg);
      case 'openDetail':
        this.revealDetail();
        return;
      case 'runCommand':
        // Public commands (the empty panel's buttons), run as if from the palette.
        await vscode.commands.executeCommand(`attentionReuse.${msg.command}`);
        return;
      case 'modelAction':
        return this.modelAction(msg.action);
      case 'cancelTraining':
        this.trainingAction.fire({ action: 'cancel', run: msg.run });
        return;
      case 'resumeTraining':
        this.trainingAction.fire({ action: 'resume', run: msg.run });
        return;
      case 'tryOnModel':
        return this.tryOnModel(msg.stack, msg.candidates);
      case 'cancelTryOnModel':
        this.trials.cancel();
        return;
      case 'log':
        this.output[msg.level](`webview: ${msg.message}`);
        return;
      default:
        assertNever(msg);
    }
  }

  /** Posts the reply to a request, or `requestFailed` with the reason it could not be served. */
  private async answer<T extends RequestType>(
    conn: Connection,
    request: RequestMessage<T>,
    work: () => Promise<ReplyBody<T>>,
  ): Promise<void> {
    try {
      await this.post(conn, replyTo(request, await work()));
    } catch (err) {
      const message = userMessage(err);
      this.output.error(`panel: ${request.type}: ${message}`);
      await this.post(conn, failedReply(request, message));
    }
  }

  private async attentionMap(request: RequestMessage<'requestAttentionMap'>): Promise<ReplyBody<'requestAttentionMap'>> {
    const shown = this.shown;
    if (!shown?.source) throw new InputError('The model or the inputs of this analysis cannot be found, so its attention cannot be shown.');
    this.maps ??= new AttentionMaps(shown.file, shown.source, this.settings.read().executionProvider);
    return this.maps.get(request);
  }

  private modelAction(action: 'analyze' | 'inspectInPanel' | 'showLog'): void {
    if (action === 'showLog') this.output.show(true);
    else if (action === 'inspectInPanel') this.revealDetail();
    else if (this.modelSummary) this.analyzeRequested.fire(this.modelSummary.path);
    else this.output.warn('panel: "Analyze" for a model summary the panel no longer shows');
  }

  private chooseCandidate(stack: string, index: number): void {
    const plan = this.plans.get(stack);
    const candidate = plan?.candidates[index];
    if (!plan || !candidate || !this.shown) {
      this.output.warn(`panel: emitConfig for candidate ${index} of "${stack}", which the panel was never sent`);
      return;
    }
    this.candidateChosen.fire({ analysis: this.shown, plan, candidate });
  }

  /** Measures candidates of the plan on screen on the analysed model ("Try on model"). */
  private async tryOnModel(stack: string, candidates: number[]): Promise<void> {
    const plan = this.plans.get(stack);
    if (!plan || !this.shown || candidates.some((i) => !plan.candidates[i])) {
      this.output.warn(`panel: tryOnModel for candidates ${candidates.join(', ')} of "${stack}", which the panel was never sent`);
      return;
    }
    const { file, source } = this.shown;
    await this.trials.run({ file, source, plan, candidates, ep: this.settings.read().executionProvider });
  }

  private async exportChart({ chart, format, data }: ExportChartMessage): Promise<void> {
    const folder =
      vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(this.shown?.path ? dirname(this.shown.path) : process.cwd());
    const filters: Record<string, Record<string, string[]>> = {
      png: { 'PNG image': ['png'] },
      csv: { 'CSV table': ['csv'] },
      svg: { 'SVG image': ['svg'] },
    };
    const uri = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(folder, `${chart}.${format}`),
      filters: filters[format],
      saveLabel: 'Export',
    });
    if (!uri) return;
    const bytes = format === 'png' ? Buffer.from(data.slice(data.indexOf(',') + 1), 'base64') : Buffer.from(data, 'utf8');
    await vscode.workspace.fs.writeFile(uri, bytes);
    this.output.info(`exported ${uri.fsPath}`);
    vscode.window.setStatusBarMessage(`Attention Reuse: saved ${basename(uri.fsPath)}`, 5000);
  }

  dispose(): void {
    void this.maps?.dispose();
    this.trials.reset();
    this.connections.clear();
    this.detailRequested.dispose();
    this.candidateChosen.dispose();
    this.analyzeRequested.dispose();
    this.trainingAction.dispose();
  }
}
