/**
 * Applies an edit to a model's bytes: some nodes replaced, some added, some initializers
 * added. Everything the edit does not touch is copied byte for byte (unknown fields and
 * external-data references included); nodes and initializers that only the replaced work
 * needed are dropped, and the nodes are put back in topological order.
 */
import { onnx } from 'onnx-proto';
import { Writer } from 'protobufjs/minimal';
import { InputError } from '../errors';
import { GRAPH, INITIALIZER, INPUT, NODE, VALUE_INFO, concat, fieldsOf } from './expose';
import { elementCount } from './graphValues';
import { ElemType } from './model';
import type { OnnxGraph } from './model';

export interface GraphEdit {
  /** Original nodes replaced by a new one (re-encoded); an original node mapped to null is removed. */
  replace: Map<onnx.INodeProto, onnx.INodeProto | null>;
  /** New nodes (placed by the topological order of what they read and write). */
  add: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
  /** Tensors whose value_info no longer holds (their shape changes). */
  dropValueInfo: Set<string>;
  /** What the edit knows of the new tensors' types and shapes (appended to value_info where they stay). */
  valueInfo?: onnx.IValueInfoProto[];
}

export interface EditedModel {
  bytes: Uint8Array;
  /** Float parameter elements (rank ≥ 1 initializers and Constant values) before and after. */
  parameters: { before: number; after: number };
  nodes: { before: number; after: number };
}

export function emptyEdit(): GraphEdit {
  return { replace: new Map(), add: [], initializers: [], dropValueInfo: new Set() };
}

const floatTypes: number[] = [ElemType.float, ElemType.float16, ElemType.double, ElemType.bfloat16];

function parameterCount(t: onnx.ITensorProto | undefined): number {
  const dims = (t?.dims ?? []).map(Number);
  return t && dims.length >= 1 && floatTypes.includes(t.dataType ?? 0) ? elementCount(dims) : 0;
}

function constantValue(node: onnx.INodeProto): onnx.ITensorProto | undefined {
  return node.opType === 'Constant' ? (node.attribute?.find((a) => a.name === 'value')?.t ?? undefined) : undefined;
}

function fieldHeader(field: number, length: number): Uint8Array {
  return Writer.create()
    .uint32((field << 3) | 2)
    .uint32(length)
    .finish();
}

function encodedField(field: number, payload: Uint8Array): Uint8Array {
  return concat([fieldHeader(field, payload.length), payload]);
}

interface Item {
  node: onnx.INodeProto;
  /** The encoded node field (tag included). */
  bytes: () => Uint8Array;
  original: boolean;
}

/** Names of the nodes reachable backwards from the graph outputs. */
function liveItems(items: Item[], outputs: string[]): Set<Item> {
  const producer = new Map<string, Item>();
  for (const item of items) for (const out of item.node.output ?? []) if (out) producer.set(out, item);
  const live = new Set<Item>();
  const pending = [...outputs];
  while (pending.length > 0) {
    const item = producer.get(pending.pop()!);
    if (!item || live.has(item)) continue;
    live.add(item);
    for (const input of item.node.input ?? []) if (input) pending.push(input);
  }
  return live;
}

/** Items in an order where each comes after what it reads, keeping the given order where it can. */
function topological(items: Item[]): Item[] {
  const producer = new Map<string, Item>();
  for (const item of items) for (const out of item.node.output ?? []) if (out) producer.set(out, item);
  const state = new Map<Item, 'visiting' | 'done'>();
  const order: Item[] = [];
  const visit = (item: Item) => {
    const s = state.get(item);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`the rewritten graph has a cycle through ${item.node.name || item.node.output?.[0]}`);
    state.set(item, 'visiting');
    for (const input of item.node.input ?? []) {
      const p = input ? producer.get(input) : undefined;
      if (p && p !== item) visit(p);
    }
    state.set(item, 'done');
    order.push(item);
  };
  items.forEach(visit);
  return order;
}

