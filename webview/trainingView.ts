/**
 * Training runs: their list (the legend, with states and Cancel/Resume), the loss of every run
 * overlaid with its held-out loss, and a small chart of held-out accuracy or perplexity. Each
 * run's points are merged by step (protocol/metricSeries.ts), so a replay that overlaps live
 * lines, or lines out of order, still draw one point per step; a new run is added beside the
 * earlier ones instead of replacing them. Charts update without animation, so a long run stays
 * cheap to follow.
 */
import { SelectControl } from './controls';
import { h, replace } from './dom';
import { exportBar, toCsv } from './exporting';
import type { MetricsMessage, TrainingRun } from '../protocol/messages';
import { StepSeries, metricKeys, runLabel } from '../protocol/metricSeries';
import type { MergeResult, MetricKey } from '../protocol/metricSeries';
import type { Section, SectionMessage } from './section';
import { css } from './theme';
import { MetricChart } from './trainingCharts';
import type { Curve } from './trainingCharts';
import { TrainingRunList, latestLine } from './trainingRunList';
import type { ViewContext } from './viewContext';

/** Runs overlaid at most (the host keeps as many); the oldest that ended goes first. */
const maxRuns = 8;

interface RunData {
  run: string;
  series: StepSeries;
  status: TrainingRun | null;
  /** Index into the palette's series colours, fixed when the run first appears. */
  colour: number;
}

const evalMeasures: { key: MetricKey; label: string }[] = [
  { key: 'evalAccuracy', label: 'accuracy' },
  { key: 'evalPerplexity', label: 'perplexity' },
];

export class TrainingView implements Section {
  readonly element: HTMLElement;
  /** A run can be followed before any analysis is shown. */
  readonly needsAnalysis = false;
  private readonly runs = new Map<string, RunData>();
  private readonly list: TrainingRunList;
  private readonly latest: HTMLElement;
  private readonly lossBox: HTMLElement;
  private readonly evalBlock: HTMLElement;
  private readonly evalBox: HTMLElement;
  private readonly measure: SelectControl;
  private readonly loss: MetricChart;
  private readonly held: MetricChart;
  /** The curves drawn now, by name: when the set changes the charts are rebuilt. */
  private drawn = '';
  private nextColour = 0;

  constructor(private readonly ctx: ViewContext) {
    this.list = new TrainingRunList(ctx.post);
    this.latest = h('p', { class: 'status', 'aria-live': 'off' });
    const lossCanvas = h('canvas', {
      role: 'img',
      'aria-label': 'Training loss by step, one line per run; held-out loss as dots on a dashed line; arrow keys walk the points',
    });
    const evalCanvas = h('canvas', {
      role: 'img',
      'aria-label': 'Held-out accuracy or perplexity by step, one line per run; arrow keys walk the points',
    });
    this.loss = new MetricChart(lossCanvas, () => 'loss');
    this.measure = new SelectControl('Held-out measure', 'eval-measure', () => this.redraw(true));
    this.measure.setChoices(
      evalMeasures.map((m) => ({ value: m.key, label: m.label })),
      'evalAccuracy',
    );
    this.held = new MetricChart(evalCanvas, () => `held-out ${this.measureLabel()}`);
    this.lossBox = h('div', { class: 'chart-box loss-box', 'data-points': 0 }, lossCanvas);
    this.evalBox = h('div', { class: 'chart-box eval-box', 'data-points': 0 }, evalCanvas);
    this.evalBlock = h(
      'div',
      { class: 'eval-block', hidden: true },
      h('h3', {}, 'Held-out evaluation'),
      h('div', { class: 'controls' }, this.measure.element),
      this.evalBox,
      this.held.readout,
      exportBar(ctx.post, () => `held-out-${this.measureLabel()}`, { png: () => this.held.toPNG() }, 'held-out chart'),
    );
    this.element = h(
      'section',
      { class: 'view training', 'aria-labelledby': 'training-title', hidden: true },
      h('h2', { id: 'training-title' }, 'Training'),
      this.latest,
      this.list.element,
      this.lossBox,
      this.loss.readout,
      exportBar(
        ctx.post,
        () => 'training-loss',
        { png: () => this.loss.toPNG(), csv: () => this.csv() },
        { png: 'loss chart', csv: 'training metrics' },
      ),
      this.evalBlock,
    );
  }

  receive(message: SectionMessage): void {
    if (message.type === 'metrics') this.merge(message);
    else if (message.type === 'trainingRun') this.setStatus(message.status);
  }

