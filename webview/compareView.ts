/**
 * Two analyses side by side ("Compare Analyses"): the layer-pair heatmaps of A and B and
 * their difference B − A, the heads that changed most, and the held-out evaluations of the
 * runs behind them. Stacks, layers and heads are matched by position by the host, which also
 * names what does not match; this view only draws what it is sent.
 */
import type { ComparisonMessage, ComparisonSide, ComparisonStackPayload } from '../protocol/messages';
import { SelectControl } from './controls';
import { h, replace, table } from './dom';
import { exportBar, toCsv } from './exporting';
import { fixed } from './format';
import { GridChart } from './gridChart';
import type { GridSpec } from './gridChart';
import type { Section, SectionMessage } from './section';
import { mix } from './theme';
import type { Palette } from './theme';
import type { ViewContext } from './viewContext';

type Comparison = NonNullable<ComparisonMessage['comparison']>;

const signed = (v: number, digits = 3) => (Number.isNaN(v) ? '–' : `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`);

function evaluation(side: ComparisonSide): string {
  const e = side.evaluations;
  if (!e) return `${side.label}: no training metrics beside its model`;
  const at = (p: typeof e.first) =>
    `step ${p.step}: loss ${p.loss.toFixed(4)}${p.accuracy === null ? '' : `, accuracy ${p.accuracy.toFixed(3)}`}`;
  return `${side.label}: held-out ${e.first.step === e.last.step ? at(e.last) : `${at(e.first)} → ${at(e.last)}`}`;
}

export class CompareView implements Section {
  readonly element: HTMLElement;
  /** A comparison needs no analysis on screen: it brings its own two. */
  readonly needsAnalysis = false;
  private readonly charts: [GridChart, GridChart, GridChart];
  private readonly sides: HTMLElement;
  private readonly evaluations: HTMLElement;
  private readonly mismatches: HTMLElement;
  private readonly heads: HTMLElement;
  private readonly stackSelect: SelectControl;
  private comparison: Comparison | null = null;
  private stack: ComparisonStackPayload | null = null;

  constructor(private readonly ctx: ViewContext) {
    const chart = (label: string) => new GridChart({ label, maxCell: 40, hint: 'Hover a cell for A, B and B − A.' });
    this.charts = [chart('Layer-pair similarity of A'), chart('Layer-pair similarity of B'), chart('Layer-pair similarity, B − A')];
    this.sides = h('p', { class: 'note' });
    this.evaluations = h('p', { class: 'status' });
    this.mismatches = h('ul', { class: 'mismatches' });
    this.heads = h('div', { class: 'table-wrap' });
    this.stackSelect = new SelectControl('Stack', 'compare-stack', (value) => this.showStack(Number(value)));
    const column = (title: string, c: GridChart) => h('div', { class: 'compare-column' }, h('h3', {}, title), c.element);
    this.element = h(
      'section',
      { class: 'view compare', 'aria-labelledby': 'compare-title', hidden: true },
      h('h2', { id: 'compare-title' }, 'Compare analyses'),
      this.sides,
      this.evaluations,
      this.mismatches,
      this.stackSelect.element,
      h('div', { class: 'compare-grids' }, column('A', this.charts[0]), column('B', this.charts[1]), column('B − A', this.charts[2])),
      exportBar(
        ctx.post,
        () => `compare-${this.stack?.label.replace(/[^\w.-]+/g, '_') ?? 'stack'}`,
        this.charts[2].exporters(() => this.csv()),
        'difference heatmap (B − A)',
      ),
      this.heads,
    );
  }

  receive(message: SectionMessage): void {
    if (message.type !== 'comparison') return;
    this.comparison = message.comparison;
    const c = message.comparison;
    this.element.hidden = c === null;
    if (!c) return;
    this.sides.textContent = `A: ${c.a.label} (${c.a.model}, ${c.a.examples} examples) · B: ${c.b.label} (${c.b.model}, ${c.b.examples} examples)`;
    this.sides.title = `${c.a.path}\n${c.b.path}`;
    replace(this.evaluations, evaluation(c.a), h('br'), evaluation(c.b));
    replace(this.mismatches, ...c.mismatches.map((m) => h('li', {}, h('span', { class: 'badge warn' }, 'differs'), ' ', m)));
    this.stackSelect.element.hidden = c.stacks.length < 2;
    this.stackSelect.setChoices(
      c.stacks.map((s) => ({ value: String(s.index), label: s.label })),
      String(c.stacks[0]?.index ?? 0),
    );
    this.showStack(c.stacks[0]?.index ?? 0);
  }

