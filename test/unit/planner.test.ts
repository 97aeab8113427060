// Protects the planner: Algorithm 1 head maps with resolved slot chains, preset layers, head assignment and guided maps against brute force, Pareto front and recommendation.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { buildReuseConfig } from '../../analysis/app/emit';
import { InputError } from '../../analysis/errors';
import { checkHeadMap, checkModeStructure } from '../../analysis/config/reuseConfig';
import { assignPresetHeads, guidedHeadMap, reusePairs, similarityKept, uniformBaseline } from '../../analysis/planner/headAssignment';
import type { HeadPairs } from '../../analysis/planner/headAssignment';
import { algorithm1HeadMap, isReuse } from '../../analysis/planner/headMap';
import { candidateGrid, presetHeadMap, presetLayers } from '../../analysis/planner/modes';
import type { HeadMap } from '../../analysis/planner/headMap';
import { paretoFront, planStack, recommend } from '../../analysis/planner/plan';
import type { Candidate, PlannerStack } from '../../analysis/planner/plan';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

/** A symmetric headPairs with 1 on the diagonal, random elsewhere. */
function randomPairs(L: number, H: number, rand: () => number): HeadPairs {
  const hp: HeadPairs = Array.from({ length: L }, () =>
    Array.from({ length: H }, () => Array.from({ length: L }, () => new Array<number>(H).fill(0))),
  );
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < L; i++)
        for (let j = 0; j < H; j++) {
          if (l * H + h > i * H + j) continue;
          const v = l === i && h === j ? 1 : Math.round(rand() * 100) / 100;
          hp[l][h][i][j] = v;
          hp[i][j][l][h] = v;
        }
  return hp;
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

/** The slot map with the model's heads placed by per-layer permutations. */
function relabel(slots: HeadMap, perms: number[][]): HeadMap {
  const out: HeadMap = slots.map((row) => row.map(() => 'exact'));
  slots.forEach((row, l) =>
    row.forEach(
      (e, s) => (out[l][perms[l][s]] = isReuse(e) ? { reuse: { layer: e.reuse.layer, head: perms[e.reuse.layer][e.reuse.head] } } : e),
    ),
  );
  return out;
}

/** Best similarity kept over every way of placing the model's heads into the slots. */
function bruteForceKept(slots: HeadMap, hp: HeadPairs): number {
  const H = slots[0].length;
  const all = permutations(H);
  let best = -Infinity;
  const go = (l: number, perms: number[][]) => {
    if (l === slots.length) {
      best = Math.max(best, similarityKept(relabel(slots, perms), hp)!);
      return;
    }
    for (const p of all) go(l + 1, [...perms, p]);
  };
  go(0, []);
  return best;
}

function stackOf(hp: HeadPairs, uniform?: number[][]): PlannerStack {
  const L = hp.length;
  const H = hp[0].length;
  return {
    name: 'encoder',
    layerCount: L,
    headCount: H,
    dims: { hidden: 8 * H, ffn: 32 * H, vocab: 50, maxPositions: 16 },
    headPairs: hp,
    uniform: uniform ?? Array.from({ length: L }, () => new Array<number>(H).fill(0.25)),
  };
}

