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
import type { ReuseConfigOptions } from '../analysis/app/emit';
import { readAnalysis } from '../analysis/app/readers';
import { sha256File, writeFileAtomic } from '../analysis/app/storage';
import { checkReuseConfig, formatReuseConfig } from '../analysis/config/reuseConfig';
import type { ReuseConfig } from '../analysis/config/reuseConfig';
import { InputError } from '../analysis/errors';
import type { HeadMap } from '../analysis/planner/headMap';
import type { ReuseMode } from '../analysis/planner/modes';
import { keptBelowBaseline, planStack } from '../analysis/planner/plan';
import type { Candidate, Plan } from '../analysis/planner/plan';
import { pickStack } from '../analysis/result/analysisFile';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { AnalysisStore } from './analysisStore';
import type { Deps } from './deps';
import { userMessage } from './errorWording';
import type { ChosenCandidate, PanelHub } from './panelHub';
import type { SettingsReader } from './settings';

/** Arguments of `attentionReuse.planReuse`; without them it plans the shown analysis and asks which candidate to write. */
export interface PlanArgs {
  analysisPath?: string;
  /** Plan only this stack (default: every stack). */
  stack?: string;
  seqLen?: number;
  targetFlops?: number;
  /** Score every pair with a sink head 0 (`plan --exclude-sinks`). */
  excludeSinks?: boolean;
  /** Ask which candidate to write (default: only when the command ran without arguments). */
  pick?: boolean;
}

export interface PlanResult {
  analysisPath: string;
  plans: Plan[];
}

/** Where a config goes and what happens after; `out` skips the save dialog. */
export interface WriteTarget {
  /** The analysis the config is made from (its sha256 goes into the config). */
  analysisPath?: string;
  /** Write here instead of asking; an existing file is kept unless `overwrite`. */
  out?: string | vscode.Uri;
  overwrite?: boolean;
  /** Open the written file in an editor (default true). */
  open?: boolean;
}

/** What a candidate must say to be written; the planner's candidates have this and more. */
export interface CandidateChoice {
  mode: ReuseMode;
  P: number;
  K: number;
  /** Taken as given, and checked against mode, P and K. */
  heads: HeadMap;
}

/** One planned candidate to write (the panel's "Emit config…", the API). */
export interface WriteCandidateArgs extends WriteTarget {
  stack: string;
  seqLen?: number;
  candidate: CandidateChoice;
}

/** Arguments of `attentionReuse.emitConfig`: a mode or K (with P as `emit` takes them) skips the candidate list. */
export interface EmitArgs extends WriteTarget {
  stack?: string;
  mode?: ReuseMode;
  P?: number;
  K?: number;
  seqLen?: number;
}

export type WriteResult = { path: string; config: ReuseConfig } | { error: string } | undefined;

