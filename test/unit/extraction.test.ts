// Protects attention extraction: the tensors found, and their values against PyTorch's own probabilities.
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import { InputError } from '../../analysis/errors';
import { onnx } from 'onnx-proto';
import { describeModel, openAttentionModel as openModelBytes } from '../../analysis/onnx/inspect';
import { readModel as openAttentionModel } from '../../analysis/app/readers';
import { readLines } from '../../analysis/app/storage';
import { selectBranches } from '../../analysis/onnx/branches';
import type { AttentionModel } from '../../analysis/onnx/inspect';
import { readJsonlExamples } from '../../analysis/runtime/inputs';
import type { ExampleInput } from '../../analysis/runtime/inputs';
import { AttentionRunner } from '../../analysis/runtime/runner';
import type { ExtractedExample } from '../../analysis/runtime/runner';
import { fixtureModels as dir } from '../helpers/paths.mjs';

interface Expected {
  tolerance?: number;
  stacks: { name: string; kind: string; layers: number; heads: number; causal?: boolean; kvHeads?: number }[];
  examples: { index: number; stacks: Record<string, number[][][][]> }[];
}

const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.expected.json'))
  .map((f) => f.replace('.expected.json', ''));

const examplesOf = (model: AttentionModel, name: string) =>
  readJsonlExamples(readLines(join(dir, `${name}.inputs.jsonl`), 'inputs'), 'inputs', model.inputs);

async function extractAll(name: string, batchSize: number): Promise<ExtractedExample[]> {
  const opened = await openAttentionModel(join(dir, `${name}.onnx`));
  // Merged decoders run the branch their inputs select, as analyze does.
  let first: ExampleInput | undefined;
  for await (const ex of examplesOf(opened, name)) {
    first ??= ex;
  }
  const model = selectBranches(opened, first!);
  const runner = await AttentionRunner.start(model, 'cpu');
  try {
    const out: ExtractedExample[] = [];
    for await (const ex of runner.run(examplesOf(model, name), { batchSize })) out.push(ex);
    // Examples of different shapes run in different batches, which may finish out of order.
    return out.sort((a, b) => a.index - b.index);
  } finally {
    await runner.dispose();
  }
}

describe('attention extraction on PyTorch-exported fixtures', () => {
  it('finds fixtures to test', () =>
    assert.ok(fixtures.length >= 8, `only ${fixtures.length} fixtures: run scripts/fixtures/makeFixtures.py`));

  for (const name of fixtures) {
    describe(name, () => {
      const expected = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as Expected;
      const tolerance = expected.tolerance ?? 1e-5;
      let single: ExtractedExample[];
      let batched: ExtractedExample[];
      before(async () => {
        single = await extractAll(name, 1);
        batched = await extractAll(name, 3);
      });

      it('inspect lists the stacks, layers and heads PyTorch built', async () => {
        const r = describeModel(await openAttentionModel(join(dir, `${name}.onnx`)));
        // A merged decoder lists every branch; the expected file holds the one its inputs take.
        const listed = r.stacks.filter((s) => !s.name.includes('@') || expected.stacks.some((e) => e.name === s.name));
        assert.deepEqual(
          listed.map((s) => ({
            name: s.name,
            kind: s.kind,
            layers: s.layers.length,
            heads: s.layers.map((l) => l.heads),
            causal: s.causal,
            kvHeads: s.kvHeads,
          })),
          expected.stacks.map((s) => ({
            ...s,
            heads: new Array(s.layers).fill(s.heads),
            causal: s.causal ?? s.name === 'decoder',
            kvHeads: s.kvHeads,
          })),
          'stack grouping, causal masks or head detection changed (attentionFinder.groupStacks, causalMask.ts, heads.ts)',
        );
        r.stacks.forEach((s) =>
          assert.deepEqual(
            s.layers.map((l) => l.layer),
            s.layers.map((_, i) => i),
            'layers must be 0-based and in order',
          ),
        );
      });

      it(`matches PyTorch's probabilities to ${tolerance}, real rows summing to 1`, () => {
        assert.equal(single.length, expected.examples.length, 'example count');
        for (const ex of expected.examples) {
          const got = single.find((e) => e.index === ex.index)!;
          for (const [stackName, layers] of Object.entries(ex.stacks)) {
            const s = got.stacks.find((x) => x.name === stackName)!;
            assert.ok(s, `stack ${stackName} missing from the extraction`);
            layers.forEach((heads, l) => {
              const H = heads.length;
              const Q = heads[0].length;
              const K = heads[0][0].length;
              assert.deepEqual(
                [s.heads, s.queries, s.keys],
                [H, Q, K],
                `example ${ex.index} ${stackName} layer ${l}: shape (padding cut wrongly?)`,
              );
              let worst = 0;
              for (let h = 0; h < H; h++) {
                for (let q = 0; q < Q; q++) {
                  let sum = 0;
                  for (let k = 0; k < K; k++) {
                    const v = s.layers[l][(h * Q + q) * K + k];
                    sum += v;
                    worst = Math.max(worst, Math.abs(v - heads[h][q][k]));
                  }
                  assert.ok(Math.abs(sum - 1) <= Math.max(tolerance, 1e-5), `row ${q} of head ${h} sums to ${sum}`);
                }
              }
              assert.ok(
                worst <= tolerance,
                `example ${ex.index} ${stackName} layer ${l}: off PyTorch by ${worst} (wrong tensor found, or mask/padding leaked)`,
              );
            });
          }
        }
      });

      it('batching with padding changes nothing beyond 1e-6', () => {
        assert.equal(batched.length, single.length);
        single.forEach((a, i) => {
          const b = batched[i];
          assert.equal(b.index, a.index, 'batched examples come out in input order');
          a.stacks.forEach((s, j) => {
            const t = b.stacks[j];
            assert.deepEqual([t.queries, t.keys], [s.queries, s.keys]);
            s.layers.forEach((layer, l) => {
              let worst = 0;
              for (let x = 0; x < layer.length; x++) worst = Math.max(worst, Math.abs(layer[x] - t.layers[l][x]));
              assert.ok(worst <= 1e-6, `example ${a.index} layer ${l}: padding changed attention by ${worst}`);
            });
          });
        });
      });
    });
  }
});

