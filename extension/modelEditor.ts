/**
 * The `.onnx` editor: double-clicking a model shows what the tool reads in it (stacks, layers,
 * heads, inputs, opset, size, and what stops an analysis and why) instead of "binary file",
 * with "Analyze…" and "Inspect in panel". Readonly: the model is never written. Its page is
 * `dist/modelEditor.js` under the panel's CSP; it posts only the actions of
 * protocol/modelMessages.ts, checked by the host.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { summarizeModel, unreadModel } from '../analysis/app/model';
import type { ModelSummaryPayload, ToModelEditor } from '../protocol/modelMessages';
import type { Deps } from './deps';
import { userMessage } from './errorWording';
import { checkModelEditorMessage } from './panelMessages';
import { modelSummaryPayload } from './panelPayloads';
import { loadPage } from './panelView';

/** The default editor of `*.onnx`. */
export const modelEditorViewType = 'attentionReuse.model';
/** The same editor under "Open With…" for any other file. */
export const modelEditorAnyViewType = 'attentionReuse.modelAny';

/** Reads a model's summary as the editor and the panel show it; never throws for a bad file. */
export async function modelSummaryOf(uri: vscode.Uri): Promise<ModelSummaryPayload> {
  try {
    return modelSummaryPayload(await summarizeModel(uri.fsPath));
  } catch (err) {
    // Not a model the tool can read at all (missing, unreadable, too large): said the same way.
    return modelSummaryPayload(unreadModel(uri.fsPath, 0, { kind: 'unreadable', message: userMessage(err) }));
  }
}

export class ModelEditor implements vscode.CustomReadonlyEditorProvider {
  private constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly deps: Deps,
  ) {}

  static register(context: vscode.ExtensionContext, deps: Deps): vscode.Disposable {
    const provider = new ModelEditor(context, deps);
    // A model is never edited, and its page keeps no state worth a hidden webview.
    const options = { supportsMultipleEditorsPerDocument: true };
    return vscode.Disposable.from(
      vscode.window.registerCustomEditorProvider(modelEditorViewType, provider, options),
      vscode.window.registerCustomEditorProvider(modelEditorAnyViewType, provider, options),
    );
  }

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): void {
    const { uri } = document;
    const { output, panel: hub } = this.deps;
    let summary: Promise<ModelSummaryPayload> | undefined;
    const read = () => (summary ??= modelSummaryOf(uri));
    const post = (message: ToModelEditor) => void panel.webview.postMessage(message);
    const subscriptions: vscode.Disposable[] = [];
    subscriptions.push(
      panel.webview.onDidReceiveMessage(async (raw: unknown) => {
        const checked = checkModelEditorMessage(raw);
        if (!checked.ok) {
          output.warn(`model editor: ignored a message from the webview (${checked.reason})`);
          return;
        }
        const msg = checked.message;
        if (msg.type === 'ready') {
          post({ type: 'modelSummary', summary: await read() });
        } else if (msg.action === 'analyze') {
          await vscode.commands.executeCommand('attentionReuse.analyzeModel', uri);
        } else if (msg.action === 'inspectInPanel') {
          hub.showModelSummary(await read(), { reveal: true });
        } else {
          output.show(true);
        }
      }),
    );
    // A model exported again under the same name is read again.
    const watcher = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(vscode.Uri.joinPath(uri, '..'), basename(uri.fsPath)),
    );
    const reread = async () => {
      summary = undefined;
      post({ type: 'modelSummary', summary: await read() });
    };
    subscriptions.push(watcher, watcher.onDidChange(reread), watcher.onDidCreate(reread));
    panel.onDidDispose(() => subscriptions.forEach((d) => d.dispose()));
    loadPage(this.context, panel.webview, 'modelEditor.js', basename(uri.fsPath));
  }
}