  repaint(): void {
    this.showStack(this.stack?.index ?? 0);
  }

  private showStack(index: number): void {
    const s = this.comparison?.stacks.find((x) => x.index === index) ?? null;
    this.stack = s;
    const p = this.ctx.palette();
    if (!s) {
      for (const c of this.charts) c.set(null, p);
      replace(this.heads);
      return;
    }
    const L = s.layers;
    const at = (m: Float64Array, l: number, l2: number) => m[l * L + l2];
    const describe = (l: number, l2: number) =>
      `layer ${l} × layer ${l2}: A ${fixed(at(s.a.data, l, l2))}, B ${fixed(at(s.b.data, l, l2))}, B − A ${signed(at(s.diff.data, l, l2))}`;
    const base = { rows: L, cols: L, rowLabel: String, colLabel: String, rowTitle: 'layer l', colTitle: 'layer l′', describe };
    const similarity = (m: Float64Array): GridSpec => ({
      ...base,
      domain: [0, 1],
      value: (l, l2) => at(m, l, l2),
      text: (l, l2) => at(m, l, l2).toFixed(2),
    });
    this.charts[0].set(similarity(s.a.data), p);
    this.charts[1].set(similarity(s.b.data), p);
    // Diverging colours for the difference: blue where B is more similar, red where less.
    const scale = Math.max(0.05, ...Array.from(s.diff.data, Math.abs));
    this.charts[2].set(
      {
        ...base,
        value: (l, l2) => at(s.diff.data, l, l2),
        fill: (l, l2, pal: Palette) => {
          const v = at(s.diff.data, l, l2);
          return mix(pal.background, v >= 0 ? pal.blue : pal.red, Math.min(1, Math.abs(v) / scale));
        },
        text: (l, l2) => signed(at(s.diff.data, l, l2), 2),
      },
      p,
    );
    this.renderHeads(s);
  }

  private renderHeads(s: ComparisonStackPayload): void {
    const H = s.heads;
    const v = (t: ComparisonStackPayload['uniform'], l: number, hh: number, side: 0 | 1) => t.data[(l * H + hh) * 2 + side];
    const rows: { l: number; hh: number; size: number }[] = [];
    for (let l = 0; l < s.layers; l++) {
      for (let hh = 0; hh < H; hh++) {
        const du = v(s.uniform, l, hh, 1) - v(s.uniform, l, hh, 0);
        const de = l === 0 ? 0 : v(s.earlier, l, hh, 1) - v(s.earlier, l, hh, 0);
        rows.push({ l, hh, size: Math.max(Math.abs(du), Math.abs(de)) });
      }
    }
    rows.sort((x, y) => y.size - x.size || x.l - y.l || x.hh - y.hh);
    const pair = (t: ComparisonStackPayload['uniform'], l: number, hh: number, digits = 3) =>
      `${fixed(v(t, l, hh, 0), digits)} → ${fixed(v(t, l, hh, 1), digits)} (${signed(v(t, l, hh, 1) - v(t, l, hh, 0))})`;
    replace(
      this.heads,
      table(
        'Heads that changed most',
        ['head', 'best match in an earlier layer', 'similarity to uniform', 'entropy (nats)'],
        rows
          .slice(0, 8)
          .map(({ l, hh }) => [`(${l},${hh})`, l === 0 ? '–' : pair(s.earlier, l, hh), pair(s.uniform, l, hh), pair(s.entropy, l, hh, 2)]),
      ),
    );
  }

  private csv(): string {
    const s = this.stack;
    if (!s) return '';
    const rows: (string | number)[][] = [['layer', 'other_layer', 'a', 'b', 'b_minus_a']];
    for (let l = 0; l < s.layers; l++)
      for (let l2 = 0; l2 < s.layers; l2++)
        rows.push([l, l2, s.a.data[l * s.layers + l2], s.b.data[l * s.layers + l2], s.diff.data[l * s.layers + l2]]);
    return toCsv(rows);
  }
}
