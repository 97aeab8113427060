/**
 * Similarity against sequence length: per length bucket of the analysis (powers of two), the
 * examples' mean similarity between heads of different layers with its 95% interval, beside
 * their similarity to uniform attention. Long inputs spread attention, so a similarity read
 * off short examples may not hold at the length a model is trained for.
 */
import type { ChartDataset } from 'chart.js';
import { Chart } from './charts';
import { h, replace, table } from './dom';
import { fixed } from './format';
import type { LengthPoint } from '../protocol/messages';
import type { Section } from './section';
import type { StackData } from './stackData';
import { css } from './theme';
import type { ViewContext } from './viewContext';

export class LengthView implements Section {
  readonly element: HTMLElement;
  readonly needsAnalysis = true;
  private readonly canvas: HTMLCanvasElement;
  private readonly box: HTMLElement;
  private readonly tableWrap: HTMLElement;
  private readonly empty: HTMLElement;
  private chart: Chart<'line', { x: number; y: number }[]> | null = null;
  private points: LengthPoint[] = [];

  constructor(private readonly ctx: ViewContext) {
    this.canvas = h('canvas', { role: 'img', 'aria-label': 'Similarity against sequence length' });
    this.box = h('div', { class: 'chart-box' }, this.canvas);
    this.tableWrap = h('div', { class: 'table-wrap' });
    this.empty = h(
      'p',
      { class: 'note', hidden: true },
      'This analysis file has no length buckets (it was written before they were recorded).',
    );
    this.element = h(
      'section',
      { class: 'view lengths', 'aria-labelledby': 'lengths-title' },
      h('h2', { id: 'lengths-title' }, 'Similarity against length'),
      h(
        'p',
        { class: 'note' },
        'Per bucket of real tokens: mean similarity between heads of different layers (band: 95% interval over its examples) and the same heads’ similarity to uniform attention.',
      ),
      this.empty,
      this.box,
      this.tableWrap,
    );
  }

  setStack(stack: StackData | null): void {
    this.points = stack?.payload.lengths ?? [];
    this.empty.hidden = stack === null || this.points.length > 0;
    this.box.hidden = this.points.length === 0;
    replace(
      this.tableWrap,
      this.points.length === 0
        ? ''
        : table(
            'Length buckets',
            ['tokens', 'examples', 'mean tokens', 'similarity', '95% interval', 'uniform'],
            this.points.map((b) => [
              `${b.min}–${b.max}`,
              b.examples,
              b.meanTokens.toFixed(1),
              fixed(b.similarity),
              b.low === null ? '– (one example)' : `${fixed(b.low)}–${fixed(b.high)}`,
              fixed(b.uniform),
            ]),
          ),
    );
    this.draw();
  }

  repaint(): void {
    this.draw();
  }

  private draw(): void {
    this.chart?.destroy();
    this.chart = null;
    if (this.points.length === 0) return;
    const p = this.ctx.palette();
    const at = (y: (b: LengthPoint) => number | null) => this.points.flatMap((b) => (y(b) === null ? [] : [{ x: b.meanTokens, y: y(b)! }]));
    const [main, base] = [p.series[0], p.series[1 % p.series.length]];
    const datasets: ChartDataset<'line', { x: number; y: number }[]>[] = [
      { label: '95% low', data: at((b) => b.low), borderColor: 'transparent', pointRadius: 0, fill: false },
      {
        label: '95% high',
        data: at((b) => b.high),
        borderColor: 'transparent',
        backgroundColor: css(main, 0.2),
        pointRadius: 0,
        fill: '-1',
      },
      {
        label: 'similarity across layers',
        data: at((b) => b.similarity),
        borderColor: css(main),
        backgroundColor: css(main),
        pointRadius: 3,
      },
      {
        label: 'uniform baseline',
        data: at((b) => b.uniform),
        borderColor: css(base),
        backgroundColor: css(base),
        borderDash: [4, 3],
        pointRadius: 2,
      },
    ];
    this.chart = new Chart<'line', { x: number; y: number }[]>(this.canvas, {
      type: 'line',
      data: { datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { type: 'linear', title: { display: true, text: 'mean real tokens of the bucket' } },
          y: { type: 'linear', title: { display: true, text: 'similarity' }, suggestedMin: 0, suggestedMax: 1 },
        },
        plugins: {
          legend: {
            position: 'bottom',
            labels: { boxWidth: 10, color: css(p.foreground), filter: (item) => !item.text.startsWith('95%') },
          },
          tooltip: {
            callbacks: {
              label: (item) => {
                const b = this.points.find((q) => q.meanTokens === (item.raw as { x: number }).x);
                if (!b) return '';
                const band = b.low === null ? 'one example' : `95% ${fixed(b.low)}–${fixed(b.high)}`;
                return `${b.min}–${b.max} tokens, ${b.examples} examples: similarity ${fixed(b.similarity)} (${band}), uniform ${fixed(b.uniform)}`;
              },
            },
          },
        },
      },
    });
  }
}
