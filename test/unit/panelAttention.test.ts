// Protects the attention viewer's host side on media examples: an image example's map carries the image the model saw and patch labels after the class token, and an audio example's encoder tokens are labelled as frames with their time; real ONNX Runtime on the ViT and Whisper fixtures.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { analyzeModel } from '../../analysis/app/analyze';
import type { ExampleSource } from '../../analysis/runtime/exampleSource';
import { frameLabels, patchGrid } from '../../analysis/runtime/tokenLabels';
import { AttentionMaps } from '../../extension/panelAttention';
import { encodeNpz, randomArray, randomPng } from '../helpers/npyFiles';
import { fixtureModels as models } from '../helpers/paths.mjs';

async function mapsFor(model: string, source: ExampleSource): Promise<AttentionMaps> {
  const analysis = await analyzeModel({ model: join(models, model), source, ep: 'cpu' }, {});
  return new AttentionMaps(analysis, source, 'cpu');
}

describe('attention maps of image and audio examples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-panel-media-'));

  it('an image example: the image as the model saw it, [CLS] then (row,col) of 4×4 patches', async () => {
    const folder = join(dir, 'images');
    mkdirSync(folder);
    const pngs = [randomPng(16, 16, 5), randomPng(32, 32, 6)];
    pngs.forEach((b, i) => writeFileSync(join(folder, `${i}.png`), b));
    const maps = await mapsFor('vit.onnx', { kind: 'images', path: folder });
    try {
      const reply = await maps.get({ type: 'requestAttentionMap', messageId: 1, example: 0, stack: 'encoder', layer: 1, head: 2 });
      assert.deepEqual(reply.keyTokens.slice(0, 3), ['[CLS]', '(0,0)', '(0,1)'], 'patch labels');
      assert.deepEqual([reply.queryLabels, reply.keyLabels], ['patches', 'patches']);
      assert.equal(reply.keyTokens[16], '(3,3)');
      const image = reply.image!;
      assert.deepEqual([image.width, image.height, image.rows, image.cols, image.offset], [16, 16, 4, 4, 1], 'the overlay geometry');
      const png = PNG.sync.read(pngs[0]);
      assert.deepEqual(
        [...image.rgb.subarray(0, 6)],
        [png.data[0], png.data[1], png.data[2], png.data[4], png.data[5], png.data[6]],
        'the overlay is not the image fed',
      );
      const resized = await maps.get({ type: 'requestAttentionMap', messageId: 2, example: 1, stack: 'encoder', layer: 0, head: 0 });
      assert.deepEqual([resized.image!.width, resized.image!.height], [16, 16], 'the 32×32 image is shown as the model saw it (resized)');
      for (let q = 0; q < 17; q++) {
        const sum = resized.map.data.subarray(q * 17, (q + 1) * 17).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${q} sums to ${sum}`);
      }
    } finally {
      await maps.dispose();
    }
  });

  it('an audio example: encoder tokens and cross-attention keys are frames with their time; decoder tokens stay token ids', async () => {
    const npz = join(dir, 'audio.npz');
    writeFileSync(
      npz,
      encodeNpz({
        input_features: randomArray([2, 8, 16], 3),
        decoder_input_ids: { shape: [2, 3], values: [1, 2, 3, 4, 5, 6], dtype: '<i8' },
      }),
    );
    const maps = await mapsFor('whisper.onnx', { kind: 'arrays', path: npz });
    try {
      const enc = await maps.get({ type: 'requestAttentionMap', messageId: 1, example: 1, stack: 'encoder', layer: 0, head: 0 });
      // 16 frames of 10 ms through two stride-2 convolutions… whatever the count, the tokens cover 0.16 s.
      const n = enc.keyTokens.length;
      assert.deepEqual(enc.keyTokens, frameLabels(n, { frames: 16, frameSeconds: 0.01 }));
      assert.equal(enc.keyTokens[1], `f1 ${(0.16 / n).toFixed(2)}s`);
      assert.equal(enc.image, undefined, 'no image for audio');
      const cross = await maps.get({ type: 'requestAttentionMap', messageId: 2, example: 1, stack: 'cross', layer: 1, head: 1 });
      assert.deepEqual(cross.keyTokens, enc.keyTokens, 'cross-attention keys are the encoder frames');
      assert.equal(cross.keyLabels, 'frames');
      assert.deepEqual(
        [cross.queryTokens, cross.queryLabels],
        [['4', '5', '6'], 'ids'],
        'cross-attention queries are the decoder ids of example 1',
      );
      const dec = await maps.get({ type: 'requestAttentionMap', messageId: 3, example: 1, stack: 'decoder', layer: 0, head: 0 });
      assert.deepEqual([dec.keyTokens, dec.keyLabels], [['4', '5', '6'], 'ids'], 'decoder tokens are not frames');
    } finally {
      await maps.dispose();
    }
  });

  it('patch grids: a class token, none, or class and distillation tokens; null where no square patches tile the image', () => {
    assert.deepEqual(patchGrid(197, 224, 224), { rows: 14, cols: 14, offset: 1 });
    assert.deepEqual(patchGrid(196, 224, 224), { rows: 14, cols: 14, offset: 0 });
    assert.deepEqual(patchGrid(198, 224, 224), { rows: 14, cols: 14, offset: 2 });
    assert.deepEqual(patchGrid(1 + 12 * 20, 640, 384), { rows: 12, cols: 20, offset: 1 });
    assert.equal(patchGrid(7, 16, 16), null);
  });
});
