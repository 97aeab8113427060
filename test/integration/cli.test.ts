// Protects the attention-reuse CLI as a user runs it: exit codes, one-line errors, output files, provider fallback.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readExtractedBlock } from '../../analysis/app/extract';
import type { ExtractIndex } from '../../analysis/app/extract';
import { runCli } from '../helpers/cli';
import { cliBundle as cli, fixtureModels as models, root } from '../helpers/paths.mjs';

const inputs = join(root, 'test', 'fixtures', 'inputs');
const run = (...args: string[]) => runCli(args);

function expectUsageError(args: string[], pattern: RegExp) {
  const r = run(...args);
  assert.equal(r.code, 2, `exit code for ${args.join(' ')}: stderr was ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one error line expected, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.ok(!/\bat .*\(.*:\d+:\d+\)/.test(r.stderr), 'a stack trace leaked to the user');
}

describe('attention-reuse CLI', () => {
  it('built bundle exists', () => assert.ok(existsSync(cli), 'dist/cli.js missing: run npm run build'));

  it('--help for every command, exit 0', () => {
    for (const c of [[], ['inspect'], ['extract']]) {
      const r = run(...c, '--help');
      assert.equal(r.code, 0, `--help of ${c.join(' ')}`);
      assert.match(r.stdout, /Usage: attention-reuse/);
    }
  });

  it('inspect --json has the documented shape', () => {
    const r = run('inspect', join(models, 'encdec_opset17.onnx'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(
      j.stacks.map((s: { name: string; kind: string }) => `${s.name}/${s.kind}`),
      ['encoder/self', 'decoder/self', 'cross/cross'],
    );
    assert.deepEqual(j.stacks[0].layers[1], {
      layer: 1,
      tensor: j.stacks[0].layers[1].tensor,
      heads: 2,
      source: j.stacks[0].layers[1].source,
    });
    assert.deepEqual(
      j.inputs.map((i: { name: string }) => i.name),
      ['input_ids', 'attention_mask', 'decoder_input_ids'],
    );
    assert.deepEqual(j.inputs[0], { name: 'input_ids', type: 'int64', shape: ['batch', 'sequence'] });
  });

  it('refuses bad models with one line and exit 2', () => {
    expectUsageError(['inspect', join(models, 'fused_attention.onnx')], /fused attention \(com\.microsoft\.Attention ×1\).*export/);
    expectUsageError(['inspect', join(models, 'no_attention.onnx')], /no visible attention/);
    expectUsageError(['inspect', join(models, 'truncated.onnx')], /not a readable ONNX model/);
    expectUsageError(['inspect', join(models, 'not_onnx.onnx')], /not (a readable )?ONNX model/);
    expectUsageError(['inspect', join(models, 'missing.onnx')], /cannot read model .*it does not exist/);
  });

  it('refuses bad flags and bad inputs files with one line naming the line or field', () => {
    const m = join(models, 'bert_opset13.onnx');
    const out = mkdtempSync(join(tmpdir(), 'ar-cli-'));
    expectUsageError(['inspect', m, '--bogus'], /Unknown option '--bogus'/);
    expectUsageError(
      ['extract', m, '--inputs', join(inputs, 'wrong_name.jsonl'), '--out', out],
      /wrong_name\.jsonl:2: "token_ids" is not an input of the model/,
    );
    expectUsageError(['extract', m, '--inputs', join(inputs, 'not_json.jsonl'), '--out', out], /not_json\.jsonl:2: not valid JSON/);
    expectUsageError(['extract', m, '--inputs', join(inputs, 'empty.jsonl'), '--out', out], /holds no examples/);
    expectUsageError(
      ['extract', m, '--inputs', join(inputs, 'wrong_dtype.jsonl'), '--out', out],
      /wrong_dtype\.jsonl:1: "input_ids" holds 1\.5, but the model declares it int64/,
    );
    expectUsageError(
      ['extract', m, '--inputs', join(inputs, 'out_of_vocab.jsonl'), '--out', out],
      /out_of_vocab\.jsonl:1: "input_ids" holds id 900, outside the model's vocabulary of \d+/,
    );
    expectUsageError(['extract', m, '--inputs', join(inputs, 'no_mask.jsonl'), '--out', out, '--ep', 'tpu'], /--ep must be one of/);
    expectUsageError(['extract', m, '--out', out], /exactly one of --inputs/);
    assert.deepEqual(readdirSync(out), [], 'a failed extract left files behind');
  });

  it('extract writes the documented files, matching PyTorch; --ep webgpu falls back to cpu visibly', () => {
    const out = mkdtempSync(join(tmpdir(), 'ar-cli-'));
    const r = run(
      'extract',
      join(models, 'bert_opset13.onnx'),
      '--inputs',
      join(models, 'bert_opset13.inputs.jsonl'),
      '--out',
      out,
      '--batch',
      '2',
      '--ep',
      'webgpu',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /webgpu is not available \(.+\); falling back to cpu/);
    assert.ok(r.stderr.trim().split('\n').length <= 3, `native provider warnings leaked to stderr:\n${r.stderr}`);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as ExtractIndex;
    assert.equal(index.schema, 'attention-reuse/extract@1');
    assert.equal(index.run.executionProvider, 'cpu', 'the provider that actually ran must be recorded');
    assert.match(index.model.sha256, /^[0-9a-f]{64}$/);
    const bin = readFileSync(join(out, 'attention.bin'));
    const expected = JSON.parse(readFileSync(join(models, 'bert_opset13.expected.json'), 'utf8'));
    const e = expected.examples[1];
    const entry = index.examples[1].stacks[0];
    const layers = readExtractedBlock(bin, entry.offset, index.stacks[0].layers, index.stacks[0].heads!, entry.queries, entry.keys);
    const want: number[] = e.stacks.encoder.flat(3);
    const got = layers.flatMap((l) => Array.from(l));
    assert.equal(got.length, want.length);
    assert.ok(
      got.every((v, i) => Math.abs(v - want[i]) <= 1e-5),
      "attention.bin does not hold PyTorch's probabilities at the recorded offset",
    );
    const again = run('extract', join(models, 'bert_opset13.onnx'), '--inputs', join(models, 'bert_opset13.inputs.jsonl'), '--out', out);
    assert.equal(again.code, 2, 'an existing extraction must not be replaced without --force');
  });

  it('analyze --threads 2 starts the kernel worker from dist/ and writes the sums of --threads 1', () => {
    assert.ok(
      existsSync(join(root, 'dist', 'kernelWorker.js')),
      'dist/kernelWorker.js missing: scripts/bundle.mjs must bundle the kernel worker as its own entry',
    );
    const dir = mkdtempSync(join(tmpdir(), 'ar-cli-'));
    const sums = (threads: number, batch: number): unknown[] => {
      const out = join(dir, `threads${threads}-batch${batch}.json`);
      const r = run(
        'analyze',
        join(models, 'encdec_opset17.onnx'),
        '--inputs',
        join(models, 'encdec_opset17.inputs.jsonl'),
        '--out',
        out,
        '--threads',
        String(threads),
        '--batch',
        String(batch),
        '--quiet',
      );
      assert.equal(r.code, 0, `--threads ${threads} --batch ${batch} (a worker that cannot start fails here): ${r.stderr}`);
      return (JSON.parse(readFileSync(out, 'utf8')) as { stacks: { sums: unknown }[] }).stacks.map((s) => s.sums);
    };
    // --batch 1 splits each example over the workers; --batch 3 runs each example whole on one worker.
    for (const batch of [1, 3])
      assert.deepEqual(sums(2, batch), sums(1, batch), `--batch ${batch}: two worker threads must give bit-identical sums to one`);
  });

  it('a model without a mask input runs unpadded, examples of one shape together', () => {
    const out = mkdtempSync(join(tmpdir(), 'ar-cli-'));
    const r = run(
      'extract',
      join(models, 'tiny_single_head.onnx'),
      '--inputs',
      join(models, 'tiny_single_head.inputs.jsonl'),
      '--out',
      out,
      '--batch',
      '4',
    );
    assert.equal(r.code, 0, r.stderr);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as ExtractIndex;
    assert.deepEqual(index.stacks, [{ name: 'encoder', kind: 'self', causal: false, layers: 1, heads: 1 }]);
    assert.deepEqual(
      index.examples.map((e) => [e.index, e.stacks[0].queries]),
      [
        [0, 3],
        [1, 4],
      ],
      'each example cut to its own length',
    );
  });
});
