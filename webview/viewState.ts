/**
 * What the panel remembers across reloads: only view state (which stack, cell, example,
 * configuration). Data is sent again by the host after `ready`. Versioned so that a state
 * written by an older panel is dropped rather than misread.
 */
import type { WebviewApi } from 'vscode-webview';
import type { SimilarityScale } from './layerPairSpec';

export interface ViewState {
  version: 1;
  /** The analysis the rest belongs to (AnalysisInfo.id); another one starts from the defaults. */
  analysis: string | null;
  stack: string | null;
  /** Selected layer-pair cell [l, l']. */
  pair: [number, number] | null;
  /** Layer shown in the sequential table (≥ 1). */
  sequentialLayer: number;
  /** `matchLayer`: where the best match is taken from (null or absent: the previous layer). */
  attention: { example: number; layer: number; head: number; matchLayer?: number | null };
  planner: { mode: string | null; P: number | null; K: number | null };
  /** How the similarity heatmaps colour their cells (absent in a state saved before the toggles: the default). */
  scale: SimilarityScale;
}

const defaults: ViewState = {
  version: 1,
  analysis: null,
  stack: null,
  pair: null,
  sequentialLayer: 1,
  attention: { example: 0, layer: 1, head: 0 },
  planner: { mode: null, P: null, K: null },
  scale: { range: 'shared', measure: 'similarity' },
};

export class ViewStateStore {
  private state: ViewState;

  constructor(private readonly api: WebviewApi<unknown>) {
    const saved = api.getState() as Partial<ViewState> | undefined;
    this.state = saved && saved.version === defaults.version ? { ...defaults, ...saved } : { ...defaults };
  }

  get(): ViewState {
    return this.state;
  }

  /** Starts over for another analysis: what was selected in the previous one means nothing here. */
  resetFor(analysis: string | null): void {
    // The colour scale is the user's way of reading every analysis, not a selection in one.
    this.state = { ...defaults, analysis, scale: this.state.scale };
    this.api.setState(this.state);
  }

  update(patch: Partial<Omit<ViewState, 'version'>>): void {
    this.state = { ...this.state, ...patch };
    this.api.setState(this.state);
  }
}
