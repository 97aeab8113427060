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
function indexSource(g: OnnxGraph, name: string): string {
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
  for (const node of g.graph.node) {
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
    for (const node of g.graph.node) {
      if (node.opType !== 'MatMul' && node.opType !== 'Gemm') continue;
      const d = constDims(g, node.input?.[1] ?? '');
      if (d && d.length === 2 && d[0] === hidden && d[1] > hidden && d[1] !== 3 * hidden) {
        widths.set(d[1], (widths.get(d[1]) ?? 0) + 1);
      }
    }
  }
  const ffn = [...widths].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  return { hidden, ffn, vocab, maxPositions };
}
