// Protects the finder's guards as a user meets them through dist/cli.js (issue 18): attention exported only as graph outputs gives through inspect, extract and analyze what its Softmax twin gives, and a feature Softmax beside real attention adds no layer. (The models that must be refused run in the bad-input corpus.)
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ExtractIndex } from '../../analysis/app/extract';
import type { AnalysisFile } from '../../analysis/result/analysisFile';
import type { InspectResult } from '../../analysis/onnx/inspect';
import { runCli } from '../helpers/cli';
import { root } from '../helpers/paths.mjs';

const guards = join(root, 'test', 'fixtures', 'guards');
const work = mkdtempSync(join(tmpdir(), 'ar-guards-'));
after(() => rmSync(work, { recursive: true, force: true }));

function cli(...args: string[]): string {
  const r = runCli([...args, ...(args[0] === 'inspect' ? [] : ['--ep', 'cpu', '-q'])]);
  assert.equal(r.code, 0, `attention-reuse ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

const inspect = (model: string) => JSON.parse(cli('inspect', join(guards, model), '--json')) as InspectResult;

/** Extracts and analyzes `model` over `inputs`; returns the index, the attention bytes as floats and the analysis. */
function run(model: string, inputs: string) {
  const out = join(work, model.replace('.onnx', ''));
  cli('extract', join(guards, model), '--inputs', join(guards, inputs), '--out', out, '--batch', '3');
  cli('analyze', join(guards, model), '--inputs', join(guards, inputs), '--out', `${out}.json`, '--batch', '3');
  const bin = readFileSync(join(out, 'attention.bin'));
  return {
    index: JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as ExtractIndex,
    attention: new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4),
    analysis: JSON.parse(readFileSync(`${out}.json`, 'utf8')) as AnalysisFile,
  };
}

const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('attention only as graph outputs (no Softmax node) against its Softmax twin, through the CLI', () => {
  it('inspect lists the outputs as the layers', () => {
    const found = inspect('attention_outputs_only.onnx').stacks.map((s) => s.layers.map((l) => `${l.tensor}/${l.heads}`));
    assert.deepEqual(
      found,
      [['attentions.0/2', 'attentions.1/2']],
      'the graph-output path of the finder did not run or misread the outputs',
    );
    const twin = inspect('attention_outputs_twin.onnx').stacks.map((s) => s.layers.map((l) => `${l.tensor}/${l.heads}`));
    assert.deepEqual(twin, [['l0_probs/2', 'l1_probs/2']], 'the twin is no longer found through its Softmax nodes');
  });

  it('extract and analyze give the twin’s attention and similarities', () => {
    const only = run('attention_outputs_only.onnx', 'tokens.jsonl');
    const twin = run('attention_outputs_twin.onnx', 'tokens.jsonl');
    assert.deepEqual(only.index.stacks, twin.index.stacks, 'stacks of the extraction differ');
    assert.deepEqual(only.index.examples, twin.index.examples, 'examples (lengths, offsets) of the extraction differ');
    assert.equal(only.attention.length, twin.attention.length, 'attention.bin sizes differ');
    const off = worst(only.attention, twin.attention);
    assert.ok(off <= 1e-6, `attention.bin is off the twin's by ${off} (outputs matched to the wrong layers, or padding leaked)`);
    const [a, b] = [only.analysis.stacks[0], twin.analysis.stacks[0]];
    assert.equal(a.headPairs.length, 2, 'the analysis does not hold the two layers');
    const pairs = worst(a.headPairs.flat(3), b.headPairs.flat(3));
    assert.ok(pairs <= 1e-6, `head-pair similarities are off the twin's by ${pairs}`);
    assert.ok(a.layerPairs[0][1] < 0.99, `layer-pair similarity ${a.layerPairs[0][1]}: the fixture's two layers should differ`);
  });
});

describe('a feature Softmax beside real attention, through the CLI', () => {
  it('inspect, extract and analyze keep exactly the one attention layer', () => {
    assert.deepEqual(
      inspect('attention_and_feature_softmax.onnx').stacks.map((s) => s.layers.map((l) => l.source)),
      [['l0_probs']],
      'the token-mixing softmax was taken for attention',
    );
    const { index, analysis } = run('attention_and_feature_softmax.onnx', 'positions4.jsonl');
    assert.deepEqual(
      index.stacks.map(({ name, kind, layers, heads }) => ({ name, kind, layers, heads })),
      [{ name: 'encoder', kind: 'self', layers: 1, heads: 2 }],
    );
    assert.deepEqual(
      analysis.stacks.map((s) => s.layerPairs.length),
      [1],
      'the analysis holds another layer',
    );
  });
});
