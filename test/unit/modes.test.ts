// Protects the mode table: a mode added as one row reaches the cost model, the planner's candidates, config validation and the CLI help.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { buildReuseConfig } from '../../analysis/app/emit';
import { costHelp } from '../../analysis/cli/costCommand';
import { emitHelp } from '../../analysis/cli/emitCommand';
import { checkReuseConfig, configSchema, formatReuseConfig } from '../../analysis/config/reuseConfig';
import { costOf } from '../../analysis/planner/cost';
import { addReuseMode, modeRow, presetHeadMap, reuseModeNames } from '../../analysis/planner/modes';
import type { ReuseModeRow } from '../../analysis/planner/modes';
import { planStack } from '../../analysis/planner/plan';
import { analysisWith } from '../helpers/analysisFixture';

/** Reuse in the last P layers, the last one included (not a paper preset). */
const lastLayers: ReuseModeRow = {
  name: 'last',
  label: 'Last layers',
  description: 'reuse in the final P layers, the last one included',
  kind: 'reuse',
  layers: (L, P) => Array.from({ length: P }, (_, p) => L - P + p),
  bounds: (L, H) => ({ P: [0, L - 1], K: [0, H] }),
  wholeLayers: true,
  candidates: (L, H) => Array.from({ length: L - 1 }, (_, i) => ({ P: i + 1, K: H })),
  placeHeads: true,
};

describe('reuse mode table', () => {
  it('a mode added as one row is costed, planned, validated and listed in help', (t) => {
    t.after(addReuseMode(lastLayers));
    const L = 4;
    const H = 2;
    assert.ok(reuseModeNames().includes('last'));
    const map = presetHeadMap('last', L, H, 2, H);
    assert.deepEqual(
      map[3],
      [{ reuse: { layer: 1, head: 0 } }, { reuse: { layer: 1, head: 1 } }],
      'the last layer reuses what layer 2 reused: layer 1, which computed it',
    );
    const shape = { layers: L, heads: H, hidden: 8, ffn: 16, vocab: 20, maxPositions: 16 };
    assert.ok(costOf(shape, map, 16).flopsRatio < 1, 'cost sees the reuse heads');

    const hp = Array.from({ length: L }, (_, l) =>
      Array.from({ length: H }, (_, h) =>
        Array.from({ length: L }, (_, i) => Array.from({ length: H }, (_, j) => (l === i && h === j ? 1 : 0.5))),
      ),
    );
    const analysis = analysisWith(
      hp,
      hp.map((r) => r.map(() => 0.2)),
      { hidden: 8, ffn: 16, vocab: 20, maxPositions: 16 },
    );
    const plan = planStack(analysis.stacks[0]);
    assert.deepEqual(
      plan.candidates.filter((c) => c.mode === 'last').map((c) => c.P),
      [1, 2, 3],
      "the planner scores the new mode's candidates",
    );

    const config = buildReuseConfig(
      analysis.stacks[0],
      { mode: 'last', P: 2 },
      { analysisSha256: 'a'.repeat(64), modelSha256: 'b'.repeat(64) },
    );
    assert.equal(config.K, H, 'a whole-layer mode takes K = H');
    assert.equal(checkReuseConfig(JSON.parse(formatReuseConfig(config)), 'x').mode, 'last');
    assert.throws(
      () => checkReuseConfig({ ...JSON.parse(formatReuseConfig(config)), P: 1 }, 'x'),
      /mode "last" with P = 1/,
      "the row's layers decide the structure check",
    );
    assert.ok((configSchema() as { properties: { mode: { enum: string[] } } }).properties.mode.enum.includes('last'));
    assert.match(costHelp(), /last\s+reuse in the final P layers/);
    assert.match(emitHelp(), /last\s+reuse in the final P layers/);
  });

  it('removing the row takes it out again', () => {
    addReuseMode(lastLayers)();
    assert.ok(!reuseModeNames().includes('last'));
    assert.throws(() => modeRow('last'), /must be one of/);
    assert.throws(() => checkReuseConfig({ mode: 'last' }, 'x'), /not a valid/);
  });
});
