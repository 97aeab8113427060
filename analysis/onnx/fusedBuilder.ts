/**
 * Writes the primitive nodes that stand for one fused attention op (`unfuse.ts`): a node
 * factory that names everything under the fused node's name, and the attention core every op
 * shares. The core is written the way the finder reads attention (`attentionFinder.ts`): a
 * query-key MatMul, its scale, soft-capping, bias and mask, a Softmax, and the probabilities
 * times the values; heads are split by a Reshape to [batch, n, heads, size] and a Transpose,
 * and a causal mask compares two `Range`s, so that heads and causality read as they do for an
 * exported model. Only Reshape, Slice, Expand and Concat move values around, so one opset
 * (11 and later) covers every op written here.
 */
import type { onnx } from 'onnx-proto';
import { floatToBfloat16, floatToHalf } from '../runtime/halfFloat';
import { ElemType } from './model';

const attrInt = (name: string, i: number): onnx.IAttributeProto => ({ name, i, type: 2 });
const attrInts = (name: string, ints: number[]): onnx.IAttributeProto => ({ name, ints, type: 7 });
const attrFloat = (name: string, f: number): onnx.IAttributeProto => ({ name, f, type: 1 });

export const attr = { int: attrInt, ints: attrInts, float: attrFloat };

/** Element types, as TensorProto.DataType numbers. */
const INT64 = 7;
const INT32 = 6;
const BOOL = 9;

export class NodeBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  /** Types and shapes the rewrite knows (the probabilities' heads, which the finder reads). */
  readonly valueInfo: onnx.IValueInfoProto[] = [];
  private count = 0;

  /**
   * `prefix` names every new tensor and node (the fused node's name); `floatType` is the
   * element type of the op's activations, which every float constant takes.
   */
  constructor(
    private readonly prefix: string,
    readonly opset: number,
    readonly floatType: number,
  ) {}

  private fresh(hint: string): string {
    return `${this.prefix}/${hint}_${this.count++}`;
  }

  /** A readable name under the node's (the attention probabilities a user sees in `inspect`). */
  named(hint: string): string {
    return `${this.prefix}/${hint}`;
  }

  /** A node; its outputs are `outputs` where given, else fresh names. Returns the output names. */
  op(opType: string, inputs: string[], attributes: onnx.IAttributeProto[] = [], outputs: string[] | number = 1): string[] {
    const names = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs;
    this.nodes.push({ opType, name: this.fresh(opType), input: inputs, output: names, attribute: attributes });
    return names;
  }

  one(opType: string, inputs: string[], attributes: onnx.IAttributeProto[] = [], output?: string): string {
    return this.op(opType, inputs, attributes, output ? [output] : 1)[0];
  }

  private constant(hint: string, dataType: number, dims: number[], raw: Uint8Array): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dataType, dims, rawData: raw });
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, slice bounds). */
  ints(values: number[]): string {
    return this.constant('ints', INT64, [values.length], new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer));
  }

  /** A scalar int64 constant. */
  int(value: number): string {
    return this.constant('int', INT64, [], new Uint8Array(BigInt64Array.from([BigInt(value)]).buffer));
  }

  int32(value: number): string {
    return this.constant('int32', INT32, [], new Uint8Array(Int32Array.from([value]).buffer));
  }

  /** A scalar of the activations' float type. */
  float(value: number): string {
    if (this.floatType === ElemType.float16)
      return this.constant('half', ElemType.float16, [], new Uint8Array(Uint16Array.from([floatToHalf(value)]).buffer));
    if (this.floatType === ElemType.double)
      return this.constant('double', ElemType.double, [], new Uint8Array(Float64Array.from([value]).buffer));
    if (this.floatType === ElemType.bfloat16)
      return this.constant('bf16', ElemType.bfloat16, [], new Uint8Array(Uint16Array.from([floatToBfloat16(value)]).buffer));
    return this.constant('float', ElemType.float, [], new Uint8Array(Float32Array.from([value]).buffer));
  }

  reshape(x: string, dims: number[], output?: string): string {
    return this.one('Reshape', [x, this.ints(dims)], [], output);
  }

  transpose(x: string, perm: number[], output?: string): string {
    return this.one('Transpose', [x], [attrInts('perm', perm)], output);
  }

  /** `x[..., starts:ends]` on `axes`; bounds are numbers or 1-D int64 tensors. */
  slice(x: string, starts: number[] | string, ends: number[] | string, axes: number[]): string {
    const bound = (b: number[] | string) => (typeof b === 'string' ? b : this.ints(b));
    return this.one('Slice', [x, bound(starts), bound(ends), this.ints(axes)]);
  }

  /** Dimension `axis` of `x` as a 1-D int64 tensor of one entry. */
  dim(x: string, axis: number): string {
    return this.slice(this.one('Shape', [x]), [axis], [axis + 1], [0]);
  }

  /** Dimension `axis` of `x` as an int64 scalar (what Range takes). */
  dimScalar(x: string, axis: number): string {
    return this.one('Gather', [this.one('Shape', [x]), this.int(axis)], [attrInt('axis', 0)]);
  }

  /** Adds an axis of size one at `axis` (Unsqueeze's form changed at opset 13). */
  unsqueeze(x: string, axis: number): string {
    return this.opset >= 13 ? this.one('Unsqueeze', [x, this.ints([axis])]) : this.one('Unsqueeze', [x], [attrInts('axes', [axis])]);
  }

  cast(x: string, to: number): string {
    return this.one('Cast', [x], [attrInt('to', to)]);
  }

  castFloat(x: string): string {
    return this.cast(x, this.floatType);
  }

  /** `[0, 1, …, n-1]` as int64, n a scalar tensor. */
  range(n: string): string {
    return this.one('Range', [this.int(0), n, this.int(1)]);
  }

  and(a: string, b: string): string {
    return this.one('And', [a, b]);
  }
}

