import { compareAnalyses } from '../app/compare';
import type { ComparedFile, CompareResult } from '../app/compare';
import { InputError } from '../errors';
import { largestChanges } from '../result/compare';
import type { HeadChange, StackComparison } from '../result/compare';
import { parse, stringFlag } from './args';
import { note } from './progress';

export const compareHelp =
  () => `Usage: attention-reuse compare A.analysis.json B.analysis.json [--metrics-a FILE] [--metrics-b FILE] [--json]

Two analyses side by side, e.g. the original model (A) and the reuse model a training run
exported (B: analyze RUN_DIR/model.onnx), or two checkpoints. Stacks are matched by
position, layers and heads by index; differing names, kinds, layer or head counts are named
and the overlap is compared. Prints the layer-pair similarity of A and B and B − A, the
heads that changed most (similarity to uniform attention, entropy, and the best match in an
earlier layer), and the held-out evaluations of each side's run: its metrics.jsonl given with
--metrics-a/--metrics-b, or the one beside the analysed model (RUN_DIR/metrics.jsonl).
--json prints the whole comparison: a, b (path, model, examples, tokens, metrics: first and
last evaluation), stacks[] (index, a, b, mismatches, layers, heads, layerPairs {a, b, diff},
headChanges[] {layer, head, uniform, entropy, earlier: [A, B, B − A]}, meanAbsDiff,
maxAbsDiff), mismatches.`;

const signed = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;

function matrix(title: string, m: number[][], cell: (v: number) => string): string[] {
  const width = Math.max(7, ...m.flat().map((v) => cell(v).length + 1));
  const head = `${title.padEnd(8)}${m.map((_, j) => `l'=${j}`.padStart(width)).join('')}`;
  return [head, ...m.map((row, l) => `l=${l}`.padEnd(8) + row.map((v) => cell(v).padStart(width)).join(''))];
}

function headLine(c: HeadChange): string {
  const part = (name: string, t: [number, number, number] | null, digits = 3) =>
    t ? `${name} ${t[0].toFixed(digits)} → ${t[1].toFixed(digits)} (${signed(t[2])})` : '';
  return `  head (${c.layer},${c.head})  ${[part('uniform', c.uniform), part('entropy', c.entropy), part('best earlier', c.earlier)].filter(Boolean).join(', ')}`;
}

function evaluations(label: string, side: ComparedFile): string {
  const m = side.metrics;
  if (!m) return `${label}: no training metrics`;
  const at = (e: NonNullable<typeof m.first>) =>
    `step ${e.step}: loss ${e.evalLoss.toFixed(4)}${e.evalAccuracy === null ? '' : `, accuracy ${e.evalAccuracy.toFixed(3)}`}`;
  if (!m.first || !m.last) return `${label}: ${m.path} has no evaluation`;
  return `${label}: held-out ${m.first === m.last || m.first.step === m.last.step ? at(m.last) : `${at(m.first)} → ${at(m.last)}`} (${m.path})`;
}

function stackText(s: StackComparison): string[] {
  const name = s.a.name === s.b.name ? s.a.name : `${s.a.name} ↔ ${s.b.name}`;
  return [
    `stack ${s.index} ${name}: ${s.layers} layers × ${s.heads} heads compared; layer pairs |B − A| mean ${s.meanAbsDiff.toFixed(3)}, max ${s.maxAbsDiff.toFixed(3)}`,
    ...matrix('A', s.layerPairs.a, (v) => v.toFixed(3)),
    ...matrix('B', s.layerPairs.b, (v) => v.toFixed(3)),
    ...matrix('B − A', s.layerPairs.diff, signed),
    'heads that changed most:',
    ...largestChanges(s, 8).map(headLine),
  ];
}

export function formatComparison(r: CompareResult): string {
  const file = (label: string, f: ComparedFile) =>
    `${label}: ${f.path} (model ${f.model.path}, sha256 ${f.model.sha256.slice(0, 12)}…; ${f.examples} examples, ${f.tokens} tokens)`;
  return [
    file('A', r.a),
    file('B', r.b),
    ...r.stacks.flatMap((s) => ['', ...stackText(s)]),
    '',
    evaluations('A', r.a),
    evaluations('B', r.b),
  ].join('\n');
}

export async function compareCommand(argv: string[], signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { 'metrics-a': { type: 'string' }, 'metrics-b': { type: 'string' }, json: { type: 'boolean' } },
    'compare',
  );
  if (values.help) {
    console.log(compareHelp());
    return 0;
  }
  if (positionals.length !== 2) throw new InputError('compare takes two analysis files, A and B (see attention-reuse compare --help)');
  const [a, b] = positionals;
  const result = await compareAnalyses(
    { a, b, metricsA: stringFlag(values, 'metricsA'), metricsB: stringFlag(values, 'metricsB') },
    { signal, onNote: values.json ? undefined : note },
  );
  console.log(values.json ? JSON.stringify(result, null, 2) : formatComparison(result));
  return 0;
}
