/**
 * "Recent Analyses" in the Attention Reuse side bar: the analyses the panel showed lately,
 * and any others in the output folder's analyses/ (written by an earlier window or the CLI),
 * newest first. A click opens one in the panel; the one on screen is marked.
 */
import * as vscode from 'vscode';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RememberedAnalysis } from './analysisStore';
import type { Deps } from './deps';

export const recentViewId = 'attentionReuse.recent';
/** Entries the view lists at most. */
const maxListed = 30;

/** An entry of the list: a remembered analysis, or a file found in the output folder. */
export interface RecentEntry {
  path: string;
  label: string;
  at: number | undefined;
}

function modified(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The remembered analyses, then the files of `folder` that are not among them, newest first. */
export function recentEntries(remembered: RememberedAnalysis[], folder: string): RecentEntry[] {
  const entries: RecentEntry[] = remembered.map((r) => ({ path: r.path, label: r.label, at: r.at ?? modified(r.path) }));
  const known = new Set(entries.map((e) => e.path));
  let names: string[] = [];
  try {
    names = readdirSync(folder).filter((n) => n.endsWith('.analysis.json'));
  } catch {
    // No analyses written there yet.
  }
  for (const name of names) {
    const path = join(folder, name);
    if (!known.has(path)) entries.push({ path, label: name.replace(/\.analysis\.json$/, ''), at: modified(path) });
  }
  return entries.sort((a, b) => (b.at ?? 0) - (a.at ?? 0)).slice(0, maxListed);
}

export function whenText(at: number | undefined): string {
  return at === undefined ? 'time unknown' : new Date(at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

class RecentAnalysesProvider implements vscode.TreeDataProvider<RecentEntry> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly deps: Deps) {}

  refresh(): void {
    this.changed.fire();
  }

  getChildren(entry?: RecentEntry): RecentEntry[] {
    if (entry) return [];
    const { analyses, settings } = this.deps;
    return recentEntries(analyses.recent(), join(settings.outputFolder(), 'analyses'));
  }

  getTreeItem(entry: RecentEntry): vscode.TreeItem {
    const shown = this.deps.panel.shownPath === entry.path;
    const item = new vscode.TreeItem(entry.label);
    item.description = `${shown ? 'shown · ' : ''}${whenText(entry.at)}`;
    item.tooltip = `${entry.path}\nanalyzed ${whenText(entry.at)}${shown ? '\nshown in the panel' : ''}`;
    item.resourceUri = vscode.Uri.file(entry.path);
    item.iconPath = new vscode.ThemeIcon(shown ? 'eye' : 'graph');
    item.contextValue = 'analysis';
    item.command = { command: 'attentionReuse.openAnalysis', title: 'Open in Panel', arguments: [vscode.Uri.file(entry.path)] };
    return item;
  }

  dispose(): void {
    this.changed.dispose();
  }
}

export class RecentAnalyses {
  static register(_context: vscode.ExtensionContext, deps: Deps): vscode.Disposable {
    const provider = new RecentAnalysesProvider(deps);
    const view = vscode.window.createTreeView(recentViewId, { treeDataProvider: provider });
    return vscode.Disposable.from(
      view,
      provider,
      deps.analyses.onDidChange(() => provider.refresh()),
      view.onDidChangeVisibility((e) => e.visible && provider.refresh()),
      vscode.commands.registerCommand('attentionReuse.refreshRecent', () => provider.refresh()),
    );
  }
}
