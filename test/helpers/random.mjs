// The one seeded PRNG of the JavaScript tests and the benchmark, so that random cases,
// fixtures and screenshots are the same on every run.

/** Mulberry32 (hexeditor's pseudoRandom): floats in [0, 1) from a 32-bit seed. */
export function pseudoRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
