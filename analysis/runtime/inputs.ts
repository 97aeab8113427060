import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../errors';
import { frameOf, RowPacker } from '../config/tokenShards';
import { parseJsonText } from '../jsonText';
import type { ModelInput } from '../onnx/inspect';
import type { TextLine } from '../textLine';
import type { RgbImage } from './images';
import { inputRole, sideOf, tokenInputOf } from './inputRoles';

/** One input of one example, row-major. */
export interface InputTensor {
  values: number[];
  /** Without the batch axis (for token inputs axis 0 is the sequence), unless `asGiven`. */
  shape: number[];
  /**
   * Fed exactly as given, without a batch axis: an input the model declares with a fixed first
   * axis that the line gives whole (a merged decoder's [1] flag). A batch holds one value of it.
   */
  asGiven?: boolean;
}

/** One example's input tensors. */
export interface ExampleInput {
  /** 0-based example index in the file. */
  index: number;
  /** Where it came from, for messages: `file:line`. */
  origin: string;
  tensors: Map<string, InputTensor>;
  /** Token strings, when the example came from text. */
  tokens?: string[];
  /** The image as the model saw it (resized and cropped), when the example came from an image file. */
  image?: RgbImage;
  /** The audio feature frames fed, and the seconds one of them spans, when the example came from audio features. */
  audio?: { frames: number; frameSeconds: number };
  /** Positions in `input` of the tokens the tokenizer marks special ([CLS], [SEP], …), when the example came from text. */
  special?: { input: string; positions: number[] };
}

/**
 * Inputs a model may lack in a JSONL line that have one obvious value, for `length` tokens
 * after `past` cached ones (the mask covers both; positions continue after the past).
 */
export function defaultInput(name: string, length: number, past = 0): number[] | undefined {
  if (/attention_mask$/.test(name) || name === 'mask') return new Array<number>(past + length).fill(1);
  if (/token_type_ids$/.test(name)) return new Array<number>(length).fill(0);
  if (/position_ids$/.test(name)) return Array.from({ length }, (_, i) => past + i);
  return undefined;
}

/**
 * Reads the lines of a JSONL file (`path` names it in messages), one example of named
 * tensors per line, and checks every line against the model's declared inputs (names,
 * element types, ranks).
 */
export async function* readJsonlExamples(
  lines: AsyncIterable<TextLine>,
  path: string,
  inputs: ModelInput[],
  limit = Infinity,
): AsyncGenerator<ExampleInput> {
  const declared = new Map(inputs.map((i) => [i.name, i]));
  let index = 0;
  for await (const { text, line } of lines) {
    if (index >= limit) return;
    const origin = `${path}:${line}`;
    const obj = parseJsonText(text, origin);
    if (!obj || typeof obj !== 'object' || Array.isArray(obj))
      throw new InputError(`${origin}: expected a JSON object of named input tensors`);
    const tensors = new Map<string, InputTensor>();
    for (const [name, value] of Object.entries(obj as Record<string, unknown>)) {
      const spec = declared.get(name);
      if (!spec)
        throw new InputError(`${origin}: "${name}" is not an input of the model (it expects ${inputs.map((i) => i.name).join(', ')})`);
      tensors.set(name, toTensor(value, spec, origin));
    }
    fillDefaults(tensors, inputs, origin);
    yield { index: index++, origin, tensors };
  }
  if (index === 0) throw new InputError(`inputs file ${path} holds no examples`);
}

function toTensor(value: unknown, spec: ModelInput, origin: string): InputTensor {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  if (shape.includes(0)) throw new InputError(`${origin}: "${spec.name}" is empty`);
  const declared = spec.shape;
  // A line gives an input whole (no batch axis added) when the model fixes its first axis and
  // the line has every axis; otherwise one example of it, which the batch axis is added to.
  const asGiven = declared !== null && typeof declared[0] === 'number' && shape.length === declared.length;
  const expectedRank = declared ? declared.length - 1 : undefined;
  if (!asGiven && shape.length === 0 && expectedRank !== 0)
    throw new InputError(`${origin}: "${spec.name}" must be an array (one entry per token)`);
  if (!asGiven && expectedRank !== undefined && shape.length !== expectedRank) {
    throw new InputError(
      `${origin}: "${spec.name}" has ${shape.length} dimension(s) per example; the model expects ${expectedRank} (plus the batch axis)`,
    );
  }
  const integer = /int|bool/.test(spec.type);
  const values: number[] = [];
  // Every sub-array is checked against the shape its first entries gave, so a ragged array
  // is refused even where its count happens to match.
  const walk = (v: unknown, axis: number): void => {
    if (axis === shape.length) {
      if (typeof v !== 'number' && typeof v !== 'boolean') {
        throw new InputError(`${origin}: "${spec.name}" holds ${JSON.stringify(v).slice(0, 40)}; expected numbers (${spec.type})`);
      }
      if (integer && typeof v === 'number' && !Number.isInteger(v))
        throw new InputError(`${origin}: "${spec.name}" holds ${v}, but the model declares it ${spec.type}`);
      values.push(Number(v));
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[axis])
      throw new InputError(`${origin}: "${spec.name}" is a ragged array (not ${shape.join(' × ')})`);
    for (const x of v) walk(x, axis + 1);
  };
  walk(value, 0);
  return asGiven ? { values, shape, asGiven } : { values, shape };
}

