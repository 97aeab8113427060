// Protects the similarity math on hand-computed cases (paper eq. 2 and 3), the input checks at the accumulator's boundary, and the shard bookkeeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimilarityAccumulator } from '../../analysis/similarity/accumulator';
import type { AttentionInput } from '../../analysis/similarity/inputScan';
import { openKernel } from '../../analysis/similarity/similarityKernel';
import { InputError } from '../../analysis/errors';

/** Builds one example from nested arrays [layer][head][query][key], as float64 (exact path). */
function example(heads: number[][][][], kind: 'self' | 'cross' = 'self', name = 'encoder'): AttentionInput {
  const queries = heads[0][0].length;
  const keys = heads[0][0][0].length;
  return {
    name,
    kind,
    heads: heads[0].length,
    queries,
    keys,
    layers: heads.map((layer) => Float64Array.from(layer.flat(2))),
  };
}

/** The default kernel; float64 examples run on the JavaScript reference whichever it is. */
const kernel = openKernel();

function accumulator(layerCount: number, headCount: number, shard?: { index: number; count: number }): SimilarityAccumulator {
  return new SimilarityAccumulator({ name: 'encoder', kind: 'self', layerCount, headCount }, shard);
}

/** One query row over a few keys keeps hand sums exact; only a cross stack may be that shape. */
function crossAccumulator(layerCount: number, headCount: number): SimilarityAccumulator {
  return new SimilarityAccumulator({ name: 'cross', kind: 'cross', layerCount, headCount });
}

function crossExample(heads: number[][][][]): AttentionInput {
  return example(heads, 'cross', 'cross');
}

const identity = [
  [1, 0],
  [0, 1],
];
const uniform2 = [
  [0.5, 0.5],
  [0.5, 0.5],
];

test('S([[1,0],[0,1]], uniform) is exactly 0.5', async () => {
  const acc = accumulator(1, 2);
  await acc.add([example([[identity, uniform2]])], kernel);
  const r = acc.finalize();
  assert.equal(r.headPairs[0][0][0][1], 0.5, 'TV is ½·L1 and S averages over query rows: a missing ½ or a sum instead of a mean');
  assert.equal(r.headPairs[0][1][0][0], 0.5, 'headPairs must be filled symmetrically');
  assert.equal(r.headPairs[0][0][0][0], 1, 'a head against itself is exactly 1');
  assert.equal(r.uniform[0][0], 0.5, 'uniform baseline of the identity pattern');
  assert.equal(r.uniform[0][1], 1, 'a uniform head is exactly 1 from uniform');
  assert.equal(r.entropy[0][0], 0, 'one-hot rows have zero entropy (0·ln 0 must count as 0)');
  assert.ok(Math.abs(r.entropy[0][1] - Math.LN2) < 1e-15, 'uniform rows over 2 keys have entropy ln 2 (natural log)');
});

test('c takes the mean over examples before the max over target heads', async () => {
  // One query row over 3 keys. Source head (0,0); target heads (1,0) and (1,1).
  // S of source vs (1,0) per example: 1 then 0; vs (1,1): 0.6 then 0.6.
  const src = [[1, 0, 0]];
  const other = [[1 / 3, 1 / 3, 1 / 3]];
  const acc = crossAccumulator(2, 2);
  await acc.add(
    [
      crossExample([
        [src, other],
        [src, [[0.6, 0.4, 0]]],
      ]),
    ],
    kernel,
  );
  await acc.add(
    [
      crossExample([
        [src, other],
        [[[0, 0, 1]], [[0.6, 0.4, 0]]],
      ]),
    ],
    kernel,
  );
  const r = acc.finalize();
  assert.equal(r.headPairs[0][0][1][0], 0.5, 'per-pair mean over examples of (1, 0)');
  assert.equal(r.headPairs[0][0][1][1], 0.6, 'per-pair mean over examples of (0.6, 0.6)');
  assert.equal(r.c[0][0][1], 0.6, 'c must be the max of per-head means (0.6), not the mean of per-example maxes (0.8)');
  assert.equal(r.cArgmax[0][0][1], 1, 'the arg-max is the head with the best mean');
});

