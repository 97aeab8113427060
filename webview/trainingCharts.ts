/**
 * The training charts: the loss of every run overlaid (one colour per run, the held-out loss
 * as dots on a dashed line of the same colour), and a small chart of the held-out accuracy or
 * perplexity. Each draws a run's points straight from its step-keyed series, so a line never
 * turns back on itself; a batch of new steps is appended without rebuilding the chart.
 */
import { Chart } from './charts';
import type { MergeResult, MetricKey, MetricPoint } from '../protocol/metricSeries';
import type { Palette } from './theme';
import { css } from './theme';

type XY = { x: number; y: number };
type LineChart = Chart<'line', XY[]>;

/** One series drawn from one column of a run. */
interface Curve {
  run: string;
  key: MetricKey;
  label: string;
  colour: string;
  dashed: boolean;
  /** Evaluations are on some steps only: a dot on each. */
  dots: boolean;
}

export class MetricChart {
  private chart: LineChart | null = null;
  private curves: Curve[] = [];

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly yTitle: () => string,
  ) {}

  /** Rebuilds the chart: which curves, and all their points. */
  draw(curves: Curve[], points: (run: string) => readonly MetricPoint[], p: Palette): void {
    this.chart?.destroy();
    this.curves = curves;
    this.chart = new Chart<'line', XY[]>(this.canvas, {
      type: 'line',
      data: {
        datasets: curves.map((c) => ({
          label: c.label,
          data: xy(points(c.run), c.key),
          borderColor: c.colour,
          backgroundColor: c.colour,
          borderWidth: 1.5,
          borderDash: c.dashed ? [4, 3] : undefined,
          pointRadius: c.dots ? 2.5 : 0,
          spanGaps: true,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        scales: {
          x: { type: 'linear', title: { display: true, text: 'step' } },
          y: { type: 'linear', title: { display: true, text: this.yTitle() } },
        },
        plugins: { legend: { labels: { color: css(p.foreground), boxWidth: 10 } } },
      },
    });
  }

  /** A run's points changed as `merge` says: new steps are appended, anything else redraws its curves. */
  update(run: string, points: readonly MetricPoint[], merge: MergeResult): void {
    const chart = this.chart;
    if (!chart) return;
    this.curves.forEach((c, i) => {
      if (c.run !== run) return;
      const data = chart.data.datasets[i].data;
      if (merge.appendedOnly) data.push(...xy(points.slice(merge.from), c.key));
      else chart.data.datasets[i].data = xy(points, c.key);
    });
    chart.update('none');
  }

  /** Points drawn, over all curves of `key`. */
  count(key: MetricKey): number {
    if (!this.chart) return 0;
    return this.curves.reduce((n, c, i) => n + (c.key === key ? this.chart!.data.datasets[i].data.length : 0), 0);
  }

  toPNG(): string {
    return this.chart?.toBase64Image('image/png', 1) ?? '';
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = null;
  }
}

/** The points of one column that have a value (evaluations are on some steps only). */
function xy(points: readonly MetricPoint[], key: MetricKey): XY[] {
  const out: XY[] = [];
  for (const p of points) if (Number.isFinite(p[key])) out.push({ x: p.step, y: p[key] });
  return out;
}

export type { Curve };
