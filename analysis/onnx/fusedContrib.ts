/**
 * ONNX Runtime's contrib `Attention` (BERT/GPT-2 from the transformer optimizer: one input,
 * merged Q/K/V weights) and `MultiHeadAttention` (projected Q, K, V; self or cross), rewritten
 * into the primitive ops of `fusedBuilder.ts` as ONNX Runtime's CPU kernels compute them
 * (contrib_ops/cpu/bert): masked keys get `mask_filter_value` added to their scores, a
 * unidirectional row sees the past and the new keys up to its own, present = past ++ new.
 */
import { attentionCore, causalVisible, lengthVisible, maskVisible, mergeHeads, splitHeads } from './fusedBuilder';
import type { FusedNode, NodeBuilder } from './fusedBuilder';

const defaultFilter = -10000;
const BOOL = 9;

/**
 * Which keys a key-padding mask leaves visible, by its rank: (batch) lengths of right-padded
 * keys, (batch, keys) of 0/1, (batch, queries, keys) of 0/1. Where the graph does not tell the
 * rank, or it is another form, the node is refused naming the input.
 */
function keyMask(f: FusedNode, mask: string, k4: string, role: string): string {
  const { b } = f;
  const rank = f.rank(mask);
  if (rank === 1) {
    const length = f.dim(mask, 0);
    // (2·batch) and (3·batch + 2) are 1-D too; a graph that fixes the batch tells them apart.
    const batch = f.dim(f.input(0)!, 0);
    if (length !== undefined && batch !== undefined && length !== batch)
      f.refuse(`input ${role} of ${length} entries`, `only the (batch) form of key lengths is rewritten, not (2·batch) or (3·batch + 2)`);
    return lengthVisible(b, mask, k4);
  }
  if (rank === 2) return maskVisible(b, mask);
  if (rank === 3) return b.unsqueeze(b.cast(mask, BOOL), 1);
  if (rank === undefined) f.refuse(`input ${role}`, 'the graph does not say its rank, which decides how it is read');
  f.refuse(`input ${role} of rank ${rank}`, 'only the key-padding forms (batch), (batch, keys) and (batch, queries, keys) are rewritten');
}

/** Refuses the attributes of both ops that change the computation in ways not rewritten. */
function sharedAttributes(f: FusedNode): { heads: number; scale: number | undefined; causal: boolean; filter: number } {
  const heads = f.intAttr('num_heads');
  if (!heads || heads < 1) f.refuse('attribute num_heads', 'is missing or not a positive count');
  const scale = f.floatAttr('scale');
  return {
    heads,
    scale: scale ? scale : undefined,
    causal: (f.intAttr('unidirectional') ?? 0) !== 0,
    filter: f.floatAttr('mask_filter_value') ?? defaultFilter,
  };
}

/** Keys and values after the past ones ([batch, heads, past, size] each), and the present outputs. */
function withPast(
  f: FusedNode,
  k4: string,
  v4: string,
  pastK: string | undefined,
  pastV: string | undefined,
): { k: string; v: string; offset: string } {
  const { b } = f;
  if (!pastK || !pastV) return { k: k4, v: v4, offset: b.int(0) };
  const k = b.one('Concat', [pastK, k4], [{ name: 'axis', i: 2, type: 2 }]);
  const v = b.one('Concat', [pastV, v4], [{ name: 'axis', i: 2, type: 2 }]);
  return { k, v, offset: b.dimScalar(pastK, 2) };
}

/**
 * The attention both contrib ops end with: the key mask of input `mask.index` (and the causal
 * mask), the attention bias of input 5, scores, Softmax and values, heads merged into output 0.
 */
function attend(
  f: FusedNode,
  a: { q4: string; k: string; v: string; offset: string; heads: number; scale: number | undefined; causal: boolean; filter: number },
  mask: { index: number; role: string },
): void {
  const { b } = f;
  const maskInput = f.input(mask.index);
  const visible = [
    ...(maskInput ? [keyMask(f, maskInput, a.k, mask.role)] : []),
    ...(a.causal ? [causalVisible(b, a.q4, a.k, a.offset)] : []),
  ];
  const attentionBias = f.input(5);
  const core = attentionCore(b, {
    q: a.q4,
    k: a.k,
    v: a.v,
    heads: a.heads,
    kvHeads: a.heads,
    scale: a.scale,
    bias: attentionBias ? [attentionBias] : [],
    visible,
    filter: { add: a.filter },
  });
  mergeHeads(b, core.out, f.output(0));
}

