// Protects the rewrite of fused attention: every output of the rewritten graph equals ONNX Runtime's fused kernel, and refusals name what they refuse.
import { strict as assert } from 'node:assert';
import * as ort from 'onnxruntime-node';
import { describe, it } from 'node:test';
import { InputError } from '../../analysis/errors';
import { openAttentionModel } from '../../analysis/onnx/inspect';
import { decodeModel } from '../../analysis/onnx/model';
import { unfuseAttention } from '../../analysis/onnx/unfuse';
import { fusedFeeds, fusedModel, runOnce } from '../helpers/fusedModels';
import type { FusedCase, Port } from '../helpers/fusedModels';

const f = (name: string, ...shape: (number | string)[]): Port => ({ name, shape });
const i32 = (name: string, ...shape: (number | string)[]): Port => ({ name, shape, type: 'int32' });
const sizes = { B: 2, S: 5, L: 4, P: 3 };

/** Rows of [batch, S, …] outputs whose query position is real in a right-padded batch of lengths `real`. */
const realRows = (real: number[]) => (ix: number[]) => ix[1] < real[ix[0]];

// ONNX Runtime 1.30's CPU kernels crash on a contrib Attention without its (optional) bias,
// want head sizes of 16 for GroupQueryAttention's rotary embedding, and run no packed QKV or KV
// of MultiHeadAttention (those are checked against the unpacked kernel below).
/** GroupQueryAttention with separate q, k, v, a past of P positions for 2 key heads, and rotary tables. */
const gqaAfterPast = [
  f('q', 'B', 'S', 64),
  f('k', 'B', 'S', 32),
  f('v', 'B', 'S', 32),
  f('pk', 'B', 2, 'P', 16),
  f('pv', 'B', 2, 'P', 16),
  i32('seqlens_k', 'B'),
  i32('total', 1),
  f('cos', 16, 8),
  f('sin', 16, 8),
];

