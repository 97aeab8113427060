/** Data that flows from the runtime to the similarity accumulators. */

/** Which attention a stack holds: self-attention (n x n) or decoder-to-encoder cross-attention. */
export type StackKind = 'self' | 'cross';

/** What every example's attention of one stack says about itself, real tokens only. */
export interface StackExample {
  /** Stack name as `inspect` lists it (`encoder`, `decoder`, `cross`, ...). */
  name: string;
  kind: StackKind;
  /**
   * Causal self-attention: query p (of Q) sees the first K - Q + p + 1 keys (the past, then the
   * new tokens up to its own); every probability beyond is zero.
   */
  causal?: boolean;
  /** Heads per layer (the same for every layer of a stack). */
  heads: number;
  /** Real query rows (m for self-attention, decoder length for cross). */
  queries: number;
  /** Real key columns (past and new tokens, with a KV cache). */
  keys: number;
  /** The example it came from (`file:line`), for messages. */
  origin?: string;
  /** Keys that are special tokens ([CLS], [SEP], …), ascending, where the example came from text and the keys are its tokens. */
  specialKeys?: readonly number[];
}

/** One example's attention probabilities for one stack, real tokens only. */
export interface StackAttention extends StackExample {
  /** One array per layer, row-major [heads][queries][keys]; every row sums to 1. */
  layers: Float32Array[];
  specialKeys?: number[];
}

/** One sampled query row (`--rows`): its place among the real rows, and per layer every head's row [heads][keys]. */
export interface SampledRow {
  position: number;
  layers: readonly Float32Array[];
}

/** One example's attention of one stack on a sample of its query rows (`--rows`), real keys only. */
export interface SampledStackAttention extends StackExample {
  /** Distinct rows, ascending by position, drawn from the `queries` real rows (n of eq. 2). */
  rows: readonly SampledRow[];
}

/** One example, after the padding has been cut away. */
export interface ExampleAttention {
  /** 0-based position of the example in the input file. */
  index: number;
  /** Every query row of each stack; empty when the runner samples rows (then `sampled` holds them). */
  stacks: StackAttention[];
  /** `--rows`: each stack's sampled rows. */
  sampled?: SampledStackAttention[];
}
