/**
 * What the panel's webviews (the activity-bar view and the editor panel) show, and the
 * host end of their protocol. Each webview gets data only after it says `ready`, and then
 * everything it needs at once, so a view that was hidden, reloaded or restored after a
 * restart catches up by itself.
 */
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError, describeError } from '../analysis/errors';
import { readAnalysis } from '../analysis/app/readers';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { ExampleSource } from '../analysis/runtime/exampleSource';
import { parseProviderChoice } from '../analysis/runtime/providers';
import { assertNever } from '../protocol/assertNever';
import type { FromWebview, MetricsMessage, PlanCandidatesMessage, RequestMessage, RequestType, SettingsMessage, ThemeKind, ToWebview } from '../protocol/messages';
import { failedReply, replyTo } from '../protocol/requests';
import type { ReplyBody } from '../protocol/requests';
import { AttentionMaps } from './panelAttention';
import { checkWebviewMessage } from './panelMessages';
import { analysisMessage } from './panelPayloads';

/** An analysis on screen: the file, where it lives and where its examples came from. */
export interface ShownAnalysis {
  file: AnalysisFile;
  path?: string;
  label: string;
  /** Needed to re-run the model for attention maps; guessed from the file when absent. */
  source?: ExampleSource;
}

/** The part of a plan the panel shows; `raw` is handed back to the config writer unchanged. */
export type PanelPlan = Omit<PlanCandidatesMessage, 'type'> & { raw?: unknown[] };

type Host = SettingsMessage['host'];

interface Connection {
  webview: vscode.Webview;
  host: Host;
  ready: boolean;
}

const lastAnalysisKey = 'attentionReuse.lastAnalysis';
const maxMetricPoints = 200_000;
/** Internal command another feature registers to write a reuse config for a candidate. */
export const writeConfigCommand = 'attentionReuse.writeReuseConfig';

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
  const tokenizer = [join(dirname(file.model.path), 'tokenizer.json'), join(dirname(inputs), 'tokenizer.json')].find((p) => existsSync(p));
  return tokenizer ? { kind: 'text', path: inputs, tokenizer } : undefined;
}

