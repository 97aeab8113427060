/**
 * What the extension is: one log, one settings reader, one store of the last analysis and
 * one panel hub, shared by the features below, each registered with them. Features talk to
 * each other through these typed pieces, not through commands.
 */
import * as vscode from 'vscode';
import { AnalysisCommands } from './analysisCommands';
import { AnalysisEditor } from './analysisEditor';
import { AnalysisStore } from './analysisStore';
import type { AttentionReuseApi } from './api';
import { CompareCommands } from './compareCommands';
import { ConfigDiagnostics } from './configDiagnostics';
import type { Deps } from './deps';
import { InspectCommands } from './inspectCommands';
import { ModelEditor } from './modelEditor';
import { PanelHub } from './panelHub';
import { AttentionPanel } from './panelView';
import { PlanCommands } from './planCommands';
import { RecentAnalyses } from './recentAnalyses';
import { SettingsReader } from './settings';
import { TrainTasks } from './trainTask';

export function activate(context: vscode.ExtensionContext): AttentionReuseApi {
  const output = vscode.window.createOutputChannel('Attention Reuse', { log: true });
  const settings = new SettingsReader(context, output);
  const analyses = new AnalysisStore(context.globalState);
  const panel = new PanelHub(output, settings, analyses);
  const deps: Deps = { output, settings, analyses, panel };

  const plans = PlanCommands.register(context, deps);
  context.subscriptions.push(
    output,
    panel,
    AttentionPanel.register(context, deps),
    AnalysisCommands.register(context, deps),
    InspectCommands.register(context, deps),
    ModelEditor.register(context, deps),
    AnalysisEditor.register(context, deps),
    RecentAnalyses.register(context, deps),
    vscode.commands.registerCommand('attentionReuse.showLog', () => output.show(true)),
    plans,
    TrainTasks.register(context, deps),
    ConfigDiagnostics.register(context),
    CompareCommands.register(context, deps),
  );

  return {
    effectiveSettings: () => settings.effective(),
    showPlan: (plan) => panel.showPlan(plan),
    appendMetrics: (run, lines, reset) => panel.appendMetrics(run, lines, reset === true),
    writeCandidate: (args) => plans.writeCandidate(args),
    runStatus: () => panel.lastRunStatus,
    trainingRun: (runDir) => panel.trainingRun(runDir),
  };
}

export function deactivate(): void {
  // Sessions and child processes are disposed through context.subscriptions.
}
