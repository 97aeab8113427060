/**
 * Reuse layers (a trained reuse model, a what-if rewrite): a value MatMul that no Softmax
 * claimed, whose probabilities are assembled (Slice/Gather/Concat over the head axis) from
 * Softmax outputs of query-key products only, its own layer's and earlier layers'. Each is
 * one layer with all its heads, in the order its value product reads them.
 */
import type { onnx } from 'onnx-proto';
import type { StackKind } from '../runtime/types';
import type { AttentionLayer } from './attentionFinder';
import { valueShape } from './model';
import type { OnnxGraph } from './model';

/** A Softmax of a query-key product, as the finder read it. */
export interface SoftmaxPart {
  node: onnx.INodeProto;
  queryInputs: string[];
  keyInputs: string[];
  kind: StackKind;
  causal: boolean;
  maskInputs: string[];
}

/** Ops that pick and join heads of probabilities without computing anything new. */
const assemblyOps = new Set(['Concat', 'Slice', 'Gather', 'Split', 'Unsqueeze', 'Squeeze', 'Identity', 'Reshape', 'Cast', 'Dropout']);

export function assembledLayers(
  g: OnnxGraph,
  softmaxes: Map<string, SoftmaxPart>,
  claimed: Set<onnx.INodeProto>,
  isActivation: (t: string | undefined) => boolean,
): (AttentionLayer & { kind: StackKind; at: number })[] {
  const out: (AttentionLayer & { kind: StackKind; at: number })[] = [];
  if (softmaxes.size === 0) return out;
  g.nodes.forEach((node, at) => {
    const [probs, values] = node.input ?? [];
    if (node.opType !== 'MatMul' || claimed.has(node) || !probs || !isActivation(values) || !isActivation(probs)) return;
    const leaves = new Set<string>();
    const pending = [probs];
    for (let seen = 0; pending.length > 0; seen++) {
      const t = pending.pop()!;
      if (softmaxes.has(t)) {
        leaves.add(t);
        continue;
      }
      const producer = g.producer.get(t);
      if (!producer || !assemblyOps.has(producer.opType ?? '') || seen > 256) return;
      const data = producer.opType === 'Concat' ? (producer.input ?? []) : [producer.input?.[0] ?? ''];
      for (const x of data) if (x && !g.constants.has(x)) pending.push(x);
    }
    if (leaves.size === 0) return;
    const parts = [...leaves].map((t) => softmaxes.get(t)!);
    // Graph inputs in the graph's order, as the finder lists them for a Softmax.
    const union = (pick: (p: SoftmaxPart) => string[]) => g.inputNames.filter((n) => parts.some((p) => pick(p).includes(n)));
    const info = [...g.graph.valueInfo, ...g.graph.output].find((v) => v.name === probs);
    const shape = info ? valueShape(info) : undefined;
    const kind: StackKind = parts.every((p) => p.kind === 'self') ? 'self' : 'cross';
    out.push({
      tensor: probs,
      source: node.name || probs,
      heads: shape?.length === 4 && typeof shape[1] === 'number' ? shape[1] : null,
      queryInputs: union((p) => p.queryInputs),
      keyInputs: union((p) => p.keyInputs),
      causal: kind === 'self' && parts.every((p) => p.causal),
      kvHeads: null,
      maskInputs: union((p) => p.maskInputs),
      branch: g.branchOf.get(node) ?? [],
      assembledFrom: parts.map((p) => p.node.name || p.node.output?.[0] || ''),
      kind,
      at,
    });
  });
  return out;
}
