// Compares nested arrays of numbers (analysis fields) for the integration suites.
import { strict as assert } from 'node:assert';

/** The largest difference between two nested number arrays of one shape, and where it is. */
export function maxDiff(a: unknown, b: unknown, path = ''): [number, string] {
  if (typeof a === 'number' && typeof b === 'number') return [Math.abs(a - b), path];
  assert.ok(Array.isArray(a) && Array.isArray(b) && a.length === b.length, `shapes differ at ${path || 'the top'}`);
  return (a as unknown[]).reduce<[number, string]>(
    (worst, x, i) => {
      const d = maxDiff(x, (b as unknown[])[i], `${path}[${i}]`);
      return d[0] > worst[0] ? d : worst;
    },
    [0, ''],
  );
}
