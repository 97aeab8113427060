/**
 * The planner's table of candidates worth a look (the recommended one, the selected one and
 * the Pareto front near them): their savings, training memory and similarity kept beside its
 * uniform baseline, and, once "Try on model" has measured them, the output drift and speed-up
 * they cause on the analysed model; and the planner's sentences about them (what Try on model
 * measured, why nothing is recommended).
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { h, table } from './dom';
import { fixed, ratio } from './format';
import type { CandidateDrift, PlanCandidate, PlanCandidatesMessage, TryOnModelStatusMessage } from '../protocol/messages';

/** The most rows the table shows (and "Try these on model" measures). */
export const tableRows = 8;

/** The candidates the table lists, cheapest FLOPs first: recommended and selected always, then the Pareto front nearest the recommended. */
export function shortlist(plan: PlanCandidatesMessage, selected: number | null): number[] {
  const all = plan.candidates;
  const anchor = all[plan.recommended ?? selected ?? 0]?.flopsRatio ?? 1;
  const must = [plan.recommended, selected].filter((i): i is number => i !== null && all[i] !== undefined);
  const front = all
    .map((c, i) => ({ c, i }))
    .filter(({ c, i }) => c.pareto && c.similarityKept !== null && !must.includes(i))
    .sort((a, b) => Math.abs(a.c.flopsRatio - anchor) - Math.abs(b.c.flopsRatio - anchor))
    .map(({ i }) => i);
  return [...new Set([...must, ...front])].slice(0, tableRows).sort((a, b) => all[a].flopsRatio - all[b].flopsRatio);
}

export const configName = (c: PlanCandidate) => `${c.mode} P=${c.P} K=${c.K}`;

/** "similarity kept" with its baseline, and the mark of a candidate at or below it. */
export function keptCell(c: PlanCandidate): HTMLElement | string {
  if (c.similarityKept === null) return 'nothing reused';
  const text = `${fixed(c.similarityKept)}${keptIntervalText(c)} (uniform ${fixed(c.uniformBaseline)})`;
  const noise = c.withinNoise ? h('span', { class: 'badge', title: noiseWords }, 'within noise') : '';
  if (!c.belowBaseline) return noise ? h('span', {}, text, ' ', noise) : text;
  return h('span', {}, text, ' ', h('span', { class: 'badge warn', title: belowWords }, '≤ uniform'), noise ? ' ' : '', noise);
}

/** " [0.412–0.455]": the 95% interval of similarity kept, where the analysis has error bars. */
export const keptIntervalText = (c: PlanCandidate) => (c.keptInterval ? ` [${fixed(c.keptInterval[0])}–${fixed(c.keptInterval[1])}]` : '');

export const noiseWords =
  'Within noise of the recommended candidate: their 95% intervals of similarity kept overlap, so the analysis cannot say which keeps more.';

export const belowWords =
  'Similarity kept at or below its uniform baseline: the heads it pairs are no more alike than diffuse heads are, so the number says little. Try it on the model before training it.';

function driftCells(d: CandidateDrift | undefined, running: boolean): string[] {
  if (!d) return [running ? 'measuring…' : '–', '', ''];
  const speed = `${d.speedRatio.toFixed(2)}×${d.speedMeasured ? '' : ' (est.)'}`;
  return [
    d.kl === null ? `1 − cos ${fixed(1 - d.cosine, 4)}` : fixed(d.kl, 4),
    d.top1 === null ? '–' : `${(d.top1 * 100).toFixed(1)}%`,
    speed,
  ];
}

export interface TableActions {
  select(index: number): void;
  tryOn(indices: number[]): void;
}

