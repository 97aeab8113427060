import { inspectModel } from '../app/model';
import type { InspectResult } from '../onnx/inspect';
import { parse, requireOne } from './args';

export const inspectHelp = () => `Usage: attention-reuse inspect MODEL.onnx [--json]

Lists the attention-probability tensors found in MODEL.onnx, grouped into stacks
(encoder self-attention, causal decoder self-attention, cross-attention) in layer order,
with their heads, and the graph inputs the model expects. Attention inside local
functions and in every branch of an If is listed (stacks in a branch are named
NAME@then or NAME@else).

  --json    print {"stacks":[...],"inputs":[...]} instead of a table`;

export async function inspectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, 'inspect');
  if (values.help) {
    console.log(inspectHelp());
    return 0;
  }
  const result = await inspectModel(requireOne(positionals, 'model file', 'inspect'));
  console.log(values.json ? JSON.stringify(result, null, 2) : formatInspect(result));
  return 0;
}

export function formatInspect(r: InspectResult): string {
  const lines = [`${r.model} (opset ${r.opset})`];
  if (r.unfused) lines.push(`  fused attention rewritten into visible steps: ${r.unfused.join(', ')}`);
  for (const s of r.stacks) {
    const heads = [...new Set(s.layers.map((l) => l.heads ?? '?'))].join('/');
    const kv = s.kvHeads ? ` (${s.kvHeads} key/value heads)` : '';
    const where = s.branch?.length ? `, in ${s.branch.map((b) => `the ${b.branch} branch of If "${b.node}"`).join(', ')}` : '';
    lines.push(`  ${s.name} (${s.causal ? 'causal ' : ''}${s.kind}-attention${where}): ${s.layers.length} layers × ${heads} heads${kv}`);
    for (const l of s.layers)
      lines.push(`    layer ${String(l.layer).padStart(2)}  heads ${String(l.heads ?? '?').padStart(3)}  ${l.tensor}`);
  }
  lines.push('  inputs:');
  for (const i of r.inputs) {
    const selects = i.selectsBranch ? `  (selects the branch of If "${i.selectsBranch}")` : '';
    lines.push(`    ${i.name}: ${i.type} [${(i.shape ?? ['?']).join(', ')}]${selects}`);
  }
  return lines.join('\n');
}
