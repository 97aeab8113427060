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
import { baselineWords, head, layerPairSpec, scaleDomain, similarityCells } from './layerPairSpec';
import type { SimilarityScale } from './layerPairSpec';
import type { PanelEvent, Section, SectionMessage } from './section';
import { intervalText } from './stackData';
import type { StackData } from './stackData';
import type { ViewContext } from './viewContext';

/** A similarity whose tooltip is its 95% interval, where the analysis has one. */
export function withInterval(v: number, interval: [number, number] | undefined): HTMLElement | string {
  return interval ? h('span', { title: `95% interval ${fixed(interval[0])}–${fixed(interval[1])}` }, fixed(v)) : fixed(v);
}

/** Sink mass of a head and its match, with a "sink" badge where either is one ('–' for files without sinks). */
export function sinkCell(s: StackData, l: number, a: number, l2: number, b: number): HTMLElement | string {
  const mass = s.sinkMass(l, a);
  if (mass === undefined) return '–';
  const sink = s.isSink(l, a) || s.isSink(l2, b);
  const title = `Mean attention on ${s.sinkWhat}: ${fixed(mass)} / ${fixed(s.sinkMass(l2, b))} (match); a head at or over ${s.payload.sinks!.threshold} is a sink`;
  return h(
    'span',
    { title },
    `${fixed(mass, 2)} / ${fixed(s.sinkMass(l2, b), 2)}`,
    sink ? h('span', { class: 'badge warn sink' }, 'sink') : '',
  );
}

export class RedundancyView implements Section {
  readonly element: HTMLElement;
  readonly needsAnalysis = true;
  private readonly layerChart: GridChart;
  /** The same map of the model with its weights shuffled (`analyze --baseline shuffled`), beside the real one. */
  private readonly baselineChart: GridChart;
  private readonly baselineBox: HTMLElement;
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
    this.baselineChart = new GridChart({
      label: 'Layer-pair similarity of the model with shuffled weights',
      hint: 'The same analysis of a copy of the model whose weight tensors were shuffled: what similarity the architecture and inputs give without learned structure.',
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
    this.measure = new SelectControl('Show', 'scale-measure', (v) =>
      setScale({ measure: v === 'aboveUniform' ? 'aboveUniform' : 'similarity' }),
    );
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
      exportBar(
        ctx.post,
        () => `head-pairs-${name()}-l${this.pair?.[0]}-l${this.pair?.[1]}`,
        this.headChart.exporters(() => this.headCsv()),
        'head-pair heatmap',
      ),
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
        'corner mark, lower right: no more alike than their uniform baseline; upper right: a sink head (hˢ: most of its attention on the first or special tokens). Hover a cell for its 95% interval.',
      ),
      h(
        'div',
        { class: 'maps' },
        h(
          'div',
          { class: 'map' },
          h('h3', {}, 'This model'),
          this.layerChart.element,
          exportBar(
            ctx.post,
            () => `layer-pairs-${name()}`,
            this.layerChart.exporters(() => this.layerCsv()),
            'layer-pair heatmap',
          ),
        ),
        (this.baselineBox = h(
          'div',
          { class: 'map baseline', hidden: true },
          h('h3', {}, 'Shuffled weights (baseline)'),
          this.baselineChart.element,
          exportBar(
            ctx.post,
            () => `layer-pairs-shuffled-${name()}`,
            this.baselineChart.exporters(() => this.baselineCsv()),
            'shuffled-weights heatmap',
          ),
        )),
      ),
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
    const scale = this.ctx.state.get().scale;
    const baseline = stack.payload.baseline;
    let spec = layerPairSpec(stack, scale);
    // With a baseline beside it, one colour scale for both maps, so that equal colours are equal
    // similarity; the baseline has no uniform baseline of its own, so it always shows similarity.
    const offDiagonal = (m: ArrayLike<number>) => Array.from(m).filter((_, i) => Math.floor(i / L) !== i % L);
    const shared: [number, number] | undefined = baseline
      ? scale.measure === 'similarity' && scale.range === 'fitted'
        ? scaleDomain([...offDiagonal(stack.payload.layerPairs.data), ...offDiagonal(baseline.layerPairs.data)], scale)
        : scale.measure === 'similarity'
          ? spec.domain
          : [0, 1]
      : undefined;
    if (shared && scale.measure === 'similarity') spec = { ...spec, domain: shared };
    this.layerChart.set(spec, this.ctx.palette());
    this.baselineBox.hidden = !baseline;
    this.baselineChart.set(
      baseline
        ? {
            ...spec,
            domain: shared,
            value: (l, l2) => baseline.layerPairs.data[l * L + l2],
            text: (l, l2) => (l === l2 ? '' : baseline.layerPairs.data[l * L + l2].toFixed(2)),
            describe: (l, l2) =>
              `shuffled weights (seed ${baseline.seed}), layer ${l} × layer ${l2}: ${fixed(baseline.layerPairs.data[l * L + l2])}; this model ${fixed(stack.layerPair(l, l2))}`,
            belowBaseline: undefined,
            flag: undefined,
          }
        : null,
      this.ctx.palette(),
    );
    if (pair && pair[0] < L && pair[1] < L) this.selectPair(pair[0], pair[1], false);
    else {
      this.pair = null;
      this.layerChart.select(null);
      this.detail.hidden = true;
    }
  }

