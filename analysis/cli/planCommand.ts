import { planAnalysis } from '../app/plan';
import { InputError } from '../errors';
import { Z95 } from '../similarity/stackViews';
import type { ModelShape } from '../planner/cost';
import { keptBelowBaseline } from '../planner/plan';
import type { Candidate, Plan } from '../planner/plan';
import { intFlag, numberFlag, parse, requireOne, stringFlag } from './args';
import type { ParsedArgs } from './args';
import { measuredPlanHelp, measuredPlanOptions, runMeasuredPlan } from './measuredPlanCommand';

export const planHelp =
  () => `Usage: attention-reuse plan ANALYSIS.json [--stack NAME] [--seq-len N] [--target-flops R] [--extra-layers N] [--exclude-sinks] [--json]
                            [--model MODEL.onnx (--inputs F | --text F --tokenizer T) [--calibration N] [--search] [--out FILE]]

Scores reuse configurations of one stack of an analysis file: partial (P = L-2, K = 1..H-1),
full (K = H, P = 1..L-2), alternate, all-end, skip and similarity-guided. For each, the
parameter, FLOPs, attention-score (inference) and activation (training) memory ratios and the similarity kept (mean headPairs between
each reuse head and the head it borrows from) beside its uniform baseline. Marks the Pareto
front (*: most similarity kept for the FLOPs) and recommends (>) the configuration that keeps
the most similarity at a FLOPs ratio ≤ the target. Where the analysis has error bars, each
similarity kept shows its 95% interval (±, an upper bound: pairs are correlated), and the
candidates under the target whose intervals overlap the recommendation's are named as within
noise of it.

  --stack NAME        which stack (needed when the analysis has more than one)
  --seq-len N         sequence length for FLOPs (default: the analysed mean real tokens per
                      example; for files without sums the model's position count, else 512)
  --target-flops R    FLOPs ratio to stay under, in (0, 1] (default 0.9)
  --extra-layers N    plan a stack N layers deeper than the analysed one (new layers last; the
                      paper's Reuse 13L); ratios against the analysed model, no guided mode
  --exclude-sinks     score every pair with a sink head (mean attention on the first or special
                      tokens ≥ the analysis's threshold) 0: their likeness comes from parking on
                      the same token, so placement and guided keep away from them
  --hidden/--ffn/--vocab/--max-positions N   sizes the analysis could not read from the graph
  --json              print the plan as JSON (head maps included)

${measuredPlanHelp}`;

/** `--hidden`, `--ffn`, `--vocab` and `--max-positions`: sizes the analysis could not read. */
export const shapeFlags = {
  hidden: { type: 'string' },
  ffn: { type: 'string' },
  vocab: { type: 'string' },
  'max-positions': { type: 'string' },
} as const;

export function shapeOverrides(values: ParsedArgs['values']): Partial<ModelShape> {
  const out: Partial<ModelShape> = {};
  for (const key of ['hidden', 'ffn', 'vocab', 'maxPositions'] as const) {
    const v = intFlag(values, key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

export async function planCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      stack: { type: 'string' },
      'seq-len': { type: 'string' },
      'target-flops': { type: 'string' },
      'extra-layers': { type: 'string' },
      json: { type: 'boolean' },
      'exclude-sinks': { type: 'boolean' },
      ...shapeFlags,
      ...measuredPlanOptions,
    },
    'plan',
  );
  if (values.help) {
    console.log(planHelp());
    return 0;
  }
  const options = {
    analysis: requireOne(positionals, 'analysis file', 'plan'),
    stack: stringFlag(values, 'stack'),
    seqLen: intFlag(values, 'seqLen'),
    targetFlops: numberFlag(values, 'targetFlops'),
    extraLayers: intFlag(values, 'extraLayers', 0),
    shape: shapeOverrides(values),
    excludeSinks: values['exclude-sinks'] === true,
  };
  if (stringFlag(values, 'model') !== undefined) return runMeasuredPlan(options, values, signal);
  const stray = Object.keys(measuredPlanOptions).find((k) => k !== 'quiet' && values[k] !== undefined);
  if (stray) throw new InputError(`--${stray} goes with --model MODEL.onnx (planning by measurement)`);
  const { plans } = await planAnalysis(options);
  console.log(values.json ? JSON.stringify(plans[0], null, 2) : formatPlan(plans[0]));
  return 0;
}

const fixed = (x: number | null, digits = 4) => (x === null ? '—' : x.toFixed(digits));

const lengthNote = { option: '', analysis: ' (the analysed mean length; --seq-len to change)', positions: " (the model's position count)" };

/** Half the 95% interval of a candidate's similarity kept, or blank without errors. */
const plusMinus = (c: Candidate) => (c.similarityKeptSe == null ? '' : `±${(Z95 * c.similarityKeptSe).toFixed(4)}`);

