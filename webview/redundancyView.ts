/**
 * The layer-pair heatmap (paper Fig. 2) and, for the selected cell, the head-by-head block
 * headPairs[l][·][l'][·] with each head's best match. Every similarity is shown beside the
 * heads' similarity to uniform attention and their entropy, because diffuse heads look
 * alike whatever they learned (DESIGN.md "Read similarity against a baseline").
 */
import { SelectControl } from './controls';
import { h, replace, table } from './dom';
import { exportBar, toCsv } from './exporting';
import { actionRows } from './rowActions';
import { fixed } from './format';
import { GridChart } from './gridChart';
import { baselineWords, head, layerPairSpec, similarityCells } from './layerPairSpec';
import type { SimilarityScale } from './layerPairSpec';
import type { PanelEvent, Section, SectionMessage } from './section';
import type { StackData } from './stackData';
import type { ViewContext } from './viewContext';

export class RedundancyView implements Section {
  readonly element: HTMLElement;
  readonly needsAnalysis = true;
  private readonly layerChart: GridChart;
  private readonly headChart: GridChart;
  private readonly detail: HTMLElement;
  private readonly detailTitle: HTMLElement;
  private readonly matches: HTMLElement;
  private stack: StackData | null = null;
  private pair: [number, number] | null = null;
  private readonly range: SelectControl;
  private readonly measure: SelectControl;
  private readonly caption: HTMLElement;

  constructor(private readonly ctx: ViewContext) {
    this.layerChart = new GridChart({
      label: 'Layer-pair similarity heatmap',
      onSelect: (l, l2) => this.selectPair(l, l2, true),
      hint: 'Hover a cell for its value; click it for the heads of that layer pair.',
    });
    this.headChart = new GridChart({
      label: 'Head-pair similarity of the selected layer pair',
      onSelect: (hh) => this.pair && ctx.raise({ type: 'showHead', layer: this.pair[0], head: hh, matchLayer: this.pair[1] }),
      hint: 'Hover a cell for its value; click a row to see that head’s attention.',
    });
    const name = () => this.stack?.name ?? 'stack';
    // The two toggles of every similarity heatmap's colours (the sequential view reads them too).
    const scale = ctx.state.get().scale;
    const setScale = (patch: Partial<SimilarityScale>) => {
      ctx.state.update({ scale: { ...ctx.state.get().scale, ...patch } });
      ctx.raise({ type: 'similarityScale' });
    };
    this.range = new SelectControl('Colour scale', 'scale-range', (v) => setScale({ range: v === 'fitted' ? 'fitted' : 'shared' }));
    this.range.setChoices(
      [
        { value: 'shared', label: 'Shared 0–1' },
        { value: 'fitted', label: 'Per chart' },
      ],
      scale.range,
    );
    this.measure = new SelectControl('Show', 'scale-measure', (v) => setScale({ measure: v === 'aboveUniform' ? 'aboveUniform' : 'similarity' }));
    this.measure.setChoices(
      [
        { value: 'similarity', label: 'Similarity' },
        { value: 'aboveUniform', label: 'Similarity above uniform' },
      ],
      scale.measure,
    );
    this.caption = h('p', { class: 'note' });
    this.detailTitle = h('h3');
    this.matches = h('div', { class: 'table-wrap' });
    this.detail = h(
      'div',
      { class: 'pair-detail', hidden: true },
      this.detailTitle,
      this.headChart.element,
      exportBar(ctx.post, () => `head-pairs-${name()}-l${this.pair?.[0]}-l${this.pair?.[1]}`, this.headChart.exporters(() => this.headCsv()), 'head-pair heatmap'),
      this.matches,
    );
    this.element = h(
      'section',
      { class: 'view redundancy', 'aria-labelledby': 'redundancy-title' },
      h('h2', { id: 'redundancy-title' }, 'Layer-pair similarity'),
      h('div', { class: 'controls' }, this.range.element, this.measure.element),
      this.caption,
      h(
        'p',
        { class: 'legend-line' },
        h('span', { class: 'swatch apart' }),
        'a layer against itself (always 1, left out of the colour scale) ',
        h('span', { class: 'swatch below' }),
        'corner mark: no more alike than their uniform baseline',
      ),
      this.layerChart.element,
      exportBar(ctx.post, () => `layer-pairs-${name()}`, this.layerChart.exporters(() => this.layerCsv()), 'layer-pair heatmap'),
      this.detail,
    );
  }

  setStack(stack: StackData | null): void {
    this.stack = stack;
    const pair = this.ctx.state.get().pair;
    if (!stack) {
      this.layerChart.set(null, this.ctx.palette());
      this.detail.hidden = true;
      return;
    }
    const L = stack.L;
    this.renderCaption();
    this.layerChart.set(layerPairSpec(stack, this.ctx.state.get().scale), this.ctx.palette());
    if (pair && pair[0] < L && pair[1] < L) this.selectPair(pair[0], pair[1], false);
    else {
      this.pair = null;
      this.layerChart.select(null);
      this.detail.hidden = true;
    }
  }

  repaint(): void {
    this.layerChart.setPalette(this.ctx.palette());
    this.headChart.setPalette(this.ctx.palette());
  }

  onEvent(event: PanelEvent): void {
    if (event.type === 'similarityScale') this.setStack(this.stack);
  }

