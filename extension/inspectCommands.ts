import * as vscode from 'vscode';
import { inspectModel } from '../analysis/app/model';
import type { InspectResult } from '../analysis/onnx/inspect';
import type { Deps } from './deps';
import { userMessage } from './errorWording';

/** "Inspect Attention Tensors" for any .onnx file, and for the bundled sample model. */
export class InspectCommands {
  static register(context: vscode.ExtensionContext, { output }: Deps): vscode.Disposable {
    const sampleModel = vscode.Uri.joinPath(context.extensionUri, 'media', 'sample', 'model.onnx');
    const run = async (uri: vscode.Uri): Promise<InspectResult | undefined> => {
      try {
        const result = await inspectModel(uri.fsPath);
        output.info(`inspect ${uri.fsPath}: ${result.stacks.map((s) => `${s.name} ${s.layers.length} layers`).join(', ')}`);
        return result;
      } catch (err) {
        const message = userMessage(err);
        output.error(`inspect ${uri.fsPath}: ${message}`);
        void vscode.window.showErrorMessage(`Attention Reuse: ${message}`);
        return undefined;
      }
    };
    return vscode.Disposable.from(
      vscode.commands.registerCommand('attentionReuse.inspectSample', () => run(sampleModel)),
      vscode.commands.registerCommand('attentionReuse.inspectModel', async (uri?: vscode.Uri) => {
        const target =
          uri ??
          (await vscode.window.showOpenDialog({ filters: { 'ONNX model': ['onnx'] }, canSelectMany: false }))?.[0];
        return target ? run(target) : undefined;
      }),
    );
  }
}
