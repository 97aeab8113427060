/**
 * The planner's candidates as a scatter of a cost ratio against similarity kept, one colour
 * per preset family, with the Pareto front drawn as a line and the selected candidate
 * ringed. Candidates whose similarity kept is at or below their uniform baseline are drawn
 * as crosses. Clicking a point selects that candidate; with the plot focused, the arrow keys
 * step through the candidates by cost, and a line under it reads the selected one out.
 */
import { applyChartTheme, Chart } from './charts';
import type { ChartDataset, ChartOptions, ScatterDataPoint } from 'chart.js';
import { readout } from './canvasFrame';
import { h } from './dom';
import { fixed } from './format';
import type { ModeLabel, PlanCandidate } from '../protocol/messages';
import type { Palette, Rgb } from './theme';
import { css, exportPalette } from './theme';

export type CostAxis = 'flopsRatio' | 'paramsRatio' | 'scoreMemoryRatio';

export const costAxisLabels: Record<CostAxis, string> = {
  flopsRatio: 'FLOPs ratio',
  paramsRatio: 'parameters ratio',
  scoreMemoryRatio: 'attention-score memory ratio',
};

/** A point that remembers which candidate it stands for. */
interface CandidatePoint extends ScatterDataPoint {
  i: number;
}

interface Drawn {
  candidates: PlanCandidate[];
  modes: ModeLabel[];
  selected: number | null;
  recommended: number | null;
  axis: CostAxis;
  palette: Palette;
}

/** How a candidate reads aloud and in the tooltip. */
export function describeCandidate(c: PlanCandidate, axis: CostAxis): string {
  const below = c.belowBaseline ? ' — at or below its uniform baseline' : '';
  return `${c.mode} P=${c.P} K=${c.K}: ${costAxisLabels[axis]} ${fixed(c[axis])}, similarity kept ${fixed(c.similarityKept)}${c.keptInterval ? ` (95% ${fixed(c.keptInterval[0])}–${fixed(c.keptInterval[1])})` : ''} (uniform ${fixed(c.uniformBaseline)})${below}${c.withinNoise ? ', within noise of the recommended' : ''}`;
}

export class ParetoChart {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly readout: HTMLElement;
  private chart: Chart<'scatter', CandidatePoint[]> | null = null;
  private drawn: Drawn | null = null;

  constructor(private readonly onPick: (index: number) => void) {
    this.canvas = h('canvas', {
      role: 'img',
      tabindex: 0,
      'aria-label': 'Pareto plot of the reuse candidates: cost against similarity kept; arrow keys step through the candidates',
      class: 'pareto-canvas',
    });
    this.readout = readout('');
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    this.element = h('div', { class: 'pareto' }, h('div', { class: 'chart-box' }, this.canvas), this.readout);
  }

  render(
    candidates: PlanCandidate[],
    modes: ModeLabel[],
    selected: number | null,
    recommended: number | null,
    axis: CostAxis,
    p: Palette,
  ): void {
    this.drawn = { candidates, modes, selected, recommended, axis, palette: p };
    this.chart?.destroy();
    this.chart = new Chart<'scatter', CandidatePoint[]>(this.canvas, {
      type: 'scatter',
      data: { datasets: datasets(this.drawn, p) },
      options: this.options(this.drawn, p, true),
    });
    const c = selected === null ? undefined : candidates[selected];
    this.readout.textContent = c ? `Selected: ${describeCandidate(c, axis)}` : '';
  }

