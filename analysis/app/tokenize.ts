/**
 * `attention-reuse tokenize`: a text file into token shards (`attention-reuse/shards@1`,
 * analysis/config/tokenShards.ts) with the model's tokenizer.json, the same tokenizer the
 * analysis reads text with, so that training and analysis see the same tokens. Lines are
 * streamed and packed into rows of the model length; one shard of rows is the only buffer.
 */
import { join, resolve } from 'node:path';
import { InputError, checkCancelled } from '../errors';
import {
  RowPacker,
  ShardBuilder,
  checkShardIndex,
  dtypeFor,
  frameOf,
  isHeldOut,
  shardIndexFile,
  shardIndexSchema,
  maskIdOf,
  specialIdsOf,
} from '../config/tokenShards';
import type { ShardIndex, ShardSplit } from '../config/tokenShards';
import { tokenIds } from '../runtime/inputs';
import { readTokenizer } from './readers';
import type { ServiceCallbacks } from './service';
import { ensureFolder, exists, readJson, readLines, removeFile, sha256File, writeFileAtomic } from './storage';

export const defaultShardTokens = 1 << 24;
export const defaultHeldOut = 0.01;
export const defaultTokenizeLength = 128;

export interface TokenizeOptions {
  text: string;
  tokenizer: string;
  /** The shard folder. */
  out: string;
  /** Tokens per row, the model length (default 128). */
  maxLength?: number;
  /** Share of the lines held out for evaluation, in [0, 0.5] (default 0.01). */
  heldOut?: number;
  /** Tokens per shard file (default 2^24), rounded down to whole rows. */
  shardTokens?: number;
  /** Replace the shards a folder already holds. */
  force?: boolean;
  /** The model's vocabulary: an id at or above it is refused naming the line (train passes the config's). */
  vocabLimit?: number;
}

/** The index of a shard folder, checked. */
export async function readShardIndex(folder: string): Promise<ShardIndex> {
  const path = join(folder, shardIndexFile);
  return checkShardIndex(await readJson(path, 'token-shard index'), path);
}

export async function isShardFolder(folder: string): Promise<boolean> {
  return exists(join(folder, shardIndexFile));
}

function checkOptions(o: TokenizeOptions): { maxLength: number; heldOut: number; shardTokens: number } {
  const maxLength = o.maxLength ?? defaultTokenizeLength;
  if (!Number.isInteger(maxLength) || maxLength < 2)
    throw new InputError(`{field} must be a whole number ≥ 2 (got ${maxLength})`, 'maxLength');
  const heldOut = o.heldOut ?? defaultHeldOut;
  if (!(heldOut >= 0 && heldOut <= 0.5)) throw new InputError(`{field} must be a fraction in [0, 0.5] (got ${heldOut})`, 'heldOut');
  const shardTokens = o.shardTokens ?? defaultShardTokens;
  if (!Number.isInteger(shardTokens) || shardTokens < maxLength)
    throw new InputError(`{field} must be a whole number ≥ the row length ${maxLength} (got ${shardTokens})`, 'shardTokens');
  return { maxLength, heldOut, shardTokens };
}

