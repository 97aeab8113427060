/**
 * The standard `Attention` op (ONNX opset 23 and 24), rewritten into primitive ops as its
 * specification's reference computes it: Q, K, V of [batch, n, heads·size] (with q_num_heads
 * and kv_num_heads) or [batch, heads, n, size]; keys and values after past_key/past_value;
 * scores scaled (1/√size unless `scale`), soft-capped, then the bool mask (false hides a key) or
 * the float mask added and, with is_causal, keys beyond row i + past hidden (upper-left aligned
 * without a past); each key/value head serves q_num_heads / kv_num_heads query heads in a row.
 */
import { attentionCore, causalVisible, mergeHeads, splitHeads } from './fusedBuilder';
import type { FusedNode } from './fusedBuilder';

const BOOL = 9;
const axis = (i: number) => ({ name: 'axis', i, type: 2 });

export function onnxAttention(f: FusedNode): void {
  const { b } = f;
  if (f.input(6)) f.refuse('input nonpad_kv_seqlen', 'a per-example count of cached keys is not rewritten');
  const [Q, K, V] = [f.input(0)!, f.input(1)!, f.input(2)!];
  const qHeadsAttr = f.intAttr('q_num_heads');
  const kvHeadsAttr = f.intAttr('kv_num_heads');
  // Where the graph does not state the rank, the head attributes say 3-D (they are required there).
  const rank = f.rank(Q) ?? (qHeadsAttr ? 3 : 4);
  if (rank !== 3 && rank !== 4) f.refuse(`input Q of rank ${rank}`, 'Q, K and V are 3-D or 4-D');
  const heads = qHeadsAttr ?? (rank === 4 ? f.dim(Q, 1) : undefined);
  const kvHeads = kvHeadsAttr ?? (rank === 4 ? f.dim(K, 1) : undefined);
  if (!heads || !kvHeads || heads % kvHeads !== 0) {
    f.refuse(
      'attributes q_num_heads and kv_num_heads',
      heads && kvHeads
        ? 'the query heads must be a whole multiple of the key/value heads'
        : 'the graph says neither them nor the heads of Q and K',
    );
  }
  const [q4, k4, v4] = rank === 3 ? [splitHeads(b, Q, heads), splitHeads(b, K, kvHeads), splitHeads(b, V, kvHeads)] : [Q, K, V];
  const [pastK, pastV] = [f.input(4), f.input(5)];
  const k = pastK ? b.one('Concat', [pastK, k4], [axis(2)]) : k4;
  const v = pastV ? b.one('Concat', [pastV, v4], [axis(2)]) : v4;
  if (f.output(1)) b.one('Identity', [k], [], f.output(1));
  if (f.output(2)) b.one('Identity', [v], [], f.output(2));

  const mask = f.input(3);
  const visible: string[] = [];
  const bias: string[] = [];
  if (mask) {
    const type = f.elemType(mask);
    if (type === undefined) f.refuse('input attn_mask', 'the graph does not say whether it is bool (hides keys) or float (added)');
    (type === BOOL ? visible : bias).push(mask);
  }
  if ((f.intAttr('is_causal') ?? 0) !== 0) visible.push(causalVisible(b, q4, k, pastK ? b.dimScalar(pastK, 2) : b.int(0)));
  const scale = f.floatAttr('scale');
  const softcap = f.floatAttr('softcap');
  const precision = f.intAttr('softmax_precision');
  const core = attentionCore(b, {
    q: q4,
    k,
    v,
    heads,
    kvHeads,
    scale: scale ? scale : undefined,
    softcap: softcap ? softcap : undefined,
    bias,
    visible,
    filter: { replace: -Infinity },
    softmaxType: precision ? precision : undefined,
  });
  const out = f.output(0);
  if (rank === 3) mergeHeads(b, core.out, out);
  else b.one('Identity', [core.out], [], out);
  const qk = f.output(3);
  if (qk) {
    const mode = f.intAttr('qk_matmul_output_mode') ?? 0;
    const pick = [core.scaled, core.capped, core.masked, core.probs][mode];
    if (!pick) f.refuse(`attribute qk_matmul_output_mode = ${mode}`, 'it is 0 to 3');
    b.one(
      mode === 3 && precision && precision !== b.floatType ? 'Cast' : 'Identity',
      [pick],
      mode === 3 && precision && precision !== b.floatType ? [{ name: 'to', i: b.floatType, type: 2 }] : [],
      qk,
    );
  }
}
