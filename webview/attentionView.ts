/**
 * The attention-map viewer: one head's attention on one example, beside the head it matches
 * best in another layer — the layer of the pair it was opened from (a row of the head-pair or
 * sequential table), else the previous one. Both maps share one colour scale by default, so
 * their colours compare; zoom goes from fit-to-width to cells large enough to read every
 * token. The host re-runs the model on the one example asked for; only the latest request's
 * reply is shown.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { AttentionCanvas } from './attentionCanvas';
import type { AttentionDrawing } from './attentionCanvas';
import { NumberControl, SelectControl } from './controls';
import { h } from './dom';
import { exportBar, toCsv } from './exporting';
import { fixed } from './format';
import { ImageOverlayView } from './imageOverlay';
import type { AnalysisInfo, AttentionMapMessage } from '../protocol/messages';
import type { PanelEvent, Section } from './section';
import type { StackData } from './stackData';
import type { ViewContext } from './viewContext';

/** Cell sizes the zoom buttons step through, in CSS pixels. */
const zoomLevels = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32];

type ScaleMode = 'shared' | 'own' | 'full';
const scaleChoices: { value: ScaleMode; label: string }[] = [
  { value: 'shared', label: 'Shared by both maps' },
  { value: 'own', label: 'Each map’s own maximum' },
  { value: 'full', label: 'Full range 0 to 1' },
];

export class AttentionView implements Section {
  readonly element: HTMLElement;
  readonly needsAnalysis = true;
  private readonly example: NumberControl;
  private readonly layer: SelectControl;
  private readonly head: SelectControl;
  private readonly matchLayer: SelectControl;
  private readonly scale: SelectControl;
  private readonly zoomText: HTMLElement;
  private readonly fitButton: HTMLElement;
  private readonly status: HTMLElement;
  private readonly main = new AttentionCanvas('Attention map of the selected head');
  private readonly match = new AttentionCanvas('Attention map of its best match');
  private readonly maps: HTMLElement;
  private readonly overlay = new ImageOverlayView();
  private readonly showButton: HTMLElement;
  private readonly viewBar: HTMLElement;
  private stack: StackData | null = null;
  private info: AnalysisInfo | null = null;
  /** Counts requests, so that only the latest one's reply is drawn. */
  private ticket = 0;
  private last: AttentionMapMessage | null = null;
  private zoom: number | 'fit' = 'fit';

  constructor(private readonly ctx: ViewContext) {
    this.example = new NumberControl('Example', 'example', () => void this.request());
    this.layer = new SelectControl('Layer', 'layer', (value) => {
      this.setMatchChoices(Number(value));
      void this.request();
    });
    this.head = new SelectControl('Head', 'head', () => void this.request());
    this.matchLayer = new SelectControl('Best match from', 'match-layer', () => void this.request());
    this.scale = new SelectControl('Colour scale', 'attention-scale', () => this.render());
    this.scale.setChoices(scaleChoices, 'shared');
    this.showButton = h('vscode-button', { 'data-action': 'show-attention' }, 'Show attention');
    this.showButton.addEventListener('click', () => void this.request());
    const button = (text: string, label: string, action: string, onClick: () => void) => {
      const b = h('vscode-button', { secondary: true, 'aria-label': label, title: label, 'data-action': action }, text);
      b.addEventListener('click', onClick);
      return b;
    };
    this.fitButton = button('Fit to width', 'Fit the maps to the width of the panel', 'zoom-fit', () => this.setZoom('fit'));
    this.zoomText = h('span', { class: 'zoom-level', 'aria-live': 'polite' });
    this.viewBar = h(
      'div',
      { class: 'controls attention-zoom', hidden: true },
      button('−', 'Zoom out', 'zoom-out', () => this.stepZoom(-1)),
      button('+', 'Zoom in', 'zoom-in', () => this.stepZoom(1)),
      this.fitButton,
      this.zoomText,
      this.scale.element,
    );
    this.status = h('p', { class: 'status', 'aria-live': 'polite' });
    const name = () =>
      this.last ? `attention-${this.last.stack}-ex${this.last.example}-l${this.last.layer}-h${this.last.head}` : 'attention';
    this.main.element.append(
      exportBar(ctx.post, name, { png: () => this.main.toPNG(), csv: () => toCsv(this.main.csvRows()) }, 'attention map'),
    );
    this.match.element.append(
      exportBar(ctx.post, () => `${name()}-match`, { png: () => this.match.toPNG(), csv: () => toCsv(this.match.csvRows()) }, 'best match'),
    );
    this.maps = h('div', { class: 'attention-maps' }, this.main.element, this.match.element);
    this.element = h(
      'section',
      { class: 'view attention', 'aria-labelledby': 'attention-title' },
      h('h2', { id: 'attention-title' }, 'Attention maps'),
      h(
        'div',
        { class: 'controls' },
        this.example.element,
        this.layer.element,
        this.head.element,
        this.matchLayer.element,
        this.showButton,
      ),
      this.viewBar,
      this.status,
      this.maps,
      this.overlay.element,
    );
    this.watchWidth();
  }

