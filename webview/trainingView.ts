/**
 * The training loss chart. Points are appended as `metrics` messages arrive (the trainer
 * logs a line per step), and the chart updates without animation so a long run stays
 * cheap to follow.
 */
import { Chart } from './charts';
import { h, replace } from './dom';
import { exportBar, toCsv } from './exporting';
import { duration, fixed } from './format';
import type { MetricColumns, MetricsMessage } from '../protocol/messages';
import type { Section, SectionMessage } from './section';
import { css } from './theme';
import type { ViewContext } from './viewContext';

interface Row {
  step: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
}

export class TrainingView implements Section {
  readonly element: HTMLElement;
  /** A run can be followed before any analysis is shown. */
  readonly needsAnalysis = false;
  private readonly canvas: HTMLCanvasElement;
  private readonly latest: HTMLElement;
  private chart: Chart<'line', { x: number; y: number }[]> | null = null;
  private rows: Row[] = [];
  private run = '';

  constructor(private readonly ctx: ViewContext) {
    this.canvas = h('canvas', { role: 'img', 'aria-label': 'Training loss by step' });
    this.latest = h('p', { class: 'status', 'aria-live': 'off' });
    this.element = h(
      'section',
      { class: 'view training', 'aria-labelledby': 'training-title', hidden: true },
      h('h2', { id: 'training-title' }, 'Training'),
      this.latest,
      h('div', { class: 'chart-box' }, this.canvas),
      exportBar(ctx.post, () => `training-loss-${this.run || 'run'}`, {
        png: () => this.chart?.toBase64Image('image/png', 1) ?? '',
        csv: () => this.csv(),
      }),
    );
  }

  receive(message: SectionMessage): void {
    if (message.type === 'metrics') this.append(message);
  }

  private append(msg: MetricsMessage): void {
    if (msg.reset || msg.run !== this.run) {
      this.rows = [];
      this.run = msg.run;
      this.chart?.destroy();
      this.chart = null;
    }
    const added = columnsToRows(msg.points);
    this.rows.push(...added);
    this.element.hidden = false;
    if (!this.chart) this.build();
    else {
      const data = this.chart.data.datasets[0].data;
      for (const r of added) if (Number.isFinite(r.loss)) data.push({ x: r.step, y: r.loss });
      this.chart.update('none');
    }
    (this.canvas.parentElement ?? this.canvas).dataset.points = String(this.chart?.data.datasets[0].data.length ?? 0);
    this.renderLatest();
  }

  private build(): void {
    const p = this.ctx.palette();
    this.chart = new Chart<'line', { x: number; y: number }[]>(this.canvas, {
      type: 'line',
      data: {
        datasets: [
          {
            label: `loss${this.run ? ` (${this.run})` : ''}`,
            data: this.rows.filter((r) => Number.isFinite(r.loss)).map((r) => ({ x: r.step, y: r.loss })),
            borderColor: css(p.blue),
            backgroundColor: css(p.blue),
            borderWidth: 1.5,
            pointRadius: 0,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        scales: {
          x: { type: 'linear', title: { display: true, text: 'step' } },
          y: { type: 'linear', title: { display: true, text: 'loss' } },
        },
        plugins: { legend: { labels: { color: css(p.foreground), boxWidth: 10 } } },
      },
    });
  }

  private renderLatest(): void {
    const r = this.rows[this.rows.length - 1];
    if (!r) return;
    const parts = [`step ${r.step}`, `loss ${fixed(r.loss, 4)}`];
    if (Number.isFinite(r.lr)) parts.push(`lr ${r.lr.toExponential(2)}`);
    if (Number.isFinite(r.tokensPerSecond)) parts.push(`${Math.round(r.tokensPerSecond)} tokens/s`);
    if (Number.isFinite(r.elapsedSeconds)) parts.push(duration(r.elapsedSeconds));
    replace(this.latest, `${this.run ? `${this.run}: ` : ''}${parts.join(' · ')}`);
  }

  repaint(): void {
    if (!this.chart) return;
    this.chart.destroy();
    this.build();
  }

  private csv(): string {
    return toCsv([['step', 'loss', 'lr', 'tokensPerSecond', 'elapsedSeconds'], ...this.rows.map((r) => [r.step, r.loss, r.lr, r.tokensPerSecond, r.elapsedSeconds])]);
  }
}

function columnsToRows(c: MetricColumns): Row[] {
  const n = Math.min(c.step.length, c.loss.length);
  const at = (col: Float64Array | undefined, i: number) => (col && i < col.length ? col[i] : NaN);
  return Array.from({ length: n }, (_, i) => ({
    step: c.step[i],
    loss: c.loss[i],
    lr: at(c.lr, i),
    tokensPerSecond: at(c.tokensPerSecond, i),
    elapsedSeconds: at(c.elapsedSeconds, i),
  }));
}
