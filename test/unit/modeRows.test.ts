// Protects each row of the reuse-mode table as users meet it (label and description in menus and help, bounds, defaults, the planner's candidates, whether heads are placed) and the helpers that read the table: resolvePK, checkModeBounds, isReuseMode, addReuseMode, impliedPK and Algorithm 1 across skip layers.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InputError } from '../../analysis/errors';
import { algorithm1HeadMap, impliedPK, isReuse } from '../../analysis/planner/headMap';
import {
  addReuseMode,
  checkModeBounds,
  isReuseMode,
  modeRow,
  modesVersion,
  presetHeadMap,
  presetLayers,
  resolvePK,
  reuseModeNames,
  reuseModes,
} from '../../analysis/planner/modes';

/** The refusal's field and template, or the value. */
function outcome<T>(run: () => T): T | string {
  try {
    return run();
  } catch (err) {
    assert.ok(err instanceof InputError, `expected an InputError, got ${(err as Error).stack}`);
    return `${err.field}: ${err.template}`;
  }
}

/** A row as a user sees it at L = 6 layers and H = 4 heads. */
function seen(name: string) {
  const r = modeRow(name);
  return {
    label: r.label,
    description: r.description,
    kind: r.kind,
    bounds: r.bounds(6, 4),
    defaultP: r.defaultP?.(6),
    wholeLayers: r.wholeLayers,
    placeHeads: r.placeHeads,
    candidates: r.candidates(6, 4).map(({ P, K }) => `${P}/${K}`),
    layers: r.layers?.(6, 2) ?? null,
  };
}

describe('reuse mode rows', () => {
  it('lists the modes in menu order, custom last', () => {
    assert.deepEqual(reuseModeNames(), ['partial', 'full', 'alternate', 'all-end', 'skip', 'guided', 'custom']);
  });

  it('each row at L = 6, H = 4', () => {
    const rows: Record<string, ReturnType<typeof seen>> = {
      partial: {
        label: 'Partial',
        description: 'K heads reused in layers 1..P (default P = L-2: first and last layer exact)',
        kind: 'reuse',
        bounds: { P: [0, 5], K: [0, 4] },
        defaultP: 4,
        wholeLayers: false,
        placeHeads: true,
        candidates: ['4/1', '4/2', '4/3'],
        layers: [1, 2],
      },
      full: {
        label: 'Full',
        description: 'every head reused (K = H) in layers 1..P',
        kind: 'reuse',
        bounds: { P: [0, 5], K: [4, 4] },
        defaultP: undefined,
        wholeLayers: true,
        placeHeads: true,
        candidates: ['1/4', '2/4', '3/4', '4/4'],
        layers: [1, 2],
      },
      alternate: {
        label: 'Alternate',
        description: 'reuse in the first P odd layers (1, 3, 5, …)',
        kind: 'reuse',
        bounds: { P: [0, 3], K: [0, 4] },
        defaultP: undefined,
        wholeLayers: true,
        placeHeads: true,
        candidates: ['1/4', '2/4', '3/4'],
        layers: [1, 3],
      },
      'all-end': {
        label: 'All at the end',
        description: 'reuse in the P layers before the last one',
        kind: 'reuse',
        bounds: { P: [0, 4], K: [0, 4] },
        defaultP: undefined,
        wholeLayers: true,
        placeHeads: true,
        candidates: ['1/4', '2/4', '3/4', '4/4'],
        layers: [3, 4],
      },
      skip: {
        label: 'Skip',
        description: 'no attention at all in layers 1..P (K = H by definition)',
        kind: 'skip',
        bounds: { P: [0, 5], K: [4, 4] },
        defaultP: undefined,
        wholeLayers: true,
        placeHeads: false,
        candidates: ['1/4', '2/4', '3/4', '4/4'],
        layers: [1, 2],
      },
      guided: {
        label: 'Similarity-guided',
        description: 'K heads per layer in layers 1..P, heads and sources chosen by measured similarity',
        kind: 'reuse',
        bounds: { P: [0, 5], K: [0, 4] },
        defaultP: 4,
        wholeLayers: false,
        placeHeads: false,
        candidates: ['4/1', '4/2', '4/3'],
        layers: [1, 2],
      },
      custom: {
        label: 'Custom head map',
        description: 'any head map (heads[l][h]) from a file',
        kind: 'reuse',
        bounds: { P: [0, 6], K: [0, 4] },
        defaultP: undefined,
        wholeLayers: false,
        placeHeads: false,
        candidates: [],
        layers: null,
      },
    };
    for (const [name, want] of Object.entries(rows)) assert.deepEqual(seen(name), want, `mode ${name}`);
    assert.equal(reuseModes().length, Object.keys(rows).length);
  });

  it('small stacks: no partial candidates below 3 layers, P bounds never negative', () => {
    assert.deepEqual(modeRow('partial').candidates(2, 4), []);
    assert.deepEqual(modeRow('partial').candidates(3, 3), [
      { P: 1, K: 1 },
      { P: 1, K: 2 },
    ]);
    for (const name of ['partial', 'all-end', 'skip']) assert.deepEqual(modeRow(name).bounds(1, 2).P, [0, 0], name);
    assert.equal(modeRow('partial').defaultP?.(1), 0);
    assert.deepEqual(presetLayers('custom', 6, 2), []);
  });

  it('skip layers have no heads; guided without measurements places heads as partial does', () => {
    assert.deepEqual(presetHeadMap('skip', 4, 2, 2, 2)[1], ['skip', 'skip']);
    assert.deepEqual(presetHeadMap('guided', 6, 4, 2, 2), presetHeadMap('partial', 6, 4, 2, 2));
    assert.equal(
      outcome(() => presetHeadMap('custom', 4, 2, 1, 1)),
      'headMap: mode "custom" needs {field}',
    );
  });
});

