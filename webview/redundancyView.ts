/**
 * The layer-pair heatmap (paper Fig. 2) and, for the selected cell, the head-by-head block
 * headPairs[l][·][l'][·] with each head's best match. Every similarity is shown beside the
 * heads' similarity to uniform attention and their entropy, because diffuse heads look
 * alike whatever they learned (DESIGN.md "Read similarity against a baseline").
 */
import { h, replace, table } from './dom';
import { exportBar, toCsv } from './exporting';
import { actionRows } from './rowActions';
import { fixed } from './format';
import { GridChart } from './gridChart';
import { head, layerPairSpec } from './layerPairSpec';
import type { Section, SectionMessage } from './section';
import { similarityDomain } from './stackData';
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
    this.detailTitle = h('h3');
    this.matches = h('div', { class: 'table-wrap' });
    this.detail = h(
      'div',
      { class: 'pair-detail', hidden: true },
      this.detailTitle,
      this.headChart.element,
      exportBar(ctx.post, () => `head-pairs-${name()}-l${this.pair?.[0]}-l${this.pair?.[1]}`, this.headChart.exporters(() => this.headCsv())),
      this.matches,
    );
    this.element = h(
      'section',
      { class: 'view redundancy', 'aria-labelledby': 'redundancy-title' },
      h('h2', { id: 'redundancy-title' }, 'Layer-pair similarity'),
      h('p', { class: 'note' }, "M[l][l′] = max over heads h of c[(l,h), l′]: how well layer l′ can stand in for the best-matched head of layer l."),
      this.layerChart.element,
      exportBar(ctx.post, () => `layer-pairs-${name()}`, this.layerChart.exporters(() => this.layerCsv())),
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
    this.layerChart.set(layerPairSpec(stack), this.ctx.palette());
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
    this.headChart.set(
      {
        rows: s.H,
        cols: s.H,
        rowLabel: (hh) => `h${hh}`,
        colLabel: (hh) => `h${hh}`,
        rowTitle: `layer ${l}`,
        colTitle: `layer ${l2}`,
        domain: similarityDomain(s.payload.headPairs.data),
        value: (a, b) => s.headPair(l, a, l2, b),
        text: (a, b) => s.headPair(l, a, l2, b).toFixed(2),
        describe: (a, b) => {
          const v = s.headPair(l, a, l2, b);
          const diffuse = s.diffusePair(l, a, l2, b, v) && !(l === l2 && a === b) ? ' — diffuse: both heads are at least this close to uniform' : '';
          return (
            `head ${head(l, a)} × head ${head(l2, b)}: S = ${fixed(v)}; uniform ${fixed(s.uniform(l, a))} / ${fixed(s.uniform(l2, b))}; ` +
            `entropy ${fixed(s.entropy(l, a), 2)} / ${fixed(s.entropy(l2, b), 2)} nats${diffuse}`
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
        fixed(s.uniform(l, a)),
        fixed(s.uniform(l2, b)),
        fixed(s.entropy(l, a), 2),
        fixed(s.entropy(l2, b), 2),
        diffuse ? h('span', { class: 'badge warn', title: 'Both heads are at least as close to uniform attention as to each other' }, 'diffuse') : '',
      ]);
    }
    const matches = table(
      `Best match in layer ${l2} for each head of layer ${l} (a row opens its attention maps)`,
      ['head', 'best match', 'c', 'uniform', 'uniform (match)', 'entropy', 'entropy (match)', ''],
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
