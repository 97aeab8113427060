/**
 * One part of the panel: a chart with its controls. main.ts builds every section from the
 * list there and drives them through these hooks, so a new chart is one file with a class
 * like this and one entry in that list.
 */
import type { AnalysisInfo, ToWebview } from '../protocol/messages';
import type { StackData } from './stackData';

/** Host messages the sections receive: all but those the shell handles (replies settle their requests). */
export type SectionMessage = Exclude<ToWebview, { type: 'settings' | 'analysis' | 'runStatus' | 'modelSummary' }>;

/** What one section asks of the others inside the page (the host never sees these). */
/** `matchLayer`: the other layer of the pair it was opened from, where the viewer takes the best match. */
/** `similarityScale`: the user changed how the similarity heatmaps are coloured (in the view state). */
export type PanelEvent = { type: 'showHead'; layer: number; head: number; matchLayer?: number } | { type: 'similarityScale' };

export interface Section {
  readonly element: HTMLElement;
  /** Shown only while an analysis is (the empty state's buttons stand in for it); else always in the page, after those. */
  readonly needsAnalysis: boolean;
  /** A new analysis arrived (null: none): drop what belonged to the previous one. `setStack` follows. */
  setAnalysis?(info: AnalysisInfo | null): void;
  /** The stack to show (null: none), after a new analysis or when the user picks another. */
  setStack?(stack: StackData | null): void;
  /** Redraws with the current theme palette. */
  repaint(): void;
  /** A host message; each section acts on the types it shows. */
  receive?(message: SectionMessage): void;
  /** An event another section raised. */
  onEvent?(event: PanelEvent): void;
}