/**
 * Fills in the inputs a line may leave out: an empty past for a KV-cache decoder (its declared
 * heads and head size, no cached positions), and masks, positions and token types of its side's
 * tokens (the mask and positions after the past, when there is one). Anything else missing is
 * refused, an If's condition input naming the If it decides.
 */
export function fillDefaults(tensors: Map<string, InputTensor>, inputs: ModelInput[], origin: string): void {
  let past: number | undefined;
  for (const spec of inputs) {
    if (inputRole(spec) !== 'past') continue;
    const given = tensors.get(spec.name);
    if (given) {
      past ??= given.shape[1];
      continue;
    }
    const [heads, size] = [spec.shape?.[1], spec.shape?.[3]];
    if (typeof heads !== 'number' || typeof size !== 'number') {
      throw new InputError(
        `${origin}: missing input "${spec.name}": the model does not fix its heads and head size, so give the past in the line`,
      );
    }
    tensors.set(spec.name, { values: [], shape: [heads, 0, size] });
  }
  const tokens = (side: string) => inputs.find((i) => inputRole(i) === 'tokens' && sideOf(i.name) === side && tensors.has(i.name));
  for (const spec of inputs) {
    if (tensors.has(spec.name)) continue;
    const side = sideOf(spec.name);
    const partner = tokens(side)
      ? tensors.get(tokens(side)!.name)
      : side === 'encoder'
        ? [...tensors.values()].find((t) => !t.asGiven)
        : undefined;
    const offset = side === 'encoder' ? (past ?? 0) : 0;
    const filled = partner && partner.shape.length > 0 ? defaultInput(spec.name, partner.shape[0], offset) : undefined;
    if (!filled) {
      const decides = spec.selectsBranch ? `: it decides which branch of If "${spec.selectsBranch}" runs` : '';
      throw new InputError(`${origin}: missing input "${spec.name}" (${spec.type})${decides}`);
    }
    tensors.set(spec.name, { values: filled, shape: [filled.length] });
  }
}

/** A Hugging Face tokenizer.json, read with @huggingface/tokenizers. */
export interface TextTokenizer {
  path: string;
  tokenizer: Tokenizer;
  /** Largest token id the tokenizer can produce. */
  maxId: number;
  padId: number;
  /** Ids of the added tokens marked special (sinks are measured on them). */
  specialIds: Set<number>;
}

/** A tokenizer from the parsed JSON of a tokenizer.json (`path` names it in messages). */
export function parseTokenizer(parsed: unknown, path: string): TextTokenizer {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InputError(`tokenizer ${path} is not a JSON object`);
  const json = parsed as Record<string, unknown>;
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, {});
  } catch (err) {
    throw new InputError(`tokenizer ${path} is not a tokenizer.json this tool can read (${(err as Error).message})`);
  }
  const vocab = (json.model as { vocab?: unknown } | undefined)?.vocab;
  const ids = Array.isArray(vocab) ? vocab.map((_, i) => i) : typeof vocab === 'object' && vocab !== null ? Object.values(vocab) : [];
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as { id?: unknown }[]).map((t) => t?.id) : [];
  // A loop, not Math.max(...ids): a vocabulary of 250k entries is more arguments than a call takes.
  let maxId = 0;
  for (const id of [...ids, ...added]) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
      throw new InputError(`tokenizer ${path} has a token id ${JSON.stringify(id)?.slice(0, 40)}, not a whole number ≥ 0`);
    if (id > maxId) maxId = id;
  }
  const padId = tokenizer.token_to_id('[PAD]') ?? tokenizer.token_to_id('<pad>') ?? 0;
  const specialIds = new Set([...tokenizer.get_added_tokens_decoder().entries()].filter(([, t]) => t.special).map(([id]) => id));
  return { path, tokenizer, maxId, padId, specialIds };
}

/** The positions of `ids` that hold a token the tokenizer marks special. */
export function specialPositions(tok: TextTokenizer, ids: number[]): number[] {
  return ids.flatMap((id, i) => (tok.specialIds.has(id) ? [i] : []));
}

/**
 * One line's token ids, with the post-processor's special tokens or without them. A tokenizer
 * that fails, or has no id for a piece of the text (no unknown token), is refused naming the line.
 */
