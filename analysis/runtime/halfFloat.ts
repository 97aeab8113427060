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

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A number as IEEE 754 half-precision bits, rounded to nearest even (from its float32 value). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  let shift = 13;
  let bits = sign | (e << 10);
  if (e <= 0) {
    // Subnormal: the implicit leading 1 joins the mantissa, shifted further right.
    if (e < -10) return sign;
    mant |= 0x800000;
    shift = 14 - e;
    bits = sign;
  }
  let half = bits | (mant >>> shift);
  const rest = mant & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && half & 1)) half += 1;
  return half;
}

/** bfloat16 bits (the top half of a float32) to a number. */
export function bfloat16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** A number as bfloat16 bits, rounded to nearest even from its float32 value (NaN stays NaN). */
export function floatToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