test('ties in the arg-max go to the lowest head index', async () => {
  const a = [
    [0.7, 0.3],
    [0.2, 0.8],
  ];
  const b = [
    [0.5, 0.5],
    [0.5, 0.5],
  ];
  const acc = accumulator(2, 3);
  // Layer 1 heads 1 and 2 are identical and closest to (0,0); head 0 is further away.
  await acc.add(
    [
      example([
        [a, b, a],
        [identity, a, a],
      ]),
    ],
    kernel,
  );
  const r = acc.finalize();
  assert.equal(r.c[0][0][1], 1, 'identical heads have S = 1');
  assert.equal(r.cArgmax[0][0][1], 1, 'tie between heads 1 and 2: the lower index must win (strict > when scanning up)');
  // Within a layer, c includes the head itself: (0,2) equals (0,0), so both tie at 1 with head 0.
  assert.equal(r.c[0][2][0], 1, 'c[l][h][l] includes h itself, so it is 1');
  assert.equal(r.cArgmax[0][2][0], 0, 'same-layer tie at 1 goes to the lowest identical head, not to h');
  assert.equal(r.cArgmax[0][1][0], 1, 'with no tie, the same-layer arg-max is the head itself');
});

test('layerPairs is the max over heads of c; sequential ranks ascending', async () => {
  const x = [[1, 0, 0]];
  const y = [[0, 1, 0]];
  const z = [[0, 0, 1]];
  const half = [[0.5, 0.5, 0]];
  // Layer 0: x, y. Layer 1: half, z. c[(1,0),0] = max(S(half,x), S(half,y)) = 0.5; c[(1,1),0] = 0.
  // c[(0,0),1] = max(S(x,half), S(x,z)) = 0.5, c[(0,1),1] = 0.5.
  const acc = crossAccumulator(2, 2);
  await acc.add(
    [
      crossExample([
        [x, y],
        [half, z],
      ]),
    ],
    kernel,
  );
  const r = acc.finalize();
  assert.deepEqual(
    r.layerPairs,
    [
      [1, 0.5],
      [0.5, 1],
    ],
    "M[l][l] is 1 (c includes the head itself) and M[l][l'] = max_h c[(l,h), l']",
  );
  assert.equal(r.sequential.length, 1, 'sequential has one entry per layer 1..L-1');
  assert.deepEqual(
    r.sequential[0],
    [
      { head: 1, value: 0 },
      { head: 0, value: 0.5 },
    ],
    'rank 1 is the head least like the previous layer',
  );
  assert.equal(r.cArgmax[1][0][0], 0, 'S(half,x) = S(half,y) = 0.5: the tie goes to head 0');
});

test('sequential keeps head order for equal values', async () => {
  const acc = accumulator(2, 3);
  const u = uniform2;
  await acc.add(
    [
      example([
        [identity, identity, identity],
        [u, u, u],
      ]),
    ],
    kernel,
  );
  const r = acc.finalize();
  assert.deepEqual(
    r.sequential[0].map((e) => e.head),
    [0, 1, 2],
    'equal c values are ranked by head index',
  );
});

test('uniform and entropy match hand-computed values, per example then averaged', async () => {
  // One head, 3 keys. Row [.5,.25,.25]: entropy 1.5 ln 2, TV to uniform 1/6, so S = 5/6.
  // Row [1,0,0]: entropy 0, TV to uniform 2/3, so S = 1/3.
  const acc = crossAccumulator(1, 1);
  await acc.add(
    [
      crossExample([
        [
          [
            [0.5, 0.25, 0.25],
            [1, 0, 0],
          ],
        ],
      ]),
    ],
    kernel,
  );
  await acc.add([crossExample([[[[0.5, 0.25, 0.25]]]])], kernel);
  const r = acc.finalize();
  const ex1Uniform = (5 / 6 + 1 / 3) / 2;
  const ex1Entropy = (1.5 * Math.LN2 + 0) / 2;
  assert.ok(Math.abs(r.uniform[0][0] - (ex1Uniform + 5 / 6) / 2) < 1e-15, 'uniform: mean over rows per example, then over examples');
  assert.ok(Math.abs(r.entropy[0][0] - (ex1Entropy + 1.5 * Math.LN2) / 2) < 1e-15, 'entropy: natural log, mean over rows, then examples');
  assert.equal(acc.examples, 2, 'example count');
  assert.equal(acc.tokens, 3, 'tokens count real query rows');
});

