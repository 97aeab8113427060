// Protects the planner's assignment solver: Hungarian assignment and exact-K matchings agree with brute force on seeded random cases.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { maxWeightAssignment, maxWeightMatching } from '../../analysis/planner/assignment';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

/** Seeded generator (mulberry32) so a failing case can be replayed. */
/** Best total of exactly k pairs, mandatory rows matched, by trying every matching. */
function bruteForce(w: number[][], k: number, mandatory: boolean[]): number {
  const R = w.length;
  const C = w[0].length;
  const usedCol = new Array<boolean>(C).fill(false);
  let best = -Infinity;
  const go = (r: number, pairs: number, total: number) => {
    if (pairs > k) return;
    if (r === R) {
      if (pairs === k) best = Math.max(best, total);
      return;
    }
    if (!mandatory[r]) go(r + 1, pairs, total);
    for (let c = 0; c < C; c++) {
      if (usedCol[c]) continue;
      usedCol[c] = true;
      go(r + 1, pairs + 1, total + w[r][c]);
      usedCol[c] = false;
    }
  };
  go(0, 0, 0);
  return best;
}

function table(rand: () => number, R: number, C: number, ties: boolean): number[][] {
  // Ties (weights from a few levels) are where a careless solver goes wrong.
  return Array.from({ length: R }, () => Array.from({ length: C }, () => (ties ? Math.floor(rand() * 3) / 2 : rand())));
}

describe('assignment solver', () => {
  it('square and rectangular assignments match brute force', () => {
    const rand = pseudoRandom(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rand() * 5);
      const m = n + Math.floor(rand() * 3);
      const w = table(rand, n, m, trial % 3 === 0);
      const cols = maxWeightAssignment(w);
      assert.equal(new Set(cols).size, n, `trial ${trial}: a column was used twice`);
      const total = cols.reduce((s, c, r) => s + w[r][c], 0);
      const best = bruteForce(w, n, new Array<boolean>(n).fill(true));
      assert.ok(Math.abs(total - best) < 1e-9, `trial ${trial}: ${total} vs brute force ${best} on ${JSON.stringify(w)}`);
    }
  });

  it('exactly-k matchings with optional and mandatory rows match brute force', () => {
    const rand = pseudoRandom(11);
    for (let trial = 0; trial < 400; trial++) {
      const R = 1 + Math.floor(rand() * 5);
      const C = 1 + Math.floor(rand() * 5);
      const k = Math.floor(rand() * (Math.min(R, C) + 1));
      const mandatory = Array.from({ length: R }, () => rand() < 0.3);
      while (mandatory.filter(Boolean).length > k) mandatory[mandatory.lastIndexOf(true)] = false;
      const w = table(rand, R, C, trial % 2 === 0);
      const m = maxWeightMatching(w, k, mandatory);
      assert.equal(m.pairs.length, k, `trial ${trial}: pair count`);
      assert.equal(new Set(m.pairs.map(([, c]) => c)).size, k, `trial ${trial}: a column was used twice`);
      assert.equal(new Set(m.pairs.map(([r]) => r)).size, k, `trial ${trial}: a row was used twice`);
      mandatory.forEach((must, r) => assert.ok(!must || m.pairs.some(([pr]) => pr === r), `trial ${trial}: mandatory row ${r} left out`));
      const best = bruteForce(w, k, mandatory);
      assert.ok(Math.abs(m.total - best) < 1e-9, `trial ${trial}: ${m.total} vs brute force ${best}`);
    }
  });

  it('handles negative weights and refuses impossible requests', () => {
    const w = [
      [-1, -5],
      [-2, -1],
    ];
    assert.deepEqual(maxWeightAssignment(w), [0, 1]);
    assert.throws(() => maxWeightMatching(w, 3), /cannot match 3 pairs/);
    assert.throws(() => maxWeightMatching(w, 1, [true, true]), /mandatory rows/);
    assert.deepEqual(maxWeightMatching(w, 0).pairs, []);
  });
});