const cases: FusedCase[] = [
  {
    title: 'contrib Attention: merged weights and bias, 0/1 key mask with padding',
    op: 'Attention',
    inputs: [f('x', 'B', 'S', 16), f('w', 16, 48), f('bias', 48), i32('mask', 'B', 'S')],
    outputs: ['y'],
    attributes: { num_heads: 2 },
    sizes,
    fixed: { mask: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0] },
  },
  {
    title: 'contrib Attention: key lengths, qkv_hidden_sizes with a wider V, scale and mask_filter_value',
    op: 'Attention',
    inputs: [f('x', 'B', 'S', 8), f('w', 8, 32), f('bias', 32), i32('lengths', 'B')],
    outputs: ['y'],
    attributes: { num_heads: 2, qkv_hidden_sizes: [8, 8, 16], scale: 0.3, mask_filter_value: -1000.0 },
    sizes,
    fixed: { lengths: [5, 3] },
  },
  {
    title: 'contrib Attention: unidirectional with a past, present and a 0/1 mask over past and new keys',
    op: 'Attention',
    inputs: [f('x', 'B', 'S', 8), f('w', 8, 24), f('bias', 24), i32('mask', 'B', 'T'), f('past', 2, 'B', 2, 'P', 4)],
    outputs: ['y', 'present'],
    attributes: { num_heads: 2, unidirectional: 1 },
    sizes: { ...sizes, T: 8 },
    fixed: { mask: [1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1] },
  },
  {
    // ONNX Runtime refuses a past together with attention_bias.
    title: 'contrib Attention: 3-D mask and attention bias',
    op: 'Attention',
    inputs: [f('x', 'B', 'S', 8), f('w', 8, 24), f('bias', 24), i32('mask', 'B', 'S', 'S'), '', f('attn_bias', 1, 2, 'S', 'S')],
    outputs: ['y'],
    attributes: { num_heads: 2 },
    sizes,
  },
  {
    title: 'MultiHeadAttention: cross-attention with bias and a 0/1 key mask',
    op: 'MultiHeadAttention',
    inputs: [f('q', 'B', 'S', 8), f('k', 'B', 'L', 8), f('v', 'B', 'L', 8), f('bias', 24), i32('mask', 'B', 'L')],
    outputs: ['y'],
    attributes: { num_heads: 2 },
    sizes,
    fixed: { mask: [1, 1, 1, 1, 1, 1, 0, 0] },
  },
  {
    title: 'MultiHeadAttention: keys and values already [batch, heads, n, size]',
    op: 'MultiHeadAttention',
    inputs: [f('q', 'B', 'S', 8), f('k', 'B', 2, 'L', 4), f('v', 'B', 2, 'L', 4)],
    outputs: ['y'],
    attributes: { num_heads: 2 },
    sizes,
  },
  {
    title: 'MultiHeadAttention: unidirectional self-attention with past, present and attention bias',
    op: 'MultiHeadAttention',
    inputs: [
      f('q', 'B', 'S', 8),
      f('k', 'B', 'S', 8),
      f('v', 'B', 'S', 8),
      f('bias', 24),
      '',
      f('attn_bias', 'B', 2, 'S', 'T'),
      f('pk', 'B', 2, 'P', 4),
      f('pv', 'B', 2, 'P', 4),
    ],
    outputs: ['y', 'present_k', 'present_v'],
    attributes: { num_heads: 2, unidirectional: 1 },
    sizes: { ...sizes, T: 8 },
  },
  {
    title: 'GroupQueryAttention: first prompt, 4 query heads over 2 key/value heads',
    op: 'GroupQueryAttention',
    inputs: [f('q', 'B', 'S', 32), f('k', 'B', 'S', 16), f('v', 'B', 'S', 16), '', '', i32('seqlens_k', 'B'), i32('total', 1)],
    outputs: ['y', 'present_k', 'present_v'],
    attributes: { num_heads: 4, kv_num_heads: 2 },
    sizes,
    fixed: { seqlens_k: [4, 4], total: [5] },
  },
  {
    title: 'GroupQueryAttention: packed QKV, rotary halves, softcap, local window, right padding',
    op: 'GroupQueryAttention',
    inputs: [f('qkv', 'B', 'S', 128), '', '', '', '', i32('seqlens_k', 'B'), i32('total', 1), f('cos', 16, 8), f('sin', 16, 8)],
    outputs: ['y'],
    attributes: { num_heads: 4, kv_num_heads: 2, do_rotary: 1, softcap: 2.5, local_window_size: 2 },
    sizes,
    fixed: { seqlens_k: [4, 2], total: [5] },
    compare: { y: realRows([5, 3]) },
  },
  {
    // ONNX Runtime runs several new tokens after a past only for a batch of one.
    title: 'GroupQueryAttention: two tokens after a past, interleaved rotary, scale',
    op: 'GroupQueryAttention',
    inputs: gqaAfterPast,
    outputs: ['y', 'present_k', 'present_v'],
    attributes: { num_heads: 4, kv_num_heads: 2, do_rotary: 1, rotary_interleaved: 1, scale: 0.2 },
    sizes: { B: 1, S: 2, P: 3 },
    fixed: { seqlens_k: [4], total: [5] },
  },
  {
    // The past buffer holds 3 positions of which the example uses 2: its new keys follow those
    // two. ONNX Runtime writes them right after them in present_key; here present is past ++ new,
    // so only y is compared. (ONNX Runtime 1.30 computes another, wrong, attention for a past
    // when the node has no present outputs; real models always have them.)
    title: 'GroupQueryAttention: a past shorter than its buffer, rotary',
    op: 'GroupQueryAttention',
    inputs: gqaAfterPast,
    outputs: ['y', 'present_k', 'present_v'],
    attributes: { num_heads: 4, kv_num_heads: 2, do_rotary: 1 },
    sizes: { B: 1, S: 2, P: 3 },
    fixed: { seqlens_k: [3], total: [4] },
    compare: { y: () => true },
  },
  {
    title: 'ONNX Attention (opset 23): 3-D grouped-query, causal, bool mask',
    op: 'Attention23',
    inputs: [f('q', 'B', 'S', 16), f('k', 'B', 'S', 8), f('v', 'B', 'S', 8), { name: 'mask', shape: ['B', 1, 'S', 'S'], type: 'bool' }],
    outputs: ['y'],
    attributes: { q_num_heads: 4, kv_num_heads: 2, is_causal: 1 },
    sizes,
  },
  {
    title: 'ONNX Attention (opset 23): 4-D with past, float mask, scale, softcap and the probabilities as qk output',
    op: 'Attention23',
    inputs: [
      f('q', 'B', 2, 'S', 4),
      f('k', 'B', 2, 'L', 4),
      f('v', 'B', 2, 'L', 4),
      f('mask', 'S', 'T'),
      f('pk', 'B', 2, 'P', 4),
      f('pv', 'B', 2, 'P', 4),
    ],
    outputs: ['y', 'present_k', 'present_v', 'qk'],
    attributes: { scale: 0.4, softcap: 3.0, qk_matmul_output_mode: 3 },
    sizes: { ...sizes, T: 7 },
  },
];

