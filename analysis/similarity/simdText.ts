/** Pieces of WebAssembly text that the SIMD kernel's two parts (`simdSource.ts`, `simdScan.ts`) share. */

/** Probabilities become integers in units of 2⁻³¹. */
export const fixedPointScale = 2 ** 31;

export const i32 = 'i32' as const;
export const v128 = 'v128' as const;
export const f64 = 'f64' as const;

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
/** i8x16.shuffle byte lanes for 32-bit lanes `lanes` of the two operands (0-3 first, 4-7 second). */
export const shuffle32 = (lanes: number[]): string => `i8x16.shuffle ${lanes.flatMap((l) => range(4).map((b) => l * 4 + b)).join(' ')}`;
