// Protects the cost model (DESIGN.md "Cost"): BERT parameter totals, the paper's Table 1 (Reuse 13L and 26L included), skip ratios, training memory.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { bertParams, costOf, trainingLayerBytes } from '../../analysis/planner/cost';
import type { ModelShape } from '../../analysis/planner/cost';
import { algorithm1HeadMap } from '../../analysis/planner/headMap';
import { presetHeadMap } from '../../analysis/planner/modes';
import type { HeadMap } from '../../analysis/planner/headMap';

const base: ModelShape = { layers: 12, heads: 12, hidden: 768, ffn: 3072, vocab: 30522, maxPositions: 512 };
const large: ModelShape = { layers: 24, heads: 16, hidden: 1024, ffn: 4096, vocab: 30522, maxPositions: 512 };

function close(actual: number, expected: number, what: string) {
  assert.ok(
    Math.abs(actual - expected) <= 1e-6,
    `${what}: ${actual} vs ${expected}; re-read DESIGN.md's accounting (tied decoder, no pooler, 2 type rows)`,
  );
}

describe('cost model', () => {
  it('BERT-base and BERT-large parameter totals are exact', () => {
    assert.equal(bertParams(base), 109_514_298, 'BERT-base total');
    assert.equal(bertParams(large), 335_174_458, 'BERT-large total');
  });

  const table1: [string, ModelShape, 'partial' | 'full', number, number, number, number][] = [
    ['BERT-base K=6 P=10', base, 'partial', 10, 6, 0.946072, 0.916667],
    ['BERT-base K=12 P=6', base, 'full', 6, 12, 0.935286, 0.9],
    ['BERT-large K=8 P=22', large, 'partial', 22, 8, 0.931107, 0.911859],
    ['BERT-large K=16 P=12', large, 'full', 12, 16, 0.924844, 0.903846],
  ];
  for (const [name, shape, mode, P, K, params, flops] of table1) {
    it(`Table 1: ${name}`, () => {
      const c = costOf(shape, presetHeadMap(mode, shape.layers, shape.heads, P, K), 512);
      close(c.paramsRatio, params, `${name} params ratio`);
      close(c.flopsRatio, flops, `${name} FLOPs ratio`);
      assert.equal(c.params, bertParams(shape));
    });
  }

  it('skip 6 layers of BERT-base: 0.870572 / 0.800000', () => {
    const c = costOf(base, presetHeadMap('skip', 12, 12, 6, 12), 512);
    close(c.paramsRatio, 0.870572, 'skip params ratio');
    close(c.flopsRatio, 0.8, 'skip FLOPs ratio');
    assert.equal(c.skipLayers, 6);
    assert.equal(c.scoreMemoryRatio, 0.5);
  });

  it('a reuse layer costs (1 - K/(2H)) of the attention, at any n', () => {
    for (const n of [1, 17, 128, 4096]) {
      for (const K of [0, 1, 5, 12]) {
        const c = costOf(base, presetHeadMap('partial', 12, 12, 1, K), n);
        const d = 768;
        const attention = 4 * d * d * n + 2 * d * n * n;
        close((c.flops - c.flopsReuse) / attention, K / 24, `saved share of one layer, n=${n} K=${K}`);
      }
    }
  });

  it('no reuse costs exactly the baseline', () => {
    const c = costOf(base, presetHeadMap('partial', 12, 12, 0, 0), 512);
    assert.equal(c.paramsRatio, 1);
    assert.equal(c.flopsRatio, 1);
    assert.equal(c.scoreMemoryRatio, 1);
  });

  it('maxPositions changes only the position table', () => {
    assert.equal(bertParams({ ...base, maxPositions: 128 }), 109_514_298 - 384 * 768);
  });

  it('counts guided and custom maps head by head', () => {
    const map: HeadMap = algorithm1HeadMap(['exact', 'reuse', 'exact', 'reuse'], 4, 2);
    map[3][0] = { reuse: { layer: 0, head: 1 } }; // a third reuse head in layer 3
    const shape: ModelShape = { layers: 4, heads: 4, hidden: 8, ffn: 16, vocab: 10, maxPositions: 6 };
    const c = costOf(shape, map, 5);
    assert.equal(c.reuseHeads, 5);
    assert.equal(c.paramsReuse, bertParams(shape) - 5 * ((2 * (8 * 8 + 8)) / 4));
    assert.equal(c.scoreMemoryRatio, 11 / 16);
  });

  it('Table 1: Reuse 13L and 26L (one / two extra layers, full reuse) match the baseline in parameters', () => {
    const c13 = costOf(base, presetHeadMap('full', 13, 12, 6, 12), 512, 1);
    assert.equal(c13.params, 109_514_298, 'ratios are against the 12-layer model as analysed');
    assert.equal(
      c13.paramsReuse,
      109_514_298 + 7_087_872 - 6 * 12 * ((2 * (768 * 768 + 768)) / 12),
      'one more BERT-base layer, 72 heads without Q/K',
    );
    assert.equal(c13.paramsRatio.toFixed(2), '1.00');
    assert.equal(c13.flopsRatio.toFixed(2), '0.98');
    close(c13.flopsRatio, 0.983333, 'Reuse 13L FLOPs');
    const c26 = costOf(large, presetHeadMap('full', 26, 16, 12, 16), 512, 2);
    assert.equal(c26.paramsRatio.toFixed(2), '1.00');
    assert.equal(c26.flopsRatio.toFixed(2), '0.99');
    assert.throws(() => costOf(base, presetHeadMap('full', 12, 12, 6, 12), 512, 1), /head map has 12 layers, the model 12 \+ 1 extra/);
  });

  it('training memory: reuse heads keep dropout masks and dropped copies, so it falls less than score memory', () => {
    const d = 768;
    const n = 512;
    assert.equal(
      trainingLayerBytes(d, 12, n, { kind: 'exact', reuseHeads: 0 }),
      34 * n * d + 5 * 12 * n * n,
      'Korthikanti et al. eq. 1 per layer',
    );
    assert.equal(
      trainingLayerBytes(d, 12, n, { kind: 'reuse', reuseHeads: 12 }),
      30 * n * d + 3 * 12 * n * n,
      'full reuse: 3 of 5 bytes per score stay',
    );
    assert.equal(trainingLayerBytes(d, 12, n, { kind: 'skip', reuseHeads: 0 }), 23 * n * d, 'skip: MLP and LayerNorms only');
    const full = costOf(base, presetHeadMap('full', 12, 12, 6, 12), 512);
    assert.equal(full.scoreMemoryRatio, 0.5);
    assert.ok(
      full.trainingMemoryRatio > full.scoreMemoryRatio + 0.3,
      `training ${full.trainingMemoryRatio} vs inference ${full.scoreMemoryRatio}`,
    );
    const none = costOf(base, presetHeadMap('partial', 12, 12, 0, 0), 512);
    assert.equal(none.trainingMemoryRatio, 1);
    assert.equal(none.trainingMemory, 12 * (34 * n * d + 60 * n * n));
  });

  it('rejects a layer that skips only some heads, and hidden not divisible by heads', () => {
    const map = presetHeadMap('partial', 12, 12, 0, 0);
    map[3][2] = 'skip';
    assert.throws(() => costOf(base, map, 512), /heads\[3\] mixes "skip"/);
    assert.throws(() => costOf({ ...base, hidden: 770 }, presetHeadMap('partial', 12, 12, 0, 0), 512), /multiple of heads/);
  });
});
