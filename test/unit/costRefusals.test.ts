// Protects the cost model's refusals and absolute counts: every size is checked and named, a count past 2^53 names the size it grows with most, head maps must fit the model, and score memory is counted in values, not only as a ratio.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InputError } from '../../analysis/errors';
import { checkShape, costOf, maxModelHeads } from '../../analysis/planner/cost';
import type { ModelShape } from '../../analysis/planner/cost';
import { presetHeadMap } from '../../analysis/planner/modes';

const tiny: ModelShape = { layers: 1, heads: 1, hidden: 1, ffn: 1, vocab: 1, maxPositions: 1 };
const exact = (s: ModelShape) => presetHeadMap('partial', s.layers, s.heads, 0, 0);

/** The refusal's field and text, or 'accepted'. */
function refusal(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof InputError, `expected an InputError, got ${(err as Error).stack}`);
    return `${err.field}: ${err.template}`;
  }
}

describe('cost model refusals', () => {
  it('every size must be a whole number ≥ 1, named by its field; 1 is fine', () => {
    assert.equal(
      refusal(() => checkShape(tiny)),
      'accepted',
    );
    for (const key of Object.keys(tiny) as (keyof ModelShape)[]) {
      for (const bad of [0, -3, 1.5, Number.NaN]) {
        assert.equal(
          refusal(() => checkShape({ ...tiny, [key]: bad })),
          `${key}: {field} must be a whole number ≥ 1 (got ${bad})`,
          `${key} = ${bad}`,
        );
      }
    }
  });

  it(`at most ${maxModelHeads} heads in all, naming the larger of layers and heads`, () => {
    assert.equal(
      refusal(() => checkShape({ ...tiny, layers: 1000, heads: 1000, hidden: 1000 })),
      'accepted',
      'exactly the limit is allowed',
    );
    assert.equal(
      refusal(() => checkShape({ ...tiny, layers: 1001, heads: 1000, hidden: 1000 })),
      `layers: {field}: 1001 layers × 1000 heads are more than the ${maxModelHeads} heads a head map can hold`,
    );
    assert.match(
      refusal(() => checkShape({ ...tiny, layers: 1000, heads: 1001, hidden: 1001 })),
      /^heads: \{field\}: 1000 layers × 1001 heads/,
    );
    assert.match(
      refusal(() => checkShape({ ...tiny, layers: 1001, heads: 1001, hidden: 1001 })),
      /^layers: /,
      'a tie names layers',
    );
  });

  it('hidden must split evenly over the heads', () => {
    assert.equal(
      refusal(() => checkShape({ ...tiny, heads: 12, hidden: 770 })),
      'hidden: {field} (770) must be a multiple of heads (12)',
    );
  });

  it('a count past 2^53 is refused, naming the size it grows with that is largest', () => {
    const cases: [string, ModelShape, number, string][] = [
      [
        'vocab',
        { ...tiny, vocab: 2 ** 52, hidden: 4 },
        8,
        'vocab: {field} 4503599627370496 is too large: the parameter count would be about 2.3e+16',
      ],
      [
        'a tie of vocab and maxPositions',
        { ...tiny, vocab: 2 ** 52, maxPositions: 2 ** 52, hidden: 4 },
        8,
        'vocab: {field} 4503599627370496 is too large',
      ],
      ['hidden (parameters)', { ...tiny, hidden: 2 ** 26 }, 1, 'hidden: {field} 67108864 is too large: the parameter count'],
      ['ffn (parameters)', { ...tiny, hidden: 2, ffn: 2 ** 52 }, 1, 'ffn: {field} 4503599627370496 is too large: the parameter count'],
      [
        'layers (parameters)',
        { ...tiny, layers: 1_000_000, hidden: 2 ** 16, ffn: 1 },
        1,
        'layers: {field} 1000000 is too large: the parameter count',
      ],
      [
        'maxPositions',
        { ...tiny, maxPositions: 2 ** 52, hidden: 4 },
        8,
        'maxPositions: {field} 4503599627370496 is too large: the parameter count',
      ],
      ['hidden', { ...tiny, hidden: 2 ** 20 }, 4096, 'hidden: {field} 1048576 is too large: the FLOPs would be about'],
      ['ffn', { ...tiny, hidden: 16, heads: 16, ffn: 2 ** 30 }, 2 ** 20, 'ffn: {field} 1073741824 is too large: the FLOPs'],
      ['layers', { ...tiny, layers: 1_000_000, hidden: 64, ffn: 64 }, 16384, 'layers: {field} 1000000 is too large: the FLOPs'],
      ['seqLen', { ...tiny, hidden: 64, ffn: 64 }, 2 ** 40, 'seqLen: {field} 1099511627776 is too large: the FLOPs'],
    ];
    for (const [what, shape, n, text] of cases) {
      const got = refusal(() => costOf(shape, exact(shape), n));
      assert.ok(got.startsWith(text), `${what}: got "${got}"`);
      assert.match(got, /, beyond 2\^53, the largest count kept exact$/);
    }
  });

  it('with extra layers, the deeper reuse model is counted too: its FLOPs or training memory past 2^53 are refused', () => {
    // One layer of the analysed model fits; 8,192 more of the same size do not.
    const wide: ModelShape = { ...tiny, hidden: 1, heads: 1 };
    const deep = (s: ModelShape, extra: number) => presetHeadMap('partial', s.layers + extra, s.heads, 0, 0);
    assert.equal(
      refusal(() => costOf(wide, exact(wide), 2 ** 20)),
      'accepted',
    );
    assert.match(
      refusal(() => costOf(wide, deep(wide, 8192), 2 ** 20, 8192)),
      /^seqLen: \{field\} 1048576 is too large: the FLOPs would be about 1\.8e\+16/,
    );
    // Heads of one dimension: training memory (5·H·n² bytes a layer) outgrows the FLOPs (2·d·n²).
    const thin: ModelShape = { ...tiny, hidden: 64, heads: 64 };
    assert.equal(
      refusal(() => costOf(thin, exact(thin), 2 ** 16)),
      'accepted',
    );
    assert.match(
      refusal(() => costOf(thin, deep(thin, 10_000), 2 ** 16, 10_000)),
      /^seqLen: \{field\} 65536 is too large: the training memory would be about 1\.4e\+16/,
    );
  });

  it('extra layers must be a whole number ≥ 0', () => {
    for (const bad of [-1, 1.5])
      assert.equal(
        refusal(() => costOf(tiny, exact(tiny), 1, bad)),
        `extraLayers: {field} must be a whole number ≥ 0 (got ${bad})`,
      );
  });

  it('a count of exactly 2^53 − 1 is kept; one more is refused', () => {
    // With every other size 1 the parameter count is 2·vocab + 25.
    const edge = { ...tiny, vocab: 2 ** 52 - 13 };
    assert.equal(costOf(edge, exact(edge), 1).params, Number.MAX_SAFE_INTEGER, 'the largest exact count was refused');
    assert.match(
      refusal(() => costOf({ ...edge, vocab: edge.vocab + 1 }, exact(edge), 1)),
      /^vocab: .* the parameter count/,
    );
  });

  it('the sequence length and the head map must fit', () => {
    const s: ModelShape = { layers: 3, heads: 2, hidden: 4, ffn: 8, vocab: 10, maxPositions: 8 };
    for (const n of [0, 2.5])
      assert.equal(
        refusal(() => costOf(s, exact(s), n)),
        `seqLen: {field} must be a whole number ≥ 1 (got ${n})`,
      );
    assert.equal(
      refusal(() => costOf(s, exact(s).slice(1), 4)),
      'undefined: the head map has 2 layers, the model 3',
    );
    const short = exact(s);
    short[2] = ['exact'];
    assert.equal(
      refusal(() => costOf(s, short, 4)),
      'undefined: heads[2] has 1 entries, the model has 2 heads',
    );
  });
});

describe('cost model counts', () => {
  it('score memory in values: L·H·n² without reuse, the computed heads · n² with it', () => {
    const s: ModelShape = { layers: 4, heads: 2, hidden: 8, ffn: 16, vocab: 10, maxPositions: 16 };
    const c = costOf(s, presetHeadMap('partial', 4, 2, 2, 1), 7);
    assert.equal(c.scoreMemory, 4 * 2 * 7 * 7);
    assert.equal(c.computedHeads, 6);
    assert.equal(c.scoreMemoryReuse, 6 * 7 * 7);
    assert.equal(c.seqLen, 7);
    const skip = costOf(s, presetHeadMap('skip', 4, 2, 2, 2), 7);
    assert.deepEqual([skip.computedHeads, skip.reuseHeads, skip.skipLayers, skip.scoreMemoryReuse], [4, 0, 2, 4 * 49]);
  });
});