export function formatPlan(plan: Plan): string {
  const s = plan.shape;
  const extra = plan.candidates[0]?.cost.extraLayers ?? 0;
  const hasErrors = plan.candidates.some((c) => c.similarityKeptSe != null);
  const lines = [
    `stack "${plan.stack}": ${s.layers} layers × ${s.heads} heads, hidden ${s.hidden}, FFN ${s.ffn}, vocab ${s.vocab}; n = ${plan.seqLen}${lengthNote[plan.seqLenFrom ?? 'option']}`,
    ...(plan.excludedSinks
      ? [
          `sinks excluded: ${plan.excludedSinks.length === 0 ? 'no head is a sink' : plan.excludedSinks.map(([l, h]) => `L${l}H${h}`).join(' ')}${plan.excludedSinks.length ? ' (their pairs score 0)' : ''}`,
        ]
      : []),
    ...(extra > 0
      ? [`planned with ${extra} extra layer(s) appended: ${s.layers + extra} layers, ratios against the ${s.layers} analysed`]
      : []),
    '',
    `    mode        P   K  reuse  params  FLOPs   scores  train   similarity${hasErrors ? '  ±95%   ' : ''}  uniform`,
  ];
  const front = new Set(plan.pareto);
  plan.candidates.forEach((c: Candidate, i) => {
    const mark = `${i === plan.recommended ? '>' : ' '}${front.has(i) ? '*' : ' '}`;
    const reuse = c.cost.skipLayers > 0 ? `${c.cost.skipLayers}L` : String(c.cost.reuseHeads);
    lines.push(
      `${mark}  ${c.mode.padEnd(10)}${String(c.P).padStart(3)} ${String(c.K).padStart(3)} ${reuse.padStart(6)}  ${fixed(c.cost.paramsRatio)}  ${fixed(c.cost.flopsRatio)}  ${fixed(c.cost.scoreMemoryRatio)}  ${fixed(c.cost.trainingMemoryRatio)}  ${fixed(c.similarityKept).padStart(10)}${hasErrors ? `  ${plusMinus(c).padEnd(7)}` : ''}  ${fixed(c.uniformBaseline).padStart(7)}${keptBelowBaseline(c) ? '  ≤ uniform' : ''}`,
    );
  });
  lines.push('');
  lines.push('* Pareto front (most similarity kept for the FLOPs); similarity: mean headPairs of each reuse head and its source;');
  lines.push("  uniform: the same mean of the two heads' similarity to uniform attention (high = diffuse heads look alike anyway);");
  lines.push('  ≤ uniform: similarity kept at or below its uniform baseline, which says little about the reuse;');
  lines.push('  scores: attention values kept at inference; train: activation bytes kept for backward (reuse heads keep dropout masks)');
  if (plan.recommended === null) {
    const lowest = Math.min(...plan.candidates.filter((c) => c.similarityKept !== null).map((c) => c.cost.flopsRatio));
    lines.push(
      `no reuse configuration reaches a FLOPs ratio ≤ ${plan.targetFlops} (the lowest is ${Number.isFinite(lowest) ? lowest.toFixed(4) : 'none'})`,
    );
  } else {
    const r = plan.candidates[plan.recommended];
    lines.push(
      `> recommended for FLOPs ≤ ${plan.targetFlops}: ${r.mode} P = ${r.P} K = ${r.K} (FLOPs ${fixed(r.cost.flopsRatio)}, params ${fixed(r.cost.paramsRatio)}, similarity kept ${fixed(r.similarityKept)} vs uniform ${fixed(r.uniformBaseline)})`,
    );
    if (keptBelowBaseline(r)) {
      lines.push(
        '  note: its similarity kept is at or below its uniform baseline: the heads it pairs are no more alike than diffuse heads; measure drift with --model before training it',
      );
    }
    if (plan.withinNoise && plan.withinNoise.length > 0) {
      const named = plan.withinNoise.slice(0, 6).map((i) => {
        const c = plan.candidates[i];
        return `${c.mode} P = ${c.P} K = ${c.K} (FLOPs ${fixed(c.cost.flopsRatio)}, ${fixed(c.similarityKept)} ${plusMinus(c)})`;
      });
      const more = plan.withinNoise.length > 6 ? `, and ${plan.withinNoise.length - 6} more` : '';
      lines.push(`  within noise of it (95% intervals overlap, so the analysis cannot rank them): ${named.join('; ')}${more}`);
    } else if (plan.withinNoise) {
      lines.push(`  no other candidate under the target is within noise of it (${plusMinus(r)} at 95%)`);
    }
    const deeper = extra > 0 ? ` --extra-layers ${extra}` : '';
    lines.push(
      `  write it with: attention-reuse emit ANALYSIS.json --stack ${plan.stack} --mode ${r.mode} --reuse-layers ${r.P} --reuse-heads ${r.K}${deeper} --out NAME.reuse.json`,
    );
  }
  return lines.join('\n');
}
