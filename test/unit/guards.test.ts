// Protects the guards that keep wrong numbers out (issue 18): the finder's value-product test and graph-output path, and the runner's row checks of padded and unpadded examples, on the small models of test/fixtures/guards and test/fixtures/bad/models.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readModel } from '../../analysis/app/readers';
import { readLines } from '../../analysis/app/storage';
import { InputError } from '../../analysis/errors';
import { describeModel } from '../../analysis/onnx/inspect';
import { readJsonlExamples } from '../../analysis/runtime/inputs';
import { AttentionRunner } from '../../analysis/runtime/runner';
import type { ExtractedExample } from '../../analysis/runtime/runner';
import { root } from '../helpers/paths.mjs';

const guards = join(root, 'test', 'fixtures', 'guards');
const bad = join(root, 'test', 'fixtures', 'bad', 'models');
const tokens = join(guards, 'tokens.jsonl');

const layersOf = async (path: string) =>
  describeModel(await readModel(path)).stacks.map((s) => ({
    name: s.name,
    kind: s.kind,
    layers: s.layers.map((l) => [l.tensor, l.source, l.heads]),
  }));

/** One self-attention stack of 2-head layers found at `tensors`, as layersOf lists it. */
const encoder = (...tensors: string[]) => [{ name: 'encoder', kind: 'self', layers: tensors.map((t) => [t, t, 2]) }];

async function extract(path: string, inputs: string, batchSize: number, checkRows?: boolean): Promise<ExtractedExample[]> {
  const model = await readModel(path);
  const runner = await AttentionRunner.start(model, 'cpu');
  try {
    const out: ExtractedExample[] = [];
    for await (const ex of runner.run(readJsonlExamples(readLines(inputs, 'inputs'), 'inputs', model.inputs), { batchSize, checkRows }))
      out.push(ex);
    return out;
  } finally {
    await runner.dispose();
  }
}

const rowSum =
  /: a real-token row sums to \d\.\d{4}, not 1: the Softmax found there is not attention over the real keys \(or the mask input is not the model's\)/;

describe('attention finder guards', () => {
  it('a Softmax over x·xᵀ that weighs a weight, never values, is not attention', async () => {
    await assert.rejects(readModel(join(bad, 'feature_softmax_pooled.onnx')), (err: Error) => {
      assert.ok(err instanceof InputError, `expected an InputError, got ${err.stack}`);
      assert.match(
        err.message,
        /has no visible attention/,
        'the softmax was taken for attention: the value-product test (feedsValueProduct) is missing or too loose',
      );
      return true;
    });
  });

  it('beside real attention, that Softmax is left out: exactly one layer', async () => {
    assert.deepEqual(
      await layersOf(join(guards, 'attention_and_feature_softmax.onnx')),
      encoder('l0_probs'),
      'the token-mixing softmax was listed as a layer (value-product test), or the real one was lost',
    );
  });

  it('attention exported only as graph outputs, with no Softmax node, is found through the outputs', async () => {
    assert.deepEqual(
      await layersOf(join(guards, 'attention_outputs_only.onnx')),
      encoder('attentions.0', 'attentions.1'),
      'the graph-output path (exposedAttentionOutputs) did not run, or read the layers or heads wrongly',
    );
    assert.deepEqual(
      await layersOf(join(guards, 'attention_outputs_twin.onnx')),
      encoder('l0_probs', 'l1_probs'),
      'the Softmax twin is no longer found through its Softmax nodes',
    );
  });

  it('the graph outputs hold what the Softmax twin computes, alone and in a padded batch', async () => {
    const twin = await extract(join(guards, 'attention_outputs_twin.onnx'), tokens, 1);
    for (const batch of [1, 3]) {
      const got = await extract(join(guards, 'attention_outputs_only.onnx'), tokens, batch);
      assert.equal(got.length, twin.length, 'example count');
      got.forEach((ex, i) => {
        const [a, b] = [ex.stacks[0], twin[i].stacks[0]];
        assert.deepEqual([a.heads, a.queries, a.keys], [b.heads, b.queries, b.keys], `example ${i}: shape (padding cut wrongly?)`);
        a.layers.forEach((layer, l) => {
          let worst = 0;
          for (let x = 0; x < layer.length; x++) worst = Math.max(worst, Math.abs(layer[x] - b.layers[l][x]));
          assert.ok(
            worst <= 1e-6,
            `example ${i} layer ${l}, batch ${batch}: off the Softmax twin by ${worst} (outputs matched to the wrong layer?)`,
          );
        });
      });
    }
  });
});

describe('runner row checks', () => {
  it('refuses a mask input that is not the attention mask once a batch is padded, even when the consumer checks rows itself', async () => {
    for (const checkRows of [true, false]) {
      await assert.rejects(extract(join(bad, 'mask_not_used.onnx'), tokens, 4, checkRows), (err: Error) => {
        assert.ok(err instanceof InputError, `expected an InputError, got ${err.stack}`);
        assert.match(err.message, rowSum, `checkRows ${checkRows}: padded rows were not checked against the real keys`);
        assert.match(
          err.message,
          /"l0_probs" \(encoder layer 0\), head \d, query \d+, inputs:1: /,
          'the message names the tensor, layer, head and example',
        );
        return true;
      });
    }
  });

  it('accepts the same model one unpadded example at a time (its rows do sum to 1)', async () => {
    const got = await extract(join(bad, 'mask_not_used.onnx'), tokens, 1);
    assert.deepEqual(
      got.map((e) => e.stacks[0].queries),
      [3, 6, 4, 5],
      'an unpadded example was refused or cut',
    );
  });

  it('refuses attention normalised over the queries in unpadded examples, unless the consumer checks rows itself', async () => {
    const model = join(bad, 'softmax_over_queries.onnx');
    await assert.rejects(extract(model, tokens, 1), (err: Error) => {
      assert.ok(err instanceof InputError, `expected an InputError, got ${err.stack}`);
      assert.match(
        err.message,
        /"l0_probs" \(encoder layer 0\), head 0, query \d+, inputs:1: a real-token row sums to/,
        'an unpadded example was not checked (checkRows ignored?)',
      );
      return true;
    });
    // analyze passes checkRows: false because its similarity scan checks every row itself.
    const unchecked = await extract(model, tokens, 1, false);
    assert.equal(unchecked.length, 4, 'checkRows: false must leave unpadded rows to the consumer');
  });

  it('a model with fixed positions runs one example at a time and keeps exactly the found layer', async () => {
    const got = await extract(join(guards, 'attention_and_feature_softmax.onnx'), join(guards, 'positions4.jsonl'), 8);
    assert.deepEqual(
      got.map((e) => [e.stacks[0].layers.length, e.stacks[0].heads, e.stacks[0].queries]),
      [
        [1, 2, 4],
        [1, 2, 4],
      ],
    );
  });
});
