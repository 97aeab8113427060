/**
 * The panel: a webview view in its own activity-bar container for a quick look, and an
 * editor panel for detail that survives a window reload through its serializer. Both load
 * the same page (panelHtml.ts) and talk to the one PanelHub that extension.ts builds.
 */
import * as vscode from 'vscode';
import type { Deps } from './deps';
import { userMessage } from './errorWording';
import { makeNonce, panelHtml } from './panelHtml';
import type { PanelHub } from './panelHub';

export const panelViewId = 'attentionReuse.panel';
export const detailViewType = 'attentionReuse.detail';

export class AttentionPanel {
  private detail: vscode.WebviewPanel | undefined;
  private detailConnection: vscode.Disposable | undefined;

  private constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly hub: PanelHub,
  ) {}

  static register(context: vscode.ExtensionContext, { panel: hub }: Deps): vscode.Disposable {
    const panel = new AttentionPanel(context, hub);
    return vscode.Disposable.from(
      vscode.window.registerWebviewViewProvider(panelViewId, {
        resolveWebviewView: (view) => {
          const connection = panel.setUp(view.webview, 'sidebar');
          view.onDidDispose(() => connection.dispose());
        },
      }),
      vscode.window.registerWebviewPanelSerializer(detailViewType, {
        deserializeWebviewPanel: async (restored) => panel.adopt(restored),
      }),
      hub.onDidRequestDetail(() => panel.openDetail()),
      vscode.commands.registerCommand('attentionReuse.openPanel', () => panel.openDetail()),
      vscode.commands.registerCommand('attentionReuse.openAnalysis', async (uri?: vscode.Uri) => {
        const target = uri ?? (await vscode.window.showOpenDialog({ filters: { 'Analysis (JSON)': ['json'] }, canSelectMany: false }))?.[0];
        if (!target) return;
        try {
          await hub.showFile(target.fsPath, vscode.workspace.asRelativePath(target), { reveal: true });
        } catch (err) {
          void vscode.window.showErrorMessage(`Attention Reuse: ${userMessage(err)}`);
        }
      }),
      vscode.window.onDidChangeActiveColorTheme(() => hub.broadcastSettings()),
      new vscode.Disposable(() => {
        panel.detailConnection?.dispose();
        panel.detail?.dispose();
      }),
    );
  }

  private webviewOptions(): vscode.WebviewOptions {
    return webviewOptions(this.context);
  }

  private setUp(webview: vscode.Webview, host: 'sidebar' | 'editor'): vscode.Disposable {
    return loadPanelPage(this.context, this.hub, webview, host);
  }

  /** Opens the editor panel, or brings it forward. */
  openDetail(): void {
    if (this.detail) {
      this.detail.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(detailViewType, 'Attention Reuse', vscode.ViewColumn.Active, this.webviewOptions());
    this.adopt(panel);
  }

  /** Takes over a new or restored editor panel. */
  private adopt(panel: vscode.WebviewPanel): void {
    this.detailConnection?.dispose();
    this.detail?.dispose();
    this.detail = panel;
    panel.iconPath = vscode.Uri.joinPath(this.context.extensionUri, 'media', 'icons', 'attention-reuse.svg');
    this.detailConnection = this.setUp(panel.webview, 'editor');
    panel.onDidDispose(() => {
      if (this.detail !== panel) return;
      this.detailConnection?.dispose();
      this.detailConnection = undefined;
      this.detail = undefined;
    });
  }
}

/** Scripts on, and resources only from the bundle and media/ (STYLE.md "Webviews"). */
export function webviewOptions(context: vscode.ExtensionContext): vscode.WebviewOptions {
  const root = context.extensionUri;
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(root, 'dist'), vscode.Uri.joinPath(root, 'media')] };
}

/** Loads a page (the panel's `dist/webview.js` unless told) into a webview under the panel's CSP. */
export function loadPage(
  context: vscode.ExtensionContext,
  webview: vscode.Webview,
  script = 'webview.js',
  title = 'Attention Reuse',
): void {
  const root = context.extensionUri;
  webview.options = webviewOptions(context);
  webview.html = panelHtml({
    cspSource: webview.cspSource,
    nonce: makeNonce(),
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'dist', script)).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'media', 'panel.css')).toString(),
    title,
  });
}

/** The panel page in a webview, connected to the hub (the view, the editor panel, an analysis editor). */
export function loadPanelPage(
  context: vscode.ExtensionContext,
  hub: PanelHub,
  webview: vscode.Webview,
  host: 'sidebar' | 'editor',
): vscode.Disposable {
  // Connected before the page loads, so that its `ready` is heard.
  const connection = hub.connect(webview, host);
  loadPage(context, webview);
  return connection;
}
