// Protects the bundled sample model's pipeline: text + tokenizer in, similarity equal to PyTorch's own.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ExtractIndex } from '../../analysis/app/extract';
import { readAnalysis as readAnalysisFile, readTokenizer as loadTokenizer } from '../../analysis/app/readers';
import { runCli } from '../helpers/cli';
import { fixtureModels, root } from '../helpers/paths.mjs';
import { needPython, python } from '../helpers/python';

const sample = join(root, 'media', 'sample');
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1', OMP_NUM_THREADS: '1' };
const run = (...args: string[]) => runCli(args, { env });

describe('the bundled sample model', () => {
  it('inspect: one encoder stack, 4 layers × 4 heads', () => {
    const r = run('inspect', join(sample, 'model.onnx'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(
      j.stacks.map((s: { name: string; layers: { heads: number }[] }) => [s.name, s.layers.map((l) => l.heads)]),
      [['encoder', [4, 4, 4, 4]]],
    );
  });

  it("text is tokenized with the model's tokenizer and truncated to --max-length, keeping [SEP]", () => {
    const out = mkdtempSync(join(tmpdir(), 'ar-sample-'));
    const r = run(
      'extract',
      join(sample, 'model.onnx'),
      '--text',
      join(sample, 'sentences.txt'),
      '--tokenizer',
      join(sample, 'tokenizer.json'),
      '--max-length',
      '8',
      '--examples',
      '20',
      '--out',
      out,
      '-q',
    );
    assert.equal(r.code, 0, r.stderr);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as ExtractIndex;
    assert.equal(index.examples.length, 20);
    for (const ex of index.examples) {
      assert.ok(ex.stacks[0].queries <= 8, `example ${ex.index} has ${ex.stacks[0].queries} tokens despite --max-length 8`);
      assert.equal(ex.tokens?.[0], '[CLS]');
      assert.equal(ex.tokens?.[ex.tokens.length - 1], '[SEP]', 'truncation must keep the closing special token');
    }
  });

  it('a tokenizer that does not fit the model is refused before running', () => {
    const out = mkdtempSync(join(tmpdir(), 'ar-sample-'));
    const r = run(
      'analyze',
      join(fixtureModels, 'bert_opset13.onnx'),
      '--text',
      join(sample, 'sentences.txt'),
      '--tokenizer',
      join(sample, 'tokenizer.json'),
      '--out',
      join(out, 'a.json'),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr.trim(), /^attention-reuse: tokenizer .* has ids up to \d+, but the model's embedding has 50 rows/);
  });

  it('analyze equals the similarity PyTorch computes from its own attention (torch.cdist)', async (t) => {
    if (!needPython(t, ['torch', 'onnx'])) return;
    const dir = mkdtempSync(join(tmpdir(), 'ar-torch-'));
    const sentences = readFileSync(join(sample, 'sentences.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .slice(0, 40);
    writeFileSync(join(dir, 'text.txt'), sentences.join('\n') + '\n');
    const tok = await loadTokenizer(join(sample, 'tokenizer.json'));
    writeFileSync(
      join(dir, 'ids.jsonl'),
      sentences.map((s) => JSON.stringify({ input_ids: tok.tokenizer.encode(s).ids.map(Number) })).join('\n') + '\n',
    );
    const ours = run(
      'analyze',
      join(sample, 'model.onnx'),
      '--text',
      join(dir, 'text.txt'),
      '--tokenizer',
      join(sample, 'tokenizer.json'),
      '--batch',
      '8',
      '--out',
      join(dir, 'a.json'),
      '-q',
    );
    assert.equal(ours.code, 0, ours.stderr);
    const ref = spawnSync(
      python,
      [
        join(root, 'scripts', 'reference', 'torchSimilarity.py'),
        join(sample, 'model.onnx'),
        join(dir, 'ids.jsonl'),
        join(dir, 'torch.json'),
      ],
      { encoding: 'utf8', env },
    );
    assert.equal(ref.status, 0, ref.stderr);
    const torch = JSON.parse(readFileSync(join(dir, 'torch.json'), 'utf8')) as {
      examples: number;
      headPairs: number[][][][];
      uniform: number[][];
    };
    const analysis = await readAnalysisFile(join(dir, 'a.json'));
    const s = analysis.stacks[0];
    assert.equal(torch.examples, s.sums.examples);
    let worst = 0;
    s.headPairs.flat(3).forEach((v, i) => (worst = Math.max(worst, Math.abs(v - torch.headPairs.flat(3)[i]))));
    assert.ok(worst <= 1e-5, `head pairs differ from PyTorch's by ${worst}`);
    let worstU = 0;
    s.uniform.flat().forEach((v, i) => (worstU = Math.max(worstU, Math.abs(v - torch.uniform.flat()[i]))));
    assert.ok(worstU <= 1e-5, `uniform similarity differs from PyTorch's by ${worstU}`);
  });
});
