import { InputError } from '../errors';
import type { ModelDims } from '../onnx/dims';
import type { ModelInput } from '../onnx/inspect';
import type { ExampleInput, TextTokenizer } from './inputs';

/** Where examples come from: a JSONL of named tensors, or text plus the model's tokenizer. */
export type ExampleSource =
  | { kind: 'jsonl'; path: string }
  | { kind: 'text'; path: string; tokenizer: string; maxLength?: number };

/** Token limit for text when neither the option nor the model says. */
export const defaultMaxLength = 128;

/**
 * Values one example of one input may hold when the model fixes its size. A model that
 * declares more (a sequence axis of 2^40) would make the runner allocate it for every example.
 */
export const maxDeclaredValues = 2 ** 26;

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

/** What the model declares about its inputs: the examples are checked against it before anything runs. */
export interface DeclaredInputs {
  /** Names the model in messages. */
  model: string;
  inputs: ModelInput[];
  /** The input that holds token ids (`input_ids`), if any. */
  tokenInput: string | undefined;
  dims: ModelDims;
}

/** Refuses a model whose inputs, as declared, cannot be fed one example at a time. */
export function checkDeclaredInputs(d: DeclaredInputs): void {
  for (const spec of d.inputs) {
    const fixed = (spec.shape ?? []).slice(1).filter((x): x is number => typeof x === 'number');
    const values = fixed.reduce((a, b) => a * b, 1);
    if (values > maxDeclaredValues) {
      throw new InputError(`${d.model} declares input "${spec.name}" of shape [${spec.shape!.join(', ')}]: ${values} values per example, more than this tool feeds (${maxDeclaredValues})`);
    }
  }
}

/** Inputs of one side of the model share one sequence axis: the decoder's start with `decoder_`. */
const sideOf = (name: string) => (name.startsWith('decoder_') ? 'decoder' : 'encoder');
const isMask = (name: string) => /attention_mask$/.test(name) || name === 'mask';

/**
 * Passes examples through, refusing (naming file and line) what the model would fail on or
 * silently misread: values that are not finite or outside their element type, sizes other
 * than the declared ones, sequences longer than the position table, ids outside the
 * vocabulary, inputs of one side with different lengths, and masks with no real token.
 */
export async function* checkExamples(examples: AsyncIterable<ExampleInput>, d: DeclaredInputs): AsyncGenerator<ExampleInput> {
  for await (const ex of examples) {
    checkExample(ex, d);
    yield ex;
  }
}

export function checkExample(ex: ExampleInput, d: DeclaredInputs): void {
  const at = ex.origin;
  const lengths = new Map<string, { name: string; length: number }>();
  for (const spec of d.inputs) {
    const t = ex.tensors.get(spec.name);
    if (!t) continue;
    checkValues(t.values, spec, at);
    const declared = spec.shape ?? [];
    const seq = declared[1];
    if (typeof seq === 'number' && t.shape[0] > seq) throw new InputError(`${at}: "${spec.name}" has ${t.shape[0]} tokens; the model takes at most ${seq}`);
    declared.slice(2).forEach((dim, i) => {
      if (typeof dim === 'number' && t.shape[i + 1] !== dim) {
        throw new InputError(`${at}: "${spec.name}" has ${t.shape[i + 1]} values on axis ${i + 1}; the model declares ${dim}`);
      }
    });
    const side = lengths.get(sideOf(spec.name));
    if (side && side.length !== t.shape[0]) {
      throw new InputError(`${at}: "${spec.name}" has ${t.shape[0]} tokens but "${side.name}" has ${side.length}: one example's inputs must have one length`);
    }
    if (!side) lengths.set(sideOf(spec.name), { name: spec.name, length: t.shape[0] });
    if (isMask(spec.name) && !t.values.some((v) => v !== 0)) throw new InputError(`${at}: "${spec.name}" is all zeros: an example needs at least one real token`);
  }
  const ids = d.tokenInput ? ex.tensors.get(d.tokenInput) : undefined;
  if (ids && d.dims.maxPositions !== null && ids.shape[0] > d.dims.maxPositions) {
    throw new InputError(`${at}: "${d.tokenInput}" has ${ids.shape[0]} tokens, more than the model's ${d.dims.maxPositions} positions`);
  }
  const vocab = d.dims.vocab;
  if (ids && vocab !== null) {
    const bad = ids.values.find((v) => v < 0 || v >= vocab);
    if (bad !== undefined) throw new InputError(`${at}: "${d.tokenInput}" holds id ${bad}, outside the model's vocabulary of ${vocab}`);
  }
}

/** Integer ranges the runner can write exactly into each element type. */
const integerRange: Record<string, [number, number]> = {
  int64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  bool: [0, 1],
};

function checkValues(values: number[], spec: ModelInput, at: string): void {
  const range = integerRange[spec.type];
  for (const v of values) {
    if (!Number.isFinite(v)) throw new InputError(`${at}: "${spec.name}" holds ${v}; expected finite numbers (${spec.type})`);
    if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) {
      throw new InputError(`${at}: "${spec.name}" holds ${v}, which is not a ${spec.type} value`);
    }
  }
}
