/**
 * The attention-map viewer: one head's attention on one example, with the head of the
 * previous layer that matches it best (cArgmax) beside it. The host re-runs the model on
 * the one example asked for; only the latest request's reply is shown.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { AttentionCanvas } from './attentionCanvas';
import { NumberControl, SelectControl } from './controls';
import { h } from './dom';
import { exportBar, toCsv } from './exporting';
import { fixed } from './format';
import { ImageOverlayView } from './imageOverlay';
import type { AnalysisInfo, AttentionMapMessage } from '../protocol/messages';
import type { PanelEvent, Section } from './section';
import type { StackData } from './stackData';
import type { ViewContext } from './viewContext';

export class AttentionView implements Section {
  readonly element: HTMLElement;
  readonly needsAnalysis = true;
  private readonly example: NumberControl;
  private readonly layer: SelectControl;
  private readonly head: SelectControl;
  private readonly status: HTMLElement;
  private readonly main = new AttentionCanvas('Attention map of the selected head');
  private readonly match = new AttentionCanvas('Attention map of the best-matched head in the previous layer');
  private readonly maps: HTMLElement;
  private readonly overlay = new ImageOverlayView();
  private readonly showButton: HTMLElement;
  private readonly exports: HTMLElement;
  private stack: StackData | null = null;
  private info: AnalysisInfo | null = null;
  /** Counts requests, so that only the latest one's reply is drawn. */
  private ticket = 0;
  private last: AttentionMapMessage | null = null;

  constructor(private readonly ctx: ViewContext) {
    this.example = new NumberControl('Example', 'example', () => void this.request());
    this.layer = new SelectControl('Layer', 'layer', () => void this.request());
    this.head = new SelectControl('Head', 'head', () => void this.request());
    this.showButton = h('vscode-button', { 'data-action': 'show-attention' }, 'Show');
    this.showButton.addEventListener('click', () => void this.request());
    this.status = h('p', { class: 'status', 'aria-live': 'polite' });
    this.maps = h('div', { class: 'attention-maps' }, this.main.element, this.match.element);
    const name = () => (this.last ? `attention-${this.last.stack}-ex${this.last.example}-l${this.last.layer}-h${this.last.head}` : 'attention');
    this.element = h(
      'section',
      { class: 'view attention', 'aria-labelledby': 'attention-title' },
      h('h2', { id: 'attention-title' }, 'Attention maps'),
      h('div', { class: 'controls' }, this.example.element, this.layer.element, this.head.element, this.showButton),
      this.status,
      this.maps,
      this.overlay.element,
      (this.exports = h(
        'div',
        { class: 'export-pair', hidden: true },
        exportBar(ctx.post, name, { png: () => this.main.toPNG(), csv: () => toCsv(this.main.csvRows()) }),
        exportBar(ctx.post, () => `${name()}-match`, { png: () => this.match.toPNG(), csv: () => toCsv(this.match.csvRows()) }),
      )),
    );
    this.watchWidth();
  }

  /** Redraws the maps when the view is resized enough to change their layout. */
  private watchWidth(): void {
    let last = 0;
    new ResizeObserver(() => {
      const w = this.mapWidth();
      if (this.last && Math.abs(w - last) > 16) this.render();
      last = w;
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
    this.main.set(null, this.ctx.palette(), 0);
    this.match.set(null, this.ctx.palette(), 0);
    this.overlay.set(null, this.ctx.palette(), 0);
    this.exports.hidden = true;
    this.element.hidden = stack === null;
    if (!stack || !info) return;
    const saved = this.ctx.state.get().attention;
    const layer = Math.min(saved.layer, stack.L - 1);
    const head = Math.min(saved.head, stack.H - 1);
    const example = Math.min(saved.example, Math.max(0, info.run.examples - 1));
    this.example.setRange(0, Math.max(0, info.run.examples - 1), example);
    this.layer.setChoices(Array.from({ length: stack.L }, (_, l) => ({ value: String(l), label: `layer ${l}` })), String(layer));
    this.head.setChoices(Array.from({ length: stack.H }, (_, hh) => ({ value: String(hh), label: `head ${hh}` })), String(head));
    this.status.textContent = info.canShowAttention
      ? 'Pick an example, layer and head, then Show (or click a row of the head-pair block).'
      : 'Attention maps need the model and the inputs this analysis was made from; the host cannot find them.';
    this.showButton.toggleAttribute('disabled', !info.canShowAttention);
  }

  /** Shows head (layer, head) of the current example when another section asks (a click on a head). */
  onEvent(event: PanelEvent): void {
    if (event.type !== 'showHead' || !this.stack) return;
    this.layer.value = String(event.layer);
    this.head.value = String(event.head);
    void this.request();
  }

  private async request(): Promise<void> {
    const s = this.stack;
    if (!s || !this.info?.canShowAttention) return;
    const example = this.example.value;
    const layer = Number(this.layer.value);
    const head = Number(this.head.value);
    if (!Number.isInteger(example) || example < 0 || example >= this.info.run.examples) {
      this.status.textContent = `Example must be between 0 and ${this.info.run.examples - 1}.`;
      return;
    }
    if (!(layer >= 0 && layer < s.L && head >= 0 && head < s.H)) return;
    this.ctx.state.update({ attention: { example, layer, head } });
    const ticket = ++this.ticket;
    this.status.textContent = `Running the model on example ${example}…`;
    const msg = await this.ctx.request({ type: 'requestAttentionMap', example, stack: s.name, layer, head });
    if (ticket !== this.ticket) return; // a newer request, or another stack, superseded it
    if (msg.type === 'requestFailed') {
      this.status.textContent = msg.message;
      return;
    }
    this.last = msg;
    this.render();
  }

  /** Renders a map the host pushed or answered. */
  private render(): void {
    const msg = this.last;
    const s = this.stack;
    if (!msg) return;
    const width = this.mapWidth();
    const p = this.ctx.palette();
    const of = (l: number, hh: number) => {
      const n = s?.entropyNormalized(l, hh);
      return n === undefined ? '' : ` (${fixed(n)} of the most)`;
    };
    const u = (l: number, hh: number) => (s && l < s.L && hh < s.H ? ` · uniform ${fixed(s.uniform(l, hh))} · entropy ${fixed(s.entropy(l, hh), 2)} nats${of(l, hh)}` : '');
    this.main.set(
      { title: `Head (${msg.layer},${msg.head}), example ${msg.example}${u(msg.layer, msg.head)}`, queryTokens: msg.queryTokens, keyTokens: msg.keyTokens, map: msg.map },
      p,
      width,
    );
    const m = msg.match;
    this.match.set(
      m
        ? {
            title: `Best match in layer ${m.layer}: head (${m.layer},${m.head}), c = ${fixed(m.similarity)}${u(m.layer, m.head)}`,
            queryTokens: msg.queryTokens,
            keyTokens: msg.keyTokens,
            map: m.map,
          }
        : null,
      p,
      width,
    );
    this.overlay.set(msg.image ? { image: msg.image, map: msg.map, queryTokens: msg.queryTokens, keyTokens: msg.keyTokens } : null, p, width);
    this.exports.hidden = false;
    this.status.textContent = m ? '' : 'Layer 0 has no previous layer to match.';
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