test('cross-attention stacks take n_dec x n_enc blocks', async () => {
  const acc = crossAccumulator(1, 2);
  // 1 decoder row over 4 encoder keys.
  await acc.add([crossExample([[[[1, 0, 0, 0]], [[0.25, 0.25, 0.25, 0.25]]]])], kernel);
  const r = acc.finalize();
  assert.equal(r.headPairs[0][0][0][1], 0.25, 'TV(one-hot, uniform over 4) = 3/4');
});

const isOneLineInputError = (pattern: RegExp) => (err: unknown) =>
  err instanceof InputError && pattern.test(err.message) && !err.message.includes('\n');

function throwsInput(fn: () => unknown, pattern: RegExp, why: string): void {
  assert.throws(fn, isOneLineInputError(pattern), why);
}

async function rejectsInput(promise: Promise<unknown>, pattern: RegExp, why: string): Promise<void> {
  await assert.rejects(promise, isOneLineInputError(pattern), why);
}

test('bad input is refused with a one-line InputError and adds nothing', async () => {
  const acc = accumulator(1, 2);
  await rejectsInput(
    acc.add(
      [
        example([
          [identity, uniform2],
          [identity, uniform2],
        ]),
      ],
      kernel,
    ),
    /expected 1 layers, got 2/,
    'layer count check',
  );
  await rejectsInput(acc.add([example([[identity]])], kernel), /expected 2 heads, got 1/, 'head count check');
  const short = example([[identity, uniform2]]);
  await rejectsInput(acc.add([{ ...short, layers: [short.layers[0].subarray(1)] }], kernel), /layer 0: 7 values, expected/, 'length check');
  await rejectsInput(
    acc.add(
      [
        example([
          [
            identity,
            [
              [0.5, NaN],
              [0.5, 0.5],
            ],
          ],
        ]),
      ],
      kernel,
    ),
    /layer 0 head 1 query 0: row has NaN at key 1/,
    'NaN check',
  );
  await rejectsInput(
    acc.add(
      [
        example([
          [
            identity,
            [
              [0.5, 0.5],
              [0.5, 0.49],
            ],
          ],
        ]),
      ],
      kernel,
    ),
    /head 1 query 1: row sums to 0\.99/,
    'row-sum check',
  );
  await rejectsInput(
    acc.add(
      [
        example([
          [
            identity,
            [
              [1.5, -0.5],
              [0.5, 0.5],
            ],
          ],
        ]),
      ],
      kernel,
    ),
    /negative probability -0\.5/,
    'negative check',
  );
  await rejectsInput(
    acc.add(
      [
        example([
          [
            identity,
            [
              [Infinity, 0],
              [0.5, 0.5],
            ],
          ],
        ]),
      ],
      kernel,
    ),
    /has Infinity at key 0/,
    'infinite check',
  );
  await rejectsInput(acc.add([example([[[[1, 0, 0]], [[1, 0, 0]]]])], kernel), /self-attention must be square/, 'self stacks are m x m');
  await rejectsInput(
    acc.add([example([[identity, uniform2]], 'self', 'decoder')], kernel),
    /got attention of stack "decoder"/,
    'stack name check',
  );
  await rejectsInput(acc.add([example([[identity, uniform2]], 'cross')], kernel), /expected self-attention, got cross/, 'stack kind check');
  assert.equal(acc.examples, 0, 'a refused example must leave the sums untouched');
  await acc.add(
    [
      example([
        [
          [
            [0.5, 0.5],
            [1, 0],
          ],
          [
            [0.5, 0.5005],
            [0.5, 0.5],
          ],
        ],
      ]),
    ],
    kernel,
  );
  assert.equal(acc.examples, 1, 'rows within 1e-3 of 1 are accepted');
  throwsInput(() => accumulator(1, 1).finalize(), /no examples/, 'finalize needs at least one example');
});