describe('reading the table', () => {
  it('resolvePK fills in the defaults and names what is missing', () => {
    assert.deepEqual(resolvePK(6, 4, { K: 2 }), { mode: 'partial', P: 4, K: 2 });
    assert.deepEqual(resolvePK(6, 4, { K: 4, P: 2 }), { mode: 'full', P: 2, K: 4 });
    assert.deepEqual(resolvePK(6, 4, { mode: 'skip', P: 3 }), { mode: 'skip', P: 3, K: 4 });
    assert.deepEqual(resolvePK(6, 4, { mode: 'guided', K: 1 }), { mode: 'guided', P: 4, K: 1 });
    assert.deepEqual(resolvePK(6, 4, { mode: 'partial', K: 4 }), { mode: 'partial', P: 4, K: 4 }, 'K = H keeps the mode it was given');
    assert.equal(
      outcome(() => resolvePK(6, 4, { K: 4 })),
      'P: mode "full" needs {field} (the reuse layers)',
    );
    assert.equal(
      outcome(() => resolvePK(6, 4, { mode: 'partial' })),
      'K: {field} is needed (the reuse heads per reuse layer)',
    );
    assert.equal(
      outcome(() => resolvePK(6, 4, {})),
      'K: {field} is needed (the reuse heads per reuse layer)',
    );
  });

  it('checkModeBounds names P or K with the range the mode allows', () => {
    assert.equal(
      outcome(() => checkModeBounds('partial', 6, 4, 5, 4)),
      undefined,
      'the upper bounds are allowed',
    );
    assert.equal(
      outcome(() => checkModeBounds('partial', 6, 4, 6, 1)),
      'P: P (reuse layers) is 6, but mode "partial" with 6 layers allows 0..5',
    );
    assert.equal(
      outcome(() => checkModeBounds('partial', 6, 4, -1, 1)),
      'P: P (reuse layers) is -1, but mode "partial" with 6 layers allows 0..5',
    );
    assert.equal(
      outcome(() => checkModeBounds('partial', 6, 4, 1.5, 1, 'c.json: ')),
      'P: c.json: P (reuse layers) is 1.5, but mode "partial" with 6 layers allows 0..5',
    );
    assert.equal(
      outcome(() => checkModeBounds('full', 6, 4, 2, 3)),
      'K: K (reuse heads) is 3, but mode "full" with 4 heads allows 4',
    );
    assert.equal(
      outcome(() => checkModeBounds('partial', 6, 4, 2, -1)),
      'K: K (reuse heads) is -1, but mode "partial" with 4 heads allows 0..4',
    );
    assert.equal(
      outcome(() => modeRow('nope')),
      `mode: {field} must be one of ${reuseModeNames().join(', ')} (got "nope")`,
    );
  });

  it('isReuseMode knows exactly the names', () => {
    assert.deepEqual(['partial', 'custom', 'nope', '', 42, undefined].map(isReuseMode), [true, true, false, false, false, false]);
  });

  it('addReuseMode refuses a known name, keeps custom last and versions the table', () => {
    assert.throws(() => addReuseMode({ ...modeRow('partial') }), /^Error: reuse mode "partial" exists already$/);
    const before = modesVersion();
    const remove = addReuseMode({ ...modeRow('full'), name: 'extra' });
    assert.deepEqual(reuseModeNames().slice(-2), ['extra', 'custom']);
    assert.equal(modesVersion(), before + 1);
    remove();
    remove();
    assert.ok(!reuseModeNames().includes('extra'));
    assert.deepEqual(reuseModeNames().slice(-1), ['custom'], 'a second removal must not take another row');
    assert.equal(modesVersion(), before + 3);
  });
});

describe('head maps', () => {
  it('impliedPK: the layers that reuse or skip, and the most reuse heads in one (H for a skip layer)', () => {
    assert.deepEqual(impliedPK(presetHeadMap('partial', 4, 4, 2, 3)), { P: 2, K: 3 });
    assert.deepEqual(impliedPK(presetHeadMap('skip', 4, 4, 1, 4)), { P: 1, K: 4 });
    assert.deepEqual(impliedPK(presetHeadMap('partial', 4, 4, 0, 0)), { P: 0, K: 0 });
    assert.deepEqual(impliedPK([]), { P: 0, K: 0 });
  });

  it('Algorithm 1 across a skip layer and from a first reuse layer', () => {
    const map = algorithm1HeadMap(['reuse', 'exact', 'skip', 'reuse', 'reuse'], 3, 2);
    assert.deepEqual(map[0], ['exact', 'exact', 'exact'], 'a first reuse layer has nothing to reuse');
    assert.deepEqual(
      map[3],
      ['exact', { reuse: { layer: 1, head: 0 } }, { reuse: { layer: 1, head: 1 } }],
      'the skip layer left the recent tensors alone',
    );
    assert.deepEqual(
      map[4],
      ['exact', { reuse: { layer: 3, head: 0 } }, { reuse: { layer: 1, head: 0 } }],
      'R of a reuse layer: its own heads, then what it reused',
    );
    assert.deepEqual(
      ['exact', 'skip', null, { reuse: { layer: 0, head: 0 } }].map((e) => isReuse(e as never)),
      [false, false, false, true],
    );
  });
});
