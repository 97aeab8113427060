/**
 * Where a tensor's values come from, for telling self- from cross-attention and one stack from
 * another by the graph's dataflow rather than by input names. Two kinds of dependency do not
 * count: on weights (constants, and what is computed from constants alone) and on shapes
 * (`Shape`, and what is computed from shapes and constants alone: a `Gather`/`Slice` of a
 * shape, a `Concat` of shape pieces, `Cast`, `ConstantOfShape`, `Range`, a `Trilu` of those).
 * T5, BART and Whisper reshape cross-attention keys with the decoder's batch size, so the keys
 * depend on the decoder through a shape; their values come from the encoder alone.
 */
import { readsOf } from './graphFlatten';
import type { OnnxGraph } from './model';

const projectionOps = new Set(['MatMul', 'Gemm', 'Einsum', 'FusedMatMul', 'MatMulInteger']);
/** Ops that only change how the same values are laid out: an activation seen through them is the same activation. */
const viewOps = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Cast', 'Transpose']);
const shapeSources = new Set(['Shape', 'Size']);
/** How far back `sources` walks from one tensor (nodes visited). */
const sourceBudget = 400;

export interface Dataflow {
  /** A weight or a value computed from weights alone. */
  constant(t: string): boolean;
  /** A value computed from shapes (and constants) alone. */
  shapeOnly(t: string): boolean;
  /** Graph inputs whose values (not just shapes) reach `t`, in input order. */
  inputs(t: string): string[];
  /**
   * The activations `t` is projected from: the hidden state read by the nearest MatMul/Gemm
   * with a weight on each path back (seen through reshapes and casts), or a graph input
   * reached without one (past keys, a float input). Self-attention's queries and keys share one.
   */
  sources(t: string): Set<string>;
}

export function dataflow(g: OnnxGraph): Dataflow {
  const constant = new Set<string>(g.constants.keys());
  const shapeOnly = new Set<string>();
  const deps = new Map<string, bigint>();
  g.inputNames.forEach((name, i) => deps.set(name, 1n << BigInt(i)));
  for (const node of g.nodes) {
    // An If or Loop left in the graph reads outer values from its branches too.
    const inputs = readsOf(node).filter((x) => x);
    const outputs = node.output ?? [];
    const live = inputs.filter((x) => !constant.has(x));
    if (shapeSources.has(node.opType ?? '')) {
      for (const o of outputs) shapeOnly.add(o);
      continue;
    }
    if (live.length === 0) {
      for (const o of outputs) constant.add(o);
      continue;
    }
    if (live.every((x) => shapeOnly.has(x))) {
      for (const o of outputs) shapeOnly.add(o);
      continue;
    }
    let mask = 0n;
    for (const x of live) if (!shapeOnly.has(x)) mask |= deps.get(x) ?? 0n;
    for (const o of outputs) deps.set(o, mask);
  }

  const canonical = (t: string): string => {
    let cur = t;
    for (let i = 0; i < 16; i++) {
      const node = g.producer.get(cur);
      if (!node || !viewOps.has(node.opType ?? '') || !node.input?.[0]) break;
      cur = node.input[0];
    }
    return cur;
  };
  const memo = new Map<string, Set<string>>();
  const sources = (t: string): Set<string> => {
    const known = memo.get(t);
    if (known) return known;
    const found = new Set<string>();
    const seen = new Set<string>();
    const pending = [t];
    while (pending.length > 0 && seen.size < sourceBudget) {
      const cur = pending.pop()!;
      if (seen.has(cur) || constant.has(cur) || shapeOnly.has(cur)) continue;
      seen.add(cur);
      const node = g.producer.get(cur);
      if (!node) {
        if (g.inputNames.includes(cur)) found.add(cur);
        continue;
      }
      const [a, b] = node.input ?? [];
      if (projectionOps.has(node.opType ?? '') && a && b && constant.has(a) !== constant.has(b)) {
        found.add(canonical(constant.has(a) ? b : a));
        continue;
      }
      for (const x of node.input ?? []) if (x) pending.push(x);
    }
    memo.set(t, found);
    return found;
  };

  return {
    constant: (t) => constant.has(t),
    shapeOnly: (t) => shapeOnly.has(t),
    inputs: (t) => {
      const mask = deps.get(t) ?? 0n;
      return g.inputNames.filter((_, i) => (mask >> BigInt(i)) & 1n);
    },
    sources,
  };
}

/** Whether two sets share a member. */
export function meets<T>(a: Set<T>, b: Set<T>): boolean {
  for (const x of a) if (b.has(x)) return true;
  return false;
}
