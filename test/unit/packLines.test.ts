// Protects --pack: lines concatenated into max-length sequences as pre-training builds them (the tokenizer's prefix, lines joined by its separator), equal to the obvious concatenate-then-cut, with origins naming the lines each sequence came from; and analyze over packed text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeModel } from '../../analysis/app/analyze';
import { readTokenizer } from '../../analysis/app/readers';
import { readLines } from '../../analysis/app/storage';
import { packLines, tokenIds } from '../../analysis/runtime/inputs';
import { root } from '../helpers/paths.mjs';

const sample = join(root, 'media', 'sample');
const text = join(sample, 'sentences.txt');

test('packed sequences are the lines joined by the separator and cut every max-length tokens', async () => {
  const tok = await readTokenizer(join(sample, 'tokenizer.json'));
  const cls = tok.tokenizer.token_to_id('[CLS]')!;
  const sep = tok.tokenizer.token_to_id('[SEP]')!;
  const width = 48;
  const packed: { ids: number[]; origin: string }[] = [];
  for await (const s of packLines(readLines(text, 'text file'), text, tok, width)) packed.push(s);
  // The slow way: every line's ids in order. Packing only adds [CLS] and [SEP] around and between them.
  const lines: { ids: number[]; line: number }[] = [];
  for await (const { text: t, line } of readLines(text, 'text file')) {
    const ids = tokenIds(tok, t, `${text}:${line}`, false);
    if (ids.length > 0) lines.push({ ids, line });
  }
  for (const s of packed) {
    assert.ok(s.ids.length <= width, `a sequence of ${s.ids.length} tokens is over ${width}`);
    assert.equal(s.ids[0], cls, 'a packed sequence does not start with [CLS]');
    assert.equal(s.ids.at(-1), sep, 'a packed sequence does not end with [SEP]');
  }
  const words = (ids: number[]) => ids.filter((id) => id !== sep && id !== cls);
  assert.deepEqual(words(packed.flatMap((s) => s.ids)), words(lines.flatMap((l) => l.ids)), 'the packed tokens are not the lines in order');
  const separators = packed.reduce((n, s) => n + s.ids.slice(1, -1).filter((id) => id === sep).length, 0);
  assert.ok(separators >= lines.length - 2 * packed.length, `only ${separators} separators inside sequences for ${lines.length} lines`);
  // A sequence ends one token early rather than with a separator and no text after it.
  assert.ok(
    packed.slice(0, -1).every((s) => s.ids.length >= width - 1),
    'a sequence before the last is shorter than it needs to be',
  );
  assert.ok(packed.length < lines.length / 2, `${lines.length} short lines packed into ${packed.length} sequences`);
  // Origins: the first sequence starts at the first line; each names a range of lines in order.
  assert.match(packed[0].origin, new RegExp(`:${lines[0].line}-\\d+$`));
  const ranges = packed.map((s) =>
    s.origin
      .slice(text.length + 1)
      .split('-')
      .map(Number),
  );
  ranges.forEach(([a, b = a], i) => {
    assert.ok(a <= b, `origin ${packed[i].origin} runs backwards`);
    if (i > 0) assert.ok(a >= ranges[i - 1][ranges[i - 1].length - 1], `origin ${packed[i].origin} starts before the previous one ends`);
  });
});

test('analyze --pack measures max-length examples; --examples counts packed sequences', async () => {
  const file = await analyzeModel({
    model: join(sample, 'model.onnx'),
    source: { kind: 'text', path: text, tokenizer: join(sample, 'tokenizer.json'), maxLength: 64, pack: true },
    examples: 5,
  });
  assert.equal(file.run.examples, 5);
  assert.ok(file.run.tokens >= 5 * 63 && file.run.tokens <= 5 * 64, `five packed sequences of 63–64 tokens hold ${file.run.tokens}`);
  const buckets = file.stacks[0].lengths!;
  assert.equal(
    buckets.reduce((n, b) => n + b.examples, 0),
    5,
  );
  assert.ok(
    buckets.every((b) => b.meanTokens >= 63),
    'a packed example is in a bucket of short examples',
  );
});
