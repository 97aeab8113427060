import { InputError } from '../errors';
import type { TextTokenizer } from '../runtime/inputs';

/**
 * Token shards (`attention-reuse/shards@1`, docs/planning.md "Token shards"): a folder with
 * `index.json` and the shard files it lists, written once by `attention-reuse tokenize` with
 * the model's tokenizer.json, memory-mapped by the trainer (media/trainer/shards.py).
 *
 * Lines are packed into rows of exactly `sequenceLength` tokens: the tokenizer's
 * post-processor frame around one sequence (`prefixIds`, e.g. [CLS], and `separatorIds`,
 * e.g. [SEP]) with the lines of the text joined by the separator inside it, so a row reads
 * `[CLS] line [SEP] line [SEP] … [SEP]`; a line longer than the room left continues in the
 * next row. A row is shorter (padded with `padId`; its length is stored) only where the room
 * left would hold nothing but a separator, and at the end of a split.
 *
 * A shard file, little-endian:
 *   bytes 0..7   ASCII "ARSHARD1"
 *   bytes 8..11  uint32: length h of the JSON header (ShardHeader)
 *   bytes 12..   the header, padded with spaces so that what follows starts at a multiple of 8
 *   then         uint32 lengths[sequences], zero-padded to a multiple of 8 bytes
 *   then         ids[sequences][sequenceLength], uint16 when the vocabulary fits, else uint32
 */
export const shardIndexSchema = 'attention-reuse/shards@1';
export const shardSchema = 'attention-reuse/shard@1';
export const shardMagic = 'ARSHARD1';
export const shardIndexFile = 'index.json';

export type ShardSplit = 'train' | 'heldOut';
export type ShardDtype = 'uint16' | 'uint32';

export interface ShardEntry {
  file: string;
  sequences: number;
  /** Real (unpadded) tokens. */
  tokens: number;
}

export interface ShardIndex {
  schema: typeof shardIndexSchema;
  /** sha256 of the tokenizer.json bytes: every shard carries it too, and training checks it. */
  tokenizer: { path: string; sha256: string };
  text: { path: string; sha256: string | null; lines: number };
  sequenceLength: number;
  dtype: ShardDtype;
  /** Largest id the tokenizer can produce, plus one. */
  vocabSize: number;
  padId: number;
  maskId: number;
  /** Ids the masked-LM objective never masks or predicts. */
  specialIds: number[];
  prefixIds: number[];
  separatorIds: number[];
  /** Share of the lines in the held-out split. */
  heldOutFraction: number;
  train: ShardEntry[];
  heldOut: ShardEntry[];
}

export interface ShardHeader {
  schema: typeof shardSchema;
  split: ShardSplit;
  index: number;
  sequences: number;
  tokens: number;
  sequenceLength: number;
  dtype: ShardDtype;
  tokenizerSha256: string;
}

/** The tokenizer's added (special) tokens: masked-LM training never masks or predicts them. */
export function specialIdsOf(tok: TextTokenizer): number[] {
  return [...tok.tokenizer.get_added_tokens_decoder().keys()].map(Number).sort((a, b) => a - b);
}

/** The token of the tokenizer that masked-LM training replaces hidden tokens with. */
export function maskIdOf(tok: TextTokenizer): number {
  const id = tok.tokenizer.token_to_id('[MASK]') ?? tok.tokenizer.token_to_id('<mask>');
  if (id === undefined || id === null)
    throw new InputError(`tokenizer ${tok.path} has no [MASK] or <mask> token, which masked-LM training needs`);
  return id;
}

export function shardFileName(split: ShardSplit, k: number): string {
  return `${split === 'train' ? 'train' : 'heldout'}-${String(k).padStart(5, '0')}.bin`;
}

export function dtypeFor(vocabSize: number): ShardDtype {
  return vocabSize <= 1 << 16 ? 'uint16' : 'uint32';
}

/** Line `i` (0-based, non-empty lines) is held out: evenly spread, exactly ⌊n·fraction⌋ of n lines. */
export function isHeldOut(i: number, fraction: number): boolean {
  return Math.floor((i + 1) * fraction) > Math.floor(i * fraction);
}

/**
 * What the post-processor puts around one sequence: the ids before and after the line's own
 * ids in its encoding with special tokens. Null when the line's ids are not found inside.
 */
export function frameOf(withSpecials: number[], raw: number[]): { prefix: number[]; suffix: number[] } | null {
  for (let at = 0; at + raw.length <= withSpecials.length; at++) {
    if (raw.every((id, k) => withSpecials[at + k] === id))
      return { prefix: withSpecials.slice(0, at), suffix: withSpecials.slice(at + raw.length) };
  }
  return null;
}

/** Packs lines into rows of `width` tokens: prefix + lines joined by the separator + separator. */
export class RowPacker {
  private content: number[] = [];
  readonly room: number;

  constructor(
    readonly width: number,
    private readonly prefix: number[],
    private readonly separator: number[],
    private readonly onRow: (row: number[]) => void,
  ) {
    this.room = width - prefix.length - separator.length;
    if (this.room < 1)
      throw new InputError(
        `{field} ${width} leaves no room for text between the tokenizer's ${prefix.length + separator.length} special tokens`,
        'maxLength',
      );
  }

