/**
 * Fused attention made visible: every com.microsoft Attention, MultiHeadAttention and
 * GroupQueryAttention node and every ONNX `Attention` (opset 23+) is replaced by the primitive
 * ops it computes (MatMul, Softmax, masks, rotary embedding, repeated key/value heads, past
 * and present), so that the finder sees its probabilities like an exported model's. The rest
 * of the file is kept byte for byte (`graphEdit.ts`), external-data references included. An
 * attribute or input the rewrite cannot honour refuses the model, naming it.
 */
import type { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import { fusedAttentionOps, fusionAdvice } from './attentionFinder';
import { elemTypeOf } from './expose';
import { NodeBuilder } from './fusedBuilder';
import type { FusedNode } from './fusedBuilder';
import { contribAttention, multiHeadAttention } from './fusedContrib';
import { groupQueryAttention } from './fusedGqa';
import { onnxAttention } from './fusedOnnx';
import { applyGraphEdit, emptyEdit } from './graphEdit';
import { ElemType, intsAttr, valueShape } from './model';
import { rankOf } from './ranks';
import type { OnnxGraph } from './model';

/** The fused ops this tool rewrites, by `domain.op` (the ONNX domain is `ai.onnx`). */
export const rewrittenOps: Record<string, (f: FusedNode) => void> = {
  'com.microsoft.Attention': contribAttention,
  'com.microsoft.MultiHeadAttention': multiHeadAttention,
  'com.microsoft.GroupQueryAttention': groupQueryAttention,
  'ai.onnx.Attention': onnxAttention,
};

/** Range, Trilu-free masks and the rest of the rewrite need opset 11 of the default domain. */
const minOpset = 11;

const opKey = (node: onnx.INodeProto) => `${node.domain || 'ai.onnx'}.${node.opType}`;

function fixedDim(g: OnnxGraph, t: string, axis: number): number | undefined {
  const info = g.valueInfos.get(t);
  const d = info ? valueShape(info)?.[axis] : (g.constants.get(t)?.dims ?? []).map(Number)[axis];
  return typeof d === 'number' ? d : undefined;
}

function fusedNode(g: OnnxGraph, node: onnx.INodeProto, b: NodeBuilder, refuse: FusedNode['refuse']): FusedNode {
  const attribute = (name: string) => node.attribute?.find((a) => a.name === name);
  return {
    node,
    b,
    input: (i) => node.input?.[i] || undefined,
    output: (i) => node.output?.[i] || undefined,
    rank: (t) => rankOf(g, t),
    elemType: (t) => elemTypeOf(g, t),
    dim: (t, axis) => fixedDim(g, t, axis),
    intAttr: (name) => (attribute(name)?.i !== undefined && attribute(name)?.i !== null ? Number(attribute(name)!.i) : undefined),
    floatAttr: (name) => (attribute(name)?.f ?? undefined) as number | undefined,
    intsAttr: (name) => intsAttr(node, name),
    stringAttr: (name) => {
      const s = attribute(name)?.s;
      return s && s.length > 0 ? new TextDecoder().decode(s) : undefined;
    },
    refuse,
  };
}

/** The fused nodes of a graph this tool rewrites. */
export function rewritableNodes(g: OnnxGraph): onnx.INodeProto[] {
  return g.nodes.filter((n) => rewrittenOps[opKey(n)] && (opKey(n) !== 'ai.onnx.Attention' || g.opset >= 23));
}

export interface UnfusedModel {
  bytes: Uint8Array;
  /** What was rewritten, as `domain.op ×count`. */
  ops: string[];
}

/**
 * The model bytes with every rewritable fused attention node replaced by primitive ops;
 * undefined where the model has none. `label` names the model in refusals.
 */
export function unfuseAttention(g: OnnxGraph, bytes: Uint8Array, label: string): UnfusedModel | undefined {
  const fused = rewritableNodes(g);
  if (fused.length === 0) return undefined;
  const summary = fusedAttentionOps(g).join(', ');
  const refusal = (node: onnx.INodeProto, what: string, why: string): never => {
    throw new InputError(
      `${label} uses fused attention (${summary}): ${opKey(node)} "${node.name || node.output?.[0]}" has ${what}, which this tool cannot rewrite into visible steps (${why}); ${fusionAdvice}`,
    );
  };
  const top = new Set(g.graph.node);
  const subgraphs = g.graph.node.some((n) => n.attribute?.some((a) => a.g || (a.graphs?.length ?? 0) > 0));
  if (g.opset < minOpset) refusal(fused[0], `opset ${g.opset}`, `the rewrite needs opset ${minOpset} or later of the default domain`);
  const edit = emptyEdit();
  for (const node of fused) {
    if (!top.has(node) || subgraphs)
      refusal(node, 'control flow or local functions around it', 'only a graph without If, Loop or Scan is rewritten');
    const floatType = elemTypeOf(g, node.input?.[0] ?? '') ?? ElemType.float;
    const b = new NodeBuilder(node.name || node.output?.[0] || 'attention', g.opset, floatType);
    rewrittenOps[opKey(node)](fusedNode(g, node, b, (what, why) => refusal(node, what, why)));
    edit.replace.set(node, null);
    edit.add.push(...b.nodes);
    edit.initializers.push(...b.initializers);
    (edit.valueInfo ??= []).push(...b.valueInfo);
  }
  const counts = new Map<string, number>();
  for (const node of fused) counts.set(opKey(node), (counts.get(opKey(node)) ?? 0) + 1);
  return { bytes: applyGraphEdit(g, bytes, edit).bytes, ops: [...counts].map(([op, n]) => `${op} ×${n}`) };
}
