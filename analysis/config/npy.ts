/**
 * NumPy's .npy format (version 1.0) for little-endian float32 arrays: the warm-start weights
 * travel in it because `numpy.load` (and so PyTorch through numpy) reads it with no other
 * package. https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

const magic = [0x93, ...Buffer.from('NUMPY', 'latin1'), 1, 0];

/** A C-ordered float32 array of `shape` as .npy bytes. */
export function encodeNpy(shape: number[], data: Float32Array): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`encodeNpy: shape [${shape}] holds ${count} values, not ${data.length}`);
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  // Magic (8) + length (2) + header, ending in a newline, is a multiple of 64 bytes (the format's alignment).
  const padded = Math.ceil((magic.length + 2 + header.length + 1) / 64) * 64;
  header = header.padEnd(padded - magic.length - 2 - 1, ' ') + '\n';
  const out = new Uint8Array(padded + data.length * 4);
  out.set(magic, 0);
  new DataView(out.buffer).setUint16(magic.length, header.length, true);
  out.set(Buffer.from(header, 'latin1'), magic.length + 2);
  const body = new DataView(out.buffer, padded);
  for (let i = 0; i < data.length; i++) body.setFloat32(i * 4, data[i], true);
  return out;
}

/** The shape and values of .npy bytes written by `encodeNpy` (for tests and checks). */
export function decodeNpy(bytes: Uint8Array): { shape: number[]; data: Float32Array } {
  if (!magic.every((b, i) => bytes[i] === b)) throw new Error('not a version 1.0 .npy file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint16(magic.length, true);
  const header = Buffer.from(bytes.subarray(magic.length + 2, magic.length + 2 + length)).toString('latin1');
  if (!header.includes("'descr': '<f4'") || !header.includes("'fortran_order': False"))
    throw new Error(`unsupported .npy header ${header.trim()}`);
  const dims = /'shape': \(([^)]*)\)/.exec(header)?.[1] ?? '';
  const shape = dims
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const start = magic.length + 2 + length;
  const data = new Float32Array((bytes.length - start) / 4);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(start + i * 4, true);
  return { shape, data };
}
