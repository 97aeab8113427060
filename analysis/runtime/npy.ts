/**
 * NumPy's `.npy` and `.npz` files, read from bytes (the storage module reads the file): the
 * format is small enough to read here rather than through a package. An `.npy` is a magic
 * string, a version, a header (a Python dict literal: descr, fortran_order, shape) and the raw
 * values; an `.npz` is a zip of `.npy` files (read with adm-zip).
 * Anything else is refused naming the file and what is wrong with it.
 */
import AdmZip from 'adm-zip';
import { InputError } from '../errors';
import { halfToFloat } from './halfFloat';

export interface NpyArray {
  /** The NumPy type, e.g. `<f4`. */
  dtype: string;
  shape: number[];
  /** Row-major values as numbers (int64 beyond 2^53 is refused). */
  values: number[];
}

/** Values one array may hold: a typed array of them must fit in memory beside the model's run. */
export const maxArrayValues = 2 ** 28;

const readers: Record<string, { size: number; read: (v: DataView, at: number, little: boolean) => number }> = {
  f2: { size: 2, read: (v, at, le) => halfToFloat(v.getUint16(at, le)) },
  f4: { size: 4, read: (v, at, le) => v.getFloat32(at, le) },
  f8: { size: 8, read: (v, at, le) => v.getFloat64(at, le) },
  i1: { size: 1, read: (v, at) => v.getInt8(at) },
  u1: { size: 1, read: (v, at) => v.getUint8(at) },
  b1: { size: 1, read: (v, at) => v.getUint8(at) },
  i2: { size: 2, read: (v, at, le) => v.getInt16(at, le) },
  u2: { size: 2, read: (v, at, le) => v.getUint16(at, le) },
  i4: { size: 4, read: (v, at, le) => v.getInt32(at, le) },
  u4: { size: 4, read: (v, at, le) => v.getUint32(at, le) },
  i8: { size: 8, read: (v, at, le) => Number(v.getBigInt64(at, le)) },
  u8: { size: 8, read: (v, at, le) => Number(v.getBigUint64(at, le)) },
};

/** The fields of an .npy header dict, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (80, 3000), }`. */
function parseHeader(header: string, label: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new InputError(
      `${label}: the .npy header is not a dict of descr, fortran_order and shape (${JSON.stringify(header.slice(0, 60))})`,
    );
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new InputError(`${label}: the .npy shape (${shapeText}) is not a list of sizes`);
  return { descr, fortran: fortran === 'True', shape };
}

/** Row-major order of values stored column-major (fortran_order). */
function fromFortran(values: number[], shape: number[]): number[] {
  if (shape.length < 2) return values;
  const out = new Array<number>(values.length);
  const strides = shape.map((_, i) => shape.slice(0, i).reduce((a, b) => a * b, 1));
  const index = shape.map(() => 0);
  for (let n = 0; n < values.length; n++) {
    out[n] = values[index.reduce((at, x, i) => at + x * strides[i], 0)];
    for (let d = shape.length - 1; d >= 0; d--)
      if (++index[d] < shape[d]) break;
      else index[d] = 0;
  }
  return out;
}

/** One .npy file's array. */
export function parseNpy(bytes: Uint8Array, label: string): NpyArray {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b))
    throw new InputError(`${label} is not a NumPy .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6];
  const wide = major >= 2;
  const headerLength = wide ? (bytes.length >= 12 ? view.getUint32(8, true) : Infinity) : view.getUint16(8, true);
  const start = wide ? 12 : 10;
  if (start + headerLength > bytes.length) throw new InputError(`${label}: the .npy header runs past the end of the file`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const { descr, fortran, shape } = parseHeader(header, label);
  const order = descr[0];
  const reader = readers[descr.slice(1)];
  if (!reader || !'<>|='.includes(order))
    throw new InputError(`${label}: dtype ${descr} is not a number type this tool reads (floats, integers, bool)`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > maxArrayValues)
    throw new InputError(`${label}: shape (${shape.join(', ')}) is ${count} values, more than this tool reads (${maxArrayValues})`);
  const body = start + headerLength;
  if (body + count * reader.size > bytes.length)
    throw new InputError(
      `${label}: the .npy data ends after ${bytes.length - body} bytes; shape (${shape.join(', ')}) of ${descr} needs ${count * reader.size}`,
    );
  const little = order !== '>';
  const values = new Array<number>(count);
  for (let i = 0; i < count; i++) values[i] = reader.read(view, body + i * reader.size, little);
  if (descr.endsWith('8') && values.some((v) => !Number.isSafeInteger(v)) && descr[1] !== 'f') {
    throw new InputError(`${label}: holds an integer beyond 2^53, which this tool cannot hold exactly`);
  }
  return { dtype: descr, shape, values: fortran ? fromFortran(values, shape) : values };
}

/**
 * The arrays of an .npz (a zip of NAME.npy entries, stored or deflated), by NAME; adm-zip reads
 * the container. An entry that would inflate beyond what one array may hold is refused before
 * it is inflated.
 */
export function parseNpz(bytes: Uint8Array, label: string): Map<string, NpyArray> {
  let entries: AdmZip.IZipEntry[];
  try {
    entries = new AdmZip(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).getEntries();
  } catch (err) {
    throw new InputError(`${label} is not an .npz file this tool can read (${zipMessage(err)})`);
  }
  const arrays = new Map<string, NpyArray>();
  for (const entry of entries) {
    const name = entry.entryName;
    if (entry.isDirectory || !name.endsWith('.npy')) continue;
    if (entry.header.size > maxArrayValues * 8 + 65536)
      throw new InputError(`${label}: entry ${name} is ${entry.header.size} bytes, more than one array this tool reads`);
    let data: Uint8Array;
    try {
      data = entry.getData();
    } catch (err) {
      throw new InputError(`${label}: entry ${name} cannot be read (${zipMessage(err)})`);
    }
    arrays.set(name.slice(0, -4), parseNpy(data, `${label}:${name}`));
  }
  if (arrays.size === 0) throw new InputError(`${label} holds no .npy arrays`);
  return arrays;
}

function zipMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].replace(/^ADM-ZIP: /, '');
}
