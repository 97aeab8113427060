/**
 * Reproducible masked-LM evaluation: 15% of each example's real, non-special tokens (at least
 * one) become the mask token, drawn from a PRNG seeded by the example's index, so every run
 * and every batch size masks the same tokens; accuracy is the fraction of masked tokens whose
 * arg-max logit is the original token.
 */
import type * as ort from 'onnxruntime-node';
import { argMax, floatData } from './drift';
import type { ExampleInput } from './inputs';
import type { ModelBatch } from './modelSession';
import { pseudoRandom } from './pseudoRandom';
import { realPositions } from './slicing';

export const maskRate = 0.15;

export interface MaskedExample {
  example: ExampleInput;
  /** Masked positions and the token each held. */
  positions: number[];
  labels: number[];
}

/**
 * Masks one example. `special` lists the ids never masked (the tokenizer's special tokens);
 * without it the first and last real tokens are taken as [CLS] and [SEP] and left alone.
 */
export function maskExample(ex: ExampleInput, tokenInput: string, maskId: number, special: Set<number> | null): MaskedExample {
  const ids = ex.tensors.get(tokenInput)!;
  const real = realPositions(ex, tokenInput);
  const candidates = special ? real.filter((p) => !special.has(ids.values[p])) : real.slice(1, -1);
  const rand = pseudoRandom((0x5eed ^ Math.imul(ex.index + 1, 0x9e3779b1)) >>> 0);
  let positions = candidates.filter(() => rand() < maskRate);
  if (positions.length === 0 && candidates.length > 0) positions = [candidates[Math.floor(rand() * candidates.length)]];
  const values = ids.values.slice();
  const labels = positions.map((p) => values[p]);
  for (const p of positions) values[p] = maskId;
  const tensors = new Map(ex.tensors);
  tensors.set(tokenInput, { values, shape: ids.shape });
  return { example: { ...ex, tensors }, positions, labels };
}

/** Counts masked tokens predicted right by each model. */
export class MlmAccumulator {
  masked = 0;
  private readonly right = { original: 0, rewritten: 0 };

  constructor(private readonly logits: string) {}

  add(which: 'original' | 'rewritten', outputs: ort.InferenceSession.ReturnType, batch: ModelBatch, masked: MaskedExample[]): void {
    const t = outputs[this.logits];
    const data = floatData(t);
    if (!data) return;
    const width = Number(t.dims[t.dims.length - 1]);
    masked.forEach((m, b) => {
      m.positions.forEach((p, i) => {
        if (argMax(data, (b * batch.length + p) * width, width) === m.labels[i]) this.right[which]++;
      });
      if (which === 'original') this.masked += m.positions.length;
    });
  }

  accuracy(): { original: number; rewritten: number } | null {
    if (this.masked === 0) return null;
    return { original: this.right.original / this.masked, rewritten: this.right.rewritten / this.masked };
  }
}