  addLine(raw: number[]): void {
    // A row with room for the separator but no token of the line ends here, not with two separators.
    if (this.content.length > 0 && this.room - this.content.length <= this.separator.length) this.emit();
    let rest = this.content.length > 0 ? [...this.separator, ...raw] : raw;
    while (rest.length > 0) {
      const take = this.room - this.content.length;
      this.content.push(...rest.slice(0, take));
      rest = rest.slice(take);
      if (this.content.length === this.room) this.emit();
    }
  }

  /** Tokens waiting for the next row. */
  get pending(): number {
    return this.content.length;
  }

  /** Emits the last, shorter row. */
  finish(): void {
    if (this.content.length > 0) this.emit();
  }

  private emit(): void {
    this.onRow([...this.prefix, ...this.content, ...this.separator]);
    this.content = [];
  }
}

function headerBytes(header: object): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return Buffer.concat([json, Buffer.alloc((8 - ((12 + json.length) % 8)) % 8, 0x20)]);
}

/** Rows of one split, gathered into shard files of `rowsPerShard` rows (the only buffer held). */
export class ShardBuilder {
  private ids: Uint16Array | Uint32Array;
  private lengths: Uint32Array;
  private rows = 0;
  private written = 0;
  readonly entries: ShardEntry[] = [];

  constructor(
    readonly split: ShardSplit,
    readonly width: number,
    readonly dtype: ShardDtype,
    readonly rowsPerShard: number,
    readonly tokenizerSha256: string,
    readonly padId: number,
  ) {
    this.ids = dtype === 'uint16' ? new Uint16Array(rowsPerShard * width) : new Uint32Array(rowsPerShard * width);
    this.lengths = new Uint32Array(rowsPerShard);
  }

  /** Adds a row; returns a full shard's file name and bytes when this row completes one. */
  add(row: number[]): { file: string; bytes: Uint8Array } | null {
    const at = this.rows * this.width;
    this.ids.fill(this.padId, at, at + this.width);
    this.ids.set(row, at);
    this.lengths[this.rows++] = row.length;
    return this.rows === this.rowsPerShard ? this.flush() : null;
  }

  /** The shard of the rows added since the last one, or null when there are none. */
  flush(): { file: string; bytes: Uint8Array } | null {
    if (this.rows === 0) return null;
    const n = this.rows;
    const tokens = this.lengths.subarray(0, n).reduce((a, b) => a + b, 0);
    const header: ShardHeader = {
      schema: shardSchema,
      split: this.split,
      index: this.written,
      sequences: n,
      tokens,
      sequenceLength: this.width,
      dtype: this.dtype,
      tokenizerSha256: this.tokenizerSha256,
    };
    const json = headerBytes(header);
    const prefix = Buffer.alloc(12);
    prefix.write(shardMagic, 0, 'ascii');
    prefix.writeUInt32LE(json.length, 8);
    const lengths = Buffer.from(this.lengths.buffer, 0, 4 * n);
    const ids = Buffer.from(this.ids.buffer, 0, n * this.width * this.ids.BYTES_PER_ELEMENT);
    const bytes = Buffer.concat([prefix, json, lengths, Buffer.alloc(n % 2 ? 4 : 0), ids]);
    const file = shardFileName(this.split, this.written++);
    this.entries.push({ file, sequences: n, tokens });
    this.rows = 0;
    return { file, bytes };
  }
}

/** A shard file's header and arrays (the trainer memory-maps them; this is for checks and tests). */
export function decodeShard(bytes: Uint8Array, label: string): { header: ShardHeader; lengths: Uint32Array; rows: number[][] } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || buf.toString('ascii', 0, 8) !== shardMagic)
    throw new InputError(`${label} is not a token shard (it does not start with "${shardMagic}")`);
  const h = buf.readUInt32LE(8);
  const header = JSON.parse(buf.toString('utf8', 12, 12 + h)) as ShardHeader;
  const n = header.sequences;
  const lengths = new Uint32Array(n);
  for (let r = 0; r < n; r++) lengths[r] = buf.readUInt32LE(12 + h + 4 * r);
  const idsAt = 12 + h + 4 * n + (n % 2 ? 4 : 0);
  const size = header.dtype === 'uint16' ? 2 : 4;
  const rows = Array.from({ length: n }, (_, r) =>
    Array.from({ length: lengths[r] }, (_, k) => {
      const at = idsAt + size * (r * header.sequenceLength + k);
      return size === 2 ? buf.readUInt16LE(at) : buf.readUInt32LE(at);
    }),
  );
  return { header, lengths, rows };
}

/** A parsed index.json, checked enough for the CLI to rely on its fields (the trainer checks every shard). */
export function checkShardIndex(json: unknown, label: string): ShardIndex {
  const index = json as Partial<ShardIndex> | null;
  if (!index || typeof index !== 'object' || index.schema !== shardIndexSchema)
    throw new InputError(`${label} is not a token-shard index (schema must be "${shardIndexSchema}")`);
  const sha = index.tokenizer?.sha256;
  if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)) throw new InputError(`${label}: tokenizer.sha256 must be a sha256`);
  if (!Number.isInteger(index.sequenceLength) || index.sequenceLength! < 1)
    throw new InputError(`${label}: sequenceLength must be a whole number ≥ 1`);
  if (!Array.isArray(index.train) || !Array.isArray(index.heldOut))
    throw new InputError(`${label}: train and heldOut must list shard files`);
  return index as ShardIndex;
}
