import { InputError } from '../errors';
import { modelDims } from '../onnx/dims';
import type { AttentionModel } from '../onnx/inspect';
import { countExamples, loadTokenizer, readJsonlExamples, readTextExamples } from './inputs';
import type { ExampleInput } from './inputs';

/** Where examples come from: a JSONL of named tensors, or text plus the model's tokenizer. */
export type ExampleSource =
  | { kind: 'jsonl'; path: string }
  | { kind: 'text'; path: string; tokenizer: string; maxLength?: number };

export interface OpenedExamples {
  examples: AsyncIterable<ExampleInput>;
  /** How many examples will be read (for progress). */
  total: number;
  /** Token limit applied to text. */
  maxLength?: number;
}

const defaultMaxLength = 128;

/**
 * Opens the examples for a model and checks them against it: token ids within the
 * embedding table, and a tokenizer whose vocabulary fits the model.
 */
export async function openExamples(model: AttentionModel, source: ExampleSource, limit: number): Promise<OpenedExamples> {
  const tokenInput = model.inputs.find((i) => /input_ids$/.test(i.name))?.name;
  const dims = modelDims(model.graph, tokenInput);
  if (source.kind === 'jsonl') {
    // A first pass checks every line, so that a bad line fails before the model is loaded.
    let total = 0;
    for await (const _ of checkIds(readJsonlExamples(source.path, model.inputs, limit), tokenInput, dims.vocab)) total++;
    return { examples: readJsonlExamples(source.path, model.inputs, limit), total };
  }
  const total = await countExamples(source.path, limit).catch(() => 0);
  const tok = await loadTokenizer(source.tokenizer);
  if (dims.vocab !== null && tok.maxId >= dims.vocab) {
    throw new InputError(
      `tokenizer ${source.tokenizer} has ids up to ${tok.maxId}, but the model's embedding has ${dims.vocab} rows: it is not this model's tokenizer`,
    );
  }
  const maxLength = source.maxLength ?? dims.maxPositions ?? defaultMaxLength;
  if (dims.maxPositions !== null && maxLength > dims.maxPositions) {
    throw new InputError(`--max-length ${maxLength} exceeds the model's ${dims.maxPositions} positions`);
  }
  return { examples: readTextExamples(source.path, tok, model.inputs, maxLength, limit), total, maxLength };
}

async function* checkIds(
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