export class PlanCommands implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[];

  private constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly settings: SettingsReader,
    private readonly analyses: AnalysisStore,
    private readonly panel: PanelHub,
  ) {
    this.disposables = [
      vscode.commands.registerCommand('attentionReuse.planReuse', (arg?: vscode.Uri | PlanArgs) => this.planReuse(arg)),
      vscode.commands.registerCommand('attentionReuse.emitConfig', (arg?: vscode.Uri | EmitArgs) => this.emitConfig(arg)),
      panel.onDidChooseCandidate((chosen) => void this.writeChosen(chosen)),
    ];
  }

  /** The returned object is also what the extension's API calls `writeCandidate` on. */
  static register(_context: vscode.ExtensionContext, { output, settings, analyses, panel }: Deps): PlanCommands {
    return new PlanCommands(output, settings, analyses, panel);
  }

  async planReuse(arg?: vscode.Uri | PlanArgs): Promise<PlanResult | undefined> {
    const args: PlanArgs = arg instanceof vscode.Uri ? { analysisPath: arg.fsPath } : (arg ?? {});
    const interactive = args.pick ?? (arg === undefined || arg instanceof vscode.Uri);
    try {
      const analysisPath = await this.analysisPath(args.analysisPath);
      if (!analysisPath) return undefined;
      const analysis = await readAnalysis(analysisPath);
      // The plan lands beside its heatmaps: show the analysis unless the panel already does.
      if (this.analyses.last()?.path !== analysisPath) {
        await this.panel.show(
          { file: analysis, path: analysisPath, label: vscode.workspace.asRelativePath(analysisPath) },
          { reveal: true },
        );
      }
      const stacks = args.stack === undefined ? analysis.stacks : [pickStack(analysis.stacks, args.stack, analysisPath)];
      const plans = stacks.map((stack) =>
        planStack(stack, { seqLen: args.seqLen, targetFlops: args.targetFlops, excludeSinks: args.excludeSinks }),
      );
      for (const plan of plans) this.panel.showPlan(plan);
      this.output.info(
        `plan ${analysisPath}: ${plans.map((p) => `${p.stack} ${p.candidates.length} candidates, ${p.pareto.length} on the Pareto front`).join('; ')}`,
      );
      if (interactive) {
        const chosen = await pickCandidate(plans, `Plan Reuse: ${basename(analysisPath)} — pick a configuration to write`);
        if (chosen)
          await this.writeCandidate(
            { analysisPath, stack: chosen.plan.stack, seqLen: chosen.plan.seqLen, candidate: chosen.candidate },
            analysis,
          );
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
      const target: WriteTarget = { analysisPath, out: args.out, overwrite: args.overwrite, open: args.open };
      if (args.mode !== undefined || args.K !== undefined) {
        // What is not given is defaulted as `attention-reuse emit` does it (buildReuseConfig).
        const stack = pickStack(analysis.stacks, args.stack, analysisPath);
        return await this.write(target, stack.name, { mode: args.mode, P: args.P, K: args.K, seqLen: args.seqLen }, analysis);
      }
      const stacks = args.stack === undefined ? analysis.stacks : [pickStack(analysis.stacks, args.stack, analysisPath)];
      const plans = stacks.map((stack) => planStack(stack, { seqLen: args.seqLen }));
      const chosen = await pickCandidate(plans, `Emit Reuse Config: ${basename(analysisPath)} — which configuration?`);
      if (!chosen) return undefined;
      return await this.writeCandidate(
        { ...target, stack: chosen.plan.stack, seqLen: chosen.plan.seqLen, candidate: chosen.candidate },
        analysis,
      );
    } catch (err) {
      return { error: this.fail('emit', err) };
    }
  }

  /** Writes one candidate's config; `read` is the analysis when the caller has it already. */
  writeCandidate(args: WriteCandidateArgs, read?: AnalysisFile): Promise<WriteResult> {
    const { mode, P, K, heads } = args.candidate;
    return this.write(args, args.stack, { mode, P, K, headMap: heads, seqLen: args.seqLen }, read);
  }

  private writeChosen({ analysis, plan, candidate }: ChosenCandidate): Promise<WriteResult> {
    return this.writeCandidate({ analysisPath: analysis.path, stack: plan.stack, seqLen: plan.seqLen, candidate }, analysis.file);
  }

  /** Builds, checks and writes one reuse config of a stack, then opens it. */
  private async write(target: WriteTarget, stackName: string, options: ReuseConfigOptions, read?: AnalysisFile): Promise<WriteResult> {
    try {
      const analysisPath = target.analysisPath;
      const label = analysisPath ?? 'the shown analysis';
      if (!read && !analysisPath) throw new InputError('writing a reuse config needs the analysis (its path or its contents)');
      const analysis = read ?? (await readAnalysis(analysisPath!));
      const stack = pickStack(analysis.stacks, stackName, label);
      const source = {
        analysisSha256:
          analysisPath && existsSync(analysisPath)
            ? await sha256File(analysisPath)
            : createHash('sha256').update(JSON.stringify(analysis)).digest('hex'),
        modelSha256: analysis.model.sha256,
      };
      const config = buildReuseConfig(stack, options, source);
      const text = formatReuseConfig(config);
      checkReuseConfig(JSON.parse(text), 'the reuse config'); // what the trainer will read back

      const where = await this.target(target, analysis);
      if (!where) return undefined;
      if (existsSync(where.path) && !where.overwrite)
        throw new InputError(`${where.path} already exists; choose another name (it was left as it is)`);
      await writeFileAtomic(where.path, text, { overwrite: where.overwrite });
      const e = config.estimates!;
      this.output.info(
        `wrote ${where.path}: ${config.stack} ${config.mode} P = ${config.P} K = ${config.K}, FLOPs ${e.flopsRatio.toFixed(4)}, params ${e.paramsRatio.toFixed(4)}`,
      );
      if (!where.path.endsWith('.reuse.json'))
        this.output.warn(`${basename(where.path)}: name it *.reuse.json so that the editor checks it against the schema`);
      if (target.open !== false) {
        await vscode.window.showTextDocument(vscode.Uri.file(where.path), { preview: false });
        void this.offerTraining(where.path);
      }
      return { path: where.path, config };
    } catch (err) {
      return { error: this.fail('emit', err) };
    }
  }

  private async target(args: WriteTarget, analysis: AnalysisFile): Promise<{ path: string; overwrite: boolean } | undefined> {
    const analysisPath = args.analysisPath;
    if (args.out !== undefined)
      return { path: args.out instanceof vscode.Uri ? args.out.fsPath : args.out, overwrite: args.overwrite === true };
    const model = analysis.model.path ?? analysisPath ?? 'model';
    const name = `${basename(model)
      .replace(/\.(onnx|json)$/i, '')
      .replace(/\.analysis$/, '')}.reuse.json`;
    const folder = [
      this.settings.outputFolder(),
      vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
      analysisPath && dirname(analysisPath),
    ].find((f): f is string => typeof f === 'string' && existsSync(f));
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
    const shown = this.analyses.last()?.path;
    if (shown) return shown;
    const folder = this.settings.outputFolder();
    const picked = await vscode.window.showOpenDialog({
      title: 'Plan Reuse: which analysis? (analyze a model first to make one)',
      filters: { 'Analysis (JSON)': ['json'] },
      canSelectMany: false,
      defaultUri: existsSync(folder) ? vscode.Uri.file(folder) : undefined,
    });
    return picked?.[0]?.fsPath;
  }

  private async offerTraining(path: string): Promise<void> {
    if (!vscode.workspace.isTrusted) return;
    const train = 'Train';
    if ((await vscode.window.showInformationMessage(`Attention Reuse: wrote ${basename(path)}.`, train)) === train) {
      await vscode.commands.executeCommand('attentionReuse.train', vscode.Uri.file(path));
    }
  }

  private fail(what: string, err: unknown): string {
    const message = userMessage(err);
    this.output.error(`${what}: ${message}`);
    void vscode.window.showErrorMessage(`Attention Reuse: ${message}`);
    return message;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

type CandidateItem = vscode.QuickPickItem & { pick?: { plan: Plan; candidate: Candidate } };

/** The quick pick's second line for candidate `i`: why it is listed first, and a warning where its similarity kept is at or below its uniform baseline. */
export function candidateDetail(plan: Plan, i: number): string | undefined {
  const c = plan.candidates[i];
  const why =
    i === plan.recommended
      ? `recommended: most similarity kept at FLOPs ≤ ${plan.targetFlops}`
      : plan.pareto.includes(i)
        ? 'on the Pareto front'
        : '';
  const below = keptBelowBaseline(c)
    ? 'similarity kept at or below its uniform baseline, so it says little: try it on the model in the panel first'
    : '';
  return [why, below].filter(Boolean).join(' — ') || undefined;
}

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
        detail: candidateDetail(plan, i),
        pick: { plan, candidate: c },
      });
    }
  }
  // Stays open while the user compares candidates in the panel's planner view.
  const chosen = await vscode.window.showQuickPick(items, {
    title,
    matchOnDescription: true,
    ignoreFocusOut: true,
    placeHolder: plans.some((p) => p.recommended !== null)
      ? 'The recommended configuration first, then the Pareto front (most similarity kept for the FLOPs)'
      : `Nothing is recommended: no configuration reaches FLOPs ≤ ${plans[0]?.targetFlops} at ${plans[0]?.seqLen} tokens${plans[0]?.seqLenFrom === 'analysis' ? ' (the analysed mean length)' : ''}; the Pareto front first`,
  });
  return chosen?.pick;
}