test('shards: duplicates, other counts and other stacks are refused', async () => {
  const ex = example([[identity, uniform2]]);
  const shard = async (index: number, count = 3): Promise<SimilarityAccumulator> => {
    const acc = accumulator(1, 2, { index, count });
    await acc.add([ex], kernel);
    return acc;
  };
  const merged = await shard(0);
  const one = await shard(1);
  merged.merge(one);
  throwsInput(() => merged.merge(one), /shard 1\/3 is already merged in/, 'merging the same shard twice double-counts');
  const again = await shard(0);
  throwsInput(() => merged.merge(again), /shard 0\/3 is already merged in/, 'a second copy of shard 0');
  const otherCount = await shard(2, 4);
  throwsInput(() => merged.merge(otherCount), /in 4 shards with one in 3/, 'shards of runs split differently');
  throwsInput(() => merged.merge(merged), /into themselves/, 'self-merge');
  const other = new SimilarityAccumulator({ name: 'decoder', kind: 'self', layerCount: 1, headCount: 2 }, { index: 2, count: 3 });
  throwsInput(() => merged.merge(other), /cannot merge stack "decoder"/, 'stacks must match');
  throwsInput(() => accumulator(1, 2, { index: 3, count: 3 }), /shard index must be an integer in 0\.\.2/, 'index range');
  throwsInput(() => accumulator(1, 2, { index: 0, count: 0 }), /shard count must be a positive integer/, 'count range');
  assert.equal(merged.complete, false, 'two of three shards');
  merged.merge(await shard(2));
  assert.equal(merged.complete, true, 'all three shards');
  assert.deepEqual(
    merged.shards,
    [0, 1, 2].map((index) => ({ index, count: 3 })),
    'shards listed ascending',
  );
  assert.equal(merged.examples, 3, 'counts add on merge');
  const unsharded = accumulator(1, 2);
  await unsharded.add([ex], kernel);
  throwsInput(
    () => unsharded.merge(SimilarityAccumulator.fromJSON(unsharded.toJSON())),
    /shard 0\/1 is already merged in/,
    'two whole runs must not be merged',
  );
});

test('fromJSON refuses malformed sums and repeated shard indices', async () => {
  const acc = accumulator(2, 2, { index: 1, count: 2 });
  await acc.add(
    [
      example([
        [identity, uniform2],
        [uniform2, identity],
      ]),
    ],
    kernel,
  );
  const good = acc.toJSON();
  const roundTrip = SimilarityAccumulator.fromJSON(JSON.parse(JSON.stringify(good)));
  assert.deepEqual(roundTrip.toJSON(), good, 'JSON round trip must be exact');
  assert.equal(good.pairSums.length, 6, 'packed upper triangle: N(N-1)/2 values');
  const broken = (patch: object): unknown => ({ ...JSON.parse(JSON.stringify(good)), ...patch });
  throwsInput(() => SimilarityAccumulator.fromJSON(broken({ pairSums: [1, 2] })), /"pairSums" is not 6 finite numbers/, 'pair sum length');
  throwsInput(() => SimilarityAccumulator.fromJSON(broken({ kind: 'both' })), /"kind"/, 'kind enum');
  throwsInput(() => SimilarityAccumulator.fromJSON(broken({ examples: -1 })), /"examples"/, 'negative count');
  throwsInput(() => SimilarityAccumulator.fromJSON(broken({ uniformSums: [[1, 2]] })), /"uniformSums" is not 2x2/, 'grid shape');
  throwsInput(
    () => SimilarityAccumulator.fromJSON(broken({ shards: { count: 2, indices: [1, 1] } })),
    /shard 1 is listed twice/,
    'repeated shard',
  );
  throwsInput(() => SimilarityAccumulator.fromJSON(broken({ shards: { count: 2, indices: [2] } })), /shard index/, 'shard out of range');
  throwsInput(() => SimilarityAccumulator.fromJSON(null), /not an object/, 'null');
});
