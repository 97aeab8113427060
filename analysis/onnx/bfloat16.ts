/**
 * bfloat16 models. ONNX Runtime's CPU provider has no bfloat16 arithmetic and no automatic
 * cast fallback, and its JavaScript API has no bfloat16 tensors, so:
 * - for the CPU the graph is widened to float32 (`widenBfloat16`): bfloat16 initializers and
 *   Constant values converted (those kept as external data are cast by a node as the session
 *   loads, so their bytes never enter JavaScript), Casts to bfloat16 retargeted to float32,
 *   every declared bfloat16 type (inputs, outputs, value_info, subgraphs) made float32;
 * - for a GPU provider that has bfloat16 kernels only the interface is widened
 *   (`bfloat16Interface`): bfloat16 graph inputs are fed as float32 and cast inside, and the
 *   attention outputs are cast to float32, so the model itself runs in bfloat16.
 * The similarity accumulates in float64 either way. Only the graph field is re-encoded; every
 * other field of the model is kept byte for byte.
 */
import { onnx } from 'onnx-proto';
import { Writer } from 'protobufjs/minimal';
import { bfloat16ToFloat } from '../runtime/halfFloat';
import { GRAPH, concat, fieldsOf } from './expose';
import { ElemType } from './model';
import type { OnnxGraph } from './model';

const BF16 = ElemType.bfloat16;
const FLOAT = ElemType.float;

/** Whether any tensor, value or Cast of the graph (subgraphs included) is bfloat16. */
export function hasBfloat16(g: OnnxGraph): boolean {
  const typed = (i: onnx.IValueInfoProto) => i.type?.tensorType?.elemType === BF16;
  const graphs = (graph: onnx.IGraphProto): boolean =>
    [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])].some(typed) ||
    (graph.initializer ?? []).some((t) => t.dataType === BF16) ||
    (graph.node ?? []).some(
      (n) =>
        (n.attribute ?? []).some((a) => Number(a.i) === BF16 && a.name === 'to') ||
        (n.attribute ?? []).some((a) => a.t?.dataType === BF16 || [a.g, ...(a.graphs ?? [])].some((s) => s && graphs(s))),
    );
  return graphs(g.graph);
}

/** A bfloat16 tensor's values as float32 (raw_data, or int32_data holding one 16-bit pattern each). */
function widenTensor(t: onnx.ITensorProto): onnx.ITensorProto {
  if (t.dataType !== BF16 || Number(t.dataLocation ?? 0) === 1) return t;
  let bits: Uint16Array;
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    bits = new Uint16Array(copy.buffer, 0, copy.length >> 1);
  } else bits = Uint16Array.from(t.int32Data ?? []);
  const values = Float32Array.from(bits, bfloat16ToFloat);
  return { ...t, dataType: FLOAT, rawData: new Uint8Array(values.buffer), int32Data: [] };
}

const widenInfo = (i: onnx.IValueInfoProto): onnx.IValueInfoProto =>
  i.type?.tensorType?.elemType === BF16 ? { ...i, type: { ...i.type, tensorType: { ...i.type.tensorType, elemType: FLOAT } } } : i;

/** Attributes that name an element type: Cast's `to`, the random and EyeLike ops' `dtype`. */
const typeAttributes = new Set(['to', 'dtype']);

function widenNode(n: onnx.INodeProto): onnx.INodeProto {
  const attribute = (n.attribute ?? []).map((a) => {
    if (typeAttributes.has(a.name ?? '') && Number(a.i) === BF16) return { ...a, i: FLOAT };
    if (a.t) return { ...a, t: widenTensor(a.t) };
    if (a.g) return { ...a, g: widenGraph(a.g) };
    if (a.graphs?.length) return { ...a, graphs: a.graphs.map(widenGraph) };
    return a;
  });
  return { ...n, attribute };
}

function widenGraph(graph: onnx.IGraphProto): onnx.IGraphProto {
  const casts: onnx.INodeProto[] = [];
  const initializer = (graph.initializer ?? []).map((t) => {
    if (t.dataType !== BF16 || Number(t.dataLocation ?? 0) !== 1) return widenTensor(t);
    // External bytes stay on disk: the session casts them as it loads the model.
    const stored = `${t.name}/bfloat16`;
    casts.push({ opType: 'Cast', name: stored, input: [stored], output: [t.name ?? ''], attribute: [{ name: 'to', i: FLOAT, type: 2 }] });
    return { ...t, name: stored };
  });
  return {
    ...graph,
    node: [...casts, ...(graph.node ?? []).map(widenNode)],
    initializer,
    input: (graph.input ?? []).map(widenInfo),
    output: (graph.output ?? []).map(widenInfo),
    valueInfo: (graph.valueInfo ?? []).map(widenInfo),
  };
}

/** The model bytes with the graph field replaced (the other top-level fields kept as they are). */
function withGraph(bytes: Uint8Array, graph: onnx.IGraphProto): Uint8Array {
  const encoded = onnx.GraphProto.encode(graph).finish();
  const header = Writer.create()
    .uint32((GRAPH << 3) | 2)
    .uint32(encoded.length)
    .finish();
  let written = false;
  const parts = fieldsOf(bytes).flatMap((f) => {
    if (f.number !== GRAPH) return [bytes.subarray(f.start, f.end)];
    if (written) return [];
    written = true;
    return [header, encoded];
  });
  return concat(parts);
}

/** The model widened to float32 for ONNX Runtime's CPU provider. */
export function widenBfloat16(g: OnnxGraph, bytes: Uint8Array): Uint8Array {
  return withGraph(bytes, widenGraph(g.graph));
}

/**
 * The model with a float32 interface around its bfloat16 graph (for a GPU provider): each
 * bfloat16 input is fed as float32 and cast to bfloat16 inside; each bfloat16 output is
 * computed under another name and cast to float32 under its own.
 */
export function bfloat16Interface(g: OnnxGraph, bytes: Uint8Array): Uint8Array {
  const graph = g.graph;
  const rename = new Map<string, string>();
  const before: onnx.INodeProto[] = [];
  const after: onnx.INodeProto[] = [];
  const cast = (from: string, to: string, type: number) => ({
    opType: 'Cast',
    name: `${to}/cast`,
    input: [from],
    output: [to],
    attribute: [{ name: 'to', i: type, type: 2 }],
  });
  for (const i of graph.input) {
    if (i.type?.tensorType?.elemType !== BF16 || graph.initializer.some((t) => t.name === i.name)) continue;
    rename.set(i.name ?? '', `${i.name}/bfloat16`);
    before.push(cast(i.name ?? '', `${i.name}/bfloat16`, BF16));
  }
  const outputs = new Map<string, string>();
  for (const o of graph.output) if (o.type?.tensorType?.elemType === BF16) outputs.set(o.name ?? '', `${o.name}/bfloat16`);
  const node = graph.node.map((n) => ({
    ...n,
    input: (n.input ?? []).map((x) => rename.get(x) ?? outputs.get(x) ?? x),
    output: (n.output ?? []).map((x) => outputs.get(x) ?? x),
  }));
  for (const [name, inner] of outputs) after.push(cast(inner, name, FLOAT));
  return withGraph(bytes, {
    ...graph,
    node: [...before, ...node, ...after],
    input: graph.input.map((i) => (rename.has(i.name ?? '') ? widenInfo(i) : i)),
    output: graph.output.map(widenInfo),
  });
}
