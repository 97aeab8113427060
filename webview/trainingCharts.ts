/**
 * The training charts: the loss of every run overlaid (one colour per run, the held-out loss
 * as dots on a dashed line of the same colour), and a small chart of the held-out accuracy or
 * perplexity. Each draws a run's points straight from its step-keyed series, so a line never
 * turns back on itself; a batch of new steps is appended without rebuilding the chart. With the
 * chart focused, the arrow keys walk the points (left/right) and the curves (up/down), shown
 * as the chart's tooltip and read out in the line under it.
 */
import { readout } from './canvasFrame';
import type { ChartOptions } from 'chart.js';
import { applyChartTheme, Chart } from './charts';
import type { MergeResult, MetricKey, MetricPoint } from '../protocol/metricSeries';
import type { Palette } from './theme';
import { css, exportPalette } from './theme';

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
  private palette: Palette | null = null;
  /** The keyboard's point: curve and index into its data. */
  private cursor: { curve: number; point: number } | null = null;
  /** The line under the chart that reads the keyboard's point out. */
  readonly readout: HTMLElement = readout('');

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly yTitle: () => string,
  ) {
    canvas.tabIndex = 0;
    canvas.addEventListener('keydown', (e) => this.onKey(e));
    canvas.addEventListener('blur', () => this.chart?.tooltip?.setActiveElements([], { x: 0, y: 0 }));
  }

  private onKey(e: KeyboardEvent): void {
    const chart = this.chart;
    if (!chart || this.curves.length === 0) return;
    const at = this.cursor ?? { curve: 0, point: -1 };
    let { curve, point } = at;
    if (e.key === 'ArrowRight') point++;
    else if (e.key === 'ArrowLeft') point--;
    else if (e.key === 'ArrowDown') curve++;
    else if (e.key === 'ArrowUp') curve--;
    else if (e.key === 'Home') point = 0;
    else if (e.key === 'End') point = Infinity;
    else return;
    e.preventDefault();
    curve = Math.min(this.curves.length - 1, Math.max(0, curve));
    const data = chart.data.datasets[curve].data;
    if (data.length === 0) {
      this.readout.textContent = `${this.curves[curve].label}: no points yet`;
      return;
    }
    point = Math.min(data.length - 1, Math.max(0, point));
    this.cursor = { curve, point };
    const { x, y } = data[point];
    chart.tooltip?.setActiveElements([{ datasetIndex: curve, index: point }], { x: 0, y: 0 });
    chart.update('none');
    this.readout.textContent = `${this.curves[curve].label}, step ${x}: ${y.toPrecision(4)} (point ${point + 1} of ${data.length}; curve ${curve + 1} of ${this.curves.length})`;
  }

  /** Rebuilds the chart: which curves, and all their points. */
  draw(curves: Curve[], points: (run: string) => readonly MetricPoint[], p: Palette): void {
    this.chart?.destroy();
    this.curves = curves;
    this.cursor = null;
    this.palette = p;
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
      options: this.options(p, true),
    });
  }

  private options(p: Palette, screen: boolean): ChartOptions<'line'> {
    return {
      responsive: screen,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      scales: {
        x: { type: 'linear', title: { display: true, text: 'step' } },
        y: { type: 'linear', title: { display: true, text: this.yTitle() } },
      },
      plugins: { legend: { labels: { color: css(p.foreground), boxWidth: 10 } } },
    };
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

  /** The chart as a PNG on the theme-independent export palette's background and text (the runs keep their colours). */
  toPNG(): string {
    const chart = this.chart;
    const screen = this.palette;
    if (!chart || !screen) return '';
    const out = document.createElement('canvas');
    out.width = Math.max(320, this.canvas.clientWidth) * 2;
    out.height = Math.max(200, this.canvas.clientHeight) * 2;
    const p = exportPalette(screen);
    applyChartTheme(p);
    try {
      const datasets = chart.data.datasets.map((d) => ({ ...d, data: [...d.data] }));
      const copy = new Chart<'line', XY[]>(out, {
        type: 'line',
        data: { datasets },
        options: { ...this.options(p, false), devicePixelRatio: 1 },
      });
      const png = copy.toBase64Image('image/png', 1);
      copy.destroy();
      return png;
    } finally {
      applyChartTheme(screen);
    }
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
