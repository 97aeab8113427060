import { onnx } from 'onnx-proto';
import { Reader, Writer } from 'protobufjs/minimal';
import { readsOf } from './graphFlatten';
import type { FlatNode } from './graphFlatten';
import type { OnnxGraph } from './model';
import type { GraphAddition } from './sampleRows';

/**
 * Returns model bytes whose graph also outputs `tensors`. Protobuf merges a repeated
 * embedded message field, so appending `graph { output: [...] }` to the original bytes
 * adds outputs without re-encoding (and so without losing) anything the file holds.
 */
export function exposeTensors(g: OnnxGraph, bytes: Uint8Array, tensors: string[], addition?: GraphAddition): Uint8Array {
  // Nodes cannot be rewritten by appending: the rewiring that orders the gathers is left out.
  if (addition) return concat([bytes, onnx.ModelProto.encode({ graph: graphPart(addition) }).finish()]);
  const existing = new Set(g.graph.output.map((o) => o.name));
  const added = tensors.filter((t) => !existing.has(t));
  if (added.length === 0) return bytes;
  return concat([bytes, onnx.ModelProto.encode({ graph: { output: outputsOf(g, added) } }).finish()]);
}

/** The fields of an addition that go into the graph as they are. */
const graphPart = ({ node, input, initializer, output }: GraphAddition) => ({ node, input, initializer, output });

