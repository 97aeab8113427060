// Protects the baselines of causal stacks on hand-computed cases (uniform over the keys a row sees, entropy over ln of them, past keys first), and that analysis files written before them stay readable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkAnalysis, mergeAnalyses } from '../../analysis/result/analysisFile';
import { SimilarityAccumulator } from '../../analysis/similarity/accumulator';
import type { AttentionInput } from '../../analysis/similarity/inputScan';
import { openKernel } from '../../analysis/similarity/similarityKernel';
import { InputError } from '../../analysis/errors';
import { root } from '../helpers/paths.mjs';

const kernel = openKernel();
const scalar = openKernel({ kernel: 'scalar' });

/** One causal example [layer][head][query][key]; `float32` takes the SIMD kernel, float64 the JavaScript one. */
function causal(heads: number[][][][], float32 = false): AttentionInput {
  return {
    name: 'decoder',
    kind: 'self',
    causal: true,
    heads: heads[0].length,
    queries: heads[0][0].length,
    keys: heads[0][0][0].length,
    layers: heads.map((layer) => (float32 ? Float32Array : Float64Array).from(layer.flat(2))),
  };
}

const decoder = (heads: number) =>
  new SimilarityAccumulator({ name: 'decoder', kind: 'self', causal: true, layerCount: 1, headCount: heads });

// Two new queries after one past key: row 0 sees keys 0-1, row 1 sees keys 0-2.
const uniformVisible = [
  [0.5, 0.5, 0],
  [1 / 3, 1 / 3, 1 / 3],
];
const oneHot = [
  [1, 0, 0],
  [1, 0, 0],
];

test('a causal head uniform over the keys each row sees scores 1 against its uniform reference, on every kernel', async () => {
  for (const [label, k, float32] of [
    ['JavaScript, float64', kernel, false],
    ['SIMD, float32', kernel, true],
    ['JavaScript, float32', scalar, true],
  ] as const) {
    const acc = decoder(2);
    await acc.add([causal([[uniformVisible, oneHot]], float32)], k);
    const r = acc.finalize();
    const tol = float32 ? 1e-6 : 1e-15;
    assert.ok(Math.abs(r.uniform[0][0] - 1) <= tol, `${label}: uniform over visible keys is ${r.uniform[0][0]}, not 1`);
    assert.ok(Math.abs(r.entropyNormalized![0][0] - 1) <= tol, `${label}: normalised entropy is ${r.entropyNormalized![0][0]}, not 1`);
    // Row 0: TV([1,0,0], [½,½,0]) = ½; row 1: TV([1,0,0], uniform over 3) = ⅔; S = 1 - (½ + ⅔)/2.
    assert.ok(Math.abs(r.uniform[0][1] - 5 / 12) <= tol, `${label}: one-hot head against visible uniform is ${r.uniform[0][1]}, not 5/12`);
    assert.ok(Math.abs(r.entropy[0][0] - (Math.LN2 + Math.log(3)) / 2) <= tol, `${label}: raw entropy stays in nats`);
    assert.equal(r.entropyNormalized![0][1], 0, `${label}: one-hot rows have normalised entropy 0`);
  }
});

test('a row that sees one key counts as uniform; probability beyond the diagonal is refused naming the row', async () => {
  const acc = decoder(1);
  await acc.add(
    [
      causal([
        [
          [
            [1, 0],
            [0.5, 0.5],
          ],
        ],
      ]),
    ],
    kernel,
  );
  assert.equal(acc.finalize().entropyNormalized![0][0], 1);
  await assert.rejects(
    acc.add(
      [
        causal([
          [
            [
              [0.5, 0.5],
              [0.5, 0.5],
            ],
          ],
        ]),
      ],
      kernel,
    ),
    (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /query 0: row gives key 1 beyond its diagonal probability 0\.5, though the stack was read as causal/);
      return true;
    },
  );
  await assert.rejects(
    acc.add(
      [
        {
          ...causal([
            [
              [
                [1, 0],
                [0.5, 0.5],
              ],
            ],
          ]),
          causal: false,
        },
      ],
      kernel,
    ),
    /expected causal attention, got bidirectional/,
  );
});

test('files written before causal stacks and normalised entropy read as they are; merging one with a newer part is refused', async () => {
  const files = join(root, 'test', 'fixtures', 'bad', 'files');
  const read = (name: string) => checkAnalysis(JSON.parse(readFileSync(join(files, name), 'utf8')), name);
  const old = read('analysis_bert_opset13.json');
  assert.equal(old.stacks[0].causal, undefined);
  assert.equal(old.stacks[0].entropyNormalized, undefined);
  const merged = mergeAnalyses(
    ['analysis_encdec_shard0of2.json', 'analysis_encdec_shard1of2.json'].map((path) => ({ path, file: read(path) })),
  );
  assert.equal(merged.stacks[0].entropyNormalized, undefined, 'old parts merge without inventing normalised entropy');
  const newer = SimilarityAccumulator.fromJSON({
    ...merged.stacks[0].sums,
    shards: { count: 2, indices: [1] },
    entropyNormalizedSums: merged.stacks[0].sums.entropySums.map((r) => r.map(() => 0)),
  });
  const older = SimilarityAccumulator.fromJSON({ ...merged.stacks[0].sums, shards: { count: 2, indices: [0] } });
  assert.throws(() => older.merge(newer), /written by an earlier version, without entropyNormalizedSums/);
});