/** Every index of a tensor of these dims, row-major. */
function* indices(dims: readonly number[]): Generator<number[]> {
  const at = dims.map(() => 0);
  const total = dims.reduce((a, b) => a * b, 1);
  for (let n = 0; n < total; n++) {
    yield [...at];
    for (let d = dims.length - 1; d >= 0; d--)
      if (++at[d] < dims[d]) break;
      else at[d] = 0;
  }
}

describe('the rewrite of fused attention computes what ONNX Runtime computes', () => {
  for (const c of cases) {
    it(c.title, async () => {
      const bytes = fusedModel(c);
      const feeds = fusedFeeds(c);
      // The fixed mask of a 3-D mask case: each query sees some keys.
      if (c.inputs.some((p) => p !== '' && p.name === 'mask' && p.shape.length === 3)) {
        const m = feeds.mask.data as Int32Array;
        m.forEach((_, i) => (m[i] = i % 3 === 2 ? 0 : 1));
      }
      const fused = await runOnce(bytes, feeds);
      const unfused = unfuseAttention(decodeModel(bytes, c.title), bytes, c.title);
      assert.ok(unfused, 'the fused node was not rewritten');
      const rewritten = await runOnce(unfused.bytes, feeds);
      for (const name of c.outputs.filter((o) => o)) {
        if (c.compare && !c.compare[name]) continue;
        const [a, b] = [fused[name], rewritten[name]];
        assert.deepEqual([...b.dims], [...a.dims], `${name}: the rewrite's shape differs from ONNX Runtime's`);
        const keep = c.compare?.[name] ?? (() => true);
        let n = 0;
        for (const ix of indices(a.dims)) {
          const x = Number(a.data[n]);
          const y = Number(b.data[n++]);
          if (keep(ix))
            assert.ok(
              Math.abs(x - y) <= 1e-4 * Math.max(1, Math.abs(x)),
              `${name}[${ix}] = ${y}, ONNX Runtime's ${x}: the rewrite computes another attention`,
            );
        }
      }
      // And the finder sees the rewritten attention, with the heads of the op.
      const model = openAttentionModel(bytes, c.title);
      assert.deepEqual(model.unfused, [`${c.op === 'Attention23' ? 'ai.onnx.Attention' : `com.microsoft.${c.op}`} ×1`]);
      assert.equal(model.stacks.flatMap((s) => s.layers).length, 1, 'one attention layer');
      const heads = Number(c.attributes.num_heads ?? c.attributes.q_num_heads ?? 2);
      assert.equal(model.stacks[0].layers[0].heads, heads, "heads from the rewrite's head split");
      // Queries and keys from separate graph inputs are cross-attention, which is never causal.
      const causal = c.attributes.unidirectional === 1 || c.attributes.is_causal === 1 || c.op === 'GroupQueryAttention';
      if (model.stacks[0].kind === 'self') assert.equal(model.stacks[0].causal, causal, "causal from the rewrite's mask");
    });
  }
});

