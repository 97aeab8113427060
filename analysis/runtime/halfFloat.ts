/** IEEE 754 half-precision bits to a number (ONNX Runtime returns float16 as Uint16Array on Node 20). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A tensor's data as float32, converting float16 bits where needed. */
export function toFloat32(data: ArrayLike<number>, type: string): Float32Array {
  if (type === 'float32' && data instanceof Float32Array) return data;
  const out = new Float32Array(data.length);
  if (type === 'float16' && data instanceof Uint16Array) {
    for (let i = 0; i < data.length; i++) out[i] = halfToFloat(data[i]);
  } else {
    for (let i = 0; i < data.length; i++) out[i] = data[i];
  }
  return out;
}
