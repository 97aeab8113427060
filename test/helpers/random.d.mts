/** Mulberry32 (hexeditor's pseudoRandom): floats in [0, 1) from a 32-bit seed. */
export function pseudoRandom(seed: number): () => number;
