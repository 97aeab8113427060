/**
 * "Open With… › Attention Reuse Panel" for `*.analysis.json`: the panel page in an editor
 * tab, showing that file. Offered as an option, never the default, so the JSON editor stays
 * what opens an analysis file. The panel shows one analysis at a time, so a tab brought to
 * the front shows its own file again.
 */
import * as vscode from 'vscode';
import type { Deps } from './deps';
import { fullMessage, userMessage } from './errorWording';
import { loadPanelPage } from './panelView';

export const analysisEditorViewType = 'attentionReuse.analysis';

export class AnalysisEditor implements vscode.CustomReadonlyEditorProvider {
  private constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly deps: Deps,
  ) {}

  static register(context: vscode.ExtensionContext, deps: Deps): vscode.Disposable {
    return vscode.window.registerCustomEditorProvider(analysisEditorViewType, new AnalysisEditor(context, deps), {
      supportsMultipleEditorsPerDocument: true,
    });
  }

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    const { panel: hub, output } = this.deps;
    const path = document.uri.fsPath;
    const connection = loadPanelPage(this.context, hub, panel.webview, 'editor');
    const show = async () => {
      if (hub.shownPath === path) return;
      try {
        await hub.showFile(path, vscode.workspace.asRelativePath(document.uri));
      } catch (err) {
        output.error(`open ${path}: ${userMessage(err)}`);
        hub.setRunStatus({
          state: 'failed',
          label: vscode.workspace.asRelativePath(document.uri),
          at: Date.now(),
          message: fullMessage(err),
          hints: [
            'Open the file as JSON to see what it holds: an analysis file is written by "Analyze Attention" or `attention-reuse analyze`.',
          ],
        });
      }
    };
    const focus = panel.onDidChangeViewState((e) => {
      if (e.webviewPanel.active) void show();
    });
    panel.onDidDispose(() => {
      focus.dispose();
      connection.dispose();
    });
    await show();
  }
}
