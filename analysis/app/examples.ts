import { modelDims } from '../onnx/dims';
import type { AttentionModel, ModelInput } from '../onnx/inspect';
import { checkDeclaredInputs, checkExamples, checkTokenizerFits, textMaxLength } from '../runtime/exampleSource';
import type { DeclaredInputs, ExampleSource } from '../runtime/exampleSource';
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

/** The encoder's token-id input (`input_ids`), which text is tokenized into; undefined when the model has none. */
export function tokenInputOf(inputs: ModelInput[]): string | undefined {
  return inputs.find((i) => /input_ids$/.test(i.name) && !i.name.startsWith('decoder_'))?.name;
}

/** What the model declares about its inputs, for `checkExamples`. */
export function declaredInputs(model: AttentionModel): DeclaredInputs {
  const tokenInput = tokenInputOf(model.inputs);
  return { model: model.path, inputs: model.inputs, tokenInput, dims: modelDims(model.graph, tokenInput) };
}

/**
 * Opens the examples for a model and checks them against what it declares (see
 * `checkExamples`). A first pass reads every line (and checks every JSONL example), so that a
 * bad line fails before the model is loaded and the progress has a total; text is tokenized
 * once, in the run, as its tokens are cut to the positions anyway.
 */
export async function openExamples(model: AttentionModel, source: ExampleSource, limit: number, signal?: AbortSignal): Promise<OpenedExamples> {
  const declared = declaredInputs(model);
  checkDeclaredInputs(declared);
  if (source.kind === 'text') {
    const tok = await readTokenizer(source.tokenizer);
    checkTokenizerFits(tok, declared.dims);
    const length = textMaxLength(declared.dims, source.maxLength);
    const total = await countLines(source.path, 'text file', limit, signal);
    const examples = checkExamples(readTextExamples(readLines(source.path, 'text file', signal), source.path, tok, model.inputs, length, limit), declared);
    return { examples, total, maxLength: length };
  }
  const read = () => checkExamples(readJsonlExamples(readLines(source.path, 'inputs file', signal), source.path, model.inputs, limit), declared);
  let total = 0;
  for await (const _ of read()) total++;
  return { examples: read(), total };
}
