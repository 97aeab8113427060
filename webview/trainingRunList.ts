/**
 * The training runs as a list above the charts, which is also their legend: each run's
 * colour, folder, state (running, stopping, finished, cancelled, time limit, failed) with the
 * host's sentence on how it ended, its latest step, and its buttons — Cancel while it runs
 * ("Stop now" while it stops), Resume when it can continue from its checkpoint, and the last
 * lines of a failed run's output. Runs are told apart by colour and by name.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { FromWebview, TrainingRun } from '../protocol/messages';
import type { MetricPoint } from '../protocol/metricSeries';
import { h, replace } from './dom';
import { duration, fixed } from './format';

/** What the list shows of one run. */
export interface RunEntry {
  run: string;
  label: string;
  colour: string;
  points: readonly MetricPoint[];
  status: TrainingRun | null;
}

const stateWords: Record<TrainingRun['state'], string> = {
  running: 'running',
  cancelling: 'stopping',
  finished: 'finished',
  cancelled: 'cancelled',
  'time-limit': 'time limit',
  stopped: 'stopped',
  failed: 'failed',
};

/** The latest step of a run in a few words: step, loss, the last evaluation, speed, time. */
export function latestLine(points: readonly MetricPoint[], steps: number | null): string {
  const r = points[points.length - 1];
  if (!r) return 'no step logged yet';
  const parts = [`step ${r.step}${steps ? ` of ${steps}` : ''}`];
  if (Number.isFinite(r.loss)) parts.push(`loss ${fixed(r.loss, 4)}`);
  const evaluated = [...points].reverse().find((p) => Number.isFinite(p.evalLoss));
  if (evaluated) parts.push(`held-out loss ${fixed(evaluated.evalLoss, 4)} at step ${evaluated.step}`);
  if (Number.isFinite(r.lr)) parts.push(`lr ${r.lr.toExponential(2)}`);
  if (Number.isFinite(r.tokensPerSecond)) parts.push(`${Math.round(r.tokensPerSecond)} tokens/s`);
  if (Number.isFinite(r.elapsedSeconds)) parts.push(duration(r.elapsedSeconds));
  return parts.join(' · ');
}

interface Row {
  element: HTMLElement;
  latest: HTMLElement;
  /** The status the row was built for: rebuilt when it changes, else only its latest line. */
  status: TrainingRun | null;
  colour: string;
}

export class TrainingRunList {
  readonly element: HTMLElement;
  private readonly rows = new Map<string, Row>();

  constructor(private readonly post: (message: FromWebview) => void) {
    this.element = h('ul', { class: 'training-runs', 'aria-label': 'Training runs (legend of the charts)' });
  }

  /** Shows the runs in order; a row whose state did not change keeps its elements, so keyboard focus stays on its buttons. */
  render(entries: RunEntry[]): void {
    const keep = new Set(entries.map((e) => e.run));
    for (const [run, row] of this.rows) {
      if (!keep.has(run)) {
        row.element.remove();
        this.rows.delete(run);
      }
    }
    entries.forEach((e, i) => {
      let row = this.rows.get(e.run);
      if (!row || row.status !== e.status || row.colour !== e.colour) {
        const fresh = this.row(e);
        if (row) row.element.replaceWith(fresh.element);
        row = fresh;
        this.rows.set(e.run, row);
      }
      // An ended run without metrics has only its sentence to say.
      const ended = e.status && e.status.state !== 'running';
      replace(row.latest, ended && e.points.length === 0 ? '' : latestLine(e.points, e.status?.steps ?? null));
      row.latest.hidden = row.latest.textContent === '';
      const d = row.element.dataset;
      d.points = String(e.points.length);
      d.steps = String(new Set(e.points.map((p) => p.step)).size);
      d.firstStep = String(e.points[0]?.step ?? '');
      d.lastStep = String(e.points[e.points.length - 1]?.step ?? '');
      if (this.element.children[i] !== row.element) this.element.insertBefore(row.element, this.element.children[i] ?? null);
    });
  }

  private row(e: RunEntry): Row {
    const s = e.status;
    const state = s?.state ?? 'running';
    const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = e.colour;
    const latest = h('p', { class: 'run-latest' });
    const li = h(
      'li',
      { class: `training-run state-${state}`, 'data-run': e.run, 'data-state': state, role: state === 'failed' ? 'alert' : undefined },
      h(
        'div',
        { class: 'run-head' },
        swatch,
        h('strong', { class: 'run-name', title: e.run }, e.label),
        ' ',
        h('span', { class: `badge state` }, stateWords[state]),
        ' ',
        s?.exitCode !== null && s?.exitCode !== undefined ? h('span', { class: 'run-exit' }, `exit code ${s.exitCode}`) : null,
        this.buttons(e, state),
      ),
      latest,
    );
    // A live run needs no sentence besides its latest step; an ended one says how it ended.
    if (s && state !== 'running') li.append(h('p', { class: 'run-message' }, s.message));
    if (s && s.logTail.length > 0) {
      li.append(
        h(
          'details',
          { class: 'run-log' },
          h('summary', {}, `Last ${s.logTail.length} lines of its output`),
          h('pre', {}, s.logTail.join('\n')),
        ),
      );
    }
    return { element: li, latest, status: s, colour: e.colour };
  }

  private buttons(e: RunEntry, state: TrainingRun['state']): HTMLElement {
    const box = h('span', { class: 'run-actions' });
    const button = (text: string, label: string, action: string, onClick: () => void, secondary = true) => {
      const b = h('vscode-button', { secondary, 'aria-label': label, title: label, 'data-action': action }, text);
      b.addEventListener('click', onClick);
      box.append(b);
    };
    if (state === 'running')
      button(
        'Cancel',
        `Cancel training ${e.label} (it saves a checkpoint first)`,
        'cancel-training',
        () => this.post({ type: 'cancelTraining', run: e.run }),
        false,
      );
    if (state === 'cancelling')
      button('Stop now', `Stop training ${e.label} at once, without finishing its step`, 'cancel-training', () =>
        this.post({ type: 'cancelTraining', run: e.run }),
      );
    if (e.status?.canResume && state !== 'running' && state !== 'cancelling') {
      button('Resume', `Resume training ${e.label} from its checkpoint`, 'resume-training', () =>
        this.post({ type: 'resumeTraining', run: e.run }),
      );
    }
    return box;
  }
}
