/** The tests' seeded PRNG is the one analysis/ masks with (mulberry32): floats in [0, 1). */
export { pseudoRandom } from '../../analysis/runtime/pseudoRandom';
