import { InputError } from '../errors';
import { layerRoles } from './headMap';
import type { HeadMap, LayerRole } from './headMap';

/** The sizes the cost model needs (DESIGN.md "Cost"): L layers, H heads, d = hidden. */
export interface ModelShape {
  layers: number;
  heads: number;
  hidden: number;
  ffn: number;
  vocab: number;
  /** Position-embedding rows; BERT has 512. */
  maxPositions: number;
}

/** Token-type embedding rows of the BERT accounting. */
export const typeVocabSize = 2;
export const defaultMaxPositions = 512;

export interface CostEstimate {
  /** Sequence length n the FLOPs and score memory are counted at. */
  seqLen: number;
  /** Layers added to the model as analysed (appended after its layers; 0 for most configs). */
  extraLayers: number;
  params: number;
  paramsReuse: number;
  paramsRatio: number;
  /** Multiply-adds per example, embeddings and LM head left out (paper §4). */
  flops: number;
  flopsReuse: number;
  flopsRatio: number;
  /** Inference: attention-probability values per example, L·H·n² without reuse. */
  scoreMemory: number;
  scoreMemoryReuse: number;
  scoreMemoryRatio: number;
  /**
   * Training: bytes per example the layers keep for the backward pass, 16-bit activations
   * and 1-byte dropout masks (see `trainingLayerBytes`).
   */
  trainingMemory: number;
  trainingMemoryReuse: number;
  trainingMemoryRatio: number;
  /** Heads that compute their own attention, of L·H. */
  computedHeads: number;
  reuseHeads: number;
  skipLayers: number;
}

/** Heads (L·H) a head map may hold: the map is built in memory, and beyond this it takes gigabytes. */
export const maxModelHeads = 1_000_000;

/** Checks the sizes; every refusal names the size (`{field}`) it is about. */
export function checkShape(s: ModelShape): void {
  for (const key of ['layers', 'heads', 'hidden', 'ffn', 'vocab', 'maxPositions'] as const) {
    if (!Number.isSafeInteger(s[key]) || s[key] < 1) throw new InputError(`{field} must be a whole number ≥ 1 (got ${s[key]})`, key);
  }
  if (s.layers * s.heads > maxModelHeads) {
    throw new InputError(
      `{field}: ${s.layers} layers × ${s.heads} heads are more than the ${maxModelHeads} heads a head map can hold`,
      s.layers >= s.heads ? 'layers' : 'heads',
    );
  }
  // Q and K are split evenly over heads; a reuse head removes exactly its d/H columns.
  if (s.hidden % s.heads !== 0) throw new InputError(`{field} (${s.hidden}) must be a multiple of heads (${s.heads})`, 'hidden');
}

/**
 * Refuses a figure beyond 2^53, where a double stops counting exactly (and the ratios lose
 * their meaning), naming the largest of the sizes it grows with.
 */
function exactCount(value: number, figure: string, sizes: ModelShape & { seqLen: number }, grows: (keyof typeof sizes)[]): void {
  if (value <= Number.MAX_SAFE_INTEGER) return;
  const field = grows.reduce((a, b) => (sizes[b] > sizes[a] ? b : a));
  throw new InputError(
    `{field} ${sizes[field]} is too large: the ${figure} would be about ${value.toExponential(1)}, beyond 2^53, the largest count kept exact`,
    field,
  );
}

/**
 * Parameters of a standard BERT masked-LM: token, position and type embeddings and their
 * LayerNorm; per layer Q/K/V/O weights and biases, two LayerNorms and the FFN; the MLM
 * head (d×d dense with bias, LayerNorm, decoder bias; the decoder weight is tied). No pooler.
 */
export function bertParams(s: ModelShape): number {
  const d = s.hidden;
  const embeddings = (s.vocab + s.maxPositions + typeVocabSize) * d + 2 * d;
  const attention = 4 * (d * d + d);
  const layerNorms = 2 * 2 * d;
  const ffn = d * s.ffn + s.ffn + s.ffn * d + d;
  const mlmHead = d * d + d + 2 * d + s.vocab;
  return embeddings + s.layers * (attention + layerNorms + ffn) + mlmHead;
}

/**
 * Activation bytes one layer keeps for its backward pass, per example (Korthikanti et al.
 * 2022, "Reducing Activation Recomputation in Large Transformer Models", eq. 1 with 16-bit
 * activations and 1-byte dropout masks): `34·n·d + 5·H·n²`, of which the attention block is
 * `11·n·d + 5·H·n²`. Per score entry an exact head keeps its softmax output (2 bytes), its
 * dropout mask (1) and the dropped copy (2). A reuse head has no softmax of its own, but its
 * layer still applies attention dropout to the borrowed probabilities, so it keeps the mask
 * and the dropped copy (3 bytes) and saves only 2 bytes per entry and its Q/K share of the
 * `4·n·d` query-key inputs. A skip layer keeps nothing of the attention block.
 */