/** Tokenizes, packs and writes the shards, then index.json last (a folder without it is not a shard folder). */
export async function tokenizeToShards(options: TokenizeOptions, callbacks: ServiceCallbacks = {}): Promise<ShardIndex> {
  const { maxLength, heldOut, shardTokens } = checkOptions(options);
  const { signal, onNote } = callbacks;
  const replacing = await isShardFolder(options.out);
  if (replacing && !options.force)
    throw new InputError(`${options.out} already holds token shards (pass {field} to replace them)`, 'force');
  const previous = replacing ? await readShardIndex(options.out).catch(() => null) : null;
  const tok = await readTokenizer(options.tokenizer);
  const tokenizerSha = await sha256File(options.tokenizer, 'tokenizer');
  const textSha = await sha256File(options.text, 'text file');
  const vocabSize = tok.maxId + 1;
  const dtype = dtypeFor(vocabSize);
  const rowsPerShard = Math.floor(shardTokens / maxLength);
  await ensureFolder(options.out);
  if (replacing) {
    // The old set goes first, index first, so a failure never leaves an index over missing shards.
    await removeFile(join(options.out, shardIndexFile));
    for (const old of [...(previous?.train ?? []), ...(previous?.heldOut ?? [])]) await removeFile(join(options.out, old.file));
  }

  const written: string[] = [];
  const builders = new Map<ShardSplit, ShardBuilder>();
  const packers = new Map<ShardSplit, RowPacker>();
  const pending: Promise<void>[] = [];
  const save = (shard: { file: string; bytes: Uint8Array } | null) => {
    if (!shard) return;
    written.push(shard.file);
    pending.push(writeFileAtomic(join(options.out, shard.file), shard.bytes, { overwrite: true }));
  };
  let frame: { prefix: number[]; suffix: number[] } | null = null;
  let lines = 0;
  try {
    for await (const { text, line } of readLines(options.text, 'text file', signal)) {
      const origin = `${options.text}:${line}`;
      const raw = tokenIds(tok, text, origin, false);
      if (raw.length === 0) continue;
      const bad = raw.find((id) => id >= (options.vocabLimit ?? Infinity));
      if (bad !== undefined)
        throw new InputError(
          `${origin}: token id ${bad} does not fit the model's vocabulary of ${options.vocabLimit} (is this the model's tokenizer?)`,
        );
      // The post-processor's frame of one sequence, read off the first line the tokenizer encodes both ways.
      frame ??= frameOf(tokenIds(tok, text, origin), raw) ?? { prefix: [], suffix: [] };
      const split: ShardSplit = isHeldOut(lines++, heldOut) ? 'heldOut' : 'train';
      let packer = packers.get(split);
      if (!packer) {
        const builder = new ShardBuilder(split, maxLength, dtype, rowsPerShard, tokenizerSha, tok.padId);
        builders.set(split, builder);
        packer = new RowPacker(maxLength, frame.prefix, frame.suffix, (row) => save(builder.add(row)));
        packers.set(split, packer);
      }
      packer.addLine(raw);
      // One shard in flight at a time: memory stays one buffer of rows whatever the text's size.
      if (pending.length > 0) await Promise.all(pending.splice(0));
    }
    for (const [split, packer] of packers) {
      packer.finish();
      save(builders.get(split)!.flush());
    }
    await Promise.all(pending.splice(0));
    checkCancelled(signal);
    if (!builders.has('train')) throw new InputError(`text file ${options.text} holds no line the tokenizer turns into tokens`);
    const index: ShardIndex = {
      schema: shardIndexSchema,
      tokenizer: { path: resolve(options.tokenizer), sha256: tokenizerSha },
      text: { path: resolve(options.text), sha256: textSha, lines },
      sequenceLength: maxLength,
      dtype,
      vocabSize,
      padId: tok.padId,
      maskId: maskIdOf(tok),
      specialIds: specialIdsOf(tok),
      prefixIds: frame!.prefix,
      separatorIds: frame!.suffix,
      heldOutFraction: heldOut,
      train: builders.get('train')!.entries,
      heldOut: builders.get('heldOut')?.entries ?? [],
    };
    await writeFileAtomic(join(options.out, shardIndexFile), `${JSON.stringify(index, null, 2)}\n`, { overwrite: true });
    const count = (entries: { sequences: number }[]) => entries.reduce((n, e) => n + e.sequences, 0);
    onNote?.(
      `${lines} lines → ${count(index.train)} training rows and ${count(index.heldOut)} held-out rows of ${maxLength} tokens in ${options.out}`,
    );
    return index;
  } catch (err) {
    await Promise.allSettled(pending);
    // No half-written set: the shards of this run go, and there is no index.
    for (const file of written) await removeFile(join(options.out, file)).catch(() => undefined);
    throw err;
  }
}
