/**
 * ONNX Runtime's contrib `GroupQueryAttention` (the Llama/Mistral/Phi exports of onnxruntime-genai
 * and the transformer optimizer) rewritten into primitive ops as its CPU kernel computes it
 * (contrib_ops/cpu/bert/gqa_attention_base.h):
 * - each example b has total_b = seqlens_k[b] + 1 tokens; on the first prompt
 *   (sequence length = total_sequence_length) its past length is 0, else total_b − S;
 * - keys are the past buffer followed by the new keys; a past key counts where its index is
 *   below the example's past length, a new key sits at absolute position past + its index;
 * - query row i (absolute position past + i) sees keys up to its own position, and with
 *   local_window_size W only the last W of them (its own included, as ONNX Runtime 1.30 counts);
 *   softcap caps the scores first;
 * - the rotary embedding (do_rotary) turns queries and new keys by cos_cache/sin_cache at
 *   their absolute positions (halves, or interleaved pairs with rotary_interleaved);
 * - each key/value head serves num_heads / kv_num_heads query heads in a row.
 * present_key/value are the past followed by the new keys; ONNX Runtime packs an example's new
 * keys right after its own past instead, which is the same layout wherever the examples of a
 * batch have pasts of one length (the runner batches them so). On a first prompt ONNX Runtime
 * lets padded query rows see padded keys; here they see keys up to their own position too, so
 * only padded rows (which no analysis reads) can differ.
 */
import { attentionCore, mergeHeads, splitHeads } from './fusedBuilder';
import type { FusedNode, NodeBuilder } from './fusedBuilder';

const axis = (i: number) => ({ name: 'axis', i, type: 2 });

/** Turns x [batch, heads, S, size] by the rotary embedding at `positions` [batch, S]. */
function rotate(b: NodeBuilder, x: string, cosCache: string, sinCache: string, positions: string, interleaved: boolean): string {
  const gather = (cache: string) => b.unsqueeze(b.one('Gather', [cache, positions], [axis(0)]), 1);
  const [cos, sin] = [gather(cosCache), gather(sinCache)];
  const half = b.dim(cosCache, 1);
  const rotary = b.one('Mul', [half, b.ints([2])]);
  const rest = b.slice(x, rotary, [Number.MAX_SAFE_INTEGER], [3]);
  const turn = (re: string, im: string, c: string, s: string) => [
    b.one('Sub', [b.one('Mul', [re, c]), b.one('Mul', [im, s])]),
    b.one('Add', [b.one('Mul', [im, c]), b.one('Mul', [re, s])]),
  ];
  let turned: string;
  if (!interleaved) {
    const [re, im] = turn(b.slice(x, [0], half, [3]), b.slice(x, half, rotary, [3]), cos, sin);
    turned = b.one('Concat', [re, im], [axis(3)]);
  } else {
    // Pairs (x0, x1), (x2, x3), …: [batch, heads, S, rotary/2, 2].
    const pairs = b.reshape(b.slice(x, [0], rotary, [3]), [0, 0, 0, -1, 2]);
    const [c5, s5] = [b.unsqueeze(cos, 4), b.unsqueeze(sin, 4)];
    const [re, im] = turn(b.slice(pairs, [0], [1], [4]), b.slice(pairs, [1], [2], [4]), c5, s5);
    turned = b.reshape(b.one('Concat', [re, im], [axis(4)]), [0, 0, 0, -1]);
  }
  return b.one('Concat', [turned, rest], [axis(3)]);
}

