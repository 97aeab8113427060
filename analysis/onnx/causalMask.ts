/**
 * Whether an attention layer is causal, read from its mask: the operands that the scores meet
 * between the query-key product and the Softmax (an additive mask, or a `Where` condition) are
 * traced back for one of the shapes every exporter writes a causal mask in:
 * - a `Trilu` (torch's triu/tril at opset 14+: Whisper, Llama, BART's newer code);
 * - two positions compared (`Less`/`Greater`…) that both come from a `Range` (T5, BART: key
 *   position ≤ query position);
 * - a constant square matrix whose entries above the diagonal differ from those on and below
 *   it (GPT-2's lower-triangular bool buffer, an additive mask stored as an initializer);
 * - a graph input named like a causal mask.
 * The runner confirms it on every example: a causal row has no probability beyond its diagonal.
 */
import type { onnx } from 'onnx-proto';
import { halfToFloat } from '../runtime/halfFloat';
import type { Dataflow } from './dataflow';
import type { OnnxGraph } from './model';

const comparisons = new Set(['Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual']);
/** Nodes looked at per mask operand: masks are built in a few dozen nodes, and layers share them. */
const budget = 256;
/** Largest square constant read whole (n² values). */
const maxSide = 4096;

/** Memoised per graph: every layer of a model usually shares one mask. */
export class CausalMaskReader {
  private readonly memo = new Map<string, boolean>();
  private readonly ranges = new Map<string, boolean>();

  constructor(private readonly g: OnnxGraph) {}

  /** Whether the masks met between `product` (the query-key product's output) and `scores` (the Softmax input) are causal. */
  isCausal(product: string, scores: string): boolean {
    return this.maskOperands(product, scores).some((t) => this.causalFrom(t));
  }

  /** Graph inputs whose values reach the masks the scores meet (an attention_mask, a causal mask input). */
  operandInputs(product: string, scores: string, flow: Dataflow): string[] {
    return [...new Set(this.maskOperands(product, scores).flatMap((t) => flow.inputs(t)))];
  }

  /** Inputs of the nodes between the product and the Softmax that are not on that path. */
  private maskOperands(product: string, scores: string): string[] {
    const onPath = new Set<string>();
    const nodes: onnx.INodeProto[] = [];
    const known = new Map<string, boolean>();
    // Walk back from the scores; a tensor is on the path when the product is among its ancestors.
    const reaches = (t: string, depth: number): boolean => {
      if (t === product) return true;
      const seen = known.get(t);
      if (seen !== undefined) return seen;
      const node = depth > 12 ? undefined : this.g.producer.get(t);
      let hit = false;
      for (const x of node?.input ?? []) if (x && reaches(x, depth + 1)) hit = true;
      if (hit) {
        onPath.add(t);
        nodes.push(node!);
      }
      known.set(t, hit);
      return hit;
    };
    reaches(scores, 0);
    onPath.add(product);
    return nodes.flatMap((n) => (n.input ?? []).filter((x) => x && !onPath.has(x)));
  }

  private causalFrom(start: string): boolean {
    const known = this.memo.get(start);
    if (known !== undefined) return known;
    let causal = false;
    const seen = new Set<string>();
    const pending = [start];
    while (pending.length > 0 && seen.size < budget && !causal) {
      const t = pending.pop()!;
      if (seen.has(t)) continue;
      seen.add(t);
      const constant = this.g.constants.get(t);
      if (constant) {
        causal = isTriangular(constant);
        continue;
      }
      const node = this.g.producer.get(t);
      if (!node) {
        causal = this.g.inputNames.includes(t) && /causal/i.test(t);
        continue;
      }
      if (node.opType === 'Trilu') causal = true;
      // A shape says nothing about a mask's values; past it lies the rest of the network.
      else if (node.opType === 'Shape' || node.opType === 'Size') continue;
      else if (comparisons.has(node.opType ?? '') && (node.input ?? []).every((x) => x && this.fromRange(x))) causal = true;
      else for (const x of node.input ?? []) if (x) pending.push(x);
    }
    this.memo.set(start, causal);
    return causal;
  }

  /** Whether a non-constant tensor is computed from a `Range` (positions), through casts, reshapes and arithmetic. */
  private fromRange(t: string, depth = 0): boolean {
    const known = this.ranges.get(t);
    if (known !== undefined) return known;
    const node = this.g.producer.get(t);
    let found = false;
    if (node && depth < 12) {
      found = node.opType === 'Range' || (node.input ?? []).some((x) => x && !this.g.constants.has(x) && this.fromRange(x, depth + 1));
    }
    this.ranges.set(t, found);
    return found;
  }
}

/** Values of a small tensor as numbers (bool, integer and float types; float16 decoded), or undefined. */
function tensorValues(t: onnx.ITensorProto, count: number): ArrayLike<number> | undefined {
  const raw = t.rawData;
  const type = t.dataType ?? 0;
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width: Record<number, number> = { 1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8 };
    const w = width[type];
    if (!w || raw.length < count * w) return undefined;
    const read = (i: number): number => {
      switch (type) {
        case 1:
          return view.getFloat32(i * 4, true);
        case 6:
          return view.getInt32(i * 4, true);
        case 7:
          return Number(view.getBigInt64(i * 8, true));
        case 10:
          return halfToFloat(view.getUint16(i * 2, true));
        case 11:
          return view.getFloat64(i * 8, true);
        case 3:
          return view.getInt8(i);
        default:
          return view.getUint8(i);
      }
    };
    return Array.from({ length: count }, (_, i) => read(i));
  }
  const list = t.floatData?.length
    ? t.floatData
    : t.int32Data?.length
      ? t.int32Data
      : t.int64Data?.length
        ? t.int64Data.map(Number)
        : t.doubleData;
  return list && list.length >= count ? (list as ArrayLike<number>) : undefined;
}

/**
 * Whether the first n×n matrix of a constant (its last two dims equal, n ≥ 2) holds one value
 * above the diagonal and another on and below it.
 */
function isTriangular(t: onnx.ITensorProto): boolean {
  const dims = (t.dims ?? []).map(Number);
  const n = dims[dims.length - 1];
  if (dims.length < 2 || dims[dims.length - 2] !== n || n < 2 || n > maxSide) return false;
  const values = tensorValues(t, n * n);
  if (!values) return false;
  const above = values[1];
  const below = values[0];
  if (above === below) return false;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (values[i * n + j] !== (j > i ? above : below)) return false;
    }
  }
  return true;
}