export function trainingLayerBytes(d: number, H: number, n: number, role: LayerRole): number {
  if (role.kind === 'skip') return 23 * n * d;
  const K = role.reuseHeads;
  return 34 * n * d - (4 * n * d * K) / H + (5 * (H - K) + 3 * K) * n * n;
}

/**
 * Cost of a head map against the model as analysed (`s.layers` layers, no reuse). A reuse
 * head drops its share of Q and K (parameters 2·(d²+d)/H, multiply-adds (2·d²·n + d·n²)/H,
 * which is the paper's (1 - K/(2H)) factor per layer); a skip layer drops Q, K, V and O and
 * all attention work. `extraLayers` layers are appended to the analysed ones (the paper's
 * Reuse 13L against 12-layer BERT): the map then has `s.layers + extraLayers` rows, and
 * every ratio stays against the model as analysed.
 */
export function costOf(s: ModelShape, map: HeadMap, seqLen: number, extraLayers = 0): CostEstimate {
  checkShape(s);
  if (!Number.isSafeInteger(seqLen) || seqLen < 1) throw new InputError(`{field} must be a whole number ≥ 1 (got ${seqLen})`, 'seqLen');
  if (!Number.isSafeInteger(extraLayers) || extraLayers < 0)
    throw new InputError(`{field} must be a whole number ≥ 0 (got ${extraLayers})`, 'extraLayers');
  const depth = s.layers + extraLayers;
  if (map.length !== depth) {
    const extra = extraLayers > 0 ? ` + ${extraLayers} extra` : '';
    throw new InputError(`the head map has ${map.length} layers, the model ${s.layers}${extra}`);
  }
  map.forEach((row, l) => {
    if (row.length !== s.heads) throw new InputError(`heads[${l}] has ${row.length} entries, the model has ${s.heads} heads`);
  });
  const { layers: L, heads: H, hidden: d } = s;
  const n = seqLen;
  const attentionFlops = 4 * d * d * n + 2 * d * n * n;
  const ffnFlops = 2 * d * s.ffn * n;
  const reuseHeadFlops = (2 * d * d * n + d * n * n) / H;
  const reuseHeadParams = (2 * (d * d + d)) / H;

  let paramsRemoved = 0;
  let flopsRemoved = 0;
  let reuseHeads = 0;
  let skipLayers = 0;
  let trainingMemoryReuse = 0;
  for (const role of layerRoles(map)) {
    trainingMemoryReuse += trainingLayerBytes(d, H, n, role);
    if (role.kind === 'skip') {
      skipLayers++;
      paramsRemoved += 4 * (d * d + d);
      flopsRemoved += attentionFlops;
    } else {
      reuseHeads += role.reuseHeads;
      paramsRemoved += role.reuseHeads * reuseHeadParams;
      flopsRemoved += role.reuseHeads * reuseHeadFlops;
    }
  }
  const params = bertParams(s);
  const paramsReuse = bertParams({ ...s, layers: depth }) - paramsRemoved;
  const flops = L * (attentionFlops + ffnFlops);
  const flopsReuse = depth * (attentionFlops + ffnFlops) - flopsRemoved;
  const computedHeads = depth * H - reuseHeads - skipLayers * H;
  const scoreMemory = L * H * n * n;
  const trainingMemory = L * trainingLayerBytes(d, H, n, { kind: 'exact', reuseHeads: 0 });
  const sizes = { ...s, seqLen: n };
  exactCount(params, 'parameter count', sizes, ['vocab', 'maxPositions', 'hidden', 'ffn', 'layers']);
  exactCount(Math.max(flops, flopsReuse), 'FLOPs', sizes, ['seqLen', 'hidden', 'ffn', 'layers']);
  exactCount(scoreMemory, 'attention-score memory', sizes, ['seqLen', 'layers', 'heads']);
  exactCount(Math.max(trainingMemory, trainingMemoryReuse), 'training memory', sizes, ['seqLen', 'layers', 'heads', 'hidden']);
  return {
    seqLen: n,
    extraLayers,
    params,
    paramsReuse,
    paramsRatio: paramsReuse / params,
    flops,
    flopsReuse,
    flopsRatio: flopsReuse / flops,
    scoreMemory,
    scoreMemoryReuse: computedHeads * n * n,
    scoreMemoryRatio: computedHeads / (L * H),
    trainingMemory,
    trainingMemoryReuse,
    trainingMemoryRatio: trainingMemoryReuse / trainingMemory,
    computedHeads,
    reuseHeads,
    skipLayers,
  };
}
