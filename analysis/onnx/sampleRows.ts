/**
 * `--rows R`: the graph gathers R query rows of every attention tensor before the model
 * outputs them, so that a run hands out L·H·R·n values per example instead of L·H·n² (ONNX
 * Runtime still computes each layer's n × n probabilities, one layer at a time, as the plain
 * forward pass does, and frees them once the value product and the gather have read them).
 *
 * Per stack s, the model takes one more input `attention_reuse_rows_s`, int64 [batch, R]: the
 * query positions (in the fed, padded sequence) each example's sampled rows sit at. For every
 * attention tensor t of the stack ([batch, heads, q, k], or [batch·heads, q, k]):
 *   flat = Flatten(t, axis −1)                       [batch·heads·q, k]  (no copy)
 *   index[b, r, h] = (b·H + h)·q + rows[b, r]         H and q from Shape(t), batch from the rows
 *   out = Gather(flat, index, axis 0)                 [batch, R, heads, k]
 * The output puts a row's heads side by side, so one sampled row of every head is one
 * contiguous [heads, k] block the kernel reads without a copy.
 */
import type { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import type { AttentionStack } from './attentionFinder';
import { elemTypeOf } from './expose';
import type { OnnxGraph } from './model';

/** What a rewrite adds to the attention-only model: nodes, inputs, constants, and its outputs (which replace the attention tensors). */
export interface GraphAddition {
  node: onnx.INodeProto[];
  input: onnx.IValueInfoProto[];
  initializer: onnx.ITensorProto[];
  output: onnx.IValueInfoProto[];
  /** Nodes of the model to write with other inputs (the rest of the node as it was). */
  rewire?: Map<onnx.INodeProto, string[]>;
}

/** The input that takes stack `s`'s sampled query positions. */
export const rowsInputName = (s: number) => `attention_reuse_rows_${s}`;

/** The output that holds the sampled rows of attention tensor `tensor`. */
export const sampledRowsName = (tensor: string) => `${tensor}::attention_reuse_rows`;

/** Negative axes of Flatten and Gather, Range and int64 Div arrived in opset 11. */
const minimumOpset = 11;

/** The nodes and inputs that gather each stack's sampled rows, and the gathered tensors as outputs. */
export function rowGatherAddition(g: OnnxGraph, stacks: AttentionStack[]): GraphAddition {
  if (g.opset < minimumOpset) {
    throw new InputError(
      `{field} gathers rows inside the model with ops of ONNX opset ${minimumOpset}; this model imports opset ${g.opset}: analyze it without {field}`,
      'rows',
    );
  }
  const int64 = (name: string, dims: number[], values: number[]): onnx.ITensorProto => ({ name, dataType: 7, dims, int64Data: values });
  const prefix = 'attention_reuse_rows';
  const initializer = [
    int64(`${prefix}/zero`, [], [0]),
    int64(`${prefix}/one`, [], [1]),
    int64(`${prefix}/last2`, [], [-2]),
    int64(`${prefix}/column`, [3], [-1, 1, 1]),
    int64(`${prefix}/heads`, [3], [1, 1, -1]),
    int64(`${prefix}/rowsShape`, [3], [0, 0, 1]),
  ];
  const c = (name: string) => `${prefix}/${name}`;
  const node: onnx.INodeProto[] = [];
  const op = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []) =>
    node.push({ opType, input, output: [output], attribute, name: output });
  const input: onnx.IValueInfoProto[] = [];
  const output: onnx.IValueInfoProto[] = [];
  const rewire = new Map<onnx.INodeProto, string[]>();
  stacks.forEach((stack, s) => {
    const rows = rowsInputName(s);
    input.push({ name: rows, type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'rows' }] } } } });
    const v = (name: string) => `${prefix}/${s}/${name}`;
    // The index depends only on the shape every layer of the stack shares: built once, from layer 0.
    const first = stack.layers[0].tensor;
    op('Flatten', [first], v('flat0'), [{ name: 'axis', type: 2, i: -1 }]);
    op('Shape', [first], v('shape'));
    op('Gather', [v('shape'), c('last2')], v('q'), [{ name: 'axis', type: 2, i: 0 }]);
    op('Shape', [v('flat0')], v('flatShape'));
    op('Gather', [v('flatShape'), c('zero')], v('bhq'), [{ name: 'axis', type: 2, i: 0 }]);
    op('Div', [v('bhq'), v('q')], v('bh'));
    op('Shape', [rows], v('rowsShape'));
    op('Gather', [v('rowsShape'), c('zero')], v('b'), [{ name: 'axis', type: 2, i: 0 }]);
    op('Div', [v('bh'), v('b')], v('h'));
    op('Range', [c('zero'), v('b'), c('one')], v('bRange'));
    op('Range', [c('zero'), v('h'), c('one')], v('hRange'));
    op('Reshape', [v('bRange'), c('column')], v('bColumn'));
    op('Mul', [v('bColumn'), v('h')], v('bH'));
    op('Reshape', [v('hRange'), c('heads')], v('hRow'));
    op('Add', [v('bH'), v('hRow')], v('bhIndex'));
    op('Mul', [v('bhIndex'), v('q')], v('base'));
    op('Reshape', [rows, c('rowsShape')], v('rows3'));
    op('Add', [v('base'), v('rows3')], v('index'));
    stack.layers.forEach((layer, l) => {
      const flat = l === 0 ? v('flat0') : v(`flat${l}`);
      if (l > 0) op('Flatten', [layer.tensor], flat, [{ name: 'axis', type: 2, i: -1 }]);
      const out = sampledRowsName(layer.tensor);
      op('Gather', [flat, v('index')], out, [{ name: 'axis', type: 2, i: 0 }]);
      const elemType = elemTypeOf(g, layer.tensor);
      output.push(elemType ? { name: out, type: { tensorType: { elemType } } } : { name: out });
      if (l > 0) afterGather(stack.layers[l - 1].tensor, layer.tensor, sampledRowsName(stack.layers[l - 1].tensor), v(`after${l - 1}`));
    });
  });
  return { node, input, initializer, output, rewire };

  /**
   * Makes the computation of `next` wait for the gather of `previous`, so that ONNX Runtime
   * gathers each layer's rows as soon as its probabilities exist and frees them, instead of
   * holding every layer's n × n probabilities until the appended gathers run last (its
   * default order walks back from the last output first): 24 GB instead of 2.5 GB for
   * BERT-base at 4096 tokens. The queries of the product that makes `next`'s scores (or,
   * where there is none, the input of the node that makes `next`) gain an exact zero computed
   * from the gathered rows (max − max of finite probabilities), so no value changes, and the
   * sum is over the small [n, d] queries rather than an n × n tensor.
   */
  function afterGather(previous: string, next: string, gathered: string, name: string): void {
    const producer = scoresProduct(next);
    const data = producer?.input?.[0];
    const type = data ? elemTypeOf(g, data) : undefined;
    if (!producer || !data || !type || g.producer.get(previous) === producer) return;
    op('ReduceMax', [gathered], `${name}/max`, [{ name: 'keepdims', type: 2, i: 0 }]);
    op('Cast', [`${name}/max`], `${name}/cast`, [{ name: 'to', type: 2, i: type }]);
    op('Sub', [`${name}/cast`, `${name}/cast`], `${name}/zero`);
    op('Add', [data, `${name}/zero`], `${name}/input`);
    rewire.set(producer, [`${name}/input`, ...producer.input!.slice(1)]);
  }

  /** The MatMul (or Einsum) of queries and keys behind attention tensor `t`, walking back through the ops between it and the Softmax; else `t`'s own producer. */
  function scoresProduct(t: string): onnx.INodeProto | undefined {
    const own = g.producer.get(t);
    let node = own;
    for (let step = 0; node && step < 12; step++) {
      if (node.opType === 'MatMul' || node.opType === 'Einsum' || node.opType === 'FusedMatMul') return node;
      if (!betweenOps.has(node.opType ?? '')) break;
      // Follow the operand that carries the scores: the first input produced by a node.
      const from = (node.input ?? []).map((i) => g.producer.get(i)).find((p) => p !== undefined);
      node = from;
    }
    return own;
  }
}

/** Ops between a query-key product and its attention probabilities (scale, mask, bias, softmax, reshapes, casts). */
const betweenOps = new Set([
  'Softmax',
  ...['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Clip'],
  ...['Where', 'Cast', 'Identity', 'Dropout', 'Reshape', 'Transpose'],
]);