/** The model bytes with `edit` applied; without edits, the original bytes themselves. */
export function applyGraphEdit(g: OnnxGraph, bytes: Uint8Array, edit: GraphEdit): EditedModel {
  const graph = g.graph;
  const top = fieldsOf(bytes);
  const graphFields = top.filter((f) => f.number === GRAPH);
  const count = (nodes: onnx.INodeProto[], inits: onnx.ITensorProto[]) =>
    inits.reduce((s, t) => s + parameterCount(t), 0) + nodes.reduce((s, n) => s + parameterCount(constantValue(n)), 0);
  const before = count(graph.node, graph.initializer);
  if (edit.replace.size === 0 && edit.add.length === 0) {
    return { bytes, parameters: { before, after: before }, nodes: { before: graph.node.length, after: graph.node.length } };
  }
  if (graphFields.length !== 1) throw new InputError('the model stores its graph in more than one field; it cannot be rewritten');
  if (graph.node.some((n) => n.attribute?.some((a) => a.g || (a.graphs?.length ?? 0) > 0))) {
    throw new InputError('the model has control flow (If/Loop/Scan subgraphs); it cannot be rewritten');
  }

  const graphBytes = bytes.subarray(graphFields[0].payload, graphFields[0].end);
  const fields = fieldsOf(graphBytes);
  const nodeFields = fields.filter((f) => f.number === NODE);
  if (nodeFields.length !== graph.node.length) throw new Error('node fields do not match the decoded nodes');
  const originalItems: Item[] = graph.node.map((node, i) => ({
    node,
    bytes: () => graphBytes.subarray(nodeFields[i].start, nodeFields[i].end),
    original: true,
  }));
  const items: Item[] = [];
  for (const item of originalItems) {
    if (!edit.replace.has(item.node)) items.push(item);
    else {
      const node = edit.replace.get(item.node);
      if (node) items.push({ node, bytes: () => encodedField(NODE, onnx.NodeProto.encode(node).finish()), original: false });
    }
  }
  for (const node of edit.add) items.push({ node, bytes: () => encodedField(NODE, onnx.NodeProto.encode(node).finish()), original: false });

  // Drop only what the edit made dead; nodes nothing needed before stay as they were.
  const outputs = graph.output.map((o) => o.name ?? '');
  const liveBefore = liveItems(originalItems, outputs);
  const liveAfter = liveItems(items, outputs);
  const kept = topological(items.filter((it) => liveAfter.has(it) || (it.original && !liveBefore.has(it))));
  const read = new Set([...kept.flatMap((it) => it.node.input ?? []), ...outputs]);
  const readBefore = new Set(graph.node.flatMap((n) => n.input ?? []));
  const droppedInit = new Set(graph.initializer.map((t) => t.name ?? '').filter((name) => readBefore.has(name) && !read.has(name)));
  const added = edit.initializers.filter((t) => read.has(t.name ?? ''));
  const produced = new Set([
    ...kept.flatMap((it) => it.node.output ?? []),
    ...graph.input.map((i) => i.name ?? ''),
    ...graph.initializer.map((t) => t.name ?? ''),
  ]);

  const index = { [INITIALIZER]: 0, [INPUT]: 0, [VALUE_INFO]: 0 };
  const lastInit = fields.map((f) => f.number).lastIndexOf(INITIALIZER);
  const parts: Uint8Array[] = [];
  let nodesWritten = false;
  fields.forEach((f, at) => {
    let keep = true;
    if (f.number === NODE) {
      keep = false;
      if (!nodesWritten) parts.push(...kept.map((it) => it.bytes()));
      nodesWritten = true;
    } else if (f.number === INITIALIZER) keep = !droppedInit.has(graph.initializer[index[INITIALIZER]++].name ?? '');
    else if (f.number === INPUT) keep = !droppedInit.has(graph.input[index[INPUT]++].name ?? '');
    else if (f.number === VALUE_INFO) {
      const name = graph.valueInfo[index[VALUE_INFO]++].name ?? '';
      keep = produced.has(name) && !edit.dropValueInfo.has(name);
    }
    if (keep) parts.push(graphBytes.subarray(f.start, f.end));
    if (at === lastInit) parts.push(...added.map((t) => encodedField(INITIALIZER, onnx.TensorProto.encode(t).finish())));
  });
  if (lastInit < 0) parts.push(...added.map((t) => encodedField(INITIALIZER, onnx.TensorProto.encode(t).finish())));
  const infos = (edit.valueInfo ?? []).filter((v) => produced.has(v.name ?? ''));
  parts.push(...infos.map((v) => encodedField(VALUE_INFO, onnx.ValueInfoProto.encode(v).finish())));
  const graphLength = parts.reduce((sum, p) => sum + p.length, 0);
  const out = concat(
    top.flatMap((f) => (f.number === GRAPH ? [fieldHeader(GRAPH, graphLength), ...parts] : [bytes.subarray(f.start, f.end)])),
  );
  const after =
    count(
      kept.map((it) => it.node),
      graph.initializer.filter((t) => !droppedInit.has(t.name ?? '')),
    ) + added.reduce((s, t) => s + parameterCount(t), 0);
  return { bytes: out, parameters: { before, after }, nodes: { before: graph.node.length, after: kept.length } };
}
