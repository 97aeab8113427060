/**
 * Tracers for the parts a transformer layer is made of, each walking the dataflow back from
 * one tensor: a linear layer (MatMul + bias Add, or Gemm), a LayerNorm (the op, or its
 * ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add decomposition), an activation and a
 * head split. Each returns the part, or a sentence saying why it is not there.
 */
import type { onnx } from 'onnx-proto';
import { constantInts, intAttr, intsAttr } from './model';
import type { OnnxGraph } from './model';
import { constantRef, nodeLabel, scalarValue } from './graphValues';
import type { TensorRef } from './graphValues';

/** How a weight is laid out: [in, out] as MatMul reads it, or [out, in] (Gemm transB, or a Transpose of it). */
export type Orientation = 'in-out' | 'out-in';

export interface LinearPart {
  /** The MatMul or Gemm node. */
  node: string;
  op: 'MatMul' | 'Gemm';
  input: string;
  /** The output, after the bias. */
  output: string;
  weight: TensorRef;
  orientation: Orientation;
  /** A Transpose node between the stored weight and the MatMul, where the exporter kept one. */
  transpose: string | null;
  bias: TensorRef | null;
  /** The Add that adds the bias (null for Gemm's own C input, or no bias). */
  biasNode: string | null;
  inFeatures: number;
  outFeatures: number;
}

export interface LayerNormPart {
  form: 'LayerNormalization' | 'decomposed';
  /** Every node of it, in graph order for the op form, output side first for the decomposition. */
  nodes: string[];
  input: string;
  output: string;
  scale: TensorRef | null;
  bias: TensorRef | null;
  epsilon: number;
}

export type ActivationKind = 'gelu-erf' | 'gelu-tanh' | 'relu';

export interface ActivationPart {
  kind: ActivationKind;
  nodes: string[];
}

/** A Reshape into heads and the Transpose that puts the head axis second. */
export interface HeadSplit {
  reshape: string;
  /** The shape tensor the Reshape reads. */
  shape: string;
  transpose: string;
  /** The Transpose perm: [0,2,1,3] for queries and values, [0,2,3,1] for keys split and transposed at once. */
  perm: number[];
  /** Heads and head size from the shape, where they are constants. */
  heads: number | null;
  headDim: number | null;
  /** The Reshape's allowzero (a 0 in the new shape copies the input's dim only when it is 0). */
  allowZero: boolean;
}

export type Traced<T> = T | { why: string };

export function failed<T>(t: Traced<T>): t is { why: string } {
  return typeof t === 'object' && t !== null && 'why' in t && Object.keys(t).length === 1;
}

/** Whether a node is the standard op `op` (a type guard that leaves the other branch alone). */
const is = (node: onnx.INodeProto | undefined, op: string): node is onnx.INodeProto & { opType: string } =>
  node?.opType === op && (!node.domain || node.domain === 'ai.onnx');

/** Splits a binary node's inputs into (constant, other); undefined unless exactly one is constant. */
function constantAndOther(g: OnnxGraph, node: onnx.INodeProto): { constant: TensorRef; other: string } | undefined {
  const [a, b] = node.input ?? [];
  const ca = a ? constantRef(g, a) : undefined;
  const cb = b ? constantRef(g, b) : undefined;
  if (ca && !cb && b) return { constant: ca, other: b };
  if (cb && !ca && a) return { constant: cb, other: a };
  return undefined;
}

