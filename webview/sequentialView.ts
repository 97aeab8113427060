/**
 * The sequential view (paper Fig. 3): for each layer l ≥ 1, its heads ranked by
 * c[(l,h), l-1], least like the previous layer first. Columns are layers, rows are ranks,
 * cells name the head; the table lists one layer with the uniform and entropy baselines.
 */
import { h, replace, table } from './dom';
import { exportBar, toCsv } from './exporting';
import { actionRows } from './rowActions';
import { fixed } from './format';
import { GridChart } from './gridChart';
import { baselineWords, similarityCells } from './layerPairSpec';
import { sinkCell, withInterval } from './redundancyView';
import type { PanelEvent, Section } from './section';
import { intervalText } from './stackData';
import type { StackData } from './stackData';
import type { ViewContext } from './viewContext';

export class SequentialView implements Section {
  readonly element: HTMLElement;
  readonly needsAnalysis = true;
  private readonly chart: GridChart;
  private readonly tableWrap: HTMLElement;
  private readonly empty: HTMLElement;
  private stack: StackData | null = null;

  constructor(private readonly ctx: ViewContext) {
    this.chart = new GridChart({
      label: 'Sequential similarity: heads of each layer ranked by similarity to the previous layer',
      onSelect: (_rank, col) => this.showLayer(col + 1),
      hint: 'Hover a cell for the head and its value; click a column for that layer’s table.',
    });
    this.tableWrap = h('div', { class: 'table-wrap' });
    this.empty = h('p', { class: 'note', hidden: true }, 'The sequential view needs at least two layers.');
    this.element = h(
      'section',
      { class: 'view sequential', 'aria-labelledby': 'sequential-title' },
      h('h2', { id: 'sequential-title' }, 'Sequential similarity'),
      h(
        'p',
        {
          class: 'note',
          title:
            'c[(l,h), l−1] = max over heads h′ of layer l−1 of the mean over examples of S(A[l,h], A[l−1,h′]); ranked ascending per layer',
        },
        'For each layer, its heads from least (rank 1) to most like some head of the layer before; cells name the head, colours show the similarity.',
      ),
      this.empty,
      this.chart.element,
      exportBar(
        ctx.post,
        () => `sequential-${this.stack?.name ?? 'stack'}`,
        this.chart.exporters(() => this.csv()),
        'sequential-similarity heatmap',
      ),
      this.tableWrap,
    );
  }

  setStack(stack: StackData | null): void {
    this.stack = stack;
    const usable = stack !== null && stack.L >= 2;
    this.empty.hidden = stack === null || usable;
    if (!usable) {
      this.chart.set(null, this.ctx.palette());
      this.tableWrap.replaceChildren();
      return;
    }
    const s = stack;
    const cell = (r: number, c: number) => {
      const { head, value } = s.sequential(c + 1, r);
      return { similarity: value, baseline: Math.min(s.uniform(c + 1, head), s.uniform(c, s.cArgmax(c + 1, head, c))) };
    };
    this.chart.set(
      {
        rows: s.H,
        cols: s.L - 1,
        rowLabel: (r) => `#${r + 1}`,
        colLabel: (c) => String(c + 1),
        rowTitle: 'rank',
        colTitle: 'layer l',
        ...similarityCells(s.H, s.L - 1, cell, () => false, this.ctx.state.get().scale),
        text: (r, c) => `h${s.sequential(c + 1, r).head}`,
        flag: (r, c) => s.isSink(c + 1, s.sequential(c + 1, r).head),
        describe: (r, c) => {
          const l = c + 1;
          const { head, value } = s.sequential(l, r);
          const m = s.cArgmax(l, head, l - 1);
          return (
            `layer ${l}, rank ${r + 1}: head (${l},${head}) c[(l,h), l−1] = ${fixed(value)}${intervalText(s.cInterval(l, head, l - 1))}, best match (${l - 1},${m}); ` +
            (s.isSink(l, head) ? `sink (mass on ${s.sinkWhat} ${fixed(s.sinkMass(l, head))}); ` : '') +
            `uniform ${fixed(s.uniform(l, head))}; entropy ${fixed(s.entropy(l, head), 2)} nats; ${baselineWords(cell(r, c))}`
          );
        },
      },
      this.ctx.palette(),
    );
    this.showLayer(Math.min(Math.max(1, this.ctx.state.get().sequentialLayer), s.L - 1));
  }

  onEvent(event: PanelEvent): void {
    if (event.type === 'similarityScale') this.setStack(this.stack);
  }

  repaint(): void {
    this.chart.setPalette(this.ctx.palette());
  }

  private showLayer(l: number): void {
    const s = this.stack;
    if (!s) return;
    this.ctx.state.update({ sequentialLayer: l });
    const rows = [];
    for (let r = 0; r < s.H; r++) {
      const { head, value } = s.sequential(l, r);
      const m = s.cArgmax(l, head, l - 1);
      const diffuse = s.diffusePair(l, head, l - 1, m, value);
      rows.push([
        r + 1,
        `(${l},${head})`,
        withInterval(value, s.cInterval(l, head, l - 1)),
        `(${l - 1},${m})`,
        sinkCell(s, l, head, l - 1, m),
        fixed(s.uniform(l, head)),
        fixed(s.entropy(l, head), 2),
        diffuse
          ? h(
              'span',
              { class: 'badge warn', title: 'The head and its match are at least as close to uniform attention as to each other' },
              'diffuse',
            )
          : '',
      ]);
    }
    const ranked = table(
      `Layer ${l} against layer ${l - 1} (a row opens its attention maps)`,
      ['rank', 'head', 'c', 'best match', 'sink mass', 'uniform', 'entropy, nats', 'note'],
      rows,
    );
    const headAt = (r: number) => s.sequential(l, r).head;
    const open = (r: number) => this.ctx.raise({ type: 'showHead', layer: l, head: headAt(r), matchLayer: l - 1 });
    replace(
      this.tableWrap,
      actionRows(ranked, (r) => `Show the attention of head (${l},${headAt(r)}) beside its best match in layer ${l - 1}`, open),
    );
  }

  private csv(): string {
    const s = this.stack;
    if (!s || s.L < 2) return '';
    const rows: (string | number)[][] = [['layer', 'rank', 'head', 'c_prev', 'match_head', 'uniform', 'entropy']];
    for (let l = 1; l < s.L; l++) {
      for (let r = 0; r < s.H; r++) {
        const { head, value } = s.sequential(l, r);
        rows.push([l, r + 1, head, value, s.cArgmax(l, head, l - 1), s.uniform(l, head), s.entropy(l, head)]);
      }
    }
    return toCsv(rows);
  }
}
