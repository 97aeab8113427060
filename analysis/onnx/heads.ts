/**
 * Head counts as the graph states them: a fixed axis 1 of the attention tensor, else the
 * Reshape that splits the query (or key) projection into heads, [batch, n, heads, d] followed by a
 * Transpose to [batch, heads, n, d]. The Reshape's target may be a constant or a Concat of
 * pieces through Cast, Unsqueeze and Constant (tf2onnx and paddle2onnx write int32 pieces and
 * cast them). The runner takes the count from the attention tensor itself at run time.
 */
import type { onnx } from 'onnx-proto';
import type { Dataflow } from './dataflow';
import { constantInts } from './constantValues';
import { intsAttr, valueShape } from './model';
import type { OnnxGraph } from './model';

/** Nodes looked at walking back from the query-key product to the head split. */
const budget = 48;
/** One piece of a shape vector: a number, a dynamic entry (-1), or an unknown number of entries. */
type Piece = number | 'dynamic' | 'unknown-length';

/** Query heads of one layer, or null where the graph does not say. */
export function queryHeads(g: OnnxGraph, flow: Dataflow, tensor: string, qk: onnx.INodeProto): number | null {
  const info = g.valueInfos.get(tensor);
  const shape = info ? valueShape(info) : undefined;
  if (shape && shape.length === 4 && typeof shape[1] === 'number') return shape[1];
  const q = qk.input?.[0];
  if (!q) return null;
  const split = headSplit(g, flow, q);
  if (typeof split === 'number') return split;
  // Queries that reach their MatMul projection without a Reshape were never split into heads
  // (an Einsum may split them with its equation, so it does not count).
  return split === 'unsplit' && qk.opType === 'MatMul' ? 1 : null;
}

/**
 * Key/value heads where fewer than the query heads (grouped-query attention: each key head is
 * repeated for its group of query heads), else null.
 */
export function keyHeads(g: OnnxGraph, flow: Dataflow, qk: onnx.INodeProto, heads: number | null): number | null {
  const k = qk.input?.[1];
  if (!k || heads === null) return null;
  const split = headSplit(g, flow, k);
  let kv = typeof split === 'number' ? split : null;
  if (kv === null) {
    // A key side that is only a past cache: its declared [batch, heads, past, d].
    const past = [...flow.sources(k)].map((s) => g.graph.input.find((i) => i.name === s)).find((i) => i && valueShape(i)?.length === 4);
    const dim = past ? valueShape(past)![1] : undefined;
    kv = typeof dim === 'number' ? dim : null;
  }
  return kv !== null && kv < heads && heads % kv === 0 ? kv : null;
}

/**
 * The head count of the nearest head-splitting Reshape back from `start`; 'unsplit' when the
 * walk met no Reshape or Einsum before the projection; undefined when it cannot tell.
 */
function headSplit(g: OnnxGraph, flow: Dataflow, start: string): number | 'unsplit' | undefined {
  const seen = new Set<string>();
  const pending = [start];
  let reshaped = false;
  let projected = false;
  while (pending.length > 0 && seen.size < budget) {
    const t = pending.shift()!;
    if (seen.has(t) || flow.constant(t) || flow.shapeOnly(t)) continue;
    seen.add(t);
    const node = g.producer.get(t);
    if (!node) continue;
    if (node.opType === 'Reshape' || node.opType === 'Einsum') {
      reshaped = true;
      const heads = node.opType === 'Reshape' ? splitHeadsOf(g, node) : undefined;
      if (heads !== undefined) return heads;
    }
    // The projection itself ends the walk: beyond it lies the previous layer.
    if (['MatMul', 'Gemm', 'Einsum'].includes(node.opType ?? '') && (node.input ?? []).some((x) => x && flow.constant(x))) {
      projected = true;
      // A projection of a graph input is unsplit only where the input is [batch, seq, hidden].
      const input = (node.input ?? []).map((x) => g.graph.input.find((i) => i.name === x)).find(Boolean);
      if (input && valueShape(input)?.length !== 3) return undefined;
      continue;
    }
    for (const x of node.input ?? []) if (x) pending.push(x);
  }
  // Queries that never met a projection (a graph input used as they are) could be split already.
  return reshaped || pending.length > 0 || !projected ? undefined : 'unsplit';
}

/** Heads of a Reshape to [batch, n, heads, d] that a Transpose turns into [batch, heads, …]. */
function splitHeadsOf(g: OnnxGraph, reshape: onnx.INodeProto): number | undefined {
  const out = reshape.output?.[0];
  const users = out ? (g.consumers.get(out) ?? []) : [];
  const split = users.some((u) => u.opType === 'Transpose' && (intsAttr(u, 'perm') ?? []).join() in { '0,2,1,3': 1, '0,2,3,1': 1 });
  if (!split) return undefined;
  const pieces = shapePieces(g, reshape.input?.[1] ?? '', 0);
  // The heads are the second entry from the end of the four: read from the end, which stays
  // right when a leading piece is a slice of a shape of unknown length.
  const heads = pieces?.[pieces.length - 2];
  return typeof heads === 'number' && heads > 0 ? heads : undefined;
}

/** The entries of a shape vector, through Constant, Cast, Identity, Concat and Unsqueeze. */
function shapePieces(g: OnnxGraph, name: string, depth: number): Piece[] | undefined {
  const c = g.constants.get(name);
  if (c) return constantInts(c);
  const node = g.producer.get(name);
  if (!node || depth > 8) return undefined;
  switch (node.opType) {
    case 'Cast':
    case 'Identity':
    case 'Unsqueeze':
    case 'Squeeze':
      return shapePieces(g, node.input?.[0] ?? '', depth + 1) ?? ['dynamic'];
    case 'Concat':
      return (node.input ?? []).flatMap((part) => shapePieces(g, part, depth + 1) ?? ['unknown-length' as const]);
    case 'Gather':
      return ['dynamic'];
    default:
      return undefined;
  }
}
