/**
 * The seeded PRNG (mulberry32) of the TypeScript side: the masked-LM masking of `whatif --mlm`
 * draws from it, so that a run is reproducible, and the tests draw their random cases from it.
 * Returns floats in [0, 1).
 */
export function pseudoRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