  repaint(): void {
    this.layerChart.setPalette(this.ctx.palette());
    this.baselineChart.setPalette(this.ctx.palette());
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
        rowLabel: (hh) => `h${hh}${s.isSink(l, hh) ? 'ˢ' : ''}`,
        colLabel: (hh) => `h${hh}${s.isSink(l2, hh) ? 'ˢ' : ''}`,
        flag: (a, b) => s.isSink(l, a) || s.isSink(l2, b),
        rowTitle: `layer ${l}`,
        colTitle: `layer ${l2}`,
        ...similarityCells(s.H, s.H, cell, (a, b) => l === l2 && a === b, this.ctx.state.get().scale),
        describe: (a, b) => {
          const v = s.headPair(l, a, l2, b);
          if (l === l2 && a === b)
            return `head ${head(l, a)} × head ${head(l2, b)}: S = ${fixed(v)} (a head against itself, drawn apart from the colour scale)`;
          const sinks = [s.isSink(l, a) ? head(l, a) : '', s.isSink(l2, b) ? head(l2, b) : ''].filter(Boolean);
          const sinkText = sinks.length ? ` — sink ${sinks.join(' and ')}: mass on ${s.sinkWhat} ≥ ${s.payload.sinks!.threshold}` : '';
          return (
            `head ${head(l, a)} × head ${head(l2, b)}: S = ${fixed(v)}${intervalText(s.headPairInterval(l, a, l2, b))}${sinkText}; uniform ${fixed(s.uniform(l, a))} / ${fixed(s.uniform(l2, b))}; ` +
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
      const interval = s.cInterval(l, a, l2);
      rows.push([
        head(l, a),
        head(l2, b),
        withInterval(v, interval),
        interval ? `${fixed(interval[0])}–${fixed(interval[1])}` : '–',
        sinkCell(s, l, a, l2, b),
        `${fixed(s.uniform(l, a))} / ${fixed(s.uniform(l2, b))}`,
        `${fixed(s.entropy(l, a), 2)} / ${fixed(s.entropy(l2, b), 2)}`,
        diffuse
          ? h('span', { class: 'badge warn', title: 'Both heads are at least as close to uniform attention as to each other' }, 'diffuse')
          : '',
      ]);
    }
    const matches = table(
      `Best match in layer ${l2} for each head of layer ${l} (a row opens its attention maps)`,
      ['head', 'best match', 'c', '95% interval', 'sink mass', 'uniform (head / match)', 'entropy, nats (head / match)', 'note'],
      rows,
    );
    const open = (a: number) => this.ctx.raise({ type: 'showHead', layer: l, head: a, matchLayer: l2 });
    replace(
      this.matches,
      actionRows(matches, (a) => `Show the attention of head ${head(l, a)} beside its best match in layer ${l2}`, open),
    );
  }

  private layerCsv(): string {
    const s = this.stack;
    if (!s) return '';
    const rows: (string | number)[][] = [['layer', ...Array.from({ length: s.L }, (_, j) => `l'=${j}`)]];
    for (let l = 0; l < s.L; l++) rows.push([l, ...Array.from({ length: s.L }, (_, j) => s.layerPair(l, j))]);
    return toCsv(rows);
  }

  private baselineCsv(): string {
    const b = this.stack?.payload.baseline;
    if (!this.stack || !b) return '';
    const L = this.stack.L;
    const rows: (string | number)[][] = [['layer', ...Array.from({ length: L }, (_, j) => `l'=${j}`)]];
    for (let l = 0; l < L; l++) rows.push([l, ...Array.from({ length: L }, (_, j) => b.layerPairs.data[l * L + j])]);
    return toCsv(rows);
  }

  private headCsv(): string {
    const s = this.stack;
    if (!s || !this.pair) return '';
    const [l, l2] = this.pair;
    const rows: (string | number)[][] = [
      ['layer', 'head', 'other_layer', 'other_head', 'similarity', 'uniform', 'other_uniform', 'entropy', 'other_entropy'],
    ];
    for (let a = 0; a < s.H; a++) {
      for (let b = 0; b < s.H; b++) {
        rows.push([l, a, l2, b, s.headPair(l, a, l2, b), s.uniform(l, a), s.uniform(l2, b), s.entropy(l, a), s.entropy(l2, b)]);
      }
    }
    return toCsv(rows);
  }
}