export function groupQueryAttention(f: FusedNode): void {
  const { b } = f;
  const heads = f.intAttr('num_heads');
  const kvHeads = f.intAttr('kv_num_heads');
  if (!heads || !kvHeads || heads < 1 || kvHeads < 1 || heads % kvHeads !== 0) {
    f.refuse(
      `attributes num_heads = ${heads} and kv_num_heads = ${kvHeads}`,
      'the query heads must be a whole multiple of the key/value heads',
    );
  }
  if ((f.intAttr('smooth_softmax') ?? 0) !== 0)
    f.refuse('attribute smooth_softmax = 1', 'its softmax adds 1 to the denominator, so the probabilities do not sum to 1');
  if ((f.intAttr('qk_output') ?? 0) !== 0 || f.output(3))
    f.refuse('attribute qk_output (output output_qk)', 'the rewrite does not reproduce it');
  if ((f.intAttr('sliding_window_cache') ?? 0) !== 0)
    f.refuse('attribute sliding_window_cache = 1', 'a window-sized cache is laid out by evictions at run time');
  for (const name of ['k_quant_type', 'v_quant_type']) {
    const value = f.stringAttr(name);
    if (value && value !== 'NONE') f.refuse(`attribute ${name} = ${value}`, 'a quantized KV cache is not rewritten');
  }
  if (f.intAttr('kv_cache_bit_width')) f.refuse('attribute kv_cache_bit_width', 'a quantized KV cache is not rewritten');
  const refusedInputs: [number, string, string][] = [
    [9, 'position_ids', 'the kernel reads only part of it on a first prompt'],
    [11, 'head_sink', 'a sink adds to the softmax denominator, so the probabilities do not sum to 1'],
    [12, 'k_scale', 'a quantized KV cache is not rewritten'],
    [13, 'v_scale', 'a quantized KV cache is not rewritten'],
    [14, 'q_norm_weight', 'the per-head RMS norm inside the op is not rewritten'],
    [15, 'k_norm_weight', 'the per-head RMS norm inside the op is not rewritten'],
  ];
  for (const [i, name, why] of refusedInputs) if (f.input(i)) f.refuse(`input ${name}`, why);
  const causal = (f.intAttr('causal') ?? 1) !== 0;
  const window = f.intAttr('local_window_size') ?? -1;
  const rotary = (f.intAttr('do_rotary') ?? 0) !== 0;
  const [cosCache, sinCache] = [f.input(7), f.input(8)];
  if (rotary && (!cosCache || !sinCache)) f.refuse('attribute do_rotary = 1', 'it needs the cos_cache and sin_cache inputs');

  const query = f.input(0)!;
  let [q, k, v] = [query, f.input(1), f.input(2)];
  if (!k || !v) {
    // Packed QKV: [batch, S, (heads + 2·kvHeads)·size].
    const size = b.one('Div', [b.dim(query, 2), b.ints([heads + 2 * kvHeads])]);
    const at = (n: number) => b.one('Mul', [size, b.ints([n])]);
    [q, k, v] = [
      b.slice(query, [0], at(heads), [2]),
      b.slice(query, at(heads), at(heads + kvHeads), [2]),
      b.slice(query, at(heads + kvHeads), [Number.MAX_SAFE_INTEGER], [2]),
    ];
  }
  let [q4, k4] = [splitHeads(b, q, heads), splitHeads(b, k, kvHeads)];
  const v4 = splitHeads(b, v, kvHeads);

  const S = b.dimScalar(query, 1);
  const total = b.one('Add', [b.cast(f.input(5)!, 7), b.int(1)]);
  const firstPrompt = b.one('Equal', [S, b.reshape(b.cast(f.input(6)!, 7), [])]);
  const past = b.reshape(b.one('Where', [firstPrompt, b.int(0), b.one('Sub', [total, S])]), [-1, 1, 1, 1]);
  const rows = b.reshape(b.range(S), [1, 1, -1, 1]);
  const queryAt = b.one('Add', [rows, past]);
  if (rotary) {
    const positions = b.reshape(queryAt, [0, -1]);
    q4 = rotate(b, q4, cosCache!, sinCache!, positions, (f.intAttr('rotary_interleaved') ?? 0) !== 0);
    k4 = rotate(b, k4, cosCache!, sinCache!, positions, (f.intAttr('rotary_interleaved') ?? 0) !== 0);
  }
  const [pastK, pastV] = [f.input(3), f.input(4)];
  const keys = pastK ? b.one('Concat', [pastK, k4], [axis(2)]) : k4;
  const values = pastV ? b.one('Concat', [pastV, v4], [axis(2)]) : v4;
  if (f.output(1)) b.one('Identity', [keys], [], f.output(1));
  if (f.output(2)) b.one('Identity', [values], [], f.output(2));

  // Key j of the buffer: a past key where j < the past buffer's length, else new key j − buffer.
  const buffer = pastK ? b.dimScalar(pastK, 2) : b.int(0);
  const cols = b.reshape(b.range(b.dimScalar(keys, 2)), [1, 1, 1, -1]);
  const isNew = b.one('Not', [b.one('Less', [cols, buffer])]);
  const keyAt = b.one('Where', [isNew, b.one('Add', [b.one('Sub', [cols, buffer]), past]), cols]);
  const visible = [b.one('Or', [isNew, b.one('Less', [cols, past])])];
  if (causal) visible.push(b.one('Not', [b.one('Greater', [keyAt, queryAt])]));
  if (causal && window > 0) visible.push(b.one('Not', [b.one('Less', [keyAt, b.one('Sub', [queryAt, b.int(window - 1)])])]));
  const scale = f.floatAttr('scale');
  const softcap = f.floatAttr('softcap');
  const bias = f.input(10);
  const core = attentionCore(b, {
    q: q4,
    k: keys,
    v: values,
    heads,
    kvHeads,
    scale: scale ? scale : undefined,
    softcap: softcap ? softcap : undefined,
    bias: bias ? [bias] : [],
    visible,
    filter: { replace: -Infinity },
  });
  mergeHeads(b, core.out, f.output(0));
}
