import * as vscode from 'vscode';
import { inspectModel } from '../analysis/app/model';
import type { InspectResult } from '../analysis/onnx/inspect';
import type { Deps } from './deps';
import { userMessage } from './errorWording';
import { modelEditorAnyViewType, modelEditorViewType } from './modelEditor';

/**
 * "Inspect Attention Tensors" for any .onnx file, and for the bundled sample model: opens the
 * model's summary editor, which shows what was found (or why nothing could be), and returns
 * the result for callers such as the tests.
 */
export class InspectCommands {
  static register(context: vscode.ExtensionContext, { output }: Deps): vscode.Disposable {
    const sampleModel = vscode.Uri.joinPath(context.extensionUri, 'media', 'sample', 'model.onnx');
    const run = async (uri: vscode.Uri): Promise<InspectResult | undefined> => {
      const viewType = uri.fsPath.toLowerCase().endsWith('.onnx') ? modelEditorViewType : modelEditorAnyViewType;
      await vscode.commands.executeCommand('vscode.openWith', uri, viewType, { preview: false });
      try {
        const result = await inspectModel(uri.fsPath);
        output.info(`inspect ${uri.fsPath}: ${result.stacks.map((s) => `${s.name} ${s.layers.length} layers`).join(', ')}`);
        return result;
      } catch (err) {
        // The editor shows the whole message with what to do; the log keeps it.
        output.error(`inspect ${uri.fsPath}: ${userMessage(err)}`);
        return undefined;
      }
    };
    return vscode.Disposable.from(
      vscode.commands.registerCommand('attentionReuse.inspectSample', () => run(sampleModel)),
      vscode.commands.registerCommand('attentionReuse.inspectModel', async (uri?: vscode.Uri) => {
        const target =
          uri ??
          (
            await vscode.window.showOpenDialog({
              title: 'Inspect Attention Tensors: the ONNX model',
              openLabel: 'Inspect',
              filters: { 'ONNX model': ['onnx'] },
              canSelectMany: false,
            })
          )?.[0];
        return target ? run(target) : undefined;
      }),
    );
  }
}
