import { InputError } from '../errors';

/**
 * The token file the reference trainer reads (docs/planning.md "Token file"):
 *
 *   bytes 0..7    ASCII "ARTOKEN1"
 *   bytes 8..11   uint32 LE: length h of the JSON header in bytes
 *   bytes 12..    the header, UTF-8 JSON (TokenFileHeader), padded with spaces to a multiple of 8
 *   then          uint64 LE offsets[examples + 1], in tokens (offsets[0] = 0)
 *   then          uint32 LE token ids[tokens]; example e is ids[offsets[e] .. offsets[e+1])
 *
 * Examples are tokenized with the model's tokenizer.json (special tokens included) and kept
 * whole up to maxLength; the trainer pads each batch and masks tokens itself. `attention-reuse
 * train` now packs text into token shards (tokenShards.ts); this single-file format stays
 * readable, by the trainer and here.
 */
export const tokenFileMagic = 'ARTOKEN1';
export const tokenFileSchema = 'attention-reuse/tokens@1';

export interface TokenFileHeader {
  schema: typeof tokenFileSchema;
  examples: number;
  tokens: number;
  /** Largest id the tokenizer can produce, plus one. */
  vocabSize: number;
  padId: number;
  maskId: number;
  /** Ids the masked-LM objective never masks or predicts ([CLS], [SEP], …). */
  specialIds: number[];
  maxLength: number;
  tokenizer: string;
  text: string;
}

export interface TokenFile {
  header: TokenFileHeader;
  offsets: BigUint64Array;
  ids: Uint32Array;
}

/** Encodes tokenized examples into the token file's bytes. */
export function encodeTokenFile(examples: number[][], header: Omit<TokenFileHeader, 'schema' | 'examples' | 'tokens'>): Uint8Array {
  const tokens = examples.reduce((n, e) => n + e.length, 0);
  const full: TokenFileHeader = { schema: tokenFileSchema, examples: examples.length, tokens, ...header };
  let json = Buffer.from(JSON.stringify(full), 'utf8');
  const pad = (8 - ((12 + json.length) % 8)) % 8; // keeps the uint64 offsets aligned
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const start = 12 + json.length;
  const bytes = new Uint8Array(start + 8 * (examples.length + 1) + 4 * tokens);
  const view = new DataView(bytes.buffer);
  bytes.set(Buffer.from(tokenFileMagic, 'ascii'), 0);
  view.setUint32(8, json.length, true);
  bytes.set(json, 12);
  let offset = 0;
  let at = start + 8 * (examples.length + 1);
  examples.forEach((ids, e) => {
    view.setBigUint64(start + 8 * e, BigInt(offset), true);
    for (const id of ids) {
      view.setUint32(at, id, true);
      at += 4;
    }
    offset += ids.length;
  });
  view.setBigUint64(start + 8 * examples.length, BigInt(offset), true);
  return bytes;
}

/** Bytes before the header: the magic and the header's length. */
const preamble = 12;

/**
 * The header of a token file from its first bytes (at least `preamble` + the header's
 * length) and the file's full size, checked field by field and against the size, so that a
 * hostile or truncated file is refused in one line before anything reads its body.
 */
export function decodeTokenFileHeader(head: Uint8Array, label: string, fileBytes: number): { header: TokenFileHeader; start: number } {
  const bad = (why: string): never => {
    throw new InputError(`${label} is not a valid token file: ${why}`);
  };
  if (!isTokenFileHead(head) || head.length < preamble) bad(`it does not start with "${tokenFileMagic}"`);
  const h = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(8, true);
  if (preamble + h > Math.min(head.length, fileBytes)) bad(`its header of ${h} bytes runs past the end`);
  let header: Partial<TokenFileHeader>;
  try {
    header = JSON.parse(Buffer.from(head.subarray(preamble, preamble + h)).toString('utf8')) as Partial<TokenFileHeader>;
  } catch {
    return bad('its header is not JSON');
  }
  if (typeof header !== 'object' || header === null || header.schema !== tokenFileSchema)
    bad(`its header's schema is not "${tokenFileSchema}"`);
  for (const key of ['examples', 'tokens', 'vocabSize', 'padId', 'maskId', 'maxLength'] as const) {
    const v = header[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      bad(`header field "${key}" is ${JSON.stringify(v)}, not a whole number ≥ 0`);
  }
  if (!Array.isArray(header.specialIds) || !header.specialIds.every((id) => Number.isSafeInteger(id) && id >= 0))
    bad('header field "specialIds" is not a list of ids');
  const start = preamble + h;
  const expected = start + 8 * (header.examples! + 1) + 4 * header.tokens!;
  if (expected !== fileBytes)
    bad(
      `its header promises ${header.examples} examples of ${header.tokens} tokens in all (${expected} bytes), but the file has ${fileBytes} bytes`,
    );
  return { header: header as TokenFileHeader, start };
}

export function decodeTokenFile(bytes: Uint8Array, label: string): TokenFile {
  const { header, start } = decodeTokenFileHeader(bytes, label, bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets = new BigUint64Array(header.examples + 1);
  for (let e = 0; e <= header.examples; e++) {
    offsets[e] = view.getBigUint64(start + 8 * e, true);
    if (offsets[e] > BigInt(header.tokens) || (e > 0 && offsets[e] < offsets[e - 1])) {
      throw new InputError(
        `${label} is not a valid token file: offset ${e} (${offsets[e]}) is out of order or past the ${header.tokens} tokens`,
      );
    }
  }
  if (offsets[0] !== 0n || offsets[header.examples] !== BigInt(header.tokens))
    throw new InputError(`${label} is not a valid token file: its offsets do not span the ${header.tokens} tokens`);
  const idsAt = start + 8 * (header.examples + 1);
  const ids = new Uint32Array(header.tokens);
  for (let t = 0; t < header.tokens; t++) ids[t] = view.getUint32(idsAt + 4 * t, true);
  return { header, offsets, ids };
}

/** True when a file's first bytes are the token-file magic (so `--data` can be either kind). */
export function isTokenFileHead(head: Uint8Array): boolean {
  return head.length >= 8 && Buffer.from(head.subarray(0, 8)).toString('ascii') === tokenFileMagic;
}
