/**
 * The planner section: it renders the candidates the host's planner scored (this view
 * plans nothing). Family, P and K pick one candidate; its ratios, its head map (which
 * heads stay exact and where each reused head takes its attention from) and its place on
 * the Pareto plot follow, and "Emit config" asks the host to write it.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { RangeControl, SelectControl } from './controls';
import { h, replace } from './dom';
import { exportBar, toCsv } from './exporting';
import { fixed, ratio } from './format';
import { GridChart } from './gridChart';
import { costAxisLabels, ParetoChart } from './paretoChart';
import type { CostAxis } from './paretoChart';
import type { HeadRole, PlanCandidate, PlanCandidatesMessage } from '../protocol/messages';
import type { Section, SectionMessage } from './section';
import type { StackData } from './stackData';
import { mix } from './theme';
import type { ViewContext } from './viewContext';

const isReuse = (r: HeadRole): r is { reuse: { layer: number; head: number } } => typeof r === 'object' && r !== null;

export class PlannerView implements Section {
  readonly element: HTMLElement;
  readonly needsAnalysis = true;
  private readonly family: SelectControl;
  private readonly axis: SelectControl;
  private readonly P: RangeControl; // the paper's P: reuse layers
  private readonly K: RangeControl; // the paper's K: reuse heads per layer
  private readonly ratios: HTMLElement;
  private readonly pareto: ParetoChart;
  private readonly headMap: GridChart;
  private readonly emit: HTMLElement;
  private readonly body: HTMLElement;
  private readonly waiting: HTMLElement;
  /** The plans the host sent for this analysis, by stack. */
  private readonly plans = new Map<string, PlanCandidatesMessage>();
  private plan: PlanCandidatesMessage | null = null;
  private stack: StackData | null = null;
  private selected: number | null = null;

  constructor(private readonly ctx: ViewContext) {
    this.family = new SelectControl('Preset family', 'family', (mode) => this.pick(mode, this.current()?.P ?? null, this.current()?.K ?? null));
    this.axis = new SelectControl('Cost axis', 'cost-axis', () => this.renderPareto());
    this.axis.setChoices(Object.entries(costAxisLabels).map(([value, label]) => ({ value, label })), 'flopsRatio');
    this.P = new RangeControl('P (reuse layers)', 'P', (P) => this.pick(this.family.value, P, this.current()?.K ?? null));
    this.K = new RangeControl('K (reuse heads)', 'K', (K) => this.pick(this.family.value, this.current()?.P ?? null, K));
    this.ratios = h('dl', { class: 'ratios', 'aria-live': 'polite' });
    this.pareto = new ParetoChart((i) => this.select(i));
    this.headMap = new GridChart({ label: 'Head map of the selected configuration', hint: 'Hover a head to see what it computes.' });
    const recommend = h('vscode-button', { secondary: true, 'data-action': 'recommended' }, 'Recommended');
    recommend.addEventListener('click', () => this.plan?.recommended != null && this.select(this.plan.recommended));
    this.emit = h('vscode-button', { 'data-action': 'emit-config' }, 'Emit config…');
    this.emit.addEventListener('click', () => {
      if (this.plan && this.selected !== null) this.ctx.post({ type: 'emitConfig', stack: this.plan.stack, candidate: this.selected });
    });
    const name = () => `${this.plan?.stack ?? 'stack'}`;
    this.waiting = h('p', { class: 'note' }, 'Reuse candidates appear here once the planner has scored this analysis.');
    this.body = h(
      'div',
      { class: 'planner-body', hidden: true },
      h('div', { class: 'controls' }, this.family.element, this.P.element, this.K.element, recommend, this.emit),
      this.ratios,
      h('div', { class: 'controls' }, this.axis.element),
      this.pareto.element,
      exportBar(ctx.post, () => `pareto-${name()}`, { png: () => this.pareto.toPNG(), csv: () => this.candidatesCsv() }),
      h('h3', {}, 'Head map'),
      h(
        'p',
        { class: 'legend-line' },
        h('span', { class: 'swatch exact' }),
        'exact ',
        h('span', { class: 'swatch reuse' }),
        'reused (labelled with the source head layer.head) ',
        h('span', { class: 'swatch skip' }),
        'no attention (skip)',
      ),
      this.headMap.element,
      exportBar(ctx.post, () => `head-map-${name()}`, this.headMap.exporters(() => this.headMapCsv())),
    );
    this.element = h('section', { class: 'view planner', 'aria-labelledby': 'planner-title' }, h('h2', { id: 'planner-title' }, 'Reuse planner'), this.waiting, this.body);
  }

  setAnalysis(): void {
    this.plans.clear();
  }

  setStack(stack: StackData | null): void {
    this.stack = stack;
    this.setPlan((stack && this.plans.get(stack.name)) ?? null);
  }

  receive(message: SectionMessage): void {
    if (message.type !== 'planCandidates') return;
    this.plans.set(message.stack, message);
    if (this.stack?.name === message.stack) this.setPlan(message);
  }

  private setPlan(plan: PlanCandidatesMessage | null): void {
    this.plan = plan && plan.candidates.length > 0 ? plan : null;
    this.body.hidden = this.plan === null;
    this.waiting.hidden = this.plan !== null;
    if (!this.plan) return;
    const saved = this.ctx.state.get().planner;
    const start = saved.mode !== null && this.plan.modes.some((m) => m.name === saved.mode) ? this.find(saved.mode, saved.P, saved.K) : (this.plan.recommended ?? 0);
    this.family.setChoices(this.plan.modes.map((m) => ({ value: m.name, label: m.label })), this.plan.candidates[start].mode);
    this.select(start);
  }

  private current(): PlanCandidate | null {
    return this.plan && this.selected !== null ? this.plan.candidates[this.selected] : null;
  }

  /** The candidate of `mode` with P and K, or the nearest one to them in that family. */
  private find(mode: string, P: number | null, K: number | null): number {
    const all = this.plan!.candidates;
    let best = -1;
    let bestCost = Infinity;
    all.forEach((c, i) => {
      if (c.mode !== mode) return;
      // P first (it sets the K values on offer), then K.
      const cost = (P === null ? 0 : Math.abs(c.P - P) * 1000) + (K === null ? 0 : Math.abs(c.K - K));
      if (cost < bestCost) {
        bestCost = cost;
        best = i;
      }
    });
    return best >= 0 ? best : 0;
  }

  private pick(mode: string, P: number | null, K: number | null): void {
    if (!this.plan) return;
    this.select(this.find(mode, P, K));
  }

  select(index: number): void {
    if (!this.plan || !this.plan.candidates[index]) return;
    this.selected = index;
    const c = this.plan.candidates[index];
    this.ctx.state.update({ planner: { mode: c.mode, P: c.P, K: c.K } });
    const same = this.plan.candidates.filter((x) => x.mode === c.mode);
    this.family.value = c.mode;
    this.P.setValues([...new Set(same.map((x) => x.P))].sort((a, b) => a - b), c.P);
    this.K.setValues([...new Set(same.filter((x) => x.P === c.P).map((x) => x.K))].sort((a, b) => a - b), c.K);
    this.renderRatios(c, index);
    this.renderPareto();
    this.renderHeadMap(c);
  }

  private renderRatios(c: PlanCandidate, index: number): void {
    const item = (term: string, value: string, key: string) => [h('dt', {}, term), h('dd', { 'data-ratio': key }, value)];
    const kept = c.similarityKept === null ? 'nothing reused' : `${fixed(c.similarityKept)} (uniform baseline ${fixed(c.uniformBaseline)})`;
    const tags = [c.pareto ? 'Pareto-optimal' : '', index === this.plan!.recommended ? 'recommended' : ''].filter(Boolean).join(', ');
    replace(
      this.ratios,
      ...item('Configuration', `${c.mode}, P = ${c.P}, K = ${c.K}${tags ? ` — ${tags}` : ''}`, 'config'),
      ...item('Parameters', ratio(c.paramsRatio), 'params'),
      ...item('FLOPs', ratio(c.flopsRatio), 'flops'),
      ...item('Attention-score memory', ratio(c.scoreMemoryRatio), 'memory'),
      ...item('Similarity kept', kept, 'kept'),
      ...item('Sequence length', String(this.plan!.seqLen), 'seqLen'),
    );
  }

  private renderPareto(): void {
    if (!this.plan) return;
    this.pareto.render(this.plan.candidates, this.plan.modes, this.selected, this.plan.recommended, this.axis.value as CostAxis, this.ctx.palette());
  }

  private renderHeadMap(c: PlanCandidate): void {
    const L = c.heads.length;
    const H = c.heads[0]?.length ?? 0;
    const stack = this.stack;
    this.headMap.set(
      {
        rows: L,
        cols: H,
        rowLabel: String,
        colLabel: (hh) => `h${hh}`,
        rowTitle: 'layer',
        colTitle: 'head',
        value: () => 0,
        fill: (l, hh, p) => {
          const r = c.heads[l][hh];
          if (r === 'skip') return mix(p.red, p.background, 0.25);
          if (isReuse(r)) return mix(p.blue, p.background, 0.15);
          return mix(p.background, p.foreground, 0.12);
        },
        text: (l, hh) => {
          const r = c.heads[l][hh];
          return r === 'skip' ? '✕' : isReuse(r) ? `${r.reuse.layer}.${r.reuse.head}` : '';
        },
        describe: (l, hh) => {
          const r = c.heads[l][hh];
          if (r === 'skip') return `layer ${l} head ${hh}: no attention (skip layer)`;
          if (!isReuse(r)) return `layer ${l} head ${hh}: computes its own attention`;
          const { layer, head } = r.reuse;
          const s = stack && layer < stack.L && head < stack.H ? stack.headPair(l, hh, layer, head) : NaN;
          const u = stack ? ` (uniform ${fixed(stack.uniform(l, hh))})` : '';
          return `layer ${l} head ${hh}: reuses head (${layer},${head})'s attention; measured similarity ${fixed(s)}${u}`;
        },
      },
      this.ctx.palette(),
    );
  }

  repaint(): void {
    this.renderPareto();
    this.headMap.setPalette(this.ctx.palette());
  }

  private candidatesCsv(): string {
    if (!this.plan) return '';
    const rows: (string | number | null)[][] = [
      ['mode', 'P', 'K', 'paramsRatio', 'flopsRatio', 'scoreMemoryRatio', 'similarityKept', 'uniformBaseline', 'pareto', 'recommended'],
    ];
    this.plan.candidates.forEach((c, i) =>
      rows.push([c.mode, c.P, c.K, c.paramsRatio, c.flopsRatio, c.scoreMemoryRatio, c.similarityKept, c.uniformBaseline, c.pareto ? 1 : 0, i === this.plan!.recommended ? 1 : 0]),
    );
    return toCsv(rows);
  }

  private headMapCsv(): string {
    const c = this.current();
    if (!c) return '';
    const rows: (string | number)[][] = [['layer', 'head', 'role', 'source_layer', 'source_head']];
    c.heads.forEach((row, l) =>
      row.forEach((r, hh) => rows.push(isReuse(r) ? [l, hh, 'reuse', r.reuse.layer, r.reuse.head] : [l, hh, r, '', ''])),
    );
    return toCsv(rows);
  }
}
