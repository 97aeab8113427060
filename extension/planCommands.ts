/**
 * "Plan Reuse", "Emit Reuse Config" and the panel's "Emit config" button: plan an analysis
 * in-process with analysis/planner, show the candidates in the panel, and write the chosen
 * configuration as a reuse config that has passed the same checks the trainer applies.
 * Every command takes optional arguments so that it can run without a dialog.
 */
import * as vscode from 'vscode';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { buildReuseConfig } from '../analysis/app/emit';
import { readAnalysis } from '../analysis/app/readers';
import { sha256File, writeFileAtomic } from '../analysis/app/storage';
import { checkReuseConfig, formatReuseConfig } from '../analysis/config/reuseConfig';
import type { ReuseConfig } from '../analysis/config/reuseConfig';
import { InputError, describeError } from '../analysis/errors';
import type { HeadMap } from '../analysis/planner/headMap';
import { planStack } from '../analysis/planner/plan';
import type { Candidate, Plan, PlannerStack } from '../analysis/planner/plan';
import { checkAnalysis, pickStack } from '../analysis/result/analysisFile';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import { writeConfigCommand } from './panelHub';
import type { PanelPlan } from './panelHub';
import { SettingsReader } from './settings';

/** Arguments of `attentionReuse.planReuse`; without them it plans the shown analysis and asks which candidate to write. */
export interface PlanArgs {
  analysisPath?: string;
  /** Plan only this stack (default: every stack). */
  stack?: string;
  seqLen?: number;
  targetFlops?: number;
  /** Ask which candidate to write (default: only when the command ran without arguments). */
  pick?: boolean;
}

export interface PlanResult {
  analysisPath: string;
  plans: Plan[];
}

/** What a candidate must say to be written; the panel sends planner candidates, which have more. */
export interface CandidateChoice {
  mode: string;
  P: number;
  K: number;
  /** Taken as given (and checked against mode, P and K); derived from the analysis when absent. */
  heads?: unknown;
}

/** What the panel's "Emit config" button sends, plus `out` for callers that need no dialog. */
export interface WriteConfigArgs {
  analysisPath?: string;
  analysis?: unknown;
  stack: string;
  seqLen?: number;
  candidate: CandidateChoice;
  /** Write here instead of asking; an existing file is kept unless `overwrite`. */
  out?: string | vscode.Uri;
  overwrite?: boolean;
  /** Open the written file in an editor (default true). */
  open?: boolean;
}

/** Arguments of `attentionReuse.emitConfig`: a mode (with P and K as `emit` takes them) skips the candidate list. */
export interface EmitArgs {
  analysisPath?: string;
  stack?: string;
  mode?: string;
  P?: number;
  K?: number;
  seqLen?: number;
  out?: string | vscode.Uri;
  overwrite?: boolean;
  open?: boolean;
}

export type WriteResult = { path: string; config: ReuseConfig } | { error: string } | undefined;

/** The globalState key under which panelHub.ts remembers the analysis it shows. */
const shownAnalysisKey = 'attentionReuse.lastAnalysis';

export class PlanCommands {
  private readonly settings: SettingsReader;

