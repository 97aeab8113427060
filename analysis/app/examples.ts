import { modelDims } from '../onnx/dims';
import type { AttentionModel } from '../onnx/inspect';
import { checkIds, checkTokenizerFits, textMaxLength } from '../runtime/exampleSource';
import type { ExampleSource } from '../runtime/exampleSource';
import { readJsonlExamples, readTextExamples } from '../runtime/inputs';
import type { ExampleInput } from '../runtime/inputs';
import { readTokenizer } from './readers';
import { countLines, readLines } from './storage';

export interface OpenedExamples {
  examples: AsyncIterable<ExampleInput>;
  /** How many examples will be read (for progress). */
  total: number;
  /** Token limit applied to text. */
  maxLength?: number;
}

/**
 * Opens the examples for a model and checks them against it: token ids within the
 * embedding table, and a tokenizer whose vocabulary fits the model.
 */
export async function openExamples(model: AttentionModel, source: ExampleSource, limit: number, signal?: AbortSignal): Promise<OpenedExamples> {
  const tokenInput = model.inputs.find((i) => /input_ids$/.test(i.name))?.name;
  const dims = modelDims(model.graph, tokenInput);
  if (source.kind === 'jsonl') {
    const read = () => checkIds(readJsonlExamples(readLines(source.path, 'inputs file', signal), source.path, model.inputs, limit), tokenInput, dims.vocab);
    // A first pass checks every line, so that a bad line fails before the model is loaded.
    let total = 0;
    for await (const _ of read()) total++;
    return { examples: read(), total };
  }
  const tok = await readTokenizer(source.tokenizer);
  checkTokenizerFits(tok, dims);
  const maxLength = textMaxLength(dims, source.maxLength);
  const total = await countLines(source.path, 'text file', limit, signal);
  return { examples: readTextExamples(readLines(source.path, 'text file', signal), source.path, tok, model.inputs, maxLength, limit), total, maxLength };
}
