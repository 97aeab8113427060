// Test helper: a small BERT-like encoder with seeded random weights, written as ONNX in memory (no PyTorch), for long-sequence tests.
import { writeFileSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

export interface RandomEncoder {
  layers: number;
  heads: number;
  hidden: number;
  positions: number;
  vocab: number;
  seed: number;
}

/**
 * Writes the encoder to `path`: token and position embeddings, then per layer pre-LayerNorm
 * self-attention (per-head Q/K/V, scaled scores plus the padding mask, Softmax, output
 * projection) with a residual; inputs input_ids and attention_mask [batch, sequence], output the
 * hidden states. Weights are normal with a spread that gives peaked, varied attention (not
 * near-uniform as an untrained model's), so that similarities vary from row to row.
 */
export function writeRandomEncoder(path: string, m: RandomEncoder): void {
  const rand = pseudoRandom(m.seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const D = m.hidden;
  const dh = D / m.heads;
  const init: onnx.ITensorProto[] = [];
  const float = (name: string, dims: number[], f: () => number) => {
    const values = new Float32Array(dims.reduce((a, b) => a * b, 1)).map(f);
    init.push({ name, dataType: 1, dims, rawData: new Uint8Array(values.buffer) });
    return name;
  };
  const ints = (name: string, values: number[]) => (init.push({ name, dataType: 7, dims: [values.length], int64Data: values }), name);
  const int64Scalar = (name: string, value: number) => (init.push({ name, dataType: 7, dims: [], int64Data: [value] }), name);
  const scalar = (name: string, value: number) => (init.push({ name, dataType: 1, dims: [], floatData: [value] }), name);
  const nodes: onnx.INodeProto[] = [];
  let k = 0;
  const op = (opType: string, input: string[], attribute: onnx.IAttributeProto[] = []) => {
    const out = `${opType.toLowerCase()}_${k++}`;
    nodes.push({ opType, input, output: [out], name: out, attribute });
    return out;
  };
  const perm = (v: number[]): onnx.IAttributeProto => ({ name: 'perm', type: 7, ints: v });
  const axis = (v: number): onnx.IAttributeProto => ({ name: 'axis', type: 2, i: v });
  const tokens = op('Gather', [float('token_embedding', [m.vocab, D], normal), 'input_ids']);
  const length = op('Gather', [op('Shape', ['input_ids']), ints('one_index', [1])], [axis(0)]);
  const positions = op('Range', [int64Scalar('zero', 0), op('Squeeze', [length, ints('zero_axis', [0])]), int64Scalar('step', 1)]);
  let x = op('Add', [tokens, op('Gather', [float('position_embedding', [m.positions, D], normal), positions])]);
  const maskAdd = op('Mul', [
    op('Sub', [scalar('one', 1), op('Cast', ['attention_mask'], [{ name: 'to', type: 2, i: 1 }])]),
    scalar('minus', -10000),
  ]);
  const mask4 = op('Unsqueeze', [maskAdd, ints('mask_axes', [1, 2])]);
  const split = ints('split_heads', [0, 0, m.heads, dh]);
  const merge = ints('merge_heads', [0, 0, D]);
  const std = 0.25 * Math.sqrt(32 / D);
  for (let l = 0; l < m.layers; l++) {
    const h = op('LayerNormalization', [x, float(`ln${l}.g`, [D], () => 1), float(`ln${l}.b`, [D], () => 0)], [axis(-1)]);
    const heads = (w: string, order: number[]) =>
      op('Transpose', [op('Reshape', [op('MatMul', [h, float(w, [D, D], () => std * normal())]), split])], [perm(order)]);
    const q = heads(`q${l}`, [0, 2, 1, 3]);
    const kT = heads(`k${l}`, [0, 2, 3, 1]);
    const v = heads(`v${l}`, [0, 2, 1, 3]);
    const scores = op('Add', [op('Mul', [op('MatMul', [q, kT]), scalar(`scale${l}`, 1 / Math.sqrt(dh))]), mask4]);
    const probs = op('Softmax', [scores], [axis(-1)]);
    const context = op('Reshape', [op('Transpose', [op('MatMul', [probs, v])], [perm([0, 2, 1, 3])]), merge]);
    x = op('Add', [x, op('MatMul', [context, float(`o${l}`, [D, D], () => normal() / Math.sqrt(D))])]);
  }
  nodes.push({ opType: 'Identity', input: [x], output: ['hidden_states'], name: 'hidden_states' });
  const info = (name: string, elemType: number, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'attention-reuse-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'random_encoder',
      node: nodes,
      initializer: init,
      input: [info('input_ids', 7, ['batch', 'sequence']), info('attention_mask', 7, ['batch', 'sequence'])],
      output: [info('hidden_states', 1, ['batch', 'sequence', D])],
    },
  }).finish();
  writeFileSync(path, bytes);
}

/** JSONL of `count` examples of `length` seeded random ids (every token real). */
export function randomIdLines(count: number, length: number, vocab: number, seed: number): string {
  const rand = pseudoRandom(seed);
  return (
    Array.from({ length: count }, () => JSON.stringify({ input_ids: Array.from({ length }, () => Math.floor(rand() * vocab)) })).join(
      '\n',
    ) + '\n'
  );
}
