import { onnx } from 'onnx-proto';
import type { OnnxGraph } from './model';

/**
 * Returns model bytes whose graph also outputs `tensors`. Protobuf merges a repeated
 * embedded message field, so appending `graph { output: [...] }` to the original bytes
 * adds outputs without re-encoding (and so without losing) anything the file holds.
 */
export function exposeTensors(g: OnnxGraph, bytes: Uint8Array, tensors: string[]): Uint8Array {
  const existing = new Set(g.graph.output.map((o) => o.name));
  const added = tensors.filter((t) => !existing.has(t));
  if (added.length === 0) return bytes;
  const output = added.map((name) => {
    const elemType = elemTypeOf(g, name);
    return elemType ? { name, type: { tensorType: { elemType } } } : { name };
  });
  const tail = onnx.ModelProto.encode({ graph: { output } }).finish();
  const merged = new Uint8Array(bytes.length + tail.length);
  merged.set(bytes, 0);
  merged.set(tail, bytes.length);
  return merged;
}

/** Ops whose output has the element type of their first input (enough for attention chains). */
const sameTypeOps = new Set([
  'Softmax', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity',
  'Dropout', 'Gather', 'LayerNormalization', 'Sqrt', 'Pow', 'Erf', 'Tanh', 'Relu', 'Gelu', 'Max', 'Min', 'Expand',
  'Einsum', 'FusedMatMul', 'Concat', 'Slice', 'Split', 'ReduceMean', 'Neg', 'Exp',
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
