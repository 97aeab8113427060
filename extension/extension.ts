import * as vscode from 'vscode';
import { InspectCommands } from './inspectCommands';

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Attention Reuse', { log: true });
  context.subscriptions.push(output, InspectCommands.register(context, output));
}

export function deactivate(): void {
  // Sessions and child processes are disposed through context.subscriptions.
}
