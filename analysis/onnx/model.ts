import { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import { flattenGraph } from './graphFlatten';
import type { BranchChoice, BranchStep, FlatGraph } from './graphFlatten';

// Moved beside the other readers of constant values; still exported here for the callers that import it from model.ts.
export { constantInts } from './constantValues';

/** Element types of ONNX TensorProto.DataType that attention can have. */
export const ElemType = { float: 1, float16: 10, double: 11, bfloat16: 16 } as const;

/** A decoded model plus the indexes the attention finder walks. */
export interface OnnxGraph {
  model: onnx.ModelProto;
  /** The file's main graph, as decoded. */
  graph: onnx.GraphProto;
  /**
   * The nodes the finder walks, in order: the main graph's with local functions inlined and
   * the Ifs the branch choice decided replaced by their branches (`graphFlatten.ts`).
   */
  nodes: onnx.INodeProto[];
  /** How `nodes` came from the file's nodes (the rewrite in expose.ts needs it). */
  flat: FlatGraph;
  /** The If branches each node of `nodes` sits in (absent: top level). */
  branchOf: Map<onnx.INodeProto, BranchStep[]>;
  /** Value infos by name: the graph's inputs, value_info and outputs, and those of inlined branches. */
  valueInfos: Map<string, onnx.IValueInfoProto>;
  /** Opset of the default ONNX domain. */
  opset: number;
  /** Node that produces each tensor. */
  producer: Map<string, onnx.INodeProto>;
  /** Nodes that read each tensor. */
  consumers: Map<string, onnx.INodeProto[]>;
  /** Tensors whose values are fixed: initializers and Constant outputs. */
  constants: Map<string, onnx.ITensorProto>;
  /** Element type of tensors where the file states it. */
  elemTypes: Map<string, number>;
  /** Names of the graph inputs the caller must feed (initializers excluded). */
  inputNames: string[];
}

/**
 * Decodes ONNX bytes; anything that is not a readable ModelProto with a graph is an InputError.
 * Local functions are inlined; `choose` says which Ifs to replace by which branch (default: none).
 */
export function decodeModel(bytes: Uint8Array, label: string, choose: BranchChoice = () => undefined): OnnxGraph {
  let model: onnx.ModelProto;
  try {
    // protobufjs reads a Buffer with its BufferReader, which makes each empty bytes field with
    // `new Buffer(0)`: Node's DEP0005 warning on stderr. A plain view of the same memory
    // decodes the same without it (and without copying).
    model = onnx.ModelProto.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new InputError(`${label} is not a readable ONNX model (truncated or not ONNX: ${why})`);
  }
  const graph = model.graph;
  if (!graph || !graph.node || graph.node.length === 0 || !model.opsetImport?.length) {
    throw new InputError(`${label} is not an ONNX model: it has no graph nodes or opset imports`);
  }
  return withBranches({ model, graph: graph as onnx.GraphProto }, choose);
}

/** The same model indexed with another branch choice (the file is not decoded again). */
export function withBranches(g: Pick<OnnxGraph, 'model' | 'graph'>, choose: BranchChoice): OnnxGraph {
  const { model, graph } = g;
  const flat = flattenGraph(model, graph, choose);
  const nodes = flat.nodes.map((f) => f.node);
  const branchOf = new Map(flat.nodes.filter((f) => f.branch.length > 0).map((f) => [f.node, f.branch]));
  const producer = new Map<string, onnx.INodeProto>();
  const consumers = new Map<string, onnx.INodeProto[]>();
  const constants = new Map<string, onnx.ITensorProto>();
  const elemTypes = new Map<string, number>();
  for (const init of [...graph.initializer, ...flat.initializers]) {
    constants.set(init.name ?? '', init);
    if (init.dataType) elemTypes.set(init.name ?? '', init.dataType);
  }
  for (const node of nodes) {
    for (const out of node.output ?? []) producer.set(out, node);
    for (const inp of node.input ?? []) {
      if (!inp) continue;
      const list = consumers.get(inp);
      if (list) list.push(node);
      else consumers.set(inp, [node]);
    }
    if (node.opType === 'Constant' && (!node.domain || node.domain === 'ai.onnx')) {
      const value = node.attribute?.find((a) => a.name === 'value')?.t;
      if (value && node.output?.[0]) {
        constants.set(node.output[0], value);
        if (value.dataType) elemTypes.set(node.output[0], value.dataType);
      }
    }
  }
  const valueInfos = new Map<string, onnx.IValueInfoProto>();
  for (const info of [...graph.input, ...graph.valueInfo, ...flat.valueInfo, ...graph.output]) {
    const t = info.type?.tensorType?.elemType;
    if (info.name && t) elemTypes.set(info.name, t);
    if (info.name) valueInfos.set(info.name, info);
  }
  const initNames = new Set(graph.initializer.map((i) => i.name));
  const inputNames = graph.input.map((i) => i.name ?? '').filter((n) => n && !initNames.has(n));
  const opset = Number(model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  return { model, graph, nodes, flat, branchOf, valueInfos, opset, producer, consumers, constants, elemTypes, inputNames };
}

/** An initializer (or Constant) whose values live in a file beside the model: ONNX external data. */
export interface ExternalData {
  tensor: string;
  /** The file, relative to the model's folder, as the model names it. */
  location: string;
  offset: number;
  /** Bytes, when the model says. */
  length: number | undefined;
}

const dataLocationExternal = 1;

/** Every tensor of the graph kept as external data, with where its bytes are. */
export function externalData(g: OnnxGraph): ExternalData[] {
  const found: ExternalData[] = [];
  for (const [tensor, t] of g.constants) {
    if (t.dataLocation !== dataLocationExternal) continue;
    const entry = (key: string) => t.externalData?.find((e) => e.key === key)?.value ?? undefined;
    const number = (key: string) => (entry(key) === undefined ? undefined : Number(entry(key)));
    found.push({ tensor, location: entry('location') ?? '', offset: number('offset') ?? 0, length: number('length') });
  }
  return found;
}

/** Reads an integer attribute of a node, or the default. */
export function intAttr(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.i !== undefined && a.i !== null ? Number(a.i) : fallback;
}

/** Reads the int list attribute of a node (e.g. Transpose's perm). */
export function intsAttr(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a?.ints && a.ints.length > 0 ? a.ints.map(Number) : undefined;
}

/** Shape of a graph input, value_info or output: numbers for fixed dims, names for symbolic ones. */
export function valueShape(info: onnx.IValueInfoProto): (number | string)[] | undefined {
  const dims = info.type?.tensorType?.shape?.dim;
  if (!dims) return undefined;
  return dims.map((d) =>
    d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : d.dimParam || '?',
  );
}

const elemTypeNames: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

export function elemTypeName(t: number | null | undefined): string {
  return (t && elemTypeNames[t]) || 'unknown';
}
