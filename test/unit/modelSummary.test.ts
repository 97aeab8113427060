// Protects the model summary the .onnx editor and the analyze commands show before asking for inputs: what a
// readable model holds, and for each kind of model the tool cannot analyze, which kind it is and a message that says so.
import { strict as assert } from 'node:assert';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { summarizeModel } from '../../analysis/app/model';
import { fixtureModels, root } from '../helpers/paths.mjs';

const model = (name: string) => join(fixtureModels, name);

describe('summarizeModel', () => {
  it('describes a readable model: stacks, layers, heads, inputs, opset, size and the dims the cost model reads', async () => {
    const path = model('bert_opset17.onnx');
    const s = await summarizeModel(path);
    assert.equal(s.problem, null, `bert_opset17 is analyzable, but: ${s.problem?.message}`);
    assert.equal(s.opset, 17);
    assert.equal(s.bytes, statSync(path).size, 'the size must be the file size');
    assert.deepEqual(
      s.stacks.map((st) => [st.name, st.kind, st.layers.length, st.layers.map((l) => l.heads)]),
      [['encoder', 'self', 3, [4, 4, 4]]],
      'the summary disagrees with bert_opset17.expected.json',
    );
    assert.deepEqual(
      s.inputs.map((i) => i.name),
      ['input_ids', 'attention_mask'],
    );
    assert.equal(s.tokenInput, 'input_ids', 'text examples are tokenized into input_ids');
    assert.ok(s.dims?.vocab && s.dims.vocab > 0, 'the vocabulary is read from the embedding table');
  });

  it('knows the sample model as one encoder of 4 layers × 4 heads', async () => {
    const s = await summarizeModel(join(root, 'media', 'sample', 'model.onnx'));
    assert.equal(s.problem, null);
    assert.deepEqual(
      s.stacks.map((st) => [st.layers.length, st.layers[0].heads]),
      [[4, 4]],
    );
  });

  it('names fused attention as its own kind, with the export advice, and still lists the inputs', async () => {
    const s = await summarizeModel(model('fused_attention.onnx'));
    assert.equal(s.problem?.kind, 'fusedAttention');
    assert.match(s.problem!.message, /uses fused attention \(com\.microsoft\.Attention ×1\).*export the model without attention fusion/);
    assert.ok(s.opset !== null && s.inputs.length > 0, 'a fused model is still a readable model: opset and inputs are shown');
    assert.deepEqual(s.stacks, []);
  });

  it('names a model without attention, and a file that is not ONNX', async () => {
    const none = await summarizeModel(model('no_attention.onnx'));
    assert.equal(none.problem?.kind, 'noAttention');
    assert.match(none.problem!.message, /has no visible attention/);
    for (const name of ['not_onnx.onnx', 'truncated.onnx']) {
      const bad = await summarizeModel(model(name));
      assert.equal(bad.problem?.kind, 'unreadable', `${name} should be unreadable`);
      assert.equal(bad.opset, null, 'nothing is claimed about a file that could not be decoded');
      assert.match(bad.problem!.message, /is not a readable ONNX model/);
    }
  });

  it('refuses a file that is not there with an InputError naming it', async () => {
    await assert.rejects(
      summarizeModel(model('no-such-model.onnx')),
      (err: Error) => err.name === 'InputError' && err.message.includes('no-such-model.onnx'),
    );
  });
});
