// Protects the token shards (attention-reuse/shards@1): packing in the post-processor's frame, the held-out split, the shard bytes, and the tokenize service (bounded shards, no half-written set, replace only with force).
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tokenizeToShards } from '../../analysis/app/tokenize';
import { RowPacker, ShardBuilder, decodeShard, frameOf, isHeldOut } from '../../analysis/config/tokenShards';
import { InputError } from '../../analysis/errors';
import { root } from '../helpers/paths.mjs';

function pack(width: number, lines: number[][], prefix = [2], separator = [3]): number[][] {
  const rows: number[][] = [];
  const packer = new RowPacker(width, prefix, separator, (row) => rows.push(row));
  lines.forEach((l) => packer.addLine(l));
  packer.finish();
  return rows;
}

describe('token shards', () => {
  it('packs lines as [CLS] a [SEP] b [SEP], splitting a long line over rows', () => {
    assert.deepEqual(
      pack(8, [
        [10, 11],
        [12, 13, 14],
      ]),
      [[2, 10, 11, 3, 12, 13, 14, 3]],
    );
    assert.deepEqual(pack(6, [[10, 11, 12, 13, 14, 15, 16]]), [
      [2, 10, 11, 12, 13, 3],
      [2, 14, 15, 16, 3],
    ]);
    assert.deepEqual(
      pack(6, [[10, 11, 12], [13]]),
      [
        [2, 10, 11, 12, 3],
        [2, 13, 3],
      ],
      'a row with room only for the separator ends, never with two separators',
    );
    assert.deepEqual(pack(4, [[1, 2], [3]], [], []), [[1, 2, 3]], 'no frame (GPT-like): lines are concatenated');
    assert.throws(
      () => pack(2, [[1]]),
      (err: Error) => err instanceof InputError && err.field === 'maxLength',
    );
  });

  it('reads the frame off an encoding with and without special tokens', () => {
    assert.deepEqual(frameOf([0, 9, 9, 2], [9, 9]), { prefix: [0], suffix: [2] });
    assert.deepEqual(frameOf([9, 9], [9, 9]), { prefix: [], suffix: [] });
    assert.equal(frameOf([1, 2], [3]), null);
  });

  it('holds out exactly ⌊n·F⌋ of n lines, spread evenly', () => {
    const held = Array.from({ length: 1000 }, (_, i) => i).filter((i) => isHeldOut(i, 0.05));
    assert.equal(held.length, 50);
    assert.ok(held.every((i, k) => k === 0 || i - held[k - 1] === 20));
    assert.equal(Array.from({ length: 99 }, (_, i) => i).filter((i) => isHeldOut(i, 0)).length, 0);
  });

  it('shard bytes round-trip, uint16 and uint32, odd row counts aligned', () => {
    for (const dtype of ['uint16', 'uint32'] as const) {
      const builder = new ShardBuilder('train', 4, dtype, 3, 'a'.repeat(64), 0);
      assert.equal(builder.add([2, 70000 % (dtype === 'uint16' ? 65536 : 1 << 30), 3, 3]), null);
      const full = builder.add([2, 5, 3]) ?? builder.add([2, 6, 6, 3])!;
      assert.equal(full.file, 'train-00000.bin');
      const shard = decodeShard(full.bytes, full.file);
      assert.equal(shard.header.sequences, 3);
      assert.equal(shard.header.tokenizerSha256, 'a'.repeat(64));
      assert.deepEqual([...shard.lengths], [4, 3, 4]);
      assert.deepEqual(shard.rows[1], [2, 5, 3]);
      assert.equal(builder.add([2, 7, 3])?.file ?? builder.flush()!.file, 'train-00001.bin');
      assert.deepEqual(
        builder.entries.map((e) => e.sequences),
        [3, 1],
      );
    }
  });

  it('tokenize writes packed shards with the tokenizer hash, and replaces them only with force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shards-'));
    const text = join(dir, 'text.txt');
    const sample = readFileSync(join(root, 'media', 'sample', 'sentences.txt'), 'utf8');
    writeFileSync(text, sample);
    const tokenizer = join(root, 'media', 'sample', 'tokenizer.json');
    const out = join(dir, 'shards');
    const index = await tokenizeToShards({ text, tokenizer, out, maxLength: 32, heldOut: 0.1, shardTokens: 32 * 50 });
    assert.equal(index.prefixIds.length, 1, '[CLS]');
    assert.equal(index.separatorIds.length, 1, '[SEP]');
    assert.equal(index.text.lines, 300);
    assert.ok(
      index.train.length > 1 && index.train.slice(0, -1).every((e) => e.sequences === 50),
      'shards of shardTokens / maxLength rows',
    );
    const rows = index.train.flatMap((e) => decodeShard(readFileSync(join(out, e.file)), e.file).rows);
    const framed = (r: number[]) => r[0] === index.prefixIds[0] && r[r.length - 1] === index.separatorIds[0];
    assert.ok(
      rows.slice(0, -1).every((r) => r.length >= 31 && framed(r)),
      'rows filled in the frame (at most the separator short)',
    );
    assert.ok(rows.filter((r) => r.length === 32).length > 0.8 * rows.length, 'most rows are full');
    for (const e of [...index.train, ...index.heldOut])
      assert.equal(decodeShard(readFileSync(join(out, e.file)), e.file).header.tokenizerSha256, index.tokenizer.sha256);

    await assert.rejects(tokenizeToShards({ text, tokenizer, out }), (err: Error) => err instanceof InputError && err.field === 'force');
    const smaller = await tokenizeToShards({ text, tokenizer, out, maxLength: 32, heldOut: 0, force: true });
    assert.equal(smaller.heldOut.length, 0);
    const files = readdirSync(out).sort();
    assert.deepEqual(files, ['index.json', ...smaller.train.map((e) => e.file)].sort(), 'the replaced set leaves no stale shard');
  });

  it('a failure leaves no index and no shard behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shards-fail-'));
    writeFileSync(join(dir, 'text.txt'), 'the dog\nthe cat\n');
    const out = join(dir, 'shards');
    const tokenizer = join(root, 'media', 'sample', 'tokenizer.json');
    await assert.rejects(
      tokenizeToShards({ text: join(dir, 'text.txt'), tokenizer, out, vocabLimit: 10 }),
      /text\.txt:1: token id \d+ does not fit the model's vocabulary of 10/,
    );
    assert.ok(!existsSync(join(out, 'index.json')));
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], []);
  });
});