  private constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.settings = new SettingsReader(context, output);
  }

  static register(context: vscode.ExtensionContext, output: vscode.LogOutputChannel): vscode.Disposable {
    const commands = new PlanCommands(context, output);
    return vscode.Disposable.from(
      vscode.commands.registerCommand('attentionReuse.planReuse', (arg?: vscode.Uri | PlanArgs) => commands.planReuse(arg)),
      vscode.commands.registerCommand('attentionReuse.emitConfig', (arg?: vscode.Uri | EmitArgs) => commands.emitConfig(arg)),
      vscode.commands.registerCommand(writeConfigCommand, (args: WriteConfigArgs) => commands.writeConfig(args)),
    );
  }

  async planReuse(arg?: vscode.Uri | PlanArgs): Promise<PlanResult | undefined> {
    const args: PlanArgs = arg instanceof vscode.Uri ? { analysisPath: arg.fsPath } : (arg ?? {});
    const interactive = args.pick ?? (arg === undefined || arg instanceof vscode.Uri);
    try {
      const analysisPath = await this.analysisPath(args.analysisPath);
      if (!analysisPath) return undefined;
      const analysis = await readAnalysis(analysisPath);
      await this.showInPanel(analysisPath);
      const stacks = args.stack === undefined ? analysis.stacks : [pickStack(analysis.stacks, args.stack, analysisPath)];
      const plans = stacks.map((stack) => planStack(stack, { seqLen: args.seqLen, targetFlops: args.targetFlops }));
      for (const plan of plans) await vscode.commands.executeCommand('attentionReuse.panel.showPlan', panelPlan(plan));
      this.output.info(`plan ${analysisPath}: ${plans.map((p) => `${p.stack} ${p.candidates.length} candidates, ${p.pareto.length} on the Pareto front`).join('; ')}`);
      if (interactive) {
        const chosen = await pickCandidate(plans, `Plan Reuse: ${basename(analysisPath)} — pick a configuration to write`);
        if (chosen) await this.writeConfig({ analysisPath, stack: chosen.plan.stack, seqLen: chosen.plan.seqLen, candidate: chosen.candidate }, analysis);
      }
      return { analysisPath, plans };
    } catch (err) {
      this.fail('plan', err);
      return undefined;
    }
  }

  async emitConfig(arg?: vscode.Uri | EmitArgs): Promise<WriteResult> {
    const args: EmitArgs = arg instanceof vscode.Uri ? { analysisPath: arg.fsPath } : (arg ?? {});
    try {
      const analysisPath = await this.analysisPath(args.analysisPath);
      if (!analysisPath) return undefined;
      const analysis = await readAnalysis(analysisPath);
      const write = { analysisPath, seqLen: args.seqLen, out: args.out, overwrite: args.overwrite, open: args.open };
      if (args.mode !== undefined || args.K !== undefined) {
        const stack = pickStack(analysis.stacks, args.stack, analysisPath);
        // P and K as `attention-reuse emit` defaults them (buildConfig): K = H for whole-layer modes, P = L-2 for partial and guided.
        return await this.writeConfig({ ...write, stack: stack.name, candidate: { mode: args.mode ?? '', P: args.P ?? -1, K: args.K ?? -1 } }, analysis);
      }
      const stacks = args.stack === undefined ? analysis.stacks : [pickStack(analysis.stacks, args.stack, analysisPath)];
      const plans = stacks.map((stack) => planStack(stack, { seqLen: args.seqLen }));
      const chosen = await pickCandidate(plans, `Emit Reuse Config: ${basename(analysisPath)} — which configuration?`);
      if (!chosen) return undefined;
      return await this.writeConfig({ ...write, stack: chosen.plan.stack, seqLen: chosen.plan.seqLen, candidate: chosen.candidate }, analysis);
    } catch (err) {
      return { error: this.fail('emit', err) };
    }
  }

  /** Builds, checks and writes one candidate's reuse config, then opens it; `read` is the analysis when the caller has read it already. */
  async writeConfig(args: WriteConfigArgs, read?: AnalysisFile): Promise<WriteResult> {
    try {
      if (typeof args !== 'object' || args === null || typeof args.stack !== 'string' || typeof args.candidate !== 'object' || args.candidate === null) {
        throw new InputError('writing a reuse config needs a stack and a candidate');
      }
      const analysisPath = args.analysisPath;
      const label = analysisPath ?? 'the shown analysis';
      const analysis: AnalysisFile =
        read ?? (args.analysis !== undefined ? checkAnalysis(args.analysis, label) : analysisPath ? await readAnalysis(analysisPath) : missingAnalysis());
      const stack = pickStack(analysis.stacks, args.stack, label);
      const source = {
        analysisSha256: analysisPath && existsSync(analysisPath) ? await sha256File(analysisPath) : createHash('sha256').update(JSON.stringify(args.analysis)).digest('hex'),
        modelSha256: analysis.model.sha256,
      };
      const config = configFor(stack, args.candidate, args.seqLen, source);
      const text = formatReuseConfig(config);
      checkReuseConfig(JSON.parse(text), 'the reuse config'); // what the trainer will read back

      const target = await this.target(args, analysis, analysisPath);
      if (!target) return undefined;
      if (existsSync(target.path) && !target.overwrite) throw new InputError(`${target.path} already exists; choose another name (it was left as it is)`);
      await writeFileAtomic(target.path, text, { overwrite: target.overwrite });
      const e = config.estimates!;
      this.output.info(`wrote ${target.path}: ${config.stack} ${config.mode} P = ${config.P} K = ${config.K}, FLOPs ${e.flopsRatio.toFixed(4)}, params ${e.paramsRatio.toFixed(4)}`);
      if (!target.path.endsWith('.reuse.json')) this.output.warn(`${basename(target.path)}: name it *.reuse.json so that the editor checks it against the schema`);
      if (args.open !== false) {
        await vscode.window.showTextDocument(vscode.Uri.file(target.path), { preview: false });
        void this.offerTraining(target.path);
      }
      return { path: target.path, config };
    } catch (err) {
      return { error: this.fail('emit', err) };
    }
  }

  private async target(args: WriteConfigArgs, analysis: AnalysisFile, analysisPath: string | undefined): Promise<{ path: string; overwrite: boolean } | undefined> {
    if (args.out !== undefined) return { path: args.out instanceof vscode.Uri ? args.out.fsPath : args.out, overwrite: args.overwrite === true };
    const model = analysis.model.path ?? analysisPath ?? 'model';
    const name = `${basename(model).replace(/\.(onnx|json)$/i, '').replace(/\.analysis$/, '')}.reuse.json`;
    const folder = [this.settings.outputFolder(), vscode.workspace.workspaceFolders?.[0]?.uri.fsPath, analysisPath && dirname(analysisPath)].find(
      (f): f is string => typeof f === 'string' && existsSync(f),
    );
    const uri = await vscode.window.showSaveDialog({
      title: 'Write Reuse Config',
      saveLabel: 'Write',
      defaultUri: vscode.Uri.file(join(folder ?? this.settings.outputFolder(), name)),
      filters: { 'Reuse config': ['json'] },
    });
    // The save dialog has already asked before replacing a file.
    return uri ? { path: uri.fsPath, overwrite: true } : undefined;
  }

  /** The analysis to plan: the one asked for, else the one the panel shows, else one the user picks. */
  private async analysisPath(explicit: string | undefined): Promise<string | undefined> {
    if (explicit) return explicit;
    const shown = this.context.globalState.get<{ path?: string }>(shownAnalysisKey)?.path;
    if (shown && existsSync(shown)) return shown;
    const folder = this.settings.outputFolder();
    const picked = await vscode.window.showOpenDialog({
      title: 'Plan Reuse: which analysis? (analyze a model first to make one)',
      filters: { 'Analysis (JSON)': ['json'] },
      canSelectMany: false,
      defaultUri: existsSync(folder) ? vscode.Uri.file(folder) : undefined,
    });
    return picked?.[0]?.fsPath;
  }

  /** Shows the analysis in the panel unless it is already there, so the plan lands beside its heatmaps. */
  private async showInPanel(analysisPath: string): Promise<void> {
    if (this.context.globalState.get<{ path?: string }>(shownAnalysisKey)?.path === analysisPath) return;
    await vscode.commands.executeCommand('attentionReuse.openAnalysis', vscode.Uri.file(analysisPath));
  }

  private async offerTraining(path: string): Promise<void> {
    if (!vscode.workspace.isTrusted) return;
    const train = 'Train';
    if ((await vscode.window.showInformationMessage(`Attention Reuse: wrote ${basename(path)}.`, train)) === train) {
      await vscode.commands.executeCommand('attentionReuse.train', vscode.Uri.file(path));
    }
  }

  private fail(what: string, err: unknown): string {
    const message = describeError(err);
    this.output.error(`${what}: ${message}`);
    void vscode.window.showErrorMessage(`Attention Reuse: ${message}`);
    return message;
  }
}