/** Splits `x` [batch, n, heads·size] into heads: [batch, heads, n, size]. */
export function splitHeads(b: NodeBuilder, x: string, heads: number): string {
  return b.transpose(b.reshape(x, [0, 0, heads, -1]), [0, 2, 1, 3]);
}

/** Joins heads back: [batch, heads, n, size] → [batch, n, heads·size]. */
export function mergeHeads(b: NodeBuilder, x: string, output?: string): string {
  return b.reshape(b.transpose(x, [0, 2, 1, 3]), [0, 0, -1], output);
}

/**
 * Which keys each query row sees under a causal mask, as bool [1, 1, S, T]: key j where
 * j ≤ i + offset (offset: an int64 tensor broadcastable to [batch, 1, 1, 1], the keys before the
 * first query, e.g. the past's length); with a window, also j ≥ i + offset − window.
 */
export function causalVisible(b: NodeBuilder, q4: string, k4: string, offset: string, window?: number): string {
  const rows = b.reshape(b.range(b.dimScalar(q4, 2)), [1, 1, -1, 1]);
  const cols = b.reshape(b.range(b.dimScalar(k4, 2)), [1, 1, 1, -1]);
  const last = b.one('Add', [rows, offset]);
  let visible = b.one('Not', [b.one('Greater', [cols, last])]);
  if (window !== undefined && window > 0)
    visible = b.and(visible, b.one('Not', [b.one('Less', [cols, b.one('Sub', [last, b.int(window)])])]));
  return visible;
}

/** Keys j < length[b], as bool [batch, 1, 1, T], from int lengths [batch]. */
export function lengthVisible(b: NodeBuilder, lengths: string, k4: string): string {
  const cols = b.reshape(b.range(b.dimScalar(k4, 2)), [1, 1, 1, -1]);
  return b.one('Less', [cols, b.reshape(b.cast(lengths, INT64), [-1, 1, 1, 1])]);
}

/** A 0/1 key mask [batch, T] as bool [batch, 1, 1, T]. */
export function maskVisible(b: NodeBuilder, mask: string): string {
  return b.reshape(b.cast(mask, BOOL), [0, 1, 1, -1]);
}

export interface AttentionCore {
  /** Queries [batch, heads, S, size], keys and values [batch, kvHeads, T, size]. */
  q: string;
  k: string;
  v: string;
  heads: number;
  kvHeads: number;
  /** The scale of the scores; undefined: 1/√size. */
  scale?: number;
  /** Soft-capping of the scores before the mask (Gemma): c·tanh(x/c). */
  softcap?: number;
  /** Float terms added to the scores after soft-capping (attention bias, float masks). */
  bias: string[];
  /** Bool tensors: a key is seen where all are true. */
  visible: string[];
  /**
   * What a hidden key's score becomes: the contrib ops add their mask_filter_value to it (so a
   * row that sees no key still weighs its scores), the ONNX op and GroupQueryAttention leave
   * it out (−∞).
   */
  filter: { add: number } | { replace: number };
  /** Softmax in another float type than the activations (ONNX Attention's softmax_precision). */
  softmaxType?: number;
}

