// Protects how a candidate whose similarity kept is at or below its uniform baseline is presented: the planner's
// predicate, the panel's payload flag and the Plan Reuse quick pick's warning, on a stack of diffuse heads.
import '../helpers/vscodeStandIn';
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { keptBelowBaseline, planStack } from '../../analysis/planner/plan';
import { planMessage } from '../../extension/panelPayloads';
import { candidateDetail } from '../../extension/planCommands';
import { analysisWith } from '../helpers/analysisFixture';

const L = 4;
const H = 2;
const similarity = (a: number, b: number) => (a === b ? 1 : 0.9 - 0.05 * Math.abs(a - b));
const pairs = Array.from({ length: L }, (_, l) =>
  Array.from({ length: H }, (_, h) =>
    Array.from({ length: L }, (_, l2) => Array.from({ length: H }, (_, h2) => similarity(l * H + h, l2 * H + h2))),
  ),
);
const dims = { hidden: 8, ffn: 16, vocab: 20, maxPositions: 8 };

describe('candidates at or below their uniform baseline', () => {
  it('are flagged to the panel and warned about in the quick pick, the recommended one included; others are not', () => {
    // Heads closer to uniform (0.95) than to each other: every reuse keeps less than its baseline.
    const diffuse = planStack(
      analysisWith(
        pairs,
        Array.from({ length: L }, () => new Array<number>(H).fill(0.95)),
        dims,
      ).stacks[0],
    );
    assert.ok(diffuse.recommended !== null, 'the fixture must have a recommendation');
    const message = planMessage(diffuse);
    diffuse.candidates.forEach((c, i) => {
      assert.equal(
        message.candidates[i].belowBaseline,
        c.similarityKept !== null,
        `candidate ${i}: every reuse is below the 0.95 baseline`,
      );
      assert.equal(message.candidates[i].trainingMemoryRatio, c.cost.trainingMemoryRatio, 'the panel gets the cost model training memory');
    });
    assert.match(candidateDetail(diffuse, diffuse.recommended!)!, /^recommended: .* — similarity kept at or below its uniform baseline/);
    // The same similarities against a low baseline: nothing is flagged.
    const sharp = planStack(
      analysisWith(
        pairs,
        Array.from({ length: L }, () => new Array<number>(H).fill(0.2)),
        dims,
      ).stacks[0],
    );
    assert.ok(sharp.candidates.every((c) => !keptBelowBaseline(c)));
    assert.doesNotMatch(candidateDetail(sharp, sharp.recommended!) ?? '', /baseline/);
    assert.equal(keptBelowBaseline({ similarityKept: 0.5, uniformBaseline: 0.5 }), true, 'equal to the baseline counts as at or below it');
    assert.equal(keptBelowBaseline({ similarityKept: null, uniformBaseline: null }), false, 'nothing reused is nothing to flag');
  });
});