function missingAnalysis(): never {
  throw new InputError('writing a reuse config needs the analysis (its path or its contents)');
}

/** The reuse config of one candidate; a head map that contradicts its mode, P or K is refused. */
function configFor(stack: PlannerStack, candidate: CandidateChoice, seqLen: number | undefined, source: ReuseConfig['source']): ReuseConfig {
  const given = (n: number) => (n >= 0 ? n : undefined);
  return buildReuseConfig(
    stack,
    { mode: candidate.mode || undefined, P: given(candidate.P), K: given(candidate.K), headMap: candidate.heads as HeadMap | undefined, seqLen },
    source,
  );
}

/** A plan as the panel takes it: flat candidate rows, with the planner's own candidates as `raw`. */
export function panelPlan(plan: Plan): PanelPlan {
  const front = new Set(plan.pareto);
  return {
    stack: plan.stack,
    seqLen: plan.seqLen,
    recommended: plan.recommended,
    candidates: plan.candidates.map((c, i) => ({
      mode: c.mode,
      P: c.P,
      K: c.K,
      paramsRatio: c.cost.paramsRatio,
      flopsRatio: c.cost.flopsRatio,
      scoreMemoryRatio: c.cost.scoreMemoryRatio,
      similarityKept: c.similarityKept,
      uniformBaseline: c.uniformBaseline,
      heads: c.heads,
      pareto: front.has(i),
    })),
    raw: plan.candidates,
  };
}