  /** Plain words for what the chart shows; the formula in the tooltip. */
  private renderCaption(): void {
    const above = this.ctx.state.get().scale.measure === 'aboveUniform';
    this.caption.textContent = above
      ? 'How much more alike layer l′ and layer l attend than their uniform baseline says heads attending to nothing in particular would (0: no more than that).'
      : 'How well some head of layer l′ can stand in for the best-matched head of layer l: 1 is the same attention pattern, 0 nothing in common.';
    this.caption.title =
      'M[l][l′] = max over heads h of c[(l,h), l′], with c[(l,h), l′] = max over heads h′ of the mean over examples of S(A[l,h], A[l′,h′]) and S = 1 − mean total-variation distance of the rows' +
      (above ? '; shown minus the uniform baseline min(u[l,h], u[l′,h′]) of the two heads, u = similarity to uniform attention' : '');
  }

  receive(message: SectionMessage): void {
    // The other view of the same analysis selected a pair.
    if (message.type === 'focusLayerPair' && message.stack === this.stack?.name) this.selectPair(message.layer, message.otherLayer, false);
  }

  /** Selects a layer pair; `fromUser` tells the host, which syncs the other view. */
  selectPair(l: number, l2: number, fromUser: boolean): void {
    const s = this.stack;
    if (!s || l >= s.L || l2 >= s.L) return;
    this.pair = [l, l2];
    this.layerChart.select([l, l2]);
    this.detail.hidden = false;
    this.detailTitle.textContent = `Heads of layer ${l} × layer ${l2}`;
    const cell = (a: number, b: number) => ({ similarity: s.headPair(l, a, l2, b), baseline: Math.min(s.uniform(l, a), s.uniform(l2, b)) });
    this.headChart.set(
      {
        rows: s.H,
        cols: s.H,
        rowLabel: (hh) => `h${hh}`,
        colLabel: (hh) => `h${hh}`,
        rowTitle: `layer ${l}`,
        colTitle: `layer ${l2}`,
        ...similarityCells(s.H, s.H, cell, (a, b) => l === l2 && a === b, this.ctx.state.get().scale),
        describe: (a, b) => {
          const v = s.headPair(l, a, l2, b);
          if (l === l2 && a === b) return `head ${head(l, a)} × head ${head(l2, b)}: S = ${fixed(v)} (a head against itself, drawn apart from the colour scale)`;
          return (
            `head ${head(l, a)} × head ${head(l2, b)}: S = ${fixed(v)}; uniform ${fixed(s.uniform(l, a))} / ${fixed(s.uniform(l2, b))}; ` +
            `entropy ${fixed(s.entropy(l, a), 2)} / ${fixed(s.entropy(l2, b), 2)} nats; ${baselineWords(cell(a, b))}`
          );
        },
      },
      this.ctx.palette(),
    );
    this.renderMatches(s, l, l2);
    this.ctx.state.update({ pair: [l, l2] });
    if (fromUser) this.ctx.post({ type: 'selectLayerPair', stack: s.name, layer: l, otherLayer: l2 });
  }

  private renderMatches(s: StackData, l: number, l2: number): void {
    const rows = [];
    for (let a = 0; a < s.H; a++) {
      const b = s.cArgmax(l, a, l2);
      const v = s.c(l, a, l2);
      const diffuse = s.diffusePair(l, a, l2, b, v) && !(l === l2 && a === b);
      rows.push([
        head(l, a),
        head(l2, b),
        fixed(v),
        `${fixed(s.uniform(l, a))} / ${fixed(s.uniform(l2, b))}`,
        `${fixed(s.entropy(l, a), 2)} / ${fixed(s.entropy(l2, b), 2)}`,
        diffuse ? h('span', { class: 'badge warn', title: 'Both heads are at least as close to uniform attention as to each other' }, 'diffuse') : '',
      ]);
    }
    const matches = table(
      `Best match in layer ${l2} for each head of layer ${l} (a row opens its attention maps)`,
      ['head', 'best match', 'c', 'uniform (head / match)', 'entropy, nats (head / match)', 'note'],
      rows,
    );
    const open = (a: number) => this.ctx.raise({ type: 'showHead', layer: l, head: a, matchLayer: l2 });
    replace(this.matches, actionRows(matches, (a) => `Show the attention of head ${head(l, a)} beside its best match in layer ${l2}`, open));
  }

  private layerCsv(): string {
    const s = this.stack;
    if (!s) return '';
    const rows: (string | number)[][] = [['layer', ...Array.from({ length: s.L }, (_, j) => `l'=${j}`)]];
    for (let l = 0; l < s.L; l++) rows.push([l, ...Array.from({ length: s.L }, (_, j) => s.layerPair(l, j))]);
    return toCsv(rows);
  }

  private headCsv(): string {
    const s = this.stack;
    if (!s || !this.pair) return '';
    const [l, l2] = this.pair;
    const rows: (string | number)[][] = [['layer', 'head', 'other_layer', 'other_head', 'similarity', 'uniform', 'other_uniform', 'entropy', 'other_entropy']];
    for (let a = 0; a < s.H; a++) {
      for (let b = 0; b < s.H; b++) {
        rows.push([l, a, l2, b, s.headPair(l, a, l2, b), s.uniform(l, a), s.uniform(l2, b), s.entropy(l, a), s.entropy(l2, b)]);
      }
    }
    return toCsv(rows);
  }
}
