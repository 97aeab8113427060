import { selectBranches } from '../onnx/branches';
import type { BranchMode } from '../onnx/branches';
import { modelDims } from '../onnx/dims';
import type { AttentionModel, ModelInput } from '../onnx/inspect';
import { checkDeclaredInputs, checkExamples, checkTokenizerFits, textMaxLength } from '../runtime/exampleSource';
import type { DeclaredInputs, ExampleSource } from '../runtime/exampleSource';
import { InputError } from '../errors';
import { tokenInputOf as tokenInputSpec } from '../runtime/inputRoles';
import { describeInputs, packLines, readJsonlExamples, readTextExamples } from '../runtime/inputs';
import type { ExampleInput } from '../runtime/inputs';
import { describePreprocess } from '../runtime/images';
import { openArrays } from './arrayExamples';
import { openImages } from './imageExamples';
import { readTokenizer } from './readers';
import { countLines, readLines } from './storage';

export interface OpenedExamples {
  examples: AsyncIterable<ExampleInput>;
  /** How many examples will be read (for progress). */
  total: number;
  /** Token limit applied to text. */
  maxLength?: number;
  /** The most tokens an example holds (text: the limit; JSONL: the longest 1-D input of any line), for the memory guard. */
  maxTokens?: number;
  /** The first example of a JSONL, read in the first pass (it chooses the If branches a run takes). */
  first?: ExampleInput;
}

/**
 * The encoder's token-id input (`input_ids`, else its first integer [batch, sequence] input),
 * which text is tokenized into; undefined when the model has none (`runtime/inputRoles.ts`).
 */
export function tokenInputOf(inputs: ModelInput[]): string | undefined {
  return tokenInputSpec(inputs)?.name;
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
export async function openExamples(
  model: AttentionModel,
  source: ExampleSource,
  limit: number,
  signal?: AbortSignal,
  onNote?: (line: string) => void,
): Promise<OpenedExamples> {
  const declared = declaredInputs(model);
  checkDeclaredInputs(declared);
  if (source.kind === 'images') {
    const images = await openImages(model, source, signal);
    for (const note of images.notes) onNote?.(note);
    onNote?.(
      `images: ${Math.min(limit, images.files.length)} of ${source.path}, ${describePreprocess(images.preprocess)}${images.config ? ` (${images.config})` : ''}`,
    );
    return firstPass(() => checkExamples(images.read(limit, signal), declared));
  }
  if (source.kind === 'arrays') {
    const arrays = await openArrays(model, source.path, signal);
    return firstPass(() => checkExamples(arrays.read(limit), declared));
  }
  if (source.kind === 'text') {
    if (!declared.tokenInput) {
      throw new InputError(
        `${model.path} has no integer token input to tokenize text into; it takes ${describeInputs(model.inputs)}: give its inputs as JSONL with {field}`,
        'inputs',
      );
    }
    const tok = await readTokenizer(source.tokenizer);
    checkTokenizerFits(tok, declared.dims);
    const length = textMaxLength(declared.dims, source.maxLength);
    const read = () =>
      readTextExamples(readLines(source.path, 'text file', signal), source.path, tok, model.inputs, length, limit, source.pack === true);
    let total = 0;
    // Packed sequences are counted by packing once: how many lines fill one depends on the text.
    if (source.pack)
      for await (const _ of packLines(readLines(source.path, 'text file', signal), source.path, tok, length)) if (++total >= limit) break;
    if (!source.pack) total = await countLines(source.path, 'text file', limit, signal);
    return { examples: checkExamples(read(), declared), total, maxLength: length, maxTokens: length };
  }
  return firstPass(() =>
    checkExamples(readJsonlExamples(readLines(source.path, 'inputs file', signal), source.path, model.inputs, limit), declared),
  );
}

/** Reads every example once (a bad one fails before the model loads; the count is the progress total). */
async function firstPass(read: () => AsyncGenerator<ExampleInput>): Promise<OpenedExamples> {
  let total = 0;
  let first: ExampleInput | undefined;
  let maxTokens: number | undefined;
  for await (const ex of read()) {
    first ??= ex;
    total++;
    for (const t of ex.tensors.values()) if (t.shape.length === 1 && !t.asGiven) maxTokens = Math.max(maxTokens ?? 0, t.shape[0]);
  }
  return { examples: read(), total, first, maxTokens };
}

/**
 * The model a run takes: with `selected` (the default), every If that holds attention is
 * narrowed to the branch the first example selects (`selectBranches`; later examples must
 * select the same); with `all`, every branch runs on every example.
 */
export function runBranches(model: AttentionModel, opened: OpenedExamples, mode: BranchMode = 'selected'): AttentionModel {
  if (mode === 'all' || !model.stacks.some((s) => s.branch?.length) || !opened.first) return model;
  return selectBranches(model, opened.first);
}
