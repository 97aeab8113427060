// Protects analyze --baseline shuffled: every weight tensor of the copy is a seeded permutation of the original's entries (integers and masks untouched), the baseline equals a plain analysis of that copy, shards merge into one run's baseline, and files with and without one do not merge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeModel } from '../../analysis/app/analyze';
import { openAttentionModel } from '../../analysis/onnx/inspect';
import { shuffleWeights } from '../../analysis/onnx/shuffleWeights';
import { checkAnalysis, mergeAnalyses } from '../../analysis/result/analysisFile';
import { root } from '../helpers/paths.mjs';

const sample = join(root, 'media', 'sample');
const model = join(sample, 'model.onnx');
const source = { kind: 'text' as const, path: join(sample, 'sentences.txt'), tokenizer: join(sample, 'tokenizer.json') };
const dir = mkdtempSync(join(tmpdir(), 'baseline-'));

/** The entries of a raw float32 tensor, sorted (a permutation keeps this). */
const sortedEntries = (raw: Uint8Array) => Array.from(new Float32Array(raw.slice().buffer)).sort((a, b) => a - b);

test('each float weight tensor is a seeded permutation of its own entries; integer tensors are untouched', () => {
  const original = openAttentionModel(new Uint8Array(readFileSync(model)), model);
  const a = shuffleWeights(original, 5);
  const b = shuffleWeights(original, 5);
  const c = shuffleWeights(original, 6);
  assert.ok(a.shuffled > 10, `only ${a.shuffled} tensors shuffled`);
  assert.deepEqual(a.bytes, b.bytes, 'the same seed gave another model');
  assert.notDeepEqual(a.bytes, c.bytes, 'another seed gave the same model');
  const shuffled = openAttentionModel(a.bytes, model);
  let moved = 0;
  original.graph.graph.initializer.forEach((t, i) => {
    const s = shuffled.graph.graph.initializer[i];
    assert.equal(s.name, t.name);
    if (t.dataType !== 1 || !t.rawData) {
      assert.deepEqual(s.rawData, t.rawData, `non-float tensor ${t.name} changed`);
      return;
    }
    assert.deepEqual(sortedEntries(s.rawData!), sortedEntries(t.rawData), `${t.name} is not a permutation of its entries`);
    if (t.rawData.length > 8 && Buffer.compare(Buffer.from(s.rawData!), Buffer.from(t.rawData)) !== 0) moved++;
  });
  assert.ok(moved >= a.shuffled - 2, 'most shuffled tensors should have moved entries');
});

test('the baseline is a plain analysis of the shuffled copy; shards merge into the same baseline', async () => {
  const withBaseline = await analyzeModel({ model, source, examples: 24, baseline: 'shuffled', seed: 3 });
  const b = withBaseline.stacks[0].baseline!;
  assert.ok(b, 'no baseline in the file');
  assert.equal(b.seed, 3);
  // The slow way: write the shuffled model and analyse it like any other.
  const copy = join(dir, 'shuffled.onnx');
  writeFileSync(copy, shuffleWeights(openAttentionModel(new Uint8Array(readFileSync(model)), model), 3).bytes);
  const direct = await analyzeModel({ model: copy, source, examples: 24 });
  b.layerPairs.forEach((row, l) =>
    row.forEach((v, l2) =>
      assert.ok(
        Math.abs(v - direct.stacks[0].layerPairs[l][l2]) <= 1e-12,
        `baseline layerPairs[${l}][${l2}] ${v} vs ${direct.stacks[0].layerPairs[l][l2]}`,
      ),
    ),
  );
  assert.notDeepEqual(b.layerPairs, withBaseline.stacks[0].layerPairs, 'the baseline map is the real map');
  // The real numbers are those of a run without the baseline.
  const plain = await analyzeModel({ model, source, examples: 24 });
  assert.deepEqual(withBaseline.stacks[0].layerPairs, plain.stacks[0].layerPairs);
  // Through JSON, as files: readable, and shards merge into the one run.
  const read = (f: unknown, label: string) => checkAnalysis(JSON.parse(JSON.stringify(f)), label);
  read(withBaseline, 'whole.json');
  const parts = await Promise.all(
    [0, 1].map((index) => analyzeModel({ model, source, examples: 24, baseline: 'shuffled', seed: 3, shard: { index, count: 2 } })),
  );
  const merged = mergeAnalyses(parts.map((file, i) => ({ path: `part${i}.json`, file: read(file, `part${i}.json`) })));
  merged.stacks[0].baseline!.layerPairs.forEach((row, l) =>
    row.forEach((v, l2) => assert.ok(Math.abs(v - b.layerPairs[l][l2]) <= 1e-12, 'merged baseline differs from one run')),
  );
  const edited = JSON.parse(JSON.stringify(withBaseline));
  edited.stacks[0].baseline.layerPairs[0][1] += 0.01;
  assert.throws(() => checkAnalysis(edited, 'edited.json'), /edited\.json: stacks\[0\]\.baseline\.layerPairs\[0\]\[1\]/);
  const plainParts = await Promise.all([0, 1].map((index) => analyzeModel({ model, source, examples: 24, shard: { index, count: 2 } })));
  assert.throws(
    () =>
      mergeAnalyses([
        { path: 'a.json', file: parts[0] },
        { path: 'b.json', file: plainParts[1] },
      ]),
    /b\.json has no baseline, but a\.json has a shuffled baseline \(seed 3\)/,
  );
});