export class PanelHub implements vscode.Disposable {
  private readonly connections = new Set<Connection>();
  private shown: ShownAnalysis | null = null;
  private maps: AttentionMaps | undefined;
  private readonly plans = new Map<string, PanelPlan>();
  private metrics: MetricsMessage[] = [];
  private metricPoints = 0;
  private restoring: Promise<void> | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    private readonly openDetail: () => void,
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
      this.handle(conn, checked.message).catch((err) => this.output.error(`panel: ${checked.message.type}: ${describeError(err)}`));
    });
    return new vscode.Disposable(() => {
      listener.dispose();
      this.connections.delete(conn);
    });
  }

  /** Shows an analysis in every view and remembers it for the next session. */
  async show(analysis: ShownAnalysis, remember = true): Promise<void> {
    await this.maps?.dispose();
    this.maps = undefined;
    this.shown = { ...analysis, source: analysis.source ?? guessSource(analysis.file) };
    this.plans.clear();
    if (remember && analysis.path) {
      await this.context.globalState.update(lastAnalysisKey, { path: analysis.path, label: analysis.label, source: this.shown.source });
    }
    this.broadcast(this.analysisMessage());
  }

  /** Shows a plan's candidates (called by the planner feature). */
  showPlan(plan: PanelPlan): void {
    this.plans.set(plan.stack, plan);
    const { raw: _raw, ...rest } = plan;
    this.broadcast({ type: 'planCandidates', ...rest });
  }

  /** Appends training metrics lines (`step`, `loss`, … as the trainer logs them). */
  appendMetrics(run: string, lines: Record<string, unknown>[], reset = false): void {
    const column = (key: string) => Float64Array.from(lines, (l) => (typeof l[key] === 'number' ? (l[key] as number) : NaN));
    const message: MetricsMessage = {
      type: 'metrics',
      run,
      reset,
      points: { step: column('step'), loss: column('loss'), lr: column('lr'), tokensPerSecond: column('tokensPerSecond'), elapsedSeconds: column('elapsedSeconds') },
    };
    const previous = this.metrics[0]?.run;
    if (reset || previous !== run) {
      this.metrics = [];
      this.metricPoints = 0;
    }
    // Kept so that a view opened mid-run can draw the run from its start (the oldest go first).
    this.metrics.push(message);
    this.metricPoints += lines.length;
    while (this.metricPoints > maxMetricPoints && this.metrics.length > 1) this.metricPoints -= this.metrics.shift()!.points.step.length;
    this.broadcast(message);
  }

  broadcastSettings(): void {
    for (const c of this.connections) if (c.ready) void this.post(c, this.settings(c.host));
  }

  private settings(host: Host): SettingsMessage {
    return { type: 'settings', theme: themeKind(vscode.window.activeColorTheme.kind), host };
  }

  private analysisMessage(): ToWebview {
    const s = this.shown;
    return analysisMessage(s?.file ?? null, s?.label ?? '', s?.source !== undefined);
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
      this.output.warn(`panel: could not post ${message.type}: ${describeError(err)}`);
    }
  }

  /** Loads the analysis shown last time, once, when the first view asks for data. */
  private restore(): Promise<void> {
    this.restoring ??= (async () => {
      if (this.shown) return;
      const last = this.context.globalState.get<{ path: string; label: string; source?: ExampleSource }>(lastAnalysisKey);
      if (!last?.path || !existsSync(last.path)) return;
      try {
        const file = await readAnalysis(last.path);
        if (!this.shown) await this.show({ file, path: last.path, label: last.label, source: last.source }, false);
      } catch (err) {
        this.output.warn(`panel: could not reopen ${last.path}: ${describeError(err)}`);
      }
    })();
    return this.restoring;
  }

  private async handle(conn: Connection, msg: FromWebview): Promise<void> {
    switch (msg.type) {
      case 'ready': {
        conn.ready = true;
        await this.restore();
        await this.post(conn, this.settings(conn.host));
        await this.post(conn, this.analysisMessage());
        for (const { raw: _raw, ...plan } of this.plans.values()) await this.post(conn, { type: 'planCandidates', ...plan });
        for (const m of this.metrics) await this.post(conn, m);
        return;
      }
      case 'requestAttentionMap':
        return this.answer(conn, msg, () => this.attentionMap(msg));
      case 'selectLayerPair':
        this.broadcast({ type: 'focusLayerPair', stack: msg.stack, layer: msg.layer, otherLayer: msg.otherLayer }, conn);
        return;
      case 'emitConfig':
        return this.emitConfig(msg.stack, msg.candidate);
      case 'exportChart':
        return this.exportChart(msg.chart, msg.format, msg.data);
      case 'openDetail':
        this.openDetail();
        return;
      case 'runCommand':
        await vscode.commands.executeCommand(`attentionReuse.${msg.command}`);
        return;
      case 'log':
        this.output[msg.level](`webview: ${msg.message}`);
        return;
      default:
        assertNever(msg);
    }
  }

  /** Posts the reply to a request, or `requestFailed` with the reason it could not be served. */
  private async answer<T extends RequestType>(conn: Connection, request: RequestMessage<T>, work: () => Promise<ReplyBody<T>>): Promise<void> {
    try {
      await this.post(conn, replyTo(request, await work()));
    } catch (err) {
      const message = describeError(err);
      this.output.error(`panel: ${request.type}: ${message}`);
      await this.post(conn, failedReply(request, message));
    }
  }

  private async attentionMap(request: RequestMessage<'requestAttentionMap'>): Promise<ReplyBody<'requestAttentionMap'>> {
    const shown = this.shown;
    if (!shown?.source) throw new InputError('The model or the inputs of this analysis cannot be found, so its attention cannot be shown.');
    const provider = parseProviderChoice(vscode.workspace.getConfiguration('attentionReuse').get<string>('executionProvider') ?? 'auto');
    this.maps ??= new AttentionMaps(shown.file, shown.source, provider);
    return this.maps.get(request);
  }

  private async emitConfig(stack: string, candidate: number): Promise<void> {
    const plan = this.plans.get(stack);
    const chosen = plan?.candidates[candidate];
    if (!plan || !chosen) {
      this.output.warn(`panel: emitConfig for candidate ${candidate} of "${stack}", which the panel was never sent`);
      return;
    }
    if (!(await vscode.commands.getCommands(true)).includes(writeConfigCommand)) {
      void vscode.window.showWarningMessage('Attention Reuse: writing reuse configs is not available in this build.');
      return;
    }
    await vscode.commands.executeCommand(writeConfigCommand, {
      analysisPath: this.shown?.path,
      analysis: this.shown?.file,
      stack,
      seqLen: plan.seqLen,
      candidate: plan.raw?.[candidate] ?? chosen,
    });
  }

  private async exportChart(chart: string, format: 'png' | 'csv' | 'svg', data: string): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(this.shown?.path ? dirname(this.shown.path) : process.cwd());
    const filters: Record<string, Record<string, string[]>> = { png: { 'PNG image': ['png'] }, csv: { 'CSV table': ['csv'] }, svg: { 'SVG image': ['svg'] } };
    const uri = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.joinPath(folder, `${chart}.${format}`), filters: filters[format], saveLabel: 'Export' });
    if (!uri) return;
    const bytes = format === 'png' ? Buffer.from(data.slice(data.indexOf(',') + 1), 'base64') : Buffer.from(data, 'utf8');
    await vscode.workspace.fs.writeFile(uri, bytes);
    this.output.info(`exported ${uri.fsPath}`);
    vscode.window.setStatusBarMessage(`Attention Reuse: saved ${basename(uri.fsPath)}`, 5000);
  }

  dispose(): void {
    void this.maps?.dispose();
    this.connections.clear();
  }
}