describe('runBatches', () => {
  it('hands out batches of the size asked, in input order; an unpadded example is a view of its batch', async () => {
    const model = await openAttentionModel(join(dir, 'bert_opset17.onnx'));
    const runner = await AttentionRunner.start(model, 'cpu');
    try {
      const sizes: number[][] = [];
      let views = 0;
      for await (const batch of runner.runBatches(
        readJsonlExamples(readLines(join(dir, 'bert_opset17.inputs.jsonl'), 'inputs'), 'inputs', model.inputs),
        { batchSize: 2, checkRows: false },
      )) {
        sizes.push(batch.map((ex) => ex.index));
        const longest = Math.max(...batch.map((ex) => ex.stacks[0].queries));
        for (const ex of batch) {
          const layer = ex.stacks[0].layers[0] as Float32Array;
          // Only the longest example of a batch has no padding: it alone may share the output's memory.
          if (layer.buffer.byteLength > layer.byteLength) {
            assert.equal(ex.stacks[0].queries, longest, `example ${ex.index} is padded but was not copied`);
            views += 1;
          }
        }
      }
      assert.deepEqual(sizes, [[0, 1], [2, 3], [4]]);
      assert.ok(views >= 2, `expected the unpadded examples to be views, got ${views}`);
    } finally {
      await runner.dispose();
    }
  });
});

describe('models the tool must refuse', () => {
  const cases: [string, RegExp][] = [
    ['fused_attention.onnx', /fused attention \(com\.microsoft\.Attention/],
    ['no_attention.onnx', /no visible attention/],
    ['truncated.onnx', /not a readable ONNX model/],
    ['not_onnx.onnx', /not a readable ONNX model|not an ONNX model/],
  ];
  for (const [file, message] of cases) {
    it(`${file}: one clear InputError`, async () => {
      await assert.rejects(openAttentionModel(join(dir, file)), (err: Error) => {
        assert.ok(err instanceof InputError, `expected an InputError, got ${err.name}: ${err.message}`);
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'), 'message must be one line');
        return true;
      });
    });
  }
});

describe('attention in a Loop of a number of iterations known only at run time', () => {
  it('is refused naming the Loop and why, not as a model without attention', () => {
    const m = onnx.ModelProto.decode(readFileSync(join(dir, 'shared_loop.onnx')));
    m.graph!.node![0].input![0] = 'n_layers';
    m.graph!.input!.push({ name: 'n_layers', type: { tensorType: { elemType: 7, shape: { dim: [] } } } });
    assert.throws(
      () => openModelBytes(onnx.ModelProto.encode(m).finish(), 'dynamic_loop.onnx'),
      (err: Error) =>
        err instanceof InputError &&
        /computes its Softmax inside Loop "layers", which runs a number of times only known at run time/.test(err.message),
    );
  });
});

after(() => undefined);
