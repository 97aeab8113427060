// Protects the readers of NumPy arrays and the image preparation against NumPy's layouts and transformers' preprocessor semantics.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { centerCrop, fitImage, imageTensor, resizeBilinear, resolvePreprocess } from '../../analysis/runtime/images';
import { parseNpy, parseNpz } from '../../analysis/runtime/npy';
import { encodeNpy, encodeNpz } from '../helpers/npyFiles';

/** An .npy with a header of our own making (byte order, fortran order, dtype). */
function npyWith(header: string, body: Uint8Array): Uint8Array {
  const padded = header + ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + padded.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, padded.length & 255, padded.length >> 8]);
  out.set(new TextEncoder().encode(padded), 10);
  out.set(body, 10 + padded.length);
  return out;
}

describe('NumPy .npy and .npz', () => {
  it('reads float32 and int64 arrays as numpy.save writes them', () => {
    assert.deepEqual(parseNpy(encodeNpy({ shape: [2, 2], values: [0.5, -1, 2, 3] }), 'a.npy'), {
      dtype: '<f4',
      shape: [2, 2],
      values: [0.5, -1, 2, 3],
    });
    assert.deepEqual(parseNpy(encodeNpy({ shape: [3], values: [1, -2, 2 ** 40], dtype: '<i8' }), 'b.npy').values, [1, -2, 2 ** 40]);
  });

  it('reads big-endian float64 and column-major (fortran_order) arrays in row-major order', () => {
    const be = new Uint8Array(16);
    new DataView(be.buffer).setFloat64(0, 1.25, false);
    new DataView(be.buffer).setFloat64(8, -3, false);
    assert.deepEqual(parseNpy(npyWith("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be), 'be.npy').values, [1.25, -3]);
    // [[1, 2, 3], [4, 5, 6]] stored column by column: 1 4 2 5 3 6.
    const col = new Uint8Array([1, 4, 2, 5, 3, 6]);
    assert.deepEqual(
      parseNpy(npyWith("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }", col), 'f.npy').values,
      [1, 2, 3, 4, 5, 6],
    );
  });

  it('refuses what it cannot read, naming the file and the cause', () => {
    assert.throws(
      () => parseNpy(npyWith("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), 'c.npy'),
      /c\.npy: dtype <c8 is not a number type/,
    );
    assert.throws(
      () => parseNpy(encodeNpy({ shape: [4], values: [1, 2, 3, 4] }).subarray(0, -4), 't.npy'),
      /t\.npy: the \.npy data ends after/,
    );
    assert.throws(() => parseNpz(new TextEncoder().encode('PK not really'), 'z.npz'), /z\.npz is not an \.npz file this tool can read/);
  });

  it('reads every array of an .npz, deflated or stored, by name', () => {
    for (const compressed of [true, false]) {
      const arrays = parseNpz(
        encodeNpz({ x: { shape: [1, 2], values: [1, 2] }, ids: { shape: [2], values: [7, 8], dtype: '<i8' } }, compressed),
        'y.npz',
      );
      assert.deepEqual([...arrays.keys()].sort(), ['ids', 'x']);
      assert.deepEqual(arrays.get('ids')!.values, [7, 8], `compressed=${compressed}`);
    }
  });
});

describe('image preparation', () => {
  const gradient = { width: 4, height: 2, rgb: new Uint8Array(Array.from({ length: 24 }, (_, i) => i * 10)) };

  it('follows the config: shortest edge, centre crop, rescale factor and ImageNet statistics; flags override it', () => {
    const config = {
      do_resize: true,
      size: { shortest_edge: 4 },
      do_center_crop: true,
      crop_size: { height: 4, width: 4 },
      rescale_factor: 0.5,
      image_mean: [1, 2, 3],
      image_std: [2, 2, 2],
    };
    const { preprocess } = resolvePreprocess(config, 'c', {}, null);
    assert.deepEqual(preprocess, {
      resize: { shortestEdge: 4 },
      crop: { height: 4, width: 4 },
      rescale: 0.5,
      mean: [1, 2, 3],
      std: [2, 2, 2],
    });
    const fitted = fitImage(gradient, preprocess);
    assert.deepEqual([fitted.height, fitted.width], [4, 4], 'shorter edge 2 → 4 makes 8 × 4, cut to its centre 4 × 4');
    const flags = resolvePreprocess(config, 'c', { imageSize: [3, 5], imageMean: [0, 0, 0] }, null).preprocess;
    assert.deepEqual([flags.resize, flags.crop, flags.mean, flags.std], [{ height: 3, width: 5 }, null, [0, 0, 0], [2, 2, 2]]);
    assert.deepEqual(resolvePreprocess(null, 'none', {}, [16, 16]).preprocess, {
      resize: { height: 16, width: 16 },
      crop: null,
      rescale: 1 / 255,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
    });
  });

  it('resizes bilinearly with half-pixel centres and normalises channels first', () => {
    const row = { width: 2, height: 1, rgb: new Uint8Array([0, 0, 0, 100, 200, 40]) };
    // Four columns sample at 0.25 → 0, 0.75 → 0.25 of the way, 1.25 → 0.75, 1.75 → the last pixel.
    assert.deepEqual(
      [...resizeBilinear(row, 4, 1).rgb].filter((_, i) => i % 3 === 0),
      [0, 25, 75, 100],
    );
    assert.deepEqual([...centerCrop(gradient, 2, 2).rgb], [30, 40, 50, 60, 70, 80, 150, 160, 170, 180, 190, 200]);
    const t = imageTensor(row, { resize: null, crop: null, rescale: 0.01, mean: [0.5, 0, 0], std: [0.5, 1, 2] });
    assert.deepEqual(t.shape, [3, 1, 2]);
    assert.deepEqual(t.values, [(0 - 0.5) / 0.5, (1 - 0.5) / 0.5, 0, 2, 0, 0.4 / 2]);
  });
});
