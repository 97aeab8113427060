import { InputError } from '../errors';
import type { ModelDims } from '../onnx/dims';
import type { ImageFlags } from './images';
import type { ModelInput } from '../onnx/inspect';
import { inputRole, isSequenceRole, sideOf } from './inputRoles';
import type { InputRole } from './inputRoles';
import type { ExampleInput, InputTensor, TextTokenizer } from './inputs';

/**
 * Where examples come from: a JSONL of named tensors, text plus the model's tokenizer, a
 * folder of PNG and JPEG images (prepared as `preprocessor` or the config beside the model
 * says, the flags overriding it), or NumPy arrays (`.npy`, `.npz`) whose first axis counts
 * the examples.
 */
export type ExampleSource =
  | { kind: 'jsonl'; path: string }
  | {
      kind: 'text';
      path: string;
      tokenizer: string;
      maxLength?: number;
      /** Concatenate lines into maxLength-token sequences (`packLines`). */ pack?: boolean;
    }
  | ({ kind: 'images'; path: string; preprocessor?: string } & ImageFlags)
  | { kind: 'arrays'; path: string };

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
      throw new InputError(
        `${d.model} declares input "${spec.name}" of shape [${spec.shape!.join(', ')}]: ${values} values per example, more than this tool feeds (${maxDeclaredValues})`,
      );
    }
  }
}

/**
 * Passes examples through, refusing (naming file and line) what the model would fail on or
 * silently misread: values that are not finite or outside their element type, sizes other
 * than the declared ones, sequences longer than the position table, ids outside the
 * vocabulary, token inputs of one side with different lengths (a mask covers the past too),
 * past keys and values of different lengths, and masks with no real token.
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
  let past: { name: string; length: number } | undefined;
  for (const spec of d.inputs) {
    const t = ex.tensors.get(spec.name);
    if (!t) continue;
    checkValues(t.values, spec, at);
    const role = inputRole(spec);
    checkDeclaredShape(t, spec, role, at);
    if (role === 'past') {
      if (past && past.length !== t.shape[1]) {
        throw new InputError(
          `${at}: "${spec.name}" holds ${t.shape[1]} past positions but "${past.name}" holds ${past.length}: every layer caches the same tokens`,
        );
      }
      past ??= { name: spec.name, length: t.shape[1] };
    }
    if (!isSequenceRole(role) || role === 'mask') continue;
    const side = lengths.get(sideOf(spec.name));
    if (side && side.length !== t.shape[0]) {
      throw new InputError(
        `${at}: "${spec.name}" has ${t.shape[0]} tokens but "${side.name}" has ${side.length}: one example's inputs must have one length`,
      );
    }
    if (!side) lengths.set(sideOf(spec.name), { name: spec.name, length: t.shape[0] });
  }
  for (const spec of d.inputs.filter((i) => inputRole(i) === 'mask')) {
    const t = ex.tensors.get(spec.name);
    if (!t) continue;
    const side = lengths.get(sideOf(spec.name));
    const cached = sideOf(spec.name) === 'encoder' ? (past?.length ?? 0) : 0;
    if (side && t.shape[0] !== side.length + cached) {
      const tokens = cached > 0 ? `the past and "${side.name}" have ${cached} + ${side.length}` : `"${side.name}" has ${side.length}`;
      throw new InputError(`${at}: "${spec.name}" has ${t.shape[0]} tokens but ${tokens}: one example's inputs must have one length`);
    }
    if (!t.values.some((v) => v !== 0))
      throw new InputError(`${at}: "${spec.name}" is all zeros: an example needs at least one real token`);
  }
  const ids = d.tokenInput ? ex.tensors.get(d.tokenInput) : undefined;
  const total = (ids?.shape[0] ?? 0) + (past?.length ?? 0);
  if (ids && d.dims.maxPositions !== null && total > d.dims.maxPositions) {
    const what = past?.length ? `${past.length} past and ${ids.shape[0]} new tokens` : `${ids.shape[0]} tokens`;
    throw new InputError(`${at}: "${d.tokenInput}" has ${what}, more than the model's ${d.dims.maxPositions} positions`);
  }
  const vocab = d.dims.vocab;
  if (ids && vocab !== null) {
    const bad = ids.values.find((v) => v < 0 || v >= vocab);
    if (bad !== undefined) throw new InputError(`${at}: "${d.tokenInput}" holds id ${bad}, outside the model's vocabulary of ${vocab}`);
  }
}

/**
 * The sizes the model fixes: a token axis may be shorter than a fixed length (it is padded),
 * every other fixed axis must match; an input given whole is checked on every axis. Axes are
 * counted as the line gives them (without the batch axis).
 */
function checkDeclaredShape(t: InputTensor, spec: ModelInput, role: InputRole, at: string): void {
  const declared = spec.shape ?? [];
  const axes = t.asGiven ? declared : declared.slice(1);
  axes.forEach((dim, i) => {
    if (typeof dim !== 'number' || i >= t.shape.length) return;
    if (i === 0 && isSequenceRole(role) && !t.asGiven) {
      if (t.shape[0] > dim) throw new InputError(`${at}: "${spec.name}" has ${t.shape[0]} tokens; the model takes at most ${dim}`);
    } else if (t.shape[i] !== dim) {
      throw new InputError(`${at}: "${spec.name}" has ${t.shape[i]} values on axis ${i}; the model declares ${dim}`);
    }
  });
}

/** Integer ranges the runner can write exactly into each element type. */
const integerRange: Record<string, [number, number]> = {
  int64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  uint16: [0, 2 ** 16 - 1],
  int8: [-128, 127],
  uint8: [0, 255],
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
