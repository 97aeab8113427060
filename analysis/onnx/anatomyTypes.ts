/**
 * The types of a model's anatomy (analysis/onnx/anatomy.ts): per layer the nodes and
 * weights of each role, with shapes and orientation, so that a rewrite can slice weights and
 * an export can read them by role.
 */
import type { ActivationPart, HeadSplit, LayerNormPart, LinearPart } from './anatomyParts';
import type { TensorRef } from './graphValues';

/** A part that could not be traced, and why. */
export interface Missing {
  /** e.g. `attention.query`, `ffn.activation`, `embeddings`, `head`. */
  part: string;
  /** The layer (0-based, in the stack), absent for model-level parts. */
  layer?: number;
  why: string;
}

export interface ScalePart {
  node: string;
  /** What the scores are multiplied by (a Div by s is a factor of 1/s). */
  factor: number;
  /** Where it applies: to the scores after the product, or to queries or keys before it. */
  at: 'scores' | 'query' | 'key';
}

export interface MaskPart {
  /** The Add (or Where) that applies it. */
  node: string;
  /** The mask tensor added to the scores (or Where's condition). */
  input: string;
  /** Whether it may differ per head (a bias read from a weight table): then heads cannot be dropped from the scores. */
  perHead: boolean;
}

export interface AttentionPart {
  softmax: string;
  /** The Softmax output. */
  probs: string;
  /** The [batch, heads, queries, keys] tensor the finder exposes (after a reshape back, if any). */
  exposed: string;
  /** Softmax runs on a reshape of the scores (TF-converter style). */
  softmaxOnReshape: boolean;
  heads: number | null;
  headDim: number | null;
  query: LinearPart | null;
  key: LinearPart | null;
  value: LinearPart | null;
  querySplit: HeadSplit | null;
  keySplit: HeadSplit | null;
  valueSplit: HeadSplit | null;
  /** The query·key MatMul. */
  scores: string;
  scale: ScalePart | null;
  mask: MaskPart | null;
  /** The probabilities·V MatMul. */
  context: string | null;
  /** The Transpose and Reshape that merge the heads back. */
  merge: { transpose: string; reshape: string } | null;
  output: LinearPart | null;
}

/** An Add of a block's output to the residual stream. */
export interface ResidualPart {
  node: string;
  /** The residual stream it adds to. */
  residual: string;
  /** The block output it adds. */
  update: string;
  output: string;
}

export interface FeedForwardPart {
  up: LinearPart;
  activation: ActivationPart | null;
  down: LinearPart;
}

export interface LayerAnatomy {
  index: number;
  /** The tensor the query/key/value projections read. */
  input: string | null;
  /** The residual stream after the layer. */
  output: string | null;
  /** Post-LN (BERT: the norm after each residual add) or pre-LN (the norm before each block). */
  norm: 'post' | 'pre' | null;
  attention: AttentionPart | null;
  attentionResidual: ResidualPart | null;
  attentionNorm: LayerNormPart | null;
  ffn: FeedForwardPart | null;
  ffnResidual: ResidualPart | null;
  ffnNorm: LayerNormPart | null;
}

export interface EmbeddingPart {
  gather: string;
  table: TensorRef;
  /** The tensor of ids it looks up. */
  indices: string;
}

export interface EmbeddingsPart {
  word: EmbeddingPart | null;
  position: EmbeddingPart | null;
  tokenType: EmbeddingPart | null;
  norm: LayerNormPart | null;
  /** What the first layer reads (after the norm, if any). */
  output: string;
}

export type OutputHeadPart =
  | { kind: 'linear'; output: string; decoder: LinearPart; tied: boolean }
  | { kind: 'mlm'; output: string; dense: LinearPart; activation: ActivationPart; norm: LayerNormPart; decoder: LinearPart; tied: boolean };

export interface ModelAnatomy {
  stack: string;
  layers: LayerAnatomy[];
  embeddings: EmbeddingsPart | null;
  /** The output head; null where the model outputs hidden states (then `missing` says so). */
  head: OutputHeadPart | null;
  missing: Missing[];
}