type CandidateItem = vscode.QuickPickItem & { pick?: { plan: Plan; candidate: Candidate } };

/** Candidates of every plan, the recommended one and the Pareto front first. */
async function pickCandidate(plans: Plan[], title: string): Promise<{ plan: Plan; candidate: Candidate } | undefined> {
  const fixed = (x: number | null) => (x === null ? '—' : x.toFixed(3));
  const items: CandidateItem[] = [];
  for (const plan of plans) {
    const front = new Set(plan.pareto);
    const order = plan.candidates.map((_, i) => i);
    const rank = (i: number) => (i === plan.recommended ? 0 : front.has(i) ? 1 : 2);
    order.sort((a, b) => rank(a) - rank(b) || a - b);
    if (plans.length > 1) items.push({ label: plan.stack, kind: vscode.QuickPickItemKind.Separator });
    for (const i of order) {
      const c = plan.candidates[i];
      const icon = i === plan.recommended ? '$(star-full) ' : front.has(i) ? '$(graph-line) ' : '';
      items.push({
        label: `${icon}${c.mode} P = ${c.P} K = ${c.K}`,
        description: `FLOPs ${fixed(c.cost.flopsRatio)} · params ${fixed(c.cost.paramsRatio)} · similarity kept ${fixed(c.similarityKept)} (uniform ${fixed(c.uniformBaseline)})`,
        detail: i === plan.recommended ? `recommended: most similarity kept at FLOPs ≤ ${plan.targetFlops}` : front.has(i) ? 'on the Pareto front' : undefined,
        pick: { plan, candidate: c },
      });
    }
  }
  // Stays open while the user compares candidates in the panel's planner view.
  const chosen = await vscode.window.showQuickPick(items, {
    title,
    matchOnDescription: true,
    ignoreFocusOut: true,
    placeHolder: 'The recommended configuration first, then the Pareto front (most similarity kept for the FLOPs)',
  });
  return chosen?.pick;
}
