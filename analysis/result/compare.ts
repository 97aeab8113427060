/**
 * Two analyses side by side (`attention-reuse compare`, the panel's compare view): the
 * original model and its reuse version, or two checkpoints. Stacks are matched by position,
 * and within a stack layers and heads by index; whatever does not match (names, kinds,
 * layer or head counts) is named, and the overlap is compared. Differences are B − A.
 */
import type { AnalysisFile, AnalysisStack } from './analysisFile';

/** One head's measures in A and B and their change. */
export interface HeadChange {
  layer: number;
  head: number;
  /** Similarity to uniform attention over the real keys. */
  uniform: [number, number, number];
  /** Mean row entropy, nats. */
  entropy: [number, number, number];
  /** max over earlier layers l′ of c[(l,h), l′]: how well an earlier layer could stand in for this head (null for layer 0). */
  earlier: [number, number, number] | null;
}

export interface StackComparison {
  /** The stacks' position in their files. */
  index: number;
  a: { name: string; kind: string; layers: number; heads: number };
  b: { name: string; kind: string; layers: number; heads: number };
  /** What differs besides the numbers: names, kinds, layer and head counts. */
  mismatches: string[];
  /** The compared overlap: the first `layers` layers and `heads` heads of both. */
  layers: number;
  heads: number;
  layerPairs: { a: number[][]; b: number[][]; diff: number[][] };
  /** Every head of the overlap, in layer and head order. */
  headChanges: HeadChange[];
  /** Mean and largest |B − A| over the layer pairs l ≠ l′. */
  meanAbsDiff: number;
  maxAbsDiff: number;
}

export interface Comparison {
  stacks: StackComparison[];
  /** Stacks one file has beyond the other's count, and other file-level differences. */
  mismatches: string[];
}

const triple = (a: number, b: number): [number, number, number] => [a, b, b - a];

function earliest(s: AnalysisStack, l: number, h: number): number | null {
  return l === 0 ? null : Math.max(...s.c[l][h].slice(0, l));
}

export function compareStacks(index: number, a: AnalysisStack, b: AnalysisStack): StackComparison {
  const L = Math.min(a.layerCount, b.layerCount);
  const H = Math.min(a.headCount, b.headCount);
  const mismatches: string[] = [];
  const where = `stack ${index}`;
  if (a.name !== b.name) mismatches.push(`${where}: named "${a.name}" in A, "${b.name}" in B`);
  if (a.kind !== b.kind) mismatches.push(`${where}: ${a.kind}-attention in A, ${b.kind}-attention in B`);
  if (a.layerCount !== b.layerCount)
    mismatches.push(`${where}: ${a.layerCount} layers in A, ${b.layerCount} in B (layers 0..${L - 1} compared)`);
  if (a.headCount !== b.headCount) mismatches.push(`${where}: ${a.headCount} heads in A, ${b.headCount} in B (heads 0..${H - 1} compared)`);
  const grid = (s: AnalysisStack) => s.layerPairs.slice(0, L).map((row) => row.slice(0, L));
  const pa = grid(a);
  const pb = grid(b);
  const diff = pa.map((row, l) => row.map((v, m) => pb[l][m] - v));
  const off = diff.flatMap((row, l) => row.filter((_, m) => m !== l).map(Math.abs));
  const headChanges: HeadChange[] = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const ea = earliest(a, l, h);
      const eb = earliest(b, l, h);
      headChanges.push({
        layer: l,
        head: h,
        uniform: triple(a.uniform[l][h], b.uniform[l][h]),
        entropy: triple(a.entropy[l][h], b.entropy[l][h]),
        earlier: ea === null || eb === null ? null : triple(ea, eb),
      });
    }
  }
  return {
    index,
    a: { name: a.name, kind: a.kind, layers: a.layerCount, heads: a.headCount },
    b: { name: b.name, kind: b.kind, layers: b.layerCount, heads: b.headCount },
    mismatches,
    layers: L,
    heads: H,
    layerPairs: { a: pa, b: pb, diff },
    headChanges,
    meanAbsDiff: off.length ? off.reduce((x, y) => x + y, 0) / off.length : 0,
    maxAbsDiff: off.length ? Math.max(...off) : 0,
  };
}

/** Compares two analysis files stack by stack, in their order. */
export function compareAnalysisFiles(a: AnalysisFile, b: AnalysisFile): Comparison {
  const n = Math.min(a.stacks.length, b.stacks.length);
  const mismatches: string[] = [];
  if (a.run.examples !== b.run.examples || (a.run.inputs ?? '') !== (b.run.inputs ?? '')) {
    // Similarities are means over examples: other examples move them too.
    mismatches.push(
      `A was analysed on ${a.run.examples} examples${a.run.inputs ? ` of ${a.run.inputs}` : ''}, B on ${b.run.examples}${b.run.inputs ? ` of ${b.run.inputs}` : ''}`,
    );
  }
  const extra = (file: AnalysisFile, which: string) =>
    file.stacks.slice(n).forEach((s, i) => mismatches.push(`stack ${n + i} ("${s.name}") is only in ${which}`));
  extra(a, 'A');
  extra(b, 'B');
  const stacks = Array.from({ length: n }, (_, i) => compareStacks(i, a.stacks[i], b.stacks[i]));
  return { stacks, mismatches: [...mismatches, ...stacks.flatMap((s) => s.mismatches)] };
}

/** The head changes that moved most, by the largest of their |Δ| (uniform, earlier-layer similarity). */
export function largestChanges(s: StackComparison, count: number): HeadChange[] {
  const size = (c: HeadChange) => Math.max(Math.abs(c.uniform[2]), Math.abs(c.earlier?.[2] ?? 0));
  return [...s.headChanges].sort((x, y) => size(y) - size(x) || x.layer - y.layer || x.head - y.head).slice(0, count);
}