export function tokenIds(tok: TextTokenizer, text: string, origin: string, addSpecialTokens = true): number[] {
  let encoded: { ids: ArrayLike<unknown>; tokens: ArrayLike<unknown> };
  try {
    encoded = tok.tokenizer.encode(text, { add_special_tokens: addSpecialTokens });
  } catch (err) {
    throw new InputError(`${origin}: the tokenizer ${tok.path} fails on this line (${(err as Error).message.split('\n')[0]})`);
  }
  const ids = Array.from(encoded.ids, Number);
  const missing = ids.findIndex((id) => !Number.isSafeInteger(id) || id < 0);
  if (missing >= 0) {
    throw new InputError(
      `${origin}: the tokenizer ${tok.path} has no id for ${JSON.stringify(String(encoded.tokens[missing])).slice(0, 40)} (and no unknown token)`,
    );
  }
  return ids;
}

/**
 * One line's token ids with the model's tokenizer (its special tokens and post-processor),
 * truncated to `maxLength` keeping a final special token such as [SEP].
 */
export function encodeLine(tok: TextTokenizer, text: string, maxLength: number, origin: string): number[] {
  let ids = tokenIds(tok, text, origin);
  if (ids.length > maxLength) {
    const last = ids[ids.length - 1];
    const special = tok.tokenizer.get_added_tokens_decoder().has(last);
    ids = special ? [...ids.slice(0, maxLength - 1), last] : ids.slice(0, maxLength);
  }
  return ids;
}

/**
 * Reads the lines of a text file, one example per line, tokenized with the model's
 * tokenizer (its special tokens and post-processor) and truncated to `maxLength` tokens,
 * keeping a final special token such as [SEP].
 */
export async function* readTextExamples(
  lines: AsyncIterable<TextLine>,
  path: string,
  tok: TextTokenizer,
  inputs: ModelInput[],
  maxLength: number,
  limit = Infinity,
  pack = false,
): AsyncGenerator<ExampleInput> {
  const idsInput = tokenInputOf(inputs)?.name;
  if (!idsInput)
    throw new InputError(
      `${path}: the model has no integer token input to tokenize text into; it takes ${describeInputs(inputs)}: give its inputs as JSONL with {field}`,
      'inputs',
    );
  let index = 0;
  const sequences = pack ? packLines(lines, path, tok, maxLength) : lineSequences(lines, path, tok, maxLength);
  for await (const { ids, origin } of sequences) {
    if (index >= limit) return;
    const tensors = new Map([[idsInput, { values: ids, shape: [ids.length] }]]);
    fillDefaults(tensors, inputs, origin);
    const tokens = ids.map((id) => tok.tokenizer.id_to_token(id) ?? `#${id}`);
    yield { index: index++, origin, tensors, tokens, special: { input: idsInput, positions: specialPositions(tok, ids) } };
  }
  if (index === 0) throw new InputError(`text file ${path} holds no non-empty lines`);
}

/** One sequence per line, truncated (`encodeLine`). */
async function* lineSequences(
  lines: AsyncIterable<TextLine>,
  path: string,
  tok: TextTokenizer,
  maxLength: number,
): AsyncGenerator<{ ids: number[]; origin: string }> {
  for await (const { text, line } of lines) {
    const origin = `${path}:${line}`;
    yield { ids: encodeLine(tok, text, maxLength, origin), origin };
  }
}

/**
 * `--pack`: lines concatenated into sequences of `maxLength` tokens, as pre-training examples
 * are built: the tokenizer's prefix (e.g. [CLS]), lines joined by its separator (e.g. [SEP]),
 * a closing separator; a line that does not fit continues in the next sequence, and the last
 * sequence is shorter (`RowPacker`, the same packing `tokenize` writes for training).
 */
export async function* packLines(
  lines: AsyncIterable<TextLine>,
  path: string,
  tok: TextTokenizer,
  maxLength: number,
): AsyncGenerator<{ ids: number[]; origin: string }> {
  const ready: { ids: number[]; origin: string }[] = [];
  let packer: RowPacker | undefined;
  // The line the sequence being filled began in, and the line being added.
  let start: number | undefined;
  let current = 0;
  const onRow = (ids: number[]) => {
    ready.push({ ids, origin: start === current ? `${path}:${current}` : `${path}:${start}-${current}` });
    start = current;
  };
  for await (const { text, line } of lines) {
    const origin = `${path}:${line}`;
    const raw = tokenIds(tok, text, origin, false);
    if (raw.length === 0) continue;
    if (!packer) {
      const frame = frameOf(tokenIds(tok, text, origin), raw) ?? { prefix: [], suffix: [] };
      packer = new RowPacker(maxLength, frame.prefix, frame.suffix, onRow);
    }
    current = line;
    start ??= line;
    packer.addLine(raw);
    if (packer.pending === 0) start = undefined;
    yield* ready.splice(0);
  }
  packer?.finish();
  yield* ready.splice(0);
}

/** "pixel_values" (float32 [batch, 3, 16, 16]), …: how a message names a model's inputs. */
export function describeInputs(inputs: ModelInput[]): string {
  return inputs.map((i) => `"${i.name}" (${i.type} [${(i.shape ?? ['?']).join(', ')}])`).join(', ');
}
