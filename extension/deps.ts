/** The shared pieces extension.ts builds once and hands to every feature's `register`. */
import type * as vscode from 'vscode';
import type { AnalysisStore } from './analysisStore';
import type { PanelHub } from './panelHub';
import type { SettingsReader } from './settings';

export interface Deps {
  /** The "Attention Reuse" log. */
  readonly output: vscode.LogOutputChannel;
  /** Every setting is read through it (types, enums and bounds as package.json declares them). */
  readonly settings: SettingsReader;
  /** The analysis shown last, which the panel reopens and Plan Reuse plans. */
  readonly analyses: AnalysisStore;
  /** What the panel's webviews show: features hand it analyses, plans and training metrics. */
  readonly panel: PanelHub;
}
