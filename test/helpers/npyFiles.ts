// Test helper: writes NumPy .npy and .npz bytes as numpy.save and numpy.savez do (format 1.0, float32 or int64, little-endian).
import AdmZip from 'adm-zip';
import { PNG } from 'pngjs';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

/** One array: values row-major, `<f4` (float32) by default or `<i8` (int64). */
export interface TestArray {
  shape: number[];
  values: number[];
  dtype?: '<f4' | '<i8';
}

export function encodeNpy(a: TestArray): Uint8Array {
  const dtype = a.dtype ?? '<f4';
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads the header with spaces to a multiple of 64 bytes, ending in a newline.
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const size = dtype === '<f4' ? 4 : 8;
  const out = new Uint8Array(10 + header.length + a.values.length * size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const view = new DataView(out.buffer, 10 + header.length);
  a.values.forEach((v, i) => (dtype === '<f4' ? view.setFloat32(i * 4, v, true) : view.setBigInt64(i * 8, BigInt(v), true)));
  return out;
}

/** An .npz of NAME.npy entries, deflated (numpy.savez_compressed) or stored (numpy.savez). */
export function encodeNpz(arrays: Record<string, TestArray>, compressed = true): Uint8Array {
  const zip = new AdmZip();
  for (const [name, a] of Object.entries(arrays)) {
    zip.addFile(`${name}.npy`, Buffer.from(encodeNpy(a)));
    if (!compressed) zip.getEntry(`${name}.npy`)!.header.method = 0;
  }
  return zip.toBuffer();
}

/** Seeded values in [-1, 1) for an array of `shape`. */
export function randomArray(shape: number[], seed: number): TestArray {
  const random = pseudoRandom(seed);
  return { shape, values: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random() * 2 - 1) };
}

/** A seeded RGB PNG of width × height pixels. */
export function randomPng(width: number, height: number, seed: number): Buffer {
  const random = pseudoRandom(seed);
  const png = new PNG({ width, height });
  for (let i = 0; i < png.data.length; i++) png.data[i] = i % 4 === 3 ? 255 : Math.floor(random() * 256);
  return PNG.sync.write(png);
}