  /** Arrow keys: the next or previous candidate by cost (then by similarity kept); Home and End: the cheapest and the dearest. */
  private onKey(e: KeyboardEvent): void {
    const d = this.drawn;
    if (!d) return;
    const order = d.candidates
      .map((c, i) => ({ c, i }))
      .filter(({ c }) => c.similarityKept !== null)
      .sort((a, b) => a.c[d.axis] - b.c[d.axis] || a.c.similarityKept! - b.c.similarityKept!)
      .map(({ i }) => i);
    if (order.length === 0) return;
    const at = d.selected === null ? -1 : order.indexOf(d.selected);
    const step: Record<string, number> = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };
    let next: number | null = null;
    if (e.key in step) next = order[Math.min(order.length - 1, Math.max(0, at + step[e.key]))];
    else if (e.key === 'Home') next = order[0];
    else if (e.key === 'End') next = order[order.length - 1];
    if (next === null) return;
    e.preventDefault();
    this.onPick(next);
  }

  private options(d: Drawn, p: Palette, screen: boolean): ChartOptions<'scatter'> {
    const { candidates, axis } = d;
    return {
      responsive: screen,
      maintainAspectRatio: false,
      scales: {
        x: { type: 'linear', title: { display: true, text: `${costAxisLabels[axis]} (lower is cheaper)` } },
        y: { type: 'linear', title: { display: true, text: 'similarity kept' }, suggestedMax: 1 },
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 10, color: css(p.foreground) } },
        tooltip: {
          callbacks: {
            label: (item) => {
              const c = candidates[(item.raw as CandidatePoint).i];
              return c ? describeCandidate(c, axis) : '';
            },
          },
        },
      },
      onClick: (event) => {
        if (!this.chart || !event.native) return;
        const hit = this.chart.getElementsAtEventForMode(event.native, 'nearest', { intersect: true }, false)[0];
        const raw = hit ? (this.chart.data.datasets[hit.datasetIndex].data[hit.index] as CandidatePoint | undefined) : undefined;
        if (raw) this.onPick(raw.i);
      },
    };
  }

  /** The plot as a PNG in the theme-independent export palette, at the size it has on screen. */
  toPNG(): string {
    const d = this.drawn;
    if (!d || !this.chart) return '';
    const p = exportPalette(d.palette);
    const out = document.createElement('canvas');
    out.width = Math.max(320, this.canvas.clientWidth) * 2;
    out.height = Math.max(200, this.canvas.clientHeight) * 2;
    applyChartTheme(p);
    try {
      const chart = new Chart<'scatter', CandidatePoint[]>(out, {
        type: 'scatter',
        data: { datasets: datasets(d, p) },
        options: { ...this.options(d, p, false), devicePixelRatio: 1 },
      });
      const png = chart.toBase64Image('image/png', 1);
      chart.destroy();
      return png;
    } finally {
      applyChartTheme(d.palette);
    }
  }
}

function datasets(d: Drawn, p: Palette): ChartDataset<'scatter', CandidatePoint[]>[] {
  const { candidates, modes, selected, recommended } = d;
  const point = (c: PlanCandidate, i: number): CandidatePoint | null =>
    c.similarityKept === null ? null : { x: c[d.axis], y: c.similarityKept, i };
  const points = (keep: (c: PlanCandidate, i: number) => boolean) =>
    candidates.flatMap((c, i) => (keep(c, i) ? [point(c, i)].filter((x): x is CandidatePoint => x !== null) : []));
  const at = (raw: unknown) => candidates[(raw as CandidatePoint | undefined)?.i ?? -1];
  const out: ChartDataset<'scatter', CandidatePoint[]>[] = modes.map((mode, m) => {
    const colour = p.series[m % p.series.length];
    return {
      label: mode.label,
      data: points((c) => c.mode === mode.name),
      backgroundColor: candidates.length > 0 ? css(colour, 0.75) : css(colour),
      borderColor: css(colour),
      pointRadius: (ctx) => (at(ctx.raw)?.belowBaseline ? 4 : at(ctx.raw)?.pareto ? 4 : 2.5),
      pointStyle: (ctx) => (at(ctx.raw)?.belowBaseline ? 'crossRot' : 'circle'),
      borderWidth: (ctx) => (at(ctx.raw)?.belowBaseline ? 1.5 : 1),
    };
  });
  const front = points((c) => c.pareto).sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
  out.push({
    label: 'Pareto front',
    data: front,
    showLine: true,
    borderColor: css(p.foreground, 0.7),
    backgroundColor: 'transparent',
    borderWidth: 1,
    pointRadius: 0,
  });
  // Marks drawn over one candidate's point: the selected one and the recommended one.
  const mark = (
    label: string,
    index: number | null,
    pointRadius: number,
    pointStyle: 'circle' | 'star',
    colour: Rgb,
    borderWidth: number,
  ): ChartDataset<'scatter', CandidatePoint[]>[] =>
    index === null
      ? []
      : [
          {
            label,
            data: points((_, i) => i === index),
            pointRadius,
            pointStyle,
            borderColor: css(colour),
            borderWidth,
            backgroundColor: 'transparent',
          },
        ];
  out.push(...mark('selected', selected, 8, 'circle', p.focus, 2), ...mark('recommended', recommended, 7, 'star', p.foreground, 1.5));
  return out;
}
