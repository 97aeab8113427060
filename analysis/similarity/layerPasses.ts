/**
 * When one example's attention of every layer does not fit in memory, the runner fetches a
 * few layers per model run (ONNX Runtime computes and keeps only what the fetched outputs need)
 * and the accumulator folds each pass's share. Layers are split into G contiguous groups; pass
 * (i, j), i ≤ j, holds groups i and j and contributes the head pairs between them (within the
 * group when i = j) and, when i = j, the per-head baselines of its group. Every pair and every
 * head is folded exactly once per example, so the sums equal a single pass's up to order.
 */

/** One stack's part of one pass. */
export interface LayerPass {
  /** The stack's layers this pass holds, ascending: the example's layers arrive in this order. */
  layers: number[];
  /** The two groups, i ≤ j. */
  groups: [number, number];
  /** The group of each of the stack's layers. */
  groupOf: number[];
  /** This pass's place among the stack's passes (0 counts the example, count − 1 ends it). */
  index: number;
  count: number;
}

/** Splits `layerCount` layers into at most `groups` contiguous groups of nearly equal size. */
export function layerGroups(layerCount: number, groups: number): number[] {
  const g = Math.max(1, Math.min(layerCount, Math.floor(groups)));
  return Array.from({ length: layerCount }, (_, l) => Math.floor((l * g) / layerCount));
}

/**
 * The passes of a run whose stacks have `layerCounts` layers, in G groups each (fewer where a
 * stack has fewer layers): `passes[k][s]` is stack s's part of pass k, or null where the pass
 * holds none of its layers. With G = 1 there is one pass holding every layer.
 */
export function planLayerPasses(layerCounts: number[], groups: number): (LayerPass | null)[][] {
  const G = Math.max(1, Math.floor(groups));
  const pairs: [number, number][] = [];
  for (let i = 0; i < G; i++) for (let j = i; j < G; j++) pairs.push([i, j]);
  const perStack = layerCounts.map((L) => {
    const groupOf = layerGroups(L, G);
    const count = Math.max(...groupOf) + 1;
    const mine = pairs.filter((pair) => pair[1] < count);
    return { groupOf, mine };
  });
  return pairs.map(([i, j]) =>
    perStack.map(({ groupOf, mine }) => {
      const index = mine.findIndex(([a, b]) => a === i && b === j);
      if (index < 0) return null;
      const layers = groupOf.flatMap((g, l) => (g === i || g === j ? [l] : []));
      return { layers, groups: [i, j], groupOf, index, count: mine.length };
    }),
  );
}

/** Whether pass `p` folds the pair of layers (la, lb). */
export function passTakesPair(p: LayerPass, la: number, lb: number): boolean {
  const [x, y] = [p.groupOf[la], p.groupOf[lb]].sort((u, v) => u - v);
  return x === p.groups[0] && y === p.groups[1];
}

/** Whether pass `p` folds the per-head baselines of layer l. */
export function passTakesHeads(p: LayerPass, l: number): boolean {
  return p.groups[0] === p.groups[1] && p.groupOf[l] === p.groups[0];
}