/** com.microsoft.Attention: input·weights (+ bias) split into Q, K, V by qkv_hidden_sizes or in thirds. */
export function contribAttention(f: FusedNode): void {
  const { b } = f;
  const { heads, scale, causal, filter } = sharedAttributes(f);
  if ((f.intAttr('do_rotary') ?? 0) !== 0)
    f.refuse(
      'attribute do_rotary = 1',
      "the graph does not state its frequency base or positions, and ONNX Runtime's CPU kernel does not run it either",
    );
  if ((f.intAttr('past_present_share_buffer') ?? 0) !== 0)
    f.refuse('attribute past_present_share_buffer = 1', 'a shared KV buffer is indexed by past_sequence_length at run time');
  if (f.input(6)) f.refuse('input past_sequence_length', 'it goes with a shared KV buffer');
  const [x, weights, bias] = [f.input(0)!, f.input(1)!, f.input(2)];
  let qkv = b.one('MatMul', [x, weights]);
  if (bias) qkv = b.one('Add', [qkv, bias]);
  const sizes = f.intsAttr('qkv_hidden_sizes');
  let parts: string[];
  if (sizes) {
    if (sizes.length !== 3) f.refuse(`attribute qkv_hidden_sizes [${sizes.join(', ')}]`, 'needs three sizes');
    const [dq, dk, dv] = sizes;
    parts = [b.slice(qkv, [0], [dq], [2]), b.slice(qkv, [dq], [dq + dk], [2]), b.slice(qkv, [dq + dk], [dq + dk + dv], [2])];
  } else {
    const third = b.one('Div', [b.dim(qkv, 2), b.ints([3])]);
    const twoThirds = b.one('Mul', [third, b.ints([2])]);
    parts = [b.slice(qkv, [0], third, [2]), b.slice(qkv, third, twoThirds, [2]), b.slice(qkv, twoThirds, b.dim(qkv, 2), [2])];
  }
  const [q4, k4, v4] = parts.map((p) => splitHeads(b, p, heads));
  const past = f.input(4);
  const pastKV = past ? [0, 1].map((i) => b.one('Gather', [past, b.int(i)], [{ name: 'axis', i: 0, type: 2 }])) : [undefined, undefined];
  const { k, v, offset } = withPast(f, k4, v4, pastKV[0], pastKV[1]);
  const present = f.output(1);
  if (present) b.one('Concat', [b.unsqueeze(k, 0), b.unsqueeze(v, 0)], [{ name: 'axis', i: 0, type: 2 }], present);
  attend(f, { q4, k, v, offset, heads, scale, causal, filter }, { index: 3, role: 'mask_index' });
}

/** One of the query, key and value sides of MultiHeadAttention as [batch, heads, n, size]. */
function side(
  b: NodeBuilder,
  x: string,
  heads: number,
  bias: string | undefined,
  from: string | undefined,
  to: string | undefined,
): string {
  const biased = bias && from && to ? b.one('Add', [x, b.slice(bias, from, to, [0])]) : x;
  return splitHeads(b, biased, heads);
}

/** `index` (0 Q, 1 K, 2 V) of a packed [batch, n, heads, parts, size] tensor as [batch, heads, n, size]. */
function unpack(b: NodeBuilder, packed: string, index: number): string {
  return b.transpose(b.reshape(b.slice(packed, [index], [index + 1], [3]), [0, 0, 0, -1]), [0, 2, 1, 3]);
}

/** com.microsoft.MultiHeadAttention: separate, packed QKV or packed KV inputs; keys may be [batch, heads, n, size] already. */
export function multiHeadAttention(f: FusedNode): void {
  const { b } = f;
  const { heads, scale, causal, filter } = sharedAttributes(f);
  if (f.input(8)) f.refuse('input past_sequence_length', 'it goes with a shared KV buffer');
  if (f.input(9)) f.refuse('input cache_indirection', 'beam-search cache indirection reorders keys at run time');
  if (f.output(3)) f.refuse('output qk', 'the rewrite does not reproduce it');
  const [query, key, value, bias] = [f.input(0)!, f.input(1), f.input(2), f.input(3)];
  const qRank = f.rank(query);
  const kRank = key ? f.rank(key) : undefined;
  if (qRank === undefined || (key && kRank === undefined))
    f.refuse(`input ${qRank === undefined ? 'query' : 'key'}`, 'the graph does not say its rank, which decides its layout');
  let q4: string;
  let k4: string;
  let v4: string;
  if (!key) {
    if (qRank !== 5) f.refuse(`input query of rank ${qRank} without a key`, 'only packed QKV [batch, n, heads, 3, size] comes without one');
    if (bias) f.refuse('input bias with packed QKV', 'the rewrite does not add it');
    [q4, k4, v4] = [0, 1, 2].map((i) => unpack(b, query, i));
  } else {
    if (qRank !== 3) f.refuse(`input query of rank ${qRank}`, 'with a separate key, the query is [batch, n, hidden]');
    const dq = b.dim(query, 2);
    q4 = side(b, query, heads, bias, b.ints([0]), dq);
    if (kRank === 5) {
      if (value || bias) f.refuse(`input ${value ? 'value' : 'bias'} with packed KV`, 'packed KV [batch, n, heads, 2, size] comes alone');
      [k4, v4] = [0, 1].map((i) => unpack(b, key, i));
    } else if (kRank === 4) {
      if (!value || f.rank(value) !== 4) f.refuse('input value', 'with a key of [batch, heads, n, size], the value takes that form too');
      if (bias) f.refuse('input bias with keys of [batch, heads, n, size]', 'ONNX Runtime adds no bias to keys in that form');
      [k4, v4] = [key, value];
    } else if (kRank === 3 && value) {
      const dk = b.one('Add', [dq, b.dim(key, 2)]);
      k4 = side(b, key, heads, bias, dq, dk);
      v4 = side(b, value, heads, bias, dk, b.ints([Number.MAX_SAFE_INTEGER]));
    } else
      f.refuse(`input key of rank ${kRank}`, 'it is [batch, n, hidden], packed KV, or [batch, heads, n, size] with a value of that form');
  }
  const { k, v, offset } = withPast(f, k4, v4, f.input(6), f.input(7));
  if (f.output(1)) b.one('Identity', [k], [], f.output(1));
  if (f.output(2)) b.one('Identity', [v], [], f.output(2));
  attend(f, { q4, k, v, offset, heads, scale, causal, filter }, { index: 4, role: 'key_padding_mask' });
}
