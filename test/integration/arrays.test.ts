// Protects NumPy arrays as inputs: an .npz of audio features and decoder ids (Whisper fixture) and an .npy of pixel values (ViT fixture) analyse exactly as the same tensors given as JSONL.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli';
import { encodeNpy, encodeNpz, randomArray } from '../helpers/npyFiles';
import type { TestArray } from '../helpers/npyFiles';
import { fixtureModels as models } from '../helpers/paths.mjs';

/** Example `i` of an array whose first axis counts the examples, nested as a JSONL line gives it (float32 values). */
function nested(a: TestArray, i: number): unknown {
  const shape = a.shape.slice(1);
  const size = shape.reduce((x, y) => x * y, 1);
  const values = a.values.slice(i * size, (i + 1) * size).map((v) => (a.dtype === '<i8' ? v : Math.fround(v)));
  const build = (axis: number, at: number): unknown =>
    axis === shape.length ? values[at] : Array.from({ length: shape[axis] }, (_, j) => build(axis + 1, at * shape[axis] + j));
  return build(0, 0);
}

function jsonl(arrays: Record<string, TestArray>): string {
  const count = Object.values(arrays)[0].shape[0];
  return (
    Array.from({ length: count }, (_, i) =>
      JSON.stringify(Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, nested(a, i)]))),
    ).join('\n') + '\n'
  );
}

function analyze(model: string, inputs: string, out: string): unknown {
  const r = runCli(['analyze', join(models, model), '--inputs', inputs, '--out', out, '--batch', '2', '--ep', 'cpu', '--quiet']);
  assert.equal(r.code, 0, `analyze ${model} ${inputs}: ${r.stderr}`);
  const file = JSON.parse(readFileSync(out, 'utf8'));
  return { examples: file.run.examples, tokens: file.run.tokens, stacks: file.stacks };
}

describe('NumPy arrays as inputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-arrays-'));

  it('whisper from an .npz (deflated) of input_features and decoder_input_ids equals the JSONL of the same', () => {
    const arrays: Record<string, TestArray> = {
      input_features: randomArray([3, 8, 16], 7),
      decoder_input_ids: { shape: [3, 4], values: [1, 5, 9, 2, 3, 8, 4, 7, 6, 2, 5, 1], dtype: '<i8' },
    };
    writeFileSync(join(dir, 'w.npz'), encodeNpz(arrays));
    writeFileSync(join(dir, 'w.jsonl'), jsonl(arrays));
    const a = analyze('whisper.onnx', join(dir, 'w.npz'), join(dir, 'w-npz.json')) as { examples: number };
    const b = analyze('whisper.onnx', join(dir, 'w.jsonl'), join(dir, 'w-jsonl.json'));
    assert.equal(a.examples, 3, 'the first axis counts the examples');
    assert.deepEqual(a, b, 'the arrays were cut into examples otherwise than the JSONL lines (axis order, dtype)');
  });

  it('vit from an .npy of pixel_values (stored .npz too) equals the JSONL of the same', () => {
    const pixels = randomArray([2, 3, 16, 16], 8);
    writeFileSync(join(dir, 'v.npy'), encodeNpy(pixels));
    writeFileSync(join(dir, 'v.npz'), encodeNpz({ pixel_values: pixels }, false));
    writeFileSync(join(dir, 'v.jsonl'), jsonl({ pixel_values: pixels }));
    const b = analyze('vit.onnx', join(dir, 'v.jsonl'), join(dir, 'v-jsonl.json'));
    assert.deepEqual(analyze('vit.onnx', join(dir, 'v.npy'), join(dir, 'v-npy.json')), b, '.npy read otherwise than its JSONL');
    assert.deepEqual(analyze('vit.onnx', join(dir, 'v.npz'), join(dir, 'v-npz.json')), b, 'stored .npz read otherwise than its JSONL');
  });
});