export interface CoreOutputs {
  /** Attention probabilities [batch, heads, S, T]. */
  probs: string;
  /** The per-head output [batch, heads, S, size]. */
  out: string;
  /** Scores after the scale, after soft-capping, and after bias and mask (ONNX Attention's qk outputs). */
  scaled: string;
  capped: string;
  masked: string;
}

/** Grouped-query attention: each key/value head serves heads/kvHeads query heads in a row ([k0, k0, k1, k1]). */
function repeatHeads(b: NodeBuilder, x: string, heads: number, kvHeads: number): string {
  if (heads === kvHeads) return x;
  const expanded = b.one('Expand', [b.unsqueeze(x, 2), b.ints([1, 1, heads / kvHeads, 1, 1])]);
  const shape = b.one('Concat', [b.dim(x, 0), b.ints([heads, -1]), b.dim(x, 3)], [attrInt('axis', 0)]);
  return b.one('Reshape', [expanded, shape]);
}

/** Scores, mask, Softmax and the value product of one attention op. */
export function attentionCore(b: NodeBuilder, c: AttentionCore): CoreOutputs {
  const k = repeatHeads(b, c.k, c.heads, c.kvHeads);
  const v = repeatHeads(b, c.v, c.heads, c.kvHeads);
  const product = b.one('MatMul', [c.q, b.transpose(k, [0, 1, 3, 2])]);
  const scale = c.scale !== undefined ? b.float(c.scale) : b.one('Reciprocal', [b.one('Sqrt', [b.castFloat(b.dim(c.q, 3))])]);
  const scaled = b.one('Mul', [product, scale]);
  let scores = scaled;
  if (c.softcap !== undefined && c.softcap > 0) {
    const cap = b.float(c.softcap);
    scores = b.one('Mul', [b.one('Tanh', [b.one('Div', [scores, cap])]), cap]);
  }
  const capped = scores;
  for (const term of c.bias) scores = b.one('Add', [scores, term]);
  if (c.visible.length > 0) {
    const visible = c.visible.reduce((all, v2) => b.and(all, v2));
    scores =
      'add' in c.filter
        ? b.one('Add', [scores, b.one('Where', [visible, b.float(0), b.float(c.filter.add)])])
        : b.one('Where', [visible, scores, b.float(c.filter.replace)]);
  }
  const masked = scores;
  if (c.softmaxType !== undefined && c.softmaxType !== b.floatType) scores = b.cast(scores, c.softmaxType);
  let probs = b.one('Softmax', [scores], [attrInt('axis', -1)], b.named('attention_probs'));
  const dims = [{ dimParam: 'batch' }, { dimValue: c.heads }, { dimParam: 'queries' }, { dimParam: 'keys' }];
  b.valueInfo.push({ name: probs, type: { tensorType: { elemType: c.softmaxType ?? b.floatType, shape: { dim: dims } } } });
  const exposed = probs;
  if (c.softmaxType !== undefined && c.softmaxType !== b.floatType) probs = b.castFloat(probs);
  return { probs: exposed, out: b.one('MatMul', [probs, v]), scaled, capped, masked };
}

/** One fused node being rewritten: its inputs by position, what the graph says of them, and the refusal. */
export interface FusedNode {
  node: onnx.INodeProto;
  b: NodeBuilder;
  /** Input `i`, or undefined where the node leaves it out. */
  input(i: number): string | undefined;
  /** Output `i` where the model reads it (a name), else undefined. */
  output(i: number): string | undefined;
  /** The rank the graph declares or implies for a tensor, where it tells. */
  rank(tensor: string): number | undefined;
  /** The element type of a tensor, where the graph tells. */
  elemType(tensor: string): number | undefined;
  /** A fixed dimension of a tensor, where the graph tells. */
  dim(tensor: string, axis: number): number | undefined;
  intAttr(name: string): number | undefined;
  floatAttr(name: string): number | undefined;
  intsAttr(name: string): number[] | undefined;
  stringAttr(name: string): string | undefined;
  /** Refuses the model, naming this node and what about it cannot be honoured. */
  refuse(what: string, why: string): never;
}
