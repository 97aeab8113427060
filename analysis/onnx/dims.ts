import type { OnnxGraph } from './model';

/** Model sizes the cost model needs, where the graph tells; null where it does not. */
export interface ModelDims {
  hidden: number | null;
  ffn: number | null;
  vocab: number | null;
  maxPositions: number | null;
}

function constDims(g: OnnxGraph, name: string): number[] | undefined {
  return g.constants.get(name)?.dims?.map(Number);
}

/** Follows Cast/Identity/Unsqueeze back to where a Gather's indices come from. */
export function indexSource(g: OnnxGraph, name: string): string {
  let cur = name;
  for (let i = 0; i < 4; i++) {
    const node = g.producer.get(cur);
    if (!node || !['Cast', 'Identity', 'Unsqueeze', 'Reshape'].includes(node.opType ?? '')) break;
    cur = node.input?.[0] ?? cur;
  }
  return cur;
}

/**
 * Reads hidden size, FFN size, vocabulary and position count from the embedding tables
 * and weight shapes of a BERT-like graph.
 */
export function modelDims(g: OnnxGraph, tokenInput: string | undefined): ModelDims {
  let vocab: number | null = null;
  let hidden: number | null = null;
  let maxPositions: number | null = null;
  for (const node of g.nodes) {
    if (node.opType !== 'Gather') continue;
    const dims = constDims(g, node.input?.[0] ?? '');
    if (!dims || dims.length !== 2) continue;
    const source = indexSource(g, node.input?.[1] ?? '');
    if (tokenInput && source === tokenInput && vocab === null) {
      vocab = dims[0];
      hidden = dims[1];
    } else if (maxPositions === null && /position/i.test(`${node.input?.[0]} ${node.name} ${source}`)) {
      maxPositions = dims[0];
    }
  }
  // FFN size: the most common wider output of a [hidden, f] weight that is not a fused QKV.
  const widths = new Map<number, number>();
  if (hidden !== null) {
    for (const node of g.nodes) {
      const io = weightInOut(g, node);
      if (io && io[0] === hidden && io[1] > hidden && io[1] !== 3 * hidden) widths.set(io[1], (widths.get(io[1]) ?? 0) + 1);
    }
  }
  const ffn = [...widths].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  return { hidden, ffn, vocab, maxPositions };
}

/** [in, out] of a MatMul or Gemm weight, through a Transpose of a constant and Gemm's transB. */
function weightInOut(
  g: OnnxGraph,
  node: { opType?: string | null; input?: string[] | null; attribute?: { name?: string | null; i?: unknown }[] | null },
): [number, number] | undefined {
  if (node.opType !== 'MatMul' && node.opType !== 'Gemm') return undefined;
  const name = node.input?.[1] ?? '';
  let d = constDims(g, name);
  if (!d) {
    const t = g.producer.get(name);
    const src = t?.opType === 'Transpose' ? constDims(g, t.input?.[0] ?? '') : undefined;
    d = src && src.length === 2 ? [src[1], src[0]] : undefined;
  }
  if (!d || d.length !== 2) return undefined;
  const transB = node.opType === 'Gemm' && Number(node.attribute?.find((a) => a.name === 'transB')?.i ?? 0) === 1;
  return transB ? [d[1], d[0]] : [d[0], d[1]];
}