  /** Redraws fitted maps when the view is resized enough to change their layout (after the resize, not inside it). */
  private watchWidth(): void {
    let last = 0;
    let queued = false;
    new ResizeObserver(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        const w = this.mapWidth();
        if (this.last && this.zoom === 'fit' && Math.abs(w - last) > 16) this.render();
        last = w;
      });
    }).observe(this.maps);
  }

  setAnalysis(info: AnalysisInfo | null): void {
    this.info = info;
  }

  setStack(stack: StackData | null): void {
    const info = this.info;
    this.stack = stack;
    this.ticket++;
    this.last = null;
    this.main.set(null, this.ctx.palette(), this.drawing(0, ''));
    this.match.set(null, this.ctx.palette(), this.drawing(0, ''));
    this.overlay.set(null, this.ctx.palette(), 0);
    this.viewBar.hidden = true;
    this.element.hidden = stack === null;
    if (!stack || !info) return;
    const saved = this.ctx.state.get().attention;
    const layer = Math.min(saved.layer, stack.L - 1);
    const head = Math.min(saved.head, stack.H - 1);
    const example = Math.min(saved.example, Math.max(0, info.run.examples - 1));
    this.example.setRange(0, Math.max(0, info.run.examples - 1), example);
    this.layer.setChoices(
      Array.from({ length: stack.L }, (_, l) => ({ value: String(l), label: `layer ${l}` })),
      String(layer),
    );
    this.head.setChoices(
      Array.from({ length: stack.H }, (_, hh) => ({ value: String(hh), label: `head ${hh}` })),
      String(head),
    );
    this.setMatchChoices(layer, saved.matchLayer ?? null);
    this.status.textContent = info.canShowAttention
      ? 'Pick an example, layer and head, then Show attention (or click a row of the head-pair or sequential table).'
      : 'Attention maps need the model and the inputs this analysis was made from; the host cannot find them.';
    this.showButton.toggleAttribute('disabled', !info.canShowAttention);
  }

  /** "Best match from" for `layer` (the select's value may not have settled yet): the previous layer (the default), or any other. */
  private setMatchChoices(layer: number, value: number | null = this.chosenMatchLayer()): void {
    const s = this.stack;
    if (!s) return;
    const others = Array.from({ length: s.L }, (_, l) => l).filter((l) => l !== layer);
    const fallback = layer > 0 ? layer - 1 : 1;
    const choices = [
      { value: 'auto', label: s.L < 2 ? 'no other layer' : `layer ${fallback} (${layer > 0 ? 'previous' : 'next'})` },
      ...others.filter((l) => l !== fallback).map((l) => ({ value: String(l), label: `layer ${l}` })),
    ];
    this.matchLayer.setChoices(choices, value !== null && value !== layer && value !== fallback && value < s.L ? String(value) : 'auto');
  }

  private chosenMatchLayer(): number | null {
    const v = this.matchLayer.value;
    return v && v !== 'auto' ? Number(v) : null;
  }

  /** Shows a head's attention when another section asks (a head-pair cell, a table row), matched in the layer of that pair. */
  onEvent(event: PanelEvent): void {
    if (event.type !== 'showHead' || !this.stack) return;
    this.layer.value = String(event.layer);
    this.head.value = String(event.head);
    this.setMatchChoices(event.layer, event.matchLayer ?? null);
    void this.request(event.layer, event.head);
    this.element.scrollIntoView({ block: 'nearest' });
  }

  /** Asks for the map of the controls' choice (`layer` and `head` when just set: the selects may not have settled). */
  private async request(layer = Number(this.layer.value), head = Number(this.head.value)): Promise<void> {
    const s = this.stack;
    if (!s || !this.info?.canShowAttention) return;
    const example = this.example.value;
    if (!Number.isInteger(example) || example < 0 || example >= this.info.run.examples) {
      this.status.textContent = `Example must be between 0 and ${this.info.run.examples - 1}.`;
      return;
    }
    if (!(layer >= 0 && layer < s.L && head >= 0 && head < s.H)) return;
    const matchLayer = this.chosenMatchLayer();
    this.ctx.state.update({ attention: { example, layer, head, matchLayer } });
    const ticket = ++this.ticket;
    this.status.textContent = `Running the model on example ${example}…`;
    const msg = await this.ctx.request({
      type: 'requestAttentionMap',
      example,
      stack: s.name,
      layer,
      head,
      ...(matchLayer !== null ? { matchLayer } : {}),
    });
    if (ticket !== this.ticket) return; // a newer request, or another stack, superseded it
    if (msg.type === 'requestFailed') {
      this.status.textContent = msg.message;
      return;
    }
    this.last = msg;
    this.render();
  }

  /** How a map is drawn now: width, zoom and the colour scale's top with where it comes from. */
  private drawing(scaleMax: number, scaleNote: string): AttentionDrawing {
    return { width: this.mapWidth(), zoom: this.zoom, scaleMax, scaleNote };
  }

  /** Renders the map the host answered, with the colour scale chosen. */
  private render(): void {
    const msg = this.last;
    const s = this.stack;
    if (!msg) return;
    const p = this.ctx.palette();
    const of = (l: number, hh: number) => {
      const n = s?.entropyNormalized(l, hh);
      return n === undefined ? '' : ` (${fixed(n)} of the most)`;
    };
    const u = (l: number, hh: number) =>
      s && l < s.L && hh < s.H ? ` · uniform ${fixed(s.uniform(l, hh))} · entropy ${fixed(s.entropy(l, hh), 2)} nats${of(l, hh)}` : '';
    const labels = { queryTokens: msg.queryTokens, keyTokens: msg.keyTokens, queryLabels: msg.queryLabels, keyLabels: msg.keyLabels };
    const m = msg.match;
    const max = (t: Float32Array) => t.reduce((a, v) => (v > a ? v : a), 0);
    const own = max(msg.map.data);
    const matchOwn = m ? max(m.map.data) : 0;
    const mode = (this.scale.value || 'shared') as ScaleMode;
    const shared = Math.max(own, matchOwn);
    const scaleOf = (mine: number): [number, string] =>
      mode === 'full' ? [1, 'full range 0 to 1'] : mode === 'own' || !m ? [mine, 'this map’s maximum'] : [shared, 'shared by both maps'];
    this.main.set(
      { title: `Head (${msg.layer},${msg.head}), example ${msg.example}${u(msg.layer, msg.head)}`, ...labels, map: msg.map },
      p,
      this.drawing(...scaleOf(own)),
    );
    this.match.set(
      m
        ? {
            title: `Best match in layer ${m.layer}: head (${m.layer},${m.head}), c = ${fixed(m.similarity)}${u(m.layer, m.head)}`,
            ...labels,
            map: m.map,
          }
        : null,
      p,
      this.drawing(...scaleOf(matchOwn)),
    );
    this.overlay.set(
      msg.image ? { image: msg.image, map: msg.map, queryTokens: msg.queryTokens, keyTokens: msg.keyTokens } : null,
      p,
      this.mapWidth(),
    );
    this.viewBar.hidden = false;
    this.fitButton.setAttribute('aria-pressed', String(this.zoom === 'fit'));
    this.zoomText.textContent = `${this.zoom === 'fit' ? 'fit to width' : 'zoomed'}: cells ${fixed(this.main.cellSize, this.main.cellSize < 10 ? 1 : 0)} px`;
    this.status.textContent = m ? '' : 'This stack has no other layer to match.';
  }

  /** One zoom step in or out from the cell size drawn now; out past the fitted size is fit-to-width. */
  private stepZoom(direction: 1 | -1): void {
    const now = this.main.cellSize;
    const fitted = this.fittedCell();
    const next = direction > 0 ? zoomLevels.find((z) => z > now + 0.01) : [...zoomLevels].reverse().find((z) => z < now - 0.01);
    if (next === undefined) return;
    this.setZoom(direction < 0 && next <= fitted ? 'fit' : next);
  }

  private fittedCell(): number {
    const k = this.last?.map.shape[1] ?? 1;
    return Math.min(22, Math.max(0.25, (this.mapWidth() - 60) / k));
  }

  private setZoom(zoom: number | 'fit'): void {
    this.zoom = zoom;
    this.render();
  }

  private mapWidth(): number {
    const total = this.maps.clientWidth || this.element.clientWidth || 600;
    // Side by side when there is room for two readable maps, else one under the other.
    return total >= 640 ? Math.floor(total / 2) - 12 : total;
  }

  repaint(): void {
    this.render();
  }
}
