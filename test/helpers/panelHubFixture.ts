// A PanelHub on the vscode stand-in: a recording log, an in-memory analysis store and the declared settings.
import { fakeContext, recordingLog } from './vscodeStandIn';
import type * as vscode from 'vscode';
import { AnalysisStore } from '../../extension/analysisStore';
import { PanelHub } from '../../extension/panelHub';
import { SettingsReader } from '../../extension/settings';

export function standInHub(): { hub: PanelHub; log: ReturnType<typeof recordingLog>; state: Map<string, unknown> } {
  const log = recordingLog();
  const state = new Map<string, unknown>();
  const analyses = new AnalysisStore({
    get: <T>(k: string) => state.get(k) as T,
    update: async (k: string, v: unknown) => void state.set(k, v),
  });
  const settings = new SettingsReader(fakeContext() as unknown as vscode.ExtensionContext, log as unknown as vscode.LogOutputChannel);
  const hub = new PanelHub(log as unknown as vscode.LogOutputChannel, settings, analyses);
  return { hub, log, state };
}
