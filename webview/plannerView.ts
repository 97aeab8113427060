/**
 * The planner section: it renders the candidates the host's planner scored (this view
 * plans nothing). Family, P and K pick one candidate; its ratios, its head map (which
 * heads stay exact and where each reused head takes its attention from) and its place on
 * the Pareto plot follow, and "Emit config" asks the host to write it. A table lists the
 * candidates worth a look; "Try on model" has the host measure their output drift and
 * speed on the analysed model. A candidate whose similarity kept is at or below its
 * uniform baseline is marked wherever it appears.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { RangeControl, SelectControl } from './controls';
import { h, replace } from './dom';
import { exportBar, toCsv } from './exporting';
import { fixed, ratio } from './format';
import { candidatesTable, noRecommendation, shortlist, tryWords } from './plannerTable';
import { GridChart } from './gridChart';
import { costAxisLabels, ParetoChart } from './paretoChart';
import type { CostAxis } from './paretoChart';
import type {
  AnalysisInfo,
  CandidateDrift,
  HeadRole,
  PlanCandidate,
  PlanCandidatesMessage,
  TryOnModelStatusMessage,
} from '../protocol/messages';
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
  private readonly tableWrap: HTMLElement;
  /** Why nothing is recommended, when nothing is. */
  private readonly noneLine: HTMLElement;
  private readonly tryLine: HTMLElement;
  private readonly tryProgress: HTMLProgressElement;
  private readonly tryCancel: HTMLElement;
  private readonly tryAll: HTMLElement;
  private info: AnalysisInfo | null = null;
  /** The last "Try on model" of each stack, and every drift measured for this analysis, by stack and candidate. */
  private readonly tries = new Map<string, TryOnModelStatusMessage>();
  private readonly drifts = new Map<string, Map<number, CandidateDrift>>();

  constructor(private readonly ctx: ViewContext) {
    this.family = new SelectControl('Preset family', 'family', (mode) =>
      this.pick(mode, this.current()?.P ?? null, this.current()?.K ?? null),
    );
    this.axis = new SelectControl('Cost axis', 'cost-axis', () => this.renderPareto());
    this.axis.setChoices(
      Object.entries(costAxisLabels).map(([value, label]) => ({ value, label })),
      'flopsRatio',
    );
    this.P = new RangeControl('P (reuse layers)', 'P', (P) => this.pick(this.family.value, P, this.current()?.K ?? null));
    this.K = new RangeControl('K (reuse heads)', 'K', (K) => this.pick(this.family.value, this.current()?.P ?? null, K));
    this.ratios = h('dl', { class: 'ratios', 'aria-live': 'polite' });
    this.pareto = new ParetoChart((i) => this.select(i));
    this.headMap = new GridChart({
      label: 'Head map of the selected configuration',
      hint: 'Hover a head to see what it computes; arrow keys walk the heads.',
    });
    const recommend = h(
      'vscode-button',
      { secondary: true, 'data-action': 'recommended', title: 'Select the recommended configuration' },
      'Select recommended',
    );
    recommend.addEventListener('click', () => this.plan?.recommended != null && this.select(this.plan.recommended));
    this.emit = h(
      'vscode-button',
      { 'data-action': 'emit-config', title: 'Write the selected configuration as a reuse config file' },
      'Emit config…',
    );
    this.tableWrap = h('div', { class: 'table-wrap' });
    this.noneLine = h('p', { class: 'note no-recommendation', hidden: true });
    this.tryLine = h('p', { class: 'note try-status', 'aria-live': 'polite' });
    this.tryProgress = h('progress', {
      class: 'try-progress',
      max: 1,
      value: 0,
      hidden: true,
      'aria-label': 'Try on model: candidates measured',
    });
    this.tryCancel = h('vscode-button', { secondary: true, 'data-action': 'cancel-try', hidden: true }, 'Cancel measuring');
    this.tryCancel.addEventListener('click', () => this.ctx.post({ type: 'cancelTryOnModel' }));
    this.tryAll = h('vscode-button', { secondary: true, 'data-action': 'try-shortlist' }, 'Try these on model');
    this.tryAll.addEventListener('click', () => this.plan && this.tryOn(shortlist(this.plan, this.selected)));
    this.emit.addEventListener('click', () => {
      if (this.plan && this.selected !== null) this.ctx.post({ type: 'emitConfig', stack: this.plan.stack, candidate: this.selected });
    });
    const name = () => `${this.plan?.stack ?? 'stack'}`;
    this.waiting = h('p', { class: 'note' }, 'Reuse candidates appear here once the planner has scored this analysis.');
    this.body = h(
      'div',
      { class: 'planner-body', hidden: true },
      h('div', { class: 'controls' }, this.family.element, this.P.element, this.K.element, recommend, this.emit),
      this.noneLine,
      this.ratios,
      h('div', { class: 'controls' }, this.axis.element),
      this.pareto.element,
      h(
        'p',
        { class: 'legend-line' },
        '✕ points: similarity kept at or below the uniform baseline. Focus the plot and use the arrow keys to step through the candidates.',
      ),
      exportBar(
        ctx.post,
        () => `pareto-${name()}`,
        { png: () => this.pareto.toPNG(), csv: () => this.candidatesCsv() },
        { png: 'Pareto plot', csv: 'all candidates' },
      ),
      h('h3', {}, 'Candidates'),
      h('div', { class: 'controls' }, this.tryAll, this.tryCancel, this.tryProgress),
      this.tryLine,
      this.tableWrap,
      h('h3', {}, 'Head map'),
      h(
        'p',
        { class: 'legend-line' },
        h('span', { class: 'swatch exact' }),
        'exact ',
        h('span', { class: 'swatch reuse' }),
        'reused (labelled with its source head: L0·H2 is layer 0, head 2) ',
        h('span', { class: 'swatch skip' }),
        'no attention (skip)',
      ),
      this.headMap.element,
      exportBar(
        ctx.post,
        () => `head-map-${name()}`,
        this.headMap.exporters(() => this.headMapCsv()),
        'head map',
      ),
    );
    this.element = h(
      'section',
      { class: 'view planner', 'aria-labelledby': 'planner-title' },
      h('h2', { id: 'planner-title' }, 'Reuse planner'),
      this.waiting,
      this.body,
    );
  }

  setAnalysis(info: AnalysisInfo | null): void {
    this.info = info;
    this.plans.clear();
    this.tries.clear();
    this.drifts.clear();
  }

  setStack(stack: StackData | null): void {
    this.stack = stack;
    this.setPlan((stack && this.plans.get(stack.name)) ?? null);
  }

  receive(message: SectionMessage): void {
    if (message.type === 'tryOnModelStatus') {
      this.tries.set(message.stack, message);
      const known = this.drifts.get(message.stack) ?? new Map<number, CandidateDrift>();
      for (const r of message.results) known.set(r.candidate, r);
      this.drifts.set(message.stack, known);
      if (this.plan?.stack === message.stack) this.renderTable();
      return;
    }
    if (message.type !== 'planCandidates') return;
    this.plans.set(message.stack, message);
    if (this.stack?.name === message.stack) this.setPlan(message);
  }

  private setPlan(plan: PlanCandidatesMessage | null): void {
    this.plan = plan && plan.candidates.length > 0 ? plan : null;
    this.body.hidden = this.plan === null;
    this.waiting.hidden = this.plan !== null;
    if (!this.plan) return;
    replace(this.noneLine, this.plan.recommended === null ? noRecommendation(this.plan) : '');
    this.noneLine.hidden = this.plan.recommended !== null;
    const saved = this.ctx.state.get().planner;
    const start =
      saved.mode !== null && this.plan.modes.some((m) => m.name === saved.mode)
        ? this.find(saved.mode, saved.P, saved.K)
        : (this.plan.recommended ?? 0);
    this.family.setChoices(
      this.plan.modes.map((m) => ({ value: m.name, label: m.label })),
      this.plan.candidates[start].mode,
    );
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
    this.P.setValues(
      [...new Set(same.map((x) => x.P))].sort((a, b) => a - b),
      c.P,
    );
    this.K.setValues(
      [...new Set(same.filter((x) => x.P === c.P).map((x) => x.K))].sort((a, b) => a - b),
      c.K,
    );
    this.renderRatios(c, index);
    this.renderPareto();
    this.renderHeadMap(c);
    this.renderTable();
  }

  private tryOn(candidates: number[]): void {
    if (!this.plan || candidates.length === 0) return;
    this.ctx.post({ type: 'tryOnModel', stack: this.plan.stack, candidates });
  }

  private renderTable(): void {
    const plan = this.plan;
    if (!plan) return;
    const status = this.tries.get(plan.stack) ?? null;
    const running = status?.state === 'running';
    const canTry = this.info?.canShowAttention === true;
    const results = this.drifts.get(plan.stack) ?? new Map<number, CandidateDrift>();
    const rows = shortlist(plan, this.selected);
    this.tableWrap.replaceChildren(
      candidatesTable(plan, rows, this.selected, status, results, canTry, { select: (i) => this.select(i), tryOn: (i) => this.tryOn(i) }),
    );
    this.tryAll.toggleAttribute('disabled', running || !canTry);
    this.tryCancel.hidden = !running;
    this.tryProgress.hidden = !running;
    if (status) {
      this.tryProgress.max = Math.max(1, status.candidates.length);
      this.tryProgress.value = status.done;
    }
    this.tryLine.textContent = canTry
      ? tryWords(status, plan)
      : 'Try on model needs the analysed model and its inputs, which cannot be found.';
  }

  private renderRatios(c: PlanCandidate, index: number): void {
    const item = (term: string, value: string, key: string) => [h('dt', {}, term), h('dd', { 'data-ratio': key }, value)];
    const kept =
      c.similarityKept === null
        ? 'nothing reused'
        : `${fixed(c.similarityKept)}${c.keptInterval ? ` (95% ${fixed(c.keptInterval[0])}–${fixed(c.keptInterval[1])})` : ''} (uniform baseline ${fixed(c.uniformBaseline)})${c.belowBaseline ? ' — at or below its baseline: says little about this reuse' : ''}${c.withinNoise ? ' — within noise of the recommended candidate' : ''}`;
    const recommended =
      index === this.plan!.recommended
        ? c.belowBaseline
          ? 'recommended by similarity, though at or below its uniform baseline'
          : 'recommended'
        : '';
    const tags = [c.pareto ? 'Pareto-optimal' : '', recommended].filter(Boolean).join(', ');
    replace(
      this.ratios,
      ...item('Configuration', `${c.mode}, P = ${c.P}, K = ${c.K}${tags ? ` — ${tags}` : ''}`, 'config'),
      ...item('Parameters', ratio(c.paramsRatio), 'params'),
      ...item('FLOPs', ratio(c.flopsRatio), 'flops'),
      ...item('Attention-score memory', ratio(c.scoreMemoryRatio), 'memory'),
      ...item('Training memory', ratio(c.trainingMemoryRatio), 'trainingMemory'),
      ...item('Similarity kept', kept, 'kept'),
      ...item('Sequence length', String(this.plan!.seqLen), 'seqLen'),
    );
  }

  private renderPareto(): void {
    if (!this.plan) return;
    this.pareto.render(
      this.plan.candidates,
      this.plan.modes,
      this.selected,
      this.plan.recommended,
      this.axis.value as CostAxis,
      this.ctx.palette(),
    );
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
          return r === 'skip' ? '✕' : isReuse(r) ? `L${r.reuse.layer}·H${r.reuse.head}` : '';
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
      [
        'mode',
        'P',
        'K',
        'paramsRatio',
        'flopsRatio',
        'scoreMemoryRatio',
        'trainingMemoryRatio',
        'similarityKept',
        'uniformBaseline',
        'belowBaseline',
        'pareto',
        'recommended',
      ],
    ];
    this.plan.candidates.forEach((c, i) =>
      rows.push([
        c.mode,
        c.P,
        c.K,
        c.paramsRatio,
        c.flopsRatio,
        c.scoreMemoryRatio,
        c.trainingMemoryRatio,
        c.similarityKept,
        c.uniformBaseline,
        c.belowBaseline ? 1 : 0,
        c.pareto ? 1 : 0,
        i === this.plan!.recommended ? 1 : 0,
      ]),
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