/** The linear layer whose output (after its bias) is `output`. */
export function traceLinear(g: OnnxGraph, output: string): Traced<LinearPart> {
  let node = g.producer.get(output);
  let bias: TensorRef | null = null;
  let biasNode: string | null = null;
  if (is(node, 'Add')) {
    const split = constantAndOther(g, node);
    if (!split || split.constant.dims.length !== 1)
      return { why: `${nodeLabel(node)} is an Add, but not of a product and a constant bias vector` };
    bias = split.constant;
    biasNode = nodeLabel(node);
    node = g.producer.get(split.other);
  }
  if (is(node, 'MatMul')) {
    const [x, w] = node.input ?? [];
    let weight = w ? constantRef(g, w) : undefined;
    let transpose: string | null = null;
    let orientation: Orientation = 'in-out';
    const t = w ? g.producer.get(w) : undefined;
    if (!weight && is(t, 'Transpose')) {
      const perm = intsAttr(t, 'perm');
      if (perm === undefined || (perm[0] === 1 && perm[1] === 0)) {
        weight = constantRef(g, t.input?.[0] ?? '');
        transpose = nodeLabel(t);
        orientation = 'out-in';
      }
    }
    if (!weight || weight.dims.length !== 2 || !x) return { why: `${nodeLabel(node)} multiplies by a computed tensor, not a 2-D weight` };
    const [inFeatures, outFeatures] = orientation === 'in-out' ? weight.dims : [weight.dims[1], weight.dims[0]];
    if (bias && bias.dims[0] !== outFeatures)
      return { why: `the bias of ${nodeLabel(node)} has ${bias.dims[0]} entries for ${outFeatures} outputs` };
    return {
      node: nodeLabel(node),
      op: 'MatMul',
      input: x,
      output,
      weight,
      orientation,
      transpose,
      bias,
      biasNode,
      inFeatures,
      outFeatures,
    };
  }
  if (is(node, 'Gemm')) {
    const [x, w, c] = node.input ?? [];
    const weight = w ? constantRef(g, w) : undefined;
    const alpha = node.attribute?.find((a) => a.name === 'alpha')?.f ?? 1;
    const beta = node.attribute?.find((a) => a.name === 'beta')?.f ?? 1;
    if (!weight || weight.dims.length !== 2 || !x || intAttr(node, 'transA', 0) !== 0 || alpha !== 1 || beta !== 1) {
      return { why: `${nodeLabel(node)} is a Gemm with a computed weight, transA or a scale` };
    }
    const orientation: Orientation = intAttr(node, 'transB', 0) === 1 ? 'out-in' : 'in-out';
    const [inFeatures, outFeatures] = orientation === 'in-out' ? weight.dims : [weight.dims[1], weight.dims[0]];
    if (c) {
      if (bias) return { why: `${nodeLabel(node)} has two biases` };
      bias = constantRef(g, c) ?? null;
      if (!bias || bias.dims.length !== 1) return { why: `${nodeLabel(node)} adds a computed or non-vector C` };
    }
    return {
      node: nodeLabel(node),
      op: 'Gemm',
      input: x,
      output,
      weight,
      orientation,
      transpose: null,
      bias,
      biasNode,
      inFeatures,
      outFeatures,
    };
  }
  return { why: `${output} is made by ${node ? `${node.opType} ${nodeLabel(node)}` : 'no node'}, not by a MatMul or Gemm with a weight` };
}

/** The LayerNorm whose output is `output`. */
export function traceLayerNorm(g: OnnxGraph, output: string): Traced<LayerNormPart> {
  const node = g.producer.get(output);
  if (is(node, 'LayerNormalization')) {
    const [x, scale, bias] = node.input ?? [];
    const epsilon = node.attribute?.find((a) => a.name === 'epsilon')?.f ?? 1e-5;
    return {
      form: 'LayerNormalization',
      nodes: [nodeLabel(node)],
      input: x,
      output,
      scale: scale ? (constantRef(g, scale) ?? null) : null,
      bias: bias ? (constantRef(g, bias) ?? null) : null,
      epsilon,
    };
  }
  const nodes: onnx.INodeProto[] = [];
  let cur = node;
  let bias: TensorRef | null = null;
  let scale: TensorRef | null = null;
  const vector = (n: onnx.INodeProto) => {
    const s = constantAndOther(g, n);
    return s && s.constant.dims.length === 1 ? s : undefined;
  };
  if (is(cur, 'Add') && vector(cur)) {
    const s = vector(cur)!;
    bias = s.constant;
    nodes.push(cur);
    cur = g.producer.get(s.other);
  }
  if (is(cur, 'Mul') && vector(cur)) {
    const s = vector(cur)!;
    scale = s.constant;
    nodes.push(cur);
    cur = g.producer.get(s.other);
  }
  const why = { why: `${output} is not a LayerNorm (no LayerNormalization op, nor ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div)` };
  if (!is(cur, 'Div')) return why;
  nodes.push(cur);
  const centred = g.producer.get(cur.input?.[0] ?? '');
  const sqrt = g.producer.get(cur.input?.[1] ?? '');
  if (!is(centred, 'Sub') || !is(sqrt, 'Sqrt')) return why;
  const mean = g.producer.get(centred.input?.[1] ?? '');
  const x = centred.input?.[0] ?? '';
  if (!is(mean, 'ReduceMean') || mean.input?.[0] !== x) return why;
  const addEps = g.producer.get(sqrt.input?.[0] ?? '');
  if (!is(addEps, 'Add')) return why;
  const eps = constantAndOther(g, addEps);
  const epsilon = eps ? scalarValue(g, eps.constant.read) : undefined;
  const variance = eps ? g.producer.get(eps.other) : undefined;
  const squared = is(variance, 'ReduceMean') ? g.producer.get(variance.input?.[0] ?? '') : undefined;
  const squares = is(squared, 'Pow')
    ? scalarValue(g, squared.input?.[1] ?? '') === 2
    : is(squared, 'Mul') && squared.input?.[0] === squared.input?.[1];
  if (epsilon === undefined || !is(variance, 'ReduceMean') || !squared || !squares || squared.input?.[0] !== centred.output?.[0])
    return why;
  nodes.push(sqrt, addEps, variance, squared, centred, mean);
  return { form: 'decomposed', nodes: nodes.map(nodeLabel), input: x, output, scale, bias, epsilon };
}

