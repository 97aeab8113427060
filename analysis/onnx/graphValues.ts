/**
 * Fixed values of a graph as the anatomy and the rewrite need them: constants found through
 * the Identity nodes exporters put in front of shared weights, scalars, and the raw bytes of
 * a weight so that it can be sliced.
 */
import type { onnx } from 'onnx-proto';
import { halfToFloat } from '../runtime/halfFloat';
import { ElemType } from './model';
import type { OnnxGraph } from './model';

/** Where a fixed tensor lives: an initializer, the value of a Constant node, or an external file. */
export type Storage = 'initializer' | 'constant' | 'external';

/** A fixed tensor a node reads: by the name the node reads and the name that holds the values. */
export interface TensorRef {
  /** The tensor the reading node names (may be an Identity of the holder). */
  read: string;
  /** The initializer or Constant output holding the values. */
  name: string;
  storage: Storage;
  dims: number[];
  elemType: number;
}

const passThrough = new Set(['Identity']);

/** The constant behind `name`, following Identity nodes; undefined for a computed tensor. */
export function constantRef(g: OnnxGraph, name: string): TensorRef | undefined {
  let cur = name;
  for (let i = 0; i < 8; i++) {
    const t = g.constants.get(cur);
    if (t) {
      const external = Number(t.dataLocation ?? 0) === 1;
      const isInit = g.graph.initializer.includes(t as onnx.TensorProto);
      return {
        read: name,
        name: cur,
        storage: external ? 'external' : isInit ? 'initializer' : 'constant',
        dims: (t.dims ?? []).map(Number),
        elemType: t.dataType ?? 0,
      };
    }
    const node = g.producer.get(cur);
    if (!node || !passThrough.has(node.opType ?? '') || !node.input?.[0]) return undefined;
    cur = node.input[0];
  }
  return undefined;
}

export function isConstant(g: OnnxGraph, name: string): boolean {
  return constantRef(g, name) !== undefined;
}

/** Bytes per element of the float types a weight can have. */
export function elemSize(elemType: number): number | undefined {
  if (elemType === ElemType.float) return 4;
  if (elemType === ElemType.float16 || elemType === ElemType.bfloat16) return 2;
  if (elemType === ElemType.double) return 8;
  if (elemType === 7) return 8;
  if (elemType === 6) return 4;
  return undefined;
}

/**
 * A tensor's values as little-endian raw bytes, whichever field the file used; undefined for
 * external data and types this tool does not slice.
 */
export function rawBytes(t: onnx.ITensorProto): Uint8Array | undefined {
  if (Number(t.dataLocation ?? 0) === 1) return undefined;
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  const type = t.dataType ?? 0;
  if (type === ElemType.float && t.floatData?.length) return new Uint8Array(Float32Array.from(t.floatData).buffer);
  if (type === ElemType.double && t.doubleData?.length) return new Uint8Array(Float64Array.from(t.doubleData).buffer);
  // float16 and bfloat16 values sit in int32_data, one 16-bit pattern each.
  if ((type === ElemType.float16 || type === ElemType.bfloat16) && t.int32Data?.length)
    return new Uint8Array(Uint16Array.from(t.int32Data).buffer);
  if (type === 7 && t.int64Data?.length) return new Uint8Array(BigInt64Array.from(t.int64Data.map((v) => BigInt(v.toString()))).buffer);
  if (type === 6 && t.int32Data?.length) return new Uint8Array(Int32Array.from(t.int32Data).buffer);
  const count = (t.dims ?? []).map(Number).reduce((a, b) => a * b, 1);
  return count === 0 ? new Uint8Array(0) : undefined;
}

/** The values of a small float constant (scales, epsilons), as numbers; undefined if not one. */
export function floatValues(g: OnnxGraph, name: string): number[] | undefined {
  const ref = constantRef(g, name);
  if (!ref || ref.storage === 'external') return undefined;
  const t = g.constants.get(ref.name)!;
  const raw = rawBytes(t);
  if (!raw) return undefined;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (ref.elemType) {
    case ElemType.float:
      return Array.from({ length: raw.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
    case ElemType.double:
      return Array.from({ length: raw.length / 8 }, (_, i) => view.getFloat64(i * 8, true));
    case ElemType.float16:
      return Array.from({ length: raw.length / 2 }, (_, i) => halfToFloat(view.getUint16(i * 2, true)));
    default:
      return undefined;
  }
}

/** The single value of a constant that holds one number (any rank with one element). */
export function scalarValue(g: OnnxGraph, name: string): number | undefined {
  const v = floatValues(g, name);
  return v && v.length === 1 ? v[0] : undefined;
}

/** Elements of a tensor of these dims. */
export function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** The name a node goes by in messages and results: its name, else its first output. */
export function nodeLabel(node: onnx.INodeProto): string {
  return node.name || node.output?.[0] || '(unnamed node)';
}

/** The one node reading `tensor` with op `op`, if exactly one does. */
export function onlyConsumer(g: OnnxGraph, tensor: string, ops: string[]): onnx.INodeProto | undefined {
  const found = (g.consumers.get(tensor) ?? []).filter((n) => ops.includes(n.opType ?? ''));
  return found.length === 1 ? found[0] : undefined;
}

/** Float parameters of a graph: elements of every float initializer and Constant value of rank ≥ 1. */
export function parameterElements(g: OnnxGraph): number {
  let total = 0;
  for (const t of g.constants.values()) {
    const dims = (t.dims ?? []).map(Number);
    const type = t.dataType ?? 0;
    if (dims.length >= 1 && [ElemType.float, ElemType.float16, ElemType.double, ElemType.bfloat16].includes(type as 1))
      total += elementCount(dims);
  }
  return total;
}
