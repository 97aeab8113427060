import { InputError } from '../errors';
import type { ModelShape } from '../planner/cost';
import { planStack } from '../planner/plan';
import type { Candidate, Plan } from '../planner/plan';
import { pickStack, readPlannerAnalysis } from '../planner/planInput';
import { parse, positiveInt, requireOne } from './args';

export const planHelp = `Usage: attention-reuse plan ANALYSIS.json [--stack NAME] [--seq-len N] [--target-flops R] [--json]

Scores reuse configurations of one stack of an analysis file: partial (P = L-2, K = 1..H-1),
full (K = H, P = 1..L-2), alternate, all-end, skip and similarity-guided. For each, the
parameter, FLOPs and attention-score ratios and the similarity kept (mean headPairs between
each reuse head and the head it borrows from) beside its uniform baseline. Marks the Pareto
front (*: most similarity kept for the FLOPs) and recommends (>) the configuration that keeps
the most similarity at a FLOPs ratio ≤ the target.

  --stack NAME        which stack (needed when the analysis has more than one)
  --seq-len N         sequence length for FLOPs (default: the model's position count, else 512)
  --target-flops R    FLOPs ratio to stay under, in (0, 1] (default 0.9)
  --hidden/--ffn/--vocab/--max-positions N   sizes the analysis could not read from the graph
  --json              print the plan as JSON (head maps included)`;

export function shapeOverrides(values: Record<string, string | boolean | undefined>): Partial<ModelShape> {
  const out: Partial<ModelShape> = {};
  for (const [flag, key] of [['hidden', 'hidden'], ['ffn', 'ffn'], ['vocab', 'vocab'], ['max-positions', 'maxPositions']] as const) {
    const v = values[flag];
    if (typeof v === 'string') out[key] = positiveInt(v, `--${flag}`, 0);
  }
  return out;
}

export const shapeFlags = {
  hidden: { type: 'string' },
  ffn: { type: 'string' },
  vocab: { type: 'string' },
  'max-positions': { type: 'string' },
} as const;

export async function planCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { stack: { type: 'string' }, 'seq-len': { type: 'string' }, 'target-flops': { type: 'string' }, json: { type: 'boolean' }, ...shapeFlags },
    'plan',
  );
  if (values.help) {
    console.log(planHelp);
    return 0;
  }
  const path = requireOne(positionals, 'analysis file', 'plan');
  const target = values['target-flops'] === undefined ? 0.9 : Number(values['target-flops']);
  if (!(target > 0 && target <= 1)) throw new InputError(`--target-flops must be a ratio in (0, 1] (got "${values['target-flops']}")`);
  const seqLen = values['seq-len'] === undefined ? undefined : positiveInt(values['seq-len'] as string, '--seq-len', 0);
  const analysis = await readPlannerAnalysis(path);
  const stack = pickStack(analysis, values.stack as string | undefined, path);
  const plan = planStack(stack, { seqLen, targetFlops: target, shape: shapeOverrides(values) });
  console.log(values.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
  return 0;
}

const fixed = (x: number | null, digits = 4) => (x === null ? '—' : x.toFixed(digits));

export function formatPlan(plan: Plan): string {
  const s = plan.shape;
  const lines = [
    `stack "${plan.stack}": ${s.layers} layers × ${s.heads} heads, hidden ${s.hidden}, FFN ${s.ffn}, vocab ${s.vocab}; n = ${plan.seqLen}`,
    '',
    '    mode        P   K  reuse  params  FLOPs   scores  similarity  uniform',
  ];
  const front = new Set(plan.pareto);
  plan.candidates.forEach((c: Candidate, i) => {
    const mark = `${i === plan.recommended ? '>' : ' '}${front.has(i) ? '*' : ' '}`;
    const reuse = c.mode === 'skip' ? `${c.cost.skipLayers}L` : String(c.cost.reuseHeads);
    lines.push(
      `${mark}  ${c.mode.padEnd(10)}${String(c.P).padStart(3)} ${String(c.K).padStart(3)} ${reuse.padStart(6)}  ${fixed(c.cost.paramsRatio)}  ${fixed(c.cost.flopsRatio)}  ${fixed(c.cost.scoreMemoryRatio)}  ${fixed(c.similarityKept).padStart(10)}  ${fixed(c.uniformBaseline).padStart(7)}`,
    );
  });
  lines.push('');
  lines.push('* Pareto front (most similarity kept for the FLOPs); similarity: mean headPairs of each reuse head and its source;');
  lines.push('  uniform: the same mean of the two heads\' similarity to uniform attention (high = diffuse heads look alike anyway)');
  if (plan.recommended === null) {
    const lowest = Math.min(...plan.candidates.filter((c) => c.similarityKept !== null).map((c) => c.cost.flopsRatio));
    lines.push(`no reuse configuration reaches a FLOPs ratio ≤ ${plan.targetFlops} (the lowest is ${Number.isFinite(lowest) ? lowest.toFixed(4) : 'none'})`);
  } else {
    const r = plan.candidates[plan.recommended];
    lines.push(
      `> recommended for FLOPs ≤ ${plan.targetFlops}: ${r.mode} P = ${r.P} K = ${r.K} (FLOPs ${fixed(r.cost.flopsRatio)}, params ${fixed(r.cost.paramsRatio)}, similarity kept ${fixed(r.similarityKept)} vs uniform ${fixed(r.uniformBaseline)})`,
    );
    lines.push(`  write it with: attention-reuse emit ANALYSIS.json --stack ${plan.stack} --mode ${r.mode} --reuse-layers ${r.P} --reuse-heads ${r.K} --out NAME.reuse.json`);
  }
  return lines.join('\n');
}