  private runData(run: string): RunData {
    let data = this.runs.get(run);
    if (!data) {
      data = { run, series: new StepSeries(), status: null, colour: this.nextColour++ };
      this.runs.set(run, data);
      this.dropOldRuns(run);
    }
    return data;
  }

  private merge(msg: MetricsMessage): void {
    const data = this.runData(msg.run);
    const result = data.series.merge(msg.points, msg.reset);
    this.show(data, result);
  }

  private setStatus(status: TrainingRun): void {
    const data = this.runData(status.run);
    data.status = status;
    this.show(data, null);
  }

  /** Redraws what changed: a run's new points, or everything when the set of curves changed. */
  private show(data: RunData, result: MergeResult | null): void {
    this.element.hidden = false;
    if (!this.redraw(false) && result) {
      this.loss.update(data.run, data.series.points, result);
      this.held.update(data.run, data.series.points, result);
    }
    this.lossBox.dataset.points = String(this.loss.count('loss'));
    this.evalBox.dataset.points = String(this.held.count(this.measureKey()));
    this.list.render(
      [...this.runs.values()].map((r) => ({
        run: r.run,
        label: runLabel(r.run),
        colour: this.colour(r),
        points: r.series.points,
        status: r.status,
      })),
    );
    const newest = [...this.runs.values()].pop();
    if (newest) replace(this.latest, `${runLabel(newest.run)}: ${latestLine(newest.series.points, newest.status?.steps ?? null)}`);
  }

  /** Rebuilds both charts when the curves to draw changed (or `force`); returns whether it did. */
  private redraw(force: boolean): boolean {
    const runs = [...this.runs.values()];
    const has = (r: RunData, key: MetricKey) => r.series.points.some((p) => Number.isFinite(p[key]));
    const curve = (r: RunData, key: MetricKey, label: string, dashed: boolean): Curve => ({
      run: r.run,
      key,
      label: `${runLabel(r.run)} ${label}`,
      colour: this.colour(r),
      dashed,
      dots: key !== 'loss',
    });
    const lossCurves = runs.flatMap((r) => [
      ...(has(r, 'loss') ? [curve(r, 'loss', 'loss', false)] : []),
      ...(has(r, 'evalLoss') ? [curve(r, 'evalLoss', 'held-out loss', true)] : []),
    ]);
    const key = this.measureKey();
    const evalCurves = runs.filter((r) => has(r, key)).map((r) => curve(r, key, `held-out ${this.measureLabel()}`, false));
    const drawn = JSON.stringify([lossCurves, evalCurves]);
    if (!force && drawn === this.drawn) return false;
    this.drawn = drawn;
    const points = (run: string) => this.runs.get(run)?.series.points ?? [];
    const p = this.ctx.palette();
    this.loss.draw(lossCurves, points, p);
    this.evalBlock.hidden = !runs.some((r) => has(r, 'evalAccuracy') || has(r, 'evalPerplexity'));
    this.held.draw(evalCurves, points, p);
    this.evalBox.dataset.points = String(this.held.count(key));
    return true;
  }

  /** Forgets the oldest runs that no longer run when there are more than the charts overlay. */
  private dropOldRuns(keep: string): void {
    for (const [run, data] of this.runs) {
      if (this.runs.size <= maxRuns) return;
      if (run !== keep && data.status?.state !== 'running' && data.status?.state !== 'cancelling') this.runs.delete(run);
    }
  }

  private colour(r: RunData): string {
    const series = this.ctx.palette().series;
    return css(series[r.colour % series.length]);
  }

  private measureKey(): MetricKey {
    return (evalMeasures.find((m) => m.key === this.measure.value) ?? evalMeasures[0]).key;
  }

  private measureLabel(): string {
    return (evalMeasures.find((m) => m.key === this.measure.value) ?? evalMeasures[0]).label;
  }

  repaint(): void {
    if (this.runs.size === 0) return;
    this.redraw(true);
    const first = [...this.runs.values()][0];
    this.show(first, null);
  }

  /** Every run's points, one row per run and step. */
  private csv(): string {
    const rows: (string | number)[][] = [['run', 'step', ...metricKeys]];
    for (const r of this.runs.values())
      for (const p of r.series.points) rows.push([runLabel(r.run), p.step, ...metricKeys.map((k) => p[k])]);
    return toCsv(rows);
  }
}
