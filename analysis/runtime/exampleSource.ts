import { InputError } from '../errors';
import type { ModelDims } from '../onnx/dims';
import type { ExampleInput, TextTokenizer } from './inputs';

/** Where examples come from: a JSONL of named tensors, or text plus the model's tokenizer. */
export type ExampleSource =
  | { kind: 'jsonl'; path: string }
  | { kind: 'text'; path: string; tokenizer: string; maxLength?: number };

/** Token limit for text when neither the option nor the model says. */
export const defaultMaxLength = 128;

/** The token limit for text: the option, else the model's positions, else 128; never beyond the positions. */
export function textMaxLength(dims: ModelDims, asked: number | undefined): number {
  const maxLength = asked ?? dims.maxPositions ?? defaultMaxLength;
  if (dims.maxPositions !== null && maxLength > dims.maxPositions) {
    throw new InputError(`{field} ${maxLength} exceeds the model's ${dims.maxPositions} positions`, 'maxLength');
  }
  return maxLength;
}

/** Refuses a tokenizer whose ids do not fit the model's embedding table. */
export function checkTokenizerFits(tok: TextTokenizer, dims: ModelDims): void {
  if (dims.vocab !== null && tok.maxId >= dims.vocab) {
    throw new InputError(
      `tokenizer ${tok.path} has ids up to ${tok.maxId}, but the model's embedding has ${dims.vocab} rows: it is not this model's tokenizer`,
    );
  }
}

/** Passes examples through, refusing a token id outside the embedding table (naming file and line). */
export async function* checkIds(
  examples: AsyncIterable<ExampleInput>,
  tokenInput: string | undefined,
  vocab: number | null,
): AsyncGenerator<ExampleInput> {
  for await (const ex of examples) {
    const ids = tokenInput ? ex.tensors.get(tokenInput)?.values : undefined;
    if (ids && vocab !== null) {
      const bad = ids.find((v) => v < 0 || v >= vocab);
      if (bad !== undefined) throw new InputError(`${ex.origin}: "${tokenInput}" holds id ${bad}, outside the model's vocabulary of ${vocab}`);
    }
    yield ex;
  }
}