export function concat(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Field numbers of ModelProto.graph and of the GraphProto fields `attentionOnlyModel` filters. */
export const GRAPH = 7;
export const NODE = 1;
export const INITIALIZER = 5;
export const INPUT = 11;
export const OUTPUT = 12;
export const VALUE_INFO = 13;

/** One field of an encoded message: its bytes, tag included, and where its payload starts. */
export interface Field {
  number: number;
  start: number;
  end: number;
  payload: number;
}

/** The top-level fields of an encoded protobuf message, in order. */
export function fieldsOf(bytes: Uint8Array): Field[] {
  const reader = Reader.create(bytes);
  const fields: Field[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    let payload = reader.pos;
    if ((tag & 7) === 2) {
      const length = reader.uint32();
      payload = reader.pos;
      reader.skip(length);
    } else {
      reader.skipType(tag & 7);
    }
    fields.push({ number: tag >>> 3, start, end: reader.pos, payload });
  }
  return fields;
}

/**
 * Returns model bytes whose graph computes and outputs only `tensors`: the nodes they do
 * not depend on, the initializers only those nodes read and the original outputs are left
 * out (for an encoder, the last layer's feed-forward block and any head after it), so a run
 * does no work the attention does not need and copies out nothing else. Every node kept as the
 * file has it is copied byte for byte, fields this tool does not know included; nodes of
 * inlined functions and If branches (`graphFlatten.ts`) are encoded in place of the call or
 * the If they replace. Falls back to `exposeTensors` (or, for a flattened graph, to encoding the
 * whole model) where the fields cannot be walked or the graph is stored in more than one field.
 * With `addition` (nodes that read the attention tensors, `sampleRows.ts`), its nodes, inputs
 * and constants join the graph and its outputs are the model's only outputs.
 */
export function attentionOnlyModel(g: OnnxGraph, bytes: Uint8Array, tensors: string[], addition?: GraphAddition): Uint8Array {
  const graph = g.graph;
  const rewired = (n: onnx.INodeProto) => addition?.rewire?.has(n) === true;
  const rewire = (n: onnx.INodeProto): onnx.INodeProto => (rewired(n) ? { ...n, input: addition!.rewire!.get(n) } : n);
  const fallback = () => (g.flat.changed ? encodedModel(g, tensors, addition) : exposeTensors(g, bytes, tensors, addition));
  let top: Field[];
  try {
    top = fieldsOf(bytes);
  } catch {
    // Bytes the decoder read but this walk cannot (a field of a kind protobufjs skips when
    // decoding): append the outputs instead of rewriting.
    return fallback();
  }
  const graphFields = top.filter((f) => f.number === GRAPH);
  if (graphFields.length !== 1) return fallback();

  const keep = neededNodes(g, tensors);
  const read = new Set([...keep].flatMap((n) => readsOf(n)));
  const known = new Set([...read, ...[...keep].flatMap((n) => n.output ?? [])]);
  const dropped = new Set(graph.initializer.map((t) => t.name ?? '').filter((name) => !read.has(name)));
  // The flat nodes that stand for each of the file's nodes, in order.
  const byOrigin = new Map<number, FlatNode[]>();
  for (const f of g.flat.nodes) {
    const list = byOrigin.get(f.origin);
    if (list) list.push(f);
    else byOrigin.set(f.origin, [f]);
  }

  // The decoded graph lists each repeated field's entries in file order: match them by index.
  const index = { [NODE]: 0, [INITIALIZER]: 0, [INPUT]: 0, [VALUE_INFO]: 0 };
  const graphBytes = bytes.subarray(graphFields[0].payload, graphFields[0].end);
  const parts: Uint8Array[] = [];
  let graphFieldList: Field[];
  try {
    graphFieldList = fieldsOf(graphBytes);
  } catch {
    return fallback();
  }
  for (const f of graphFieldList) {
    let kept = true;
    if (f.number === NODE) {
      const flat = (byOrigin.get(index[NODE]++) ?? []).filter((x) => keep.has(x.node));
      kept = flat.length === 1 && flat[0].original && !rewired(flat[0].node);
      if (!kept && flat.length > 0) parts.push(onnx.GraphProto.encode({ node: flat.map((x) => rewire(x.node)) }).finish());
    } else if (f.number === INITIALIZER) kept = !dropped.has(graph.initializer[index[INITIALIZER]++].name ?? '');
    // Older files list initializers among the inputs too; a dropped one must not become a required input.
    else if (f.number === INPUT) kept = !dropped.has(graph.input[index[INPUT]++].name ?? '');
    else if (f.number === VALUE_INFO) kept = known.has(graph.valueInfo[index[VALUE_INFO]++].name ?? '');
    else if (f.number === OUTPUT) kept = false;
    if (kept) parts.push(graphBytes.subarray(f.start, f.end));
  }
  const counts = [graph.node.length, graph.initializer.length, graph.input.length, graph.valueInfo.length];
  if ([NODE, INITIALIZER, INPUT, VALUE_INFO].some((field, i) => index[field as keyof typeof index] !== counts[i])) {
    return fallback();
  }
  const initializer = g.flat.initializers.filter((t) => read.has(t.name ?? ''));
  const added = addition
    ? { ...graphPart(addition), initializer: [...initializer, ...addition.initializer] }
    : { initializer, output: outputsOf(g, tensors) };
  parts.push(onnx.GraphProto.encode(added).finish());
  const graphLength = parts.reduce((sum, p) => sum + p.length, 0);
  const header = Writer.create()
    .uint32((GRAPH << 3) | 2)
    .uint32(graphLength)
    .finish();
  return concat(top.flatMap((f) => (f.number === GRAPH ? [header, ...parts] : [bytes.subarray(f.start, f.end)])));
}

/** The nodes `tensors` depend on (a subgraph's reads of outer values included). */
function neededNodes(g: OnnxGraph, tensors: string[]): Set<onnx.INodeProto> {
  const keep = new Set<onnx.INodeProto>();
  const pending = [...tensors];
  while (pending.length > 0) {
    const node = g.producer.get(pending.pop()!);
    if (!node || keep.has(node)) continue;
    keep.add(node);
    for (const input of readsOf(node)) if (input) pending.push(input);
  }
  return keep;
}

function outputsOf(g: OnnxGraph, tensors: string[]): onnx.IValueInfoProto[] {
  return tensors.map((name) => {
    const elemType = elemTypeOf(g, name);
    return elemType ? { name, type: { tensorType: { elemType } } } : { name };
  });
}

/** The flattened graph encoded whole, with only `tensors` as outputs: the fallback where bytes cannot be kept. */
function encodedModel(g: OnnxGraph, tensors: string[], addition?: GraphAddition): Uint8Array {
  const keep = neededNodes(g, tensors);
  const graph = {
    ...g.graph,
    node: [
      ...g.nodes.filter((n) => keep.has(n)).map((n) => (addition?.rewire?.has(n) ? { ...n, input: addition.rewire.get(n) } : n)),
      ...(addition?.node ?? []),
    ],
    initializer: [...g.graph.initializer, ...g.flat.initializers, ...(addition?.initializer ?? [])],
    input: [...g.graph.input, ...(addition?.input ?? [])],
    output: addition?.output ?? outputsOf(g, tensors),
  };
  return onnx.ModelProto.encode({ ...g.model, graph }).finish();
}

/** Ops whose output has the element type of their first input (enough for attention chains). */
const sameTypeOps = new Set([
  'Softmax',
  'MatMul',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Dropout',
  'Gather',
  'LayerNormalization',
  'Sqrt',
  'Pow',
  'Erf',
  'Tanh',
  'Relu',
  'Gelu',
  'Max',
  'Min',
  'Expand',
  'Einsum',
  'FusedMatMul',
  'Concat',
  'Slice',
  'Split',
  'ReduceMean',
  'Neg',
  'Exp',
]);

/** The element type of a tensor, from the file where stated, else walked back through the graph. */
export function elemTypeOf(g: OnnxGraph, tensor: string, depth = 0): number | undefined {
  const known = g.elemTypes.get(tensor);
  if (known || depth > 64) return known;
  const node = g.producer.get(tensor);
  if (!node) return undefined;
  if (node.opType === 'Cast') {
    const to = node.attribute?.find((a) => a.name === 'to')?.i;
    return to ? Number(to) : undefined;
  }
  if (node.opType === 'Where') return elemTypeOf(g, node.input?.[1] ?? '', depth + 1);
  if (!sameTypeOps.has(node.opType ?? '')) return undefined;
  for (const inp of node.input ?? []) {
    const t = inp ? elemTypeOf(g, inp, depth + 1) : undefined;
    // Integer inputs (shapes, indices) do not decide a float op's type.
    if (t && t !== 6 && t !== 7) return t;
  }
  return undefined;
}
