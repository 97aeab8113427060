// Protects images as inputs: the ViT fixture analysed (and extracted) from a folder of PNG and JPEG files equals the same from JSONL tensors of the pixels prepared by hand, with the preprocessor config given, beside the model, or as flags.
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { readAnalysis } from '../../analysis/app/readers';
import type { AnalysisFile } from '../../analysis/result/analysisFile';
import { runCli } from '../helpers/cli';
import { fixtureModels as models } from '../helpers/paths.mjs';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

const mean = [0.485, 0.456, 0.406];
const std = [0.229, 0.224, 0.225];
const config = {
  do_resize: true,
  size: { height: 16, width: 16 },
  resample: 2,
  do_rescale: true,
  rescale_factor: 1 / 255,
  do_normalize: true,
  image_mean: mean,
  image_std: std,
};

/** RGB pixels, row-major, 8 bits each. */
type Pixels = { width: number; height: number; rgb: number[] };

function randomPixels(width: number, height: number, seed: number, block = 1): Pixels {
  const random = pseudoRandom(seed);
  const cells = Array.from({ length: Math.ceil(height / block) * Math.ceil(width / block) * 3 }, () => Math.floor(random() * 256));
  const rgb: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (Math.floor(y / block) * Math.ceil(width / block) + Math.floor(x / block)) * 3;
      rgb.push(cells[at], cells[at + 1], cells[at + 2]);
    }
  }
  return { width, height, rgb };
}

function rgba(p: Pixels): Buffer {
  const out = Buffer.alloc(p.width * p.height * 4, 255);
  for (let i = 0; i < p.width * p.height; i++) for (let c = 0; c < 3; c++) out[i * 4 + c] = p.rgb[i * 3 + c];
  return out;
}

function writePng(path: string, p: Pixels): void {
  const png = new PNG({ width: p.width, height: p.height });
  rgba(p).copy(png.data);
  writeFileSync(path, PNG.sync.write(png));
}

/** The 16×16 image the model sees as JSONL: channels first, /255, then (x - mean) / std, as transformers computes it. */
function jsonlLine(p: Pixels): string {
  const planes = [0, 1, 2].map((c) =>
    Array.from({ length: 16 }, (_, y) =>
      Array.from({ length: 16 }, (_, x) => (p.rgb[(y * 16 + x) * 3 + c] * (1 / 255) - mean[c]) / std[c]),
    ),
  );
  return JSON.stringify({ pixel_values: planes });
}

function analyze(args: string[], out: string): AnalysisFile['stacks'] {
  const r = runCli(['analyze', ...args, '--out', out, '--batch', '2', '--ep', 'cpu', '--quiet']);
  assert.equal(r.code, 0, `analyze ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(readFileSync(out, 'utf8')).stacks;
}

describe('images as inputs of a vision model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-images-'));
  const folder = join(dir, 'images');
  const jsonl = join(dir, 'same.inputs.jsonl');
  const model = join(models, 'vit.onnx');

  before(() => {
    mkdirSync(folder);
    const direct = randomPixels(16, 16, 1);
    // 2×2 blocks of one colour: halved bilinearly, each output pixel lies between two equal ones.
    const large = randomPixels(32, 32, 2, 2);
    const halved: Pixels = { width: 16, height: 16, rgb: [] };
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) halved.rgb.push(...large.rgb.slice((2 * y * 32 + 2 * x) * 3, (2 * y * 32 + 2 * x) * 3 + 3));
    const photo = randomPixels(16, 16, 3, 4);
    writePng(join(folder, 'a.png'), direct);
    writePng(join(folder, 'b.png'), large);
    const encoded = jpeg.encode({ data: rgba(photo), width: 16, height: 16 }, 90).data;
    writeFileSync(join(folder, 'c.jpg'), encoded);
    writeFileSync(join(folder, 'notes.txt'), 'not an image: left out');
    // JPEG is lossy: the JSONL holds what the decoder gives back, not the pixels encoded.
    const decoded = jpeg.decode(encoded, { useTArray: true, formatAsRGBA: true });
    const back = { width: 16, height: 16, rgb: Array.from({ length: 256 * 3 }, (_, i) => decoded.data[Math.floor(i / 3) * 4 + (i % 3)]) };
    writeFileSync(jsonl, [direct, halved, back].map(jsonlLine).join('\n') + '\n');
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(config));
  });

  it('analyze from PNG and JPEG files equals analyze from the same tensors as JSONL, exactly', async () => {
    const fromJsonl = analyze([model, '--inputs', jsonl], join(dir, 'jsonl.json'));
    const fromImages = analyze(
      [model, '--images', folder, '--preprocessor', join(dir, 'preprocessor_config.json')],
      join(dir, 'images.json'),
    );
    const a = await readAnalysis(join(dir, 'images.json'));
    assert.equal(a.run.examples, 3, 'the folder has three images (and a .txt left out)');
    assert.equal(a.run.tokens, 3 * 17, 'ViT: 16 patches and a class token per image');
    assert.deepEqual(
      fromImages,
      fromJsonl,
      'the images were prepared otherwise than transformers prepares them (size, /255, mean, std, channel order)',
    );
    const uniform = fromJsonl[0].uniform.flat();
    assert.ok(
      uniform.some((u) => u < 0.999),
      'the attention is not uniform, so the comparison can tell inputs apart',
    );
  });

  it('the config beside the model, and the same numbers as flags, give the same analysis', () => {
    const besideDir = join(dir, 'model');
    mkdirSync(besideDir);
    copyFileSync(model, join(besideDir, 'vit.onnx'));
    copyFileSync(join(dir, 'preprocessor_config.json'), join(besideDir, 'preprocessor_config.json'));
    const fromJsonl = analyze([model, '--inputs', jsonl], join(dir, 'jsonl2.json'));
    const beside = analyze([join(besideDir, 'vit.onnx'), '--images', folder], join(dir, 'beside.json'));
    const flags = analyze(
      [model, '--images', folder, '--image-size', '16x16', '--image-mean', mean.join(','), '--image-std', std.join(',')],
      join(dir, 'flags.json'),
    );
    assert.deepEqual(beside, fromJsonl, 'preprocessor_config.json beside the model was not read');
    assert.deepEqual(flags, fromJsonl, '--image-size/--image-mean/--image-std did not set what the config sets');
    const defaults = analyze([model, '--images', folder], join(dir, 'defaults.json'));
    assert.notDeepEqual(
      defaults,
      fromJsonl,
      'without config or flags ViT defaults (mean and std 0.5) apply, which differ from ImageNet statistics',
    );
  });

  it('extract from the images writes the attention extract writes from the JSONL, byte for byte', () => {
    for (const [name, args] of [
      ['x-jsonl', ['--inputs', jsonl]],
      ['x-images', ['--images', folder, '--preprocessor', join(dir, 'preprocessor_config.json')]],
    ] as const) {
      const r = runCli(['extract', model, ...args, '--out', join(dir, name), '--ep', 'cpu', '--quiet']);
      assert.equal(r.code, 0, `extract ${name}: ${r.stderr}`);
    }
    const [a, b] = ['x-jsonl', 'x-images'].map((n) => readFileSync(join(dir, n, 'attention.bin')));
    assert.equal(a.length, 3 * 2 * 4 * 17 * 17 * 4, 'three examples of 2 layers × 4 heads × 17 × 17 float32');
    assert.ok(a.equals(b), 'the attention of the images differs from that of their tensors');
  });
});