const activationOps = new Set(['Erf', 'Tanh', 'Relu', 'Gelu', 'Mul', 'Div', 'Add', 'Pow', 'Sqrt']);

/** The elementwise activation between `from` (the up projection's output) and `to`. */
export function traceActivation(g: OnnxGraph, from: string, to: string): Traced<ActivationPart> {
  const seen = new Set<onnx.INodeProto>();
  const pending = [to];
  while (pending.length > 0) {
    const t = pending.pop()!;
    if (t === from || constantRef(g, t)) continue;
    const node = g.producer.get(t);
    if (!node || !activationOps.has(node.opType ?? '') || seen.size > 12)
      return { why: `the path from ${from} to ${to} is not an elementwise activation` };
    if (seen.has(node)) continue;
    seen.add(node);
    for (const input of node.input ?? []) if (input) pending.push(input);
  }
  const ops = new Set([...seen].map((n) => n.opType));
  const names = [...seen].map(nodeLabel);
  const gelu = [...seen].find((n) => n.opType === 'Gelu');
  if (gelu)
    return {
      kind: Buffer.from(gelu.attribute?.find((a) => a.name === 'approximate')?.s ?? []).toString() === 'tanh' ? 'gelu-tanh' : 'gelu-erf',
      nodes: names,
    };
  if (ops.has('Erf')) return { kind: 'gelu-erf', nodes: names };
  if (ops.has('Tanh')) return { kind: 'gelu-tanh', nodes: names };
  if (ops.size === 1 && ops.has('Relu')) return { kind: 'relu', nodes: names };
  return { why: `the activation between ${from} and ${to} (${[...ops].join(', ')}) is not Erf GELU, tanh GELU or ReLU` };
}

/** A shape vector's entries where fixed: a constant, or a Concat of constants and dynamic dims (-1). */
export function shapeEntries(g: OnnxGraph, name: string): number[] | undefined {
  const ref = constantRef(g, name);
  if (ref) return constantInts(g.constants.get(ref.name)!);
  const node = g.producer.get(name);
  if (!is(node, 'Concat')) return undefined;
  const out: number[] = [];
  for (const part of node.input ?? []) {
    const un = g.producer.get(part);
    const src = is(un, 'Unsqueeze') ? (un.input?.[0] ?? '') : part;
    const c = constantRef(g, src);
    const ints = c ? constantInts(g.constants.get(c.name)!) : undefined;
    out.push(...(ints ?? [-1]));
  }
  return out;
}

/** The head split that produces `tensor`: Transpose(perm) of a Reshape into [batch, seq, heads, headDim]. */
export function traceHeadSplit(g: OnnxGraph, tensor: string, perms: number[][]): Traced<HeadSplit & { projected: string }> {
  const transpose = g.producer.get(tensor);
  const perm = is(transpose, 'Transpose') ? intsAttr(transpose, 'perm') : undefined;
  if (!transpose || !perm || !perms.some((p) => p.join() === perm.join())) {
    return { why: `${tensor} is not a Transpose with perm ${perms.map((p) => `[${p}]`).join(' or ')} of the heads` };
  }
  const reshape = g.producer.get(transpose.input?.[0] ?? '');
  if (!is(reshape, 'Reshape')) return { why: `${nodeLabel(transpose)} does not transpose a Reshape into heads` };
  const shape = reshape.input?.[1] ?? '';
  const entries = shapeEntries(g, shape);
  const known = entries?.length === 4;
  return {
    reshape: nodeLabel(reshape),
    shape,
    transpose: nodeLabel(transpose),
    perm,
    heads: known && entries[2] > 0 ? entries[2] : null,
    headDim: known && entries[3] > 0 ? entries[3] : null,
    allowZero: intAttr(reshape, 'allowzero', 0) === 1,
    projected: reshape.input?.[0] ?? '',
  };
}

/** Passes a tensor back through a scalar Mul or Div by a constant (a scale applied to queries or keys). */
export function peelScale(g: OnnxGraph, tensor: string): { tensor: string; node: string; factor: number } | undefined {
  const node = g.producer.get(tensor);
  if (!is(node, 'Mul') && !is(node, 'Div')) return undefined;
  const split = constantAndOther(g, node);
  const value = split ? scalarValue(g, split.constant.read) : undefined;
  if (!split || value === undefined || (is(node, 'Div') && node.input?.[1] !== split.constant.read)) return undefined;
  return { tensor: split.other, node: nodeLabel(node), factor: is(node, 'Div') ? 1 / value : value };
}