describe('Algorithm 1 head maps', () => {
  it('resolves slot chains to the head that computed the tensor (L=4, H=3, P=2, K=2)', () => {
    const r = (layer: number, head: number) => ({ reuse: { layer, head } });
    assert.deepEqual(presetHeadMap('partial', 4, 3, 2, 2), [
      ['exact', 'exact', 'exact'],
      ['exact', r(0, 0), r(0, 1)],
      ['exact', r(1, 0), r(0, 0)], // R_1 = [A_{1,0}, R_0[0], R_0[1]]
      ['exact', 'exact', 'exact'],
    ]);
  });

  it('full reuse borrows all of layer 0 in every reuse layer', () => {
    const map = presetHeadMap('full', 5, 2, 3, 2);
    for (let l = 1; l <= 3; l++)
      assert.deepEqual(map[l], [{ reuse: { layer: 0, head: 0 } }, { reuse: { layer: 0, head: 1 } }], `layer ${l}`);
    assert.deepEqual(map[4], ['exact', 'exact']);
  });

  it('presets reuse the layers DESIGN.md names, 0-based', () => {
    assert.deepEqual(presetLayers('partial', 12, 10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(presetLayers('alternate', 12, 6), [1, 3, 5, 7, 9, 11]);
    assert.deepEqual(presetLayers('all-end', 12, 4), [7, 8, 9, 10]);
    assert.deepEqual(presetLayers('skip', 12, 3), [1, 2, 3]);
    const skip = presetHeadMap('skip', 4, 2, 2, 2);
    assert.deepEqual(skip, [
      ['exact', 'exact'],
      ['skip', 'skip'],
      ['skip', 'skip'],
      ['exact', 'exact'],
    ]);
    assert.throws(() => presetHeadMap('alternate', 5, 2, 3, 1), /P \(reuse layers\) is 3.*0\.\.2/);
  });

  it('every preset map is valid: earlier computed sources, K reuse heads per reuse layer', () => {
    for (const [L, H] of [
      [2, 1],
      [3, 4],
      [6, 5],
      [12, 12],
    ]) {
      for (const { mode, P, K } of candidateGrid(L, H)) {
        const map = presetHeadMap(mode, L, H, P, K);
        checkHeadMap(map, H);
        checkModeStructure(mode, map, L, H, P, K);
      }
    }
  });

  it('a reuse layer after an exact layer starts a new chain', () => {
    const map = algorithm1HeadMap(['exact', 'reuse', 'exact', 'reuse'], 2, 1);
    assert.deepEqual(map[3][1], { reuse: { layer: 2, head: 0 } });
  });
});

describe('head assignment', () => {
  it('full reuse and single reuse layers reach the brute-force optimum', () => {
    const rand = pseudoRandom(3);
    for (let trial = 0; trial < 12; trial++) {
      const hp = randomPairs(3, 3, rand);
      for (const [mode, P, K] of [
        ['full', 1, 3],
        ['full', 2, 3],
        ['partial', 1, 1],
        ['partial', 1, 2],
      ] as const) {
        const slots = presetHeadMap(mode, 3, 3, P, K);
        const assigned = assignPresetHeads(slots, hp);
        checkHeadMap(assigned, 3);
        checkModeStructure(mode, assigned, 3, 3, P, K);
        const best = bruteForceKept(slots, hp);
        assert.ok(
          Math.abs(similarityKept(assigned, hp)! - best) < 1e-9,
          `trial ${trial} ${mode} P=${P} K=${K}: ${similarityKept(assigned, hp)} vs ${best}`,
        );
      }
    }
  });

  it('chained partial maps stay valid and relabel the paper slots only within layers', () => {
    const rand = pseudoRandom(5);
    for (let trial = 0; trial < 20; trial++) {
      const L = 3 + Math.floor(rand() * 4);
      const H = 2 + Math.floor(rand() * 4);
      const K = 1 + Math.floor(rand() * H);
      const P = 1 + Math.floor(rand() * (L - 1));
      const slots = presetHeadMap('partial', L, H, P, K);
      const assigned = assignPresetHeads(slots, randomPairs(L, H, rand));
      checkHeadMap(assigned, H);
      checkModeStructure('partial', assigned, L, H, P, K);
      const shape = (m: HeadMap) =>
        reusePairs(m)
          .map((p) => `${p.layer}<${p.sourceLayer}`)
          .sort()
          .join();
      assert.equal(shape(assigned), shape(slots), `trial ${trial}: which layers borrow from which changed`);
    }
  });

  it('finds heads that were permuted between layers', () => {
    // Head h of layer l computes pattern (h + l) mod H: only a permuted placement keeps similarity 0.9.
    const L = 4;
    const H = 4;
    const pattern = (l: number, h: number) => (h + l) % H;
    const hp: HeadPairs = Array.from({ length: L }, (_, l) =>
      Array.from({ length: H }, (_, h) =>
        Array.from({ length: L }, (_, i) =>
          Array.from({ length: H }, (_, j) => (l === i && h === j ? 1 : pattern(l, h) === pattern(i, j) ? 0.9 : 0.2)),
        ),
      ),
    );
    const slots = presetHeadMap('full', L, H, 2, H);
    assert.ok(similarityKept(slots, hp)! < 0.3, 'the paper slot order ignores the permutation');
    assert.ok(Math.abs(similarityKept(assignPresetHeads(slots, hp), hp)! - 0.9) < 1e-12, 'assignment missed the permutation');
    assert.ok(Math.abs(similarityKept(guidedHeadMap(L, H, 2, 2, hp), hp)! - 0.9) < 1e-12, 'guided missed the permutation');
  });
});

describe('guided head maps', () => {
  it('each layer takes the best K-matching over all earlier computed heads (brute force)', () => {
    const rand = pseudoRandom(9);
    for (let trial = 0; trial < 15; trial++) {
      const H = 2 + Math.floor(rand() * 2);
      const K = 1 + Math.floor(rand() * H);
      const hp = randomPairs(3, H, rand);
      const map = guidedHeadMap(3, H, 2, K, hp);
      checkHeadMap(map, H);
      checkModeStructure('guided', map, 3, H, 2, K);
      for (const l of [1, 2]) {
        const sources: [number, number][] = [];
        for (let i = 0; i < l; i++) for (let j = 0; j < H; j++) if (map[i][j] === 'exact') sources.push([i, j]);
        let best = -Infinity;
        const used = new Set<number>();
        const go = (h: number, picked: number, total: number) => {
          if (h === H) {
            if (picked === K) best = Math.max(best, total);
            return;
          }
          go(h + 1, picked, total);
          sources.forEach(([i, j], s) => {
            if (used.has(s)) return;
            used.add(s);
            go(h + 1, picked + 1, total + hp[l][h][i][j]);
            used.delete(s);
          });
        };
        go(0, 0, 0);
        const got = map[l].reduce((sum, e, h) => sum + (isReuse(e) ? hp[l][h][e.reuse.layer][e.reuse.head] : 0), 0);
        assert.ok(Math.abs(got - best) < 1e-9, `trial ${trial} layer ${l}: ${got} vs brute force ${best}`);
      }
    }
  });
});

describe('scores, front and recommendation', () => {
  it('similarity kept and its uniform baseline average over the reuse heads', () => {
    const hp = randomPairs(2, 2, pseudoRandom(1));
    hp[1][0][0][1] = hp[0][1][1][0] = 0.7;
    hp[1][1][0][0] = hp[0][0][1][1] = 0.5;
    const map: HeadMap = [
      ['exact', 'exact'],
      [{ reuse: { layer: 0, head: 1 } }, { reuse: { layer: 0, head: 0 } }],
    ];
    assert.equal(similarityKept(map, hp), 0.6);
    assert.equal(
      uniformBaseline(map, [
        [0.1, 0.3],
        [0.5, 0.7],
      ]),
      ((0.5 + 0.3) / 2 + (0.7 + 0.1) / 2) / 2,
    );
    assert.equal(similarityKept([['exact', 'exact']], hp), null);
  });

  const cand = (flopsRatio: number, kept: number | null, paramsRatio = 1): Candidate =>
    ({
      mode: 'partial',
      P: 1,
      K: 1,
      heads: [],
      similarityKept: kept,
      uniformBaseline: null,
      cost: { flopsRatio, paramsRatio },
    }) as unknown as Candidate;

  it('the Pareto front keeps undominated points, sorted by FLOPs, without skip', () => {
    const cs = [cand(0.9, 0.5), cand(0.8, 0.6), cand(0.7, 0.4), cand(0.8, 0.55), cand(0.6, null), cand(0.95, 0.6), cand(0.8, 0.6)];
    assert.deepEqual(paretoFront(cs), [2, 1]);
  });

  it('recommends the most similarity kept under the FLOPs target', () => {
    const cs = [cand(0.9, 0.5), cand(0.85, 0.7, 0.9), cand(0.85, 0.7, 0.8), cand(0.95, 0.99)];
    assert.equal(recommend(cs, 0.9), 2, 'tie on similarity and FLOPs goes to fewer parameters');
    assert.equal(recommend(cs, 0.5), null);
  });

  it('plans a stack: grid, front within the candidates, recommendation under target', () => {
    const plan = planStack(stackOf(randomPairs(6, 4, pseudoRandom(2))), { targetFlops: 0.95 });
    assert.equal(plan.seqLen, 16, 'seq len defaults to the model position count');
    assert.equal(plan.candidates.length, candidateGrid(6, 4).length);
    assert.ok(plan.pareto.length > 0);
    const r = plan.candidates[plan.recommended!];
    assert.ok(r.cost.flopsRatio <= 0.95 && r.similarityKept !== null);
    for (const c of plan.candidates)
      if (c.cost.flopsRatio <= 0.95 && c.similarityKept !== null) assert.ok(c.similarityKept <= r.similarityKept! + 1e-12);
    assert.throws(
      () => planStack({ ...stackOf(randomPairs(3, 2, pseudoRandom(4))), dims: { hidden: null, ffn: 8, vocab: 9, maxPositions: null } }),
      (err: Error) => err instanceof InputError && err.field === 'hidden',
    );
  });

  it('plans a deeper stack with --extra-layers: slot order, no guided, similarity over measured pairs only', () => {
    const stack = stackOf(randomPairs(6, 4, pseudoRandom(5)));
    const plan = planStack(stack, { extraLayers: 1 });
    assert.ok(plan.candidates.length > 0 && plan.candidates.every((c) => c.mode !== 'guided'), 'guided needs every layer measured');
    for (const c of plan.candidates) {
      assert.equal(c.heads.length, 7, `${c.mode} P=${c.P} K=${c.K} plans 6 + 1 layers`);
      assert.equal(c.cost.extraLayers, 1);
      assert.equal(c.cost.params, planStack(stack).candidates[0].cost.params, 'the baseline stays the analysed model');
    }
    const full = plan.candidates.find((c) => c.mode === 'full' && c.P === 5)!;
    assert.deepEqual(full.heads, presetHeadMap('full', 7, 4, 5, 4), 'layers 1..5 of 7 reuse, in the paper slot order');
    assert.equal(full.similarityKept, similarityKept(full.heads.slice(0, 6), stack.headPairs), 'pairs in the extra layer are left out');
    const partial = plan.candidates.find((c) => c.mode === 'partial' && c.K === 1)!;
    assert.equal(partial.P, 5, 'partial P = L - 2 of the deeper stack');

    const source = { analysisSha256: 'a'.repeat(64), modelSha256: 'b'.repeat(64) };
    const config = buildReuseConfig(stack, { K: 4, P: 3, extraLayers: 1 }, source);
    assert.equal(config.dims.layers, 7, 'dims.layers counts the extra layer');
    assert.equal(config.extraLayers, 1);
    assert.deepEqual(config.heads[6], ['exact', 'exact', 'exact', 'exact'], 'the appended layer is the last row');
    assert.equal(config.estimates!.params, full.cost.params, 'estimates against the analysed model');
    assert.equal(typeof config.estimates!.trainingMemoryRatio, 'number');
    assert.ok(!('extraLayers' in buildReuseConfig(stack, { K: 4, P: 3 }, source)), 'configs without extra layers are written as before');
    assert.throws(
      () => buildReuseConfig(stack, { mode: 'guided', K: 2, extraLayers: 1 }, source),
      (err: Error) => err instanceof InputError && err.field === 'extraLayers',
      'guided with extra layers names the option',
    );
  });
});
