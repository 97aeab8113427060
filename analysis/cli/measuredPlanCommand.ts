import { planMeasured } from '../app/measuredPlan';
import type { MeasuredCandidate, MeasuredPlan } from '../app/measuredPlan';
import type { PlanOptions } from '../app/plan';
import { intFlag, stringFlag } from './args';
import type { OptionSpec, ParsedArgs } from './args';
import { Progress, providerNote } from './progress';
import { readSourceFlags, sourceOptions } from './sourceFlags';

const { examples: _examples, ...runFlags } = sourceOptions;

/** The flags of `plan` that plan by measurement on the model (all need --model). */
export const measuredPlanOptions: OptionSpec = {
  ...runFlags,
  model: { type: 'string' },
  calibration: { type: 'string' },
  search: { type: 'boolean' },
  'search-width': { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
};

export const measuredPlanHelp = `Planning by measurement: with --model, every candidate is rewritten into the model (as
attention-reuse whatif does) and run against the original on a calibration set; candidates are
ranked by the drift they cause (KL(original ‖ rewritten) per token of the logits, else 1 − mean
cosine of the first output) and the recommendation is the least drift at FLOPs ≤ the target.
The report prints Spearman's rank correlation between similarity kept and measured drift.
  --model FILE           the analysed model (its sha256 must be the analysis's)
  --inputs/--text/--tokenizer/--max-length/--batch/--ep   the calibration examples, as for analyze
  --calibration N        calibration examples (default 64)
  --search               also a measured greedy search: add reuse heads one at a time, each time
                         the one that moves the output least among the best few by similarity,
                         until the FLOPs target; the result is a custom head map
  --search-width N       moves measured per search step (default 4)
  --out FILE             write the search result (without --search: the recommendation) as a
                         reuse config, as emit does; --force replaces it
  -q, --quiet            no progress on stderr`;

export async function runMeasuredPlan(options: PlanOptions, values: ParsedArgs['values'], signal: AbortSignal): Promise<number> {
  const flags = readSourceFlags(values, 'plan --model');
  const progress = new Progress('plan', flags.quiet, 'candidates');
  const { plan } = await planMeasured(
    {
      ...options,
      model: stringFlag(values, 'model')!,
      source: flags.source,
      batch: flags.batch,
      ep: flags.ep,
      calibration: intFlag(values, 'calibration'),
      search: values.search === true,
      searchWidth: intFlag(values, 'searchWidth'),
      out: stringFlag(values, 'out'),
      force: values.force === true,
    },
    { signal, onProgress: (done, total) => progress.update(done, total), onNote: providerNote(flags.quiet) },
  );
  progress.finish();
  console.log(values.json ? JSON.stringify(plan, null, 2) : formatMeasuredPlan(plan));
  return 0;
}

const fixed = (x: number | null, digits = 4) => (x === null ? '—' : x.toFixed(digits));
const speed = (c: MeasuredCandidate) => `${c.measured.speedMeasured ? '×' : '~'}${c.measured.speedRatio.toFixed(2)}`;
const name = (c: MeasuredCandidate) => `${c.mode} P = ${c.P} K = ${c.K}`;

export function formatMeasuredPlan(plan: MeasuredPlan): string {
  const s = plan.shape;
  const m = plan.measured;
  const what = m.criterion === 'kl' ? `KL(original ‖ rewritten) of ${m.klOutput}, nats per token` : '1 − mean cosine of the first output';
  const lines = [
    `stack "${plan.stack}": ${s.layers} layers × ${s.heads} heads, hidden ${s.hidden}, FFN ${s.ffn}, vocab ${s.vocab}; n = ${plan.seqLen}`,
    `measured on ${m.examples} calibration examples (${m.tokens.toLocaleString('en-US')} real tokens), ${m.executionProvider}; drift = ${what}`,
    '',
    '    mode        P   K  reuse  params  FLOPs   similarity  uniform     drift   top-1   speed',
  ];
  const front = new Set(m.pareto);
  const row = (mark: string, c: MeasuredCandidate) => {
    const reuse = c.cost.skipLayers > 0 ? `${c.cost.skipLayers}L` : String(c.cost.reuseHeads);
    return `${mark}  ${c.mode.padEnd(10)}${String(c.P).padStart(3)} ${String(c.K).padStart(3)} ${reuse.padStart(6)}  ${fixed(c.cost.paramsRatio)}  ${fixed(c.cost.flopsRatio)}  ${fixed(c.similarityKept).padStart(10)}  ${fixed(c.uniformBaseline).padStart(7)}  ${fixed(c.measured.drift, 5).padStart(8)}  ${fixed(c.measured.top1)}  ${speed(c).padStart(6)}`;
  };
  plan.candidates.forEach((c, i) => lines.push(row(`${i === plan.recommended ? '>' : ' '}${front.has(i) ? '*' : ' '}`, c)));
  if (plan.search) lines.push(row('s ', plan.search));
  lines.push(
    '',
    '* Pareto front by measured drift and FLOPs; speed: original / rewritten latency, measured (×) or estimated from the FLOPs ratio (~) where the rewrite only substitutes probabilities',
    `rank correlation (Spearman) between similarity kept and measured drift over ${m.rankCorrelationOver} candidates: ${m.rankCorrelation === null ? 'undefined (too few candidates or no spread)' : `ρ = ${m.rankCorrelation.toFixed(3)}`}` +
      ' (negative: the more similarity kept, the less drift)',
  );
  const bySim = plan.recommendedBySimilarity === null ? 'none' : name(plan.candidates[plan.recommendedBySimilarity]);
  if (plan.recommended === null) lines.push(`no candidate reaches a FLOPs ratio ≤ ${plan.targetFlops}`);
  else {
    const r = plan.candidates[plan.recommended];
    lines.push(
      `> recommended for FLOPs ≤ ${plan.targetFlops} by measured drift (criterion: ${m.criterion}): ${name(r)} (FLOPs ${fixed(r.cost.flopsRatio)}, drift ${fixed(r.measured.drift, 5)}, top-1 ${fixed(r.measured.top1)}); by similarity kept it would be ${bySim}`,
    );
  }
  if (plan.search) {
    const x = plan.search;
    lines.push(
      `s measured search (similarity proposes, drift decides; ${x.width} moves measured per step): ${x.cost.reuseHeads} reuse heads, FLOPs ${fixed(x.cost.flopsRatio)}${x.reached ? '' : ' (target not reached: no move left)'}, drift ${fixed(x.measured.drift, 5)}, top-1 ${fixed(x.measured.top1)}, speed ${speed(x)}`,
      `  steps (layer.head ← source, similarity, drift after): ${x.steps.map((st) => `${st.layer}.${st.head}←${st.source.layer}.${st.source.head} (${st.similarity.toFixed(2)}, ${st.drift.toFixed(4)})`).join(', ')}`,
    );
  }
  if (plan.written) lines.push(`wrote ${plan.written}`);
  return lines.join('\n');
}
