/**
 * Tensor ranks where the graph does not declare them, worked out in one pass over the nodes:
 * the fused-attention rewrite reads a mask or a query by its rank ((batch) lengths or a
 * (batch, keys) mask; a packed or a plain query), and exporters seldom write value_info for
 * the tensors in between. Only the ops that sit between a graph's inputs and an attention op's
 * inputs are known; anything else leaves its outputs unknown, and the rewrite says so.
 */
import type { onnx } from 'onnx-proto';
import { intsAttr, valueShape } from './model';
import type { OnnxGraph } from './model';

/** Ops whose first output has the rank of their first input. */
const sameRank = new Set([
  'Cast',
  'CastLike',
  'Identity',
  'Relu',
  'Gelu',
  'Tanh',
  'Sigmoid',
  'Erf',
  'Sqrt',
  'Neg',
  'Not',
  'Abs',
  'Exp',
  'Log',
  'Softmax',
  'LayerNormalization',
  'SimplifiedLayerNormalization',
  'SkipLayerNormalization',
  'SkipSimplifiedLayerNormalization',
  'FastGelu',
  'BiasGelu',
  'QuickGelu',
  'Dropout',
  'Transpose',
  'Concat',
  'Slice',
  'Split',
  'Clip',
  'Mish',
  'Softplus',
  'RotaryEmbedding',
  'LeakyRelu',
  'HardSigmoid',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
]);
/** Ops whose output broadcasts their inputs: the largest rank. */
const broadcast = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Where',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'And',
  'Or',
  'Xor',
  'Max',
  'Min',
  'Mod',
  'MatMul',
  'FusedMatMul',
  'BiasAdd',
]);
/** Fused attention ops: their first output is [batch, n, hidden]. */
const attentionOps = new Set([
  'Attention',
  'MultiHeadAttention',
  'GroupQueryAttention',
  'PackedAttention',
  'DecoderMaskedMultiHeadAttention',
]);

function axesOf(g: OnnxGraph, node: onnx.INodeProto): number[] | undefined {
  const fromAttr = intsAttr(node, 'axes');
  if (fromAttr) return fromAttr;
  const input = node.input?.[1];
  const t = input ? g.constants.get(input) : undefined;
  return t
    ? (t.dims ?? []).map(Number).reduce((a, b) => a * b, 1) === 0
      ? []
      : Array.from({ length: Number(t.dims?.[0] ?? 1) })
    : undefined;
}

function outputRank(g: OnnxGraph, node: onnx.INodeProto, rank: (t: string) => number | undefined): number | undefined {
  const op = node.opType ?? '';
  const inputs = (node.input ?? []).filter((x) => x);
  const first = inputs[0] !== undefined ? rank(inputs[0]) : undefined;
  if (sameRank.has(op)) return first;
  if (broadcast.has(op)) {
    const ranks = inputs.map(rank);
    return ranks.some((r) => r === undefined) ? undefined : Math.max(...(ranks as number[]));
  }
  if (attentionOps.has(op)) return 3;
  if (op === 'Gemm') return 2;
  if (op === 'Shape' || op === 'Range') return 1;
  if (op === 'Trilu') return first;
  if (op === 'Gather') {
    const indices = inputs[1] !== undefined ? rank(inputs[1]) : undefined;
    return first === undefined || indices === undefined ? undefined : first - 1 + indices;
  }
  if (op === 'Reshape') {
    const shape = g.constants.get(inputs[1] ?? '');
    return shape ? Number(shape.dims?.[0] ?? 0) : undefined;
  }
  if (op === 'Unsqueeze' || op === 'Squeeze') {
    const axes = axesOf(g, node);
    if (first === undefined || axes === undefined) return undefined;
    return op === 'Unsqueeze' ? first + axes.length : first - axes.length;
  }
  if (op.startsWith('Reduce')) {
    const keep = node.attribute?.find((a) => a.name === 'keepdims')?.i;
    const axes = axesOf(g, node);
    if (first === undefined || axes === undefined) return undefined;
    if (keep !== undefined && keep !== null && Number(keep) === 0) return axes.length === 0 ? 0 : first - axes.length;
    return first;
  }
  return undefined;
}

const memo = new WeakMap<OnnxGraph, Map<string, number>>();

/** Ranks of the graph's tensors: declared ones, constants', and those the known ops imply. */
function ranks(g: OnnxGraph): Map<string, number> {
  const known = memo.get(g);
  if (known) return known;
  const found = new Map<string, number>();
  for (const [name, info] of g.valueInfos) {
    const shape = valueShape(info);
    if (shape) found.set(name, shape.length);
  }
  for (const [name, t] of g.constants) found.set(name, (t.dims ?? []).length);
  for (const node of g.nodes) {
    const out = node.output?.[0];
    if (!out || found.has(out)) continue;
    const r = outputRank(g, node, (t) => found.get(t));
    if (r !== undefined) found.set(out, r);
  }
  memo.set(g, found);
  return found;
}

/** The rank of a tensor, where the graph declares or implies it. */
export function rankOf(g: OnnxGraph, tensor: string): number | undefined {
  return ranks(g).get(tensor);
}