describe('packed MultiHeadAttention inputs, which the CPU kernel does not run, equal the unpacked kernel', () => {
  const separate: FusedCase = {
    title: 'separate',
    op: 'MultiHeadAttention',
    inputs: [f('q', 'B', 'S', 8), f('k', 'B', 'S', 8), f('v', 'B', 'S', 8), '', i32('lengths', 'B')],
    outputs: ['y'],
    attributes: { num_heads: 2 },
    sizes,
    fixed: { lengths: [5, 2] },
  };
  /** [batch, S, heads·size] tensors interleaved as [batch, S, heads, parts, size]. */
  function pack(parts: Float32Array[], B: number, S: number, heads: number, size: number): Float32Array {
    const out = new Float32Array(parts.length * B * S * heads * size);
    let n = 0;
    for (let b = 0; b < B; b++)
      for (let s = 0; s < S; s++)
        for (let h = 0; h < heads; h++)
          for (const p of parts) for (let d = 0; d < size; d++) out[n++] = p[((b * S + s) * heads + h) * size + d];
    return out;
  }
  for (const packedKV of [false, true]) {
    it(packedKV ? 'packed KV [batch, n, heads, 2, size]' : 'packed QKV [batch, n, heads, 3, size]', async () => {
      const feeds = fusedFeeds(separate);
      const expected = (await runOnce(fusedModel(separate), feeds)).y;
      const data = (name: string) => feeds[name].data as Float32Array;
      const c: FusedCase = packedKV
        ? { ...separate, inputs: [f('q', 'B', 'S', 8), f('kv', 'B', 'S', 2, 2, 4), '', '', i32('lengths', 'B')] }
        : { ...separate, inputs: [f('qkv', 'B', 'S', 2, 3, 4), '', '', '', i32('lengths', 'B')] };
      const packedFeeds: Record<string, ort.Tensor> = { ...fusedFeeds(c), lengths: feeds.lengths };
      if (packedKV) {
        packedFeeds.q = feeds.q;
        packedFeeds.kv = new ort.Tensor('float32', pack([data('k'), data('v')], 2, 5, 2, 4), [2, 5, 2, 2, 4]);
      } else packedFeeds.qkv = new ort.Tensor('float32', pack([data('q'), data('k'), data('v')], 2, 5, 2, 4), [2, 5, 2, 3, 4]);
      const bytes = fusedModel(c);
      const got = (await runOnce(unfuseAttention(decodeModel(bytes, c.title), bytes, c.title)!.bytes, packedFeeds)).y;
      const [a, b] = [expected.data as Float32Array, got.data as Float32Array];
      a.forEach((x, i) =>
        assert.ok(Math.abs(x - b[i]) <= 1e-4, `y[${i}] = ${b[i]}, the unpacked kernel's ${x}: the packed layout is read wrong`),
      );
    });
  }
});

describe('what the rewrite cannot honour is refused by name', () => {
  const refusals: [string, Partial<FusedCase>, RegExp][] = [
    [
      'contrib Attention with do_rotary',
      { attributes: { num_heads: 2, do_rotary: 1 } },
      /com\.microsoft\.Attention "fused" has attribute do_rotary = 1, which this tool cannot rewrite/,
    ],
    [
      'contrib Attention with a shared KV buffer',
      { attributes: { num_heads: 2, past_present_share_buffer: 1 } },
      /attribute past_present_share_buffer = 1/,
    ],
    [
      'contrib Attention with a 4-D mask',
      { inputs: [f('x', 'B', 'S', 8), f('w', 8, 24), '', i32('m', 'B', 1, 8, 8)] },
      /has input mask_index of rank 4, which this tool cannot rewrite/,
    ],
    [
      'GroupQueryAttention with smooth_softmax',
      { op: 'GroupQueryAttention', attributes: { num_heads: 2, kv_num_heads: 1, smooth_softmax: 1 } },
      /attribute smooth_softmax = 1.*do not sum to 1/,
    ],
  ];
  for (const [title, edit, pattern] of refusals) {
    it(title, () => {
      const c: FusedCase = {
        title,
        op: 'Attention',
        inputs: [f('x', 'B', 'S', 8), f('w', 8, 24)],
        outputs: ['y'],
        attributes: { num_heads: 2 },
        sizes,
        ...edit,
      };
      const bytes = fusedModel(c);
      assert.throws(
        () => openAttentionModel(bytes, 'm.onnx'),
        (err: Error) =>
          err instanceof InputError && pattern.test(err.message) && /export the model without attention fusion/.test(err.message),
      );
    });
  }
});
