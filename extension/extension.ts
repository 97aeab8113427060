import * as vscode from 'vscode';
import { ConfigDiagnostics } from './configDiagnostics';
import { InspectCommands } from './inspectCommands';
import { AttentionPanel } from './panelView';
import { PlanCommands } from './planCommands';
import { TrainTasks } from './trainTask';

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Attention Reuse', { log: true });
  context.subscriptions.push(output, InspectCommands.register(context, output));
  context.subscriptions.push(AttentionPanel.register(context, output));
  context.subscriptions.push(PlanCommands.register(context, output));
  context.subscriptions.push(TrainTasks.register(context, output));
  context.subscriptions.push(ConfigDiagnostics.register(context));
}

export function deactivate(): void {
  // Sessions and child processes are disposed through context.subscriptions.
}
