/**
 * The planner's candidates as a scatter of a cost ratio against similarity kept, one colour
 * per preset family, with the Pareto front drawn as a line and the selected candidate
 * ringed. Clicking a point selects that candidate.
 */
import { Chart } from './charts';
import type { ChartDataset, ScatterDataPoint } from 'chart.js';
import { h } from './dom';
import { fixed } from './format';
import type { ModeLabel, PlanCandidate } from '../protocol/messages';
import type { Palette, Rgb } from './theme';
import { css } from './theme';

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

export class ParetoChart {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private chart: Chart<'scatter', CandidatePoint[]> | null = null;

  constructor(private readonly onPick: (index: number) => void) {
    this.canvas = h('canvas', { role: 'img', 'aria-label': 'Pareto plot of the reuse candidates' });
    this.element = h('div', { class: 'chart-box' }, this.canvas);
  }

  render(candidates: PlanCandidate[], modes: ModeLabel[], selected: number | null, recommended: number | null, axis: CostAxis, p: Palette): void {
    this.chart?.destroy();
    const point = (c: PlanCandidate, i: number): CandidatePoint | null =>
      c.similarityKept === null ? null : { x: c[axis], y: c.similarityKept, i };
    const points = (keep: (c: PlanCandidate, i: number) => boolean) =>
      candidates.flatMap((c, i) => (keep(c, i) ? [point(c, i)].filter((x): x is CandidatePoint => x !== null) : []));
    const datasets: ChartDataset<'scatter', CandidatePoint[]>[] = modes.map((mode, m) => {
      const colour = p.series[m % p.series.length];
      return {
        label: mode.label,
        data: points((c) => c.mode === mode.name),
        backgroundColor: candidates.length > 0 ? css(colour, 0.75) : css(colour),
        borderColor: css(colour),
        pointRadius: (ctx) => (candidates[(ctx.raw as CandidatePoint | undefined)?.i ?? -1]?.pareto ? 4 : 2.5),
      };
    });
    const front = points((c) => c.pareto).sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
    datasets.push({
      label: 'Pareto front',
      data: front,
      showLine: true,
      borderColor: css(p.foreground, 0.7),
      backgroundColor: 'transparent',
      borderWidth: 1,
      pointRadius: 0,
    });
    // Marks drawn over one candidate's point: the selected one and the recommended one.
    const mark = (label: string, index: number | null, pointRadius: number, pointStyle: 'circle' | 'star', colour: Rgb, borderWidth: number): ChartDataset<'scatter', CandidatePoint[]>[] =>
      index === null ? [] : [{ label, data: points((_, i) => i === index), pointRadius, pointStyle, borderColor: css(colour), borderWidth, backgroundColor: 'transparent' }];
    datasets.push(...mark('selected', selected, 8, 'circle', p.focus, 2), ...mark('recommended', recommended, 7, 'star', p.foreground, 1.5));
    this.chart = new Chart<'scatter', CandidatePoint[]>(this.canvas, {
      type: 'scatter',
      data: { datasets },
      options: {
        responsive: true,
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
                return c
                  ? `${c.mode} P=${c.P} K=${c.K}: ${costAxisLabels[axis]} ${fixed(c[axis])}, kept ${fixed(c.similarityKept)} (uniform ${fixed(c.uniformBaseline)})`
                  : '';
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
      },
    });
  }

  toPNG(): string {
    return this.chart?.toBase64Image('image/png', 1) ?? '';
  }
}