/** The table; `status` is the last "Try on model" of this stack, if any. */
export function candidatesTable(
  plan: PlanCandidatesMessage,
  rows: number[],
  selected: number | null,
  status: TryOnModelStatusMessage | null,
  results: Map<number, CandidateDrift>,
  canTry: boolean,
  actions: TableActions,
): HTMLTableElement {
  const running = status?.state === 'running';
  const body = rows.map((i) => {
    const c = plan.candidates[i];
    const tags = [i === plan.recommended ? 'recommended' : '', i === selected ? 'selected' : ''].filter(Boolean).join(', ');
    const pick = h(
      'button',
      { class: 'link', type: 'button', 'data-candidate': i, 'aria-label': `Select ${configName(c)} in the planner` },
      configName(c),
    );
    pick.addEventListener('click', () => actions.select(i));
    const tryOn = h(
      'vscode-button',
      {
        secondary: true,
        'data-action': 'try-candidate',
        'data-candidate': i,
        disabled: running || !canTry,
        'aria-label': `Try on model: ${configName(c)}`,
      },
      'Try on model',
    );
    tryOn.addEventListener('click', () => actions.tryOn([i]));
    const inRun = running && status.candidates.includes(i);
    return [
      h('span', {}, pick, tags ? h('span', { class: 'tags' }, ` ${tags}`) : ''),
      ratio(c.paramsRatio),
      ratio(c.flopsRatio),
      ratio(c.trainingMemoryRatio),
      keptCell(c),
      ...driftCells(results.get(i), inRun),
      tryOn,
    ];
  });
  const t = table(
    'Candidates: the recommended, the selected and the Pareto front near them (cheapest first)',
    [
      'configuration',
      'parameters',
      'FLOPs',
      'training memory',
      'similarity kept',
      'KL (nats/token)',
      'top-1 agreement',
      'speed-up',
      'measure',
    ],
    body,
    'data candidates',
  );
  Array.from(t.tBodies[0].rows).forEach((tr, r) => {
    tr.dataset.candidate = String(rows[r]);
    if (plan.candidates[rows[r]].belowBaseline) tr.classList.add('below-baseline');
  });
  return t;
}

/** The status line of "Try on model": what it measures, on what, and how it ended. */
export function tryWords(status: TryOnModelStatusMessage | null, plan: PlanCandidatesMessage): string {
  if (!status)
    return 'Try on model rewrites the model for a candidate and measures how far its outputs move (KL, top-1 agreement) and how much faster it runs, on the analysis’s inputs.';
  const names = status.candidates.map((i) => (plan.candidates[i] ? configName(plan.candidates[i]) : `#${i}`)).join(', ');
  const on = status.on
    ? ` on ${status.on.model.split(/[\\/]/).pop()} with ${status.on.examples} examples (${status.on.tokens} tokens), ${status.on.executionProvider}`
    : '';
  switch (status.state) {
    case 'running':
      return `Measuring ${status.done} of ${status.candidates.length} (${names})${on}…`;
    case 'done':
      return `Measured ${names}${on}: KL and top-1 compare each rewrite's outputs with the original model's; speed-up is the original's time over the rewrite's.`;
    case 'cancelled':
      return `Cancelled after ${status.done} of ${status.candidates.length}${on}.`;
    case 'failed':
      return `Could not measure: ${status.message ?? 'unknown error'}`;
  }
}

/** Why the planner recommends nothing: no candidate reaches the FLOPs target at the length it costs at. */
export function noRecommendation(plan: Pick<PlanCandidatesMessage, 'seqLen' | 'seqLenFrom' | 'targetFlops' | 'candidates'>): string {
  const lowest = Math.min(...plan.candidates.filter((c) => c.similarityKept !== null).map((c) => c.flopsRatio));
  const where =
    plan.seqLenFrom === 'analysis' ? ' (the analysed mean length; attention is a small share of the work at short lengths)' : '';
  const target = plan.targetFlops !== undefined ? ` ≤ ${plan.targetFlops}` : ' target';
  const best = Number.isFinite(lowest) ? ` (the lowest is ${lowest.toFixed(3)})` : '';
  return `Nothing is recommended: no configuration reaches a FLOPs ratio${target} at ${plan.seqLen} tokens${where}${best}. Pick one below by what it keeps, or plan at the length you will train at (attention-reuse plan --seq-len N).`;
}
