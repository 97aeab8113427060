// Protects planning by measurement: rank correlation, ranking by drift, and the greedy search's moves (plan --model end to end: test/integration/measuredPlanCommand.test.ts).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { checkHeadMap } from '../../analysis/config/reuseConfig';
import { isReuse } from '../../analysis/planner/headMap';
import type { HeadMap } from '../../analysis/planner/headMap';
import { measuredSearch, paretoByDrift, recommendByDrift, searchMoves, spearman } from '../../analysis/planner/measuredSearch';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

function randomPairs(L: number, H: number, seed: number): number[][][][] {
  const rand = pseudoRandom(seed);
  return Array.from({ length: L }, () =>
    Array.from({ length: H }, () => Array.from({ length: L }, () => Array.from({ length: H }, () => rand()))),
  );
}

const shape = { layers: 4, heads: 4, hidden: 64, ffn: 256, vocab: 100, maxPositions: 64 };

describe('planning by measurement (pure)', () => {
  it('Spearman: 1 for the same order, −1 reversed, ties share ranks, null without spread', () => {
    assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
    assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
    // Ranks [1, 2.5, 2.5, 4] against [1, 2, 3, 4]: ρ = 4.5 / sqrt(4.5 · 5).
    assert.ok(Math.abs(spearman([1, 2, 2, 3], [1, 2, 3, 4])! - 4.5 / Math.sqrt(4.5 * 5)) < 1e-12);
    assert.equal(spearman([1, 1, 1], [1, 2, 3]), null);
    assert.equal(spearman([1, 2], [1, 2]), null);
  });

  it('recommends the least drift under the FLOPs target; the drift front', () => {
    const c = [
      { drift: 0.5, flopsRatio: 0.85, paramsRatio: 0.9 },
      { drift: 0.1, flopsRatio: 0.95, paramsRatio: 0.9 },
      { drift: 0.2, flopsRatio: 0.88, paramsRatio: 0.9 },
      { drift: 0.2, flopsRatio: 0.86, paramsRatio: 0.9 },
      { drift: null, flopsRatio: 0.5, paramsRatio: 0.5 },
    ];
    assert.equal(recommendByDrift(c, 0.9), 3, 'ties in drift go to fewer FLOPs');
    assert.equal(recommendByDrift(c, 0.8), null);
    assert.deepEqual(paretoByDrift(c), [0, 3, 1]);
  });

  it('search moves keep every map valid: sources computed, never a head that is itself a source', () => {
    const pairs = randomPairs(4, 4, 11);
    let map: HeadMap = Array.from({ length: 4 }, () => ['exact', 'exact', 'exact', 'exact']);
    for (let step = 0; step < 12; step++) {
      const moves = searchMoves(map, pairs);
      if (moves.length === 0) break;
      for (let i = 1; i < moves.length; i++) assert.ok(moves[i - 1].similarity >= moves[i].similarity, 'moves are sorted by similarity');
      const m = moves[step % moves.length];
      map = map.map((row, l) => row.map((e, h) => (l === m.layer && h === m.head ? { reuse: m.source } : e)));
      checkHeadMap(map, 4);
    }
    assert.ok(
      map[0].every((e) => e === 'exact'),
      'layer 0 never reuses',
    );
  });

  it('the greedy search takes, among the top few by similarity, the move with the least measured drift, until the FLOPs target', async () => {
    const pairs = randomPairs(4, 4, 5);
    const drift = (m: HeadMap) => m.flat().reduce((s: number, e, i) => s + (isReuse(e) ? ((i * 7919) % 13) / 100 : 0), 0);
    const tried: HeadMap[][] = [];
    let batch: HeadMap[] = [];
    const result = await measuredSearch({
      shape,
      seqLen: 64,
      headPairs: pairs,
      targetFlops: 0.93,
      width: 3,
      evaluate: async (m) => {
        batch.push(m);
        return drift(m);
      },
      onStep: () => {
        tried.push(batch);
        batch = [];
      },
    });
    assert.ok(result.reached);
    assert.ok(result.steps.length > 0);
    result.steps.forEach((s, i) => {
      assert.ok(s.tried <= 3 && tried[i].length === s.tried, 'at most width moves measured per step');
      assert.equal(s.drift, Math.min(...tried[i].map(drift)), `step ${i} took the least drift`);
    });
    assert.ok(
      result.steps[result.steps.length - 1].flopsRatio <= 0.93 && result.steps.slice(0, -1).every((s) => s.flopsRatio > 0.93),
      'stops at the target',
    );
    checkHeadMap(result.heads, 4);
  });
});
