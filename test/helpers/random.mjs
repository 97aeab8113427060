// The seeded PRNG of the plain-Node tests, fixtures and benchmarks: the product's own
// (analysis/runtime/pseudoRandom.ts, loaded through tsx), so that random cases, fixtures and
// screenshots are the same on every run and match the TypeScript tests'.
import { tsImport } from 'tsx/esm/api';

/** Mulberry32: floats in [0, 1) from a 32-bit seed. */
export const { pseudoRandom } = await tsImport('../../analysis/runtime/pseudoRandom.ts', import.meta.url);
