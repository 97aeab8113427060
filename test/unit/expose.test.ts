// Protects the model the runner loads: only the attention and what it depends on, everything kept byte for byte.
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeModel } from '../../analysis/onnx/model';
import { attentionOnlyModel, exposeTensors } from '../../analysis/onnx/expose';
import { readModel as openAttentionModel } from '../../analysis/app/readers';
import { fixtureModels as fixtures, root } from '../helpers/paths.mjs';

const models = [
  join(root, 'media', 'sample', 'model.onnx'),
  ...readdirSync(fixtures)
    .filter((f) => f.endsWith('.expected.json'))
    .map((f) => join(fixtures, f.replace('.expected.json', '.onnx'))),
];

test('the attention-only model outputs exactly the attention and keeps only the nodes it needs', async () => {
  for (const path of models) {
    const model = await openAttentionModel(path);
    const tensors = model.stacks.flatMap((s) => s.layers.map((l) => l.tensor));
    const pruned = decodeModel(attentionOnlyModel(model.graph, model.bytes, tensors), path);
    assert.deepEqual(
      pruned.graph.output.map((o) => o.name),
      tensors,
      `${path}: outputs`,
    );
    // Every kept node is one the original had (after inlining functions and If branches), in
    // the original order, and each attention tensor is still produced.
    const key = (n: { opType?: string | null; name?: string | null; input?: string[] | null; output?: string[] | null }) =>
      JSON.stringify([n.opType, n.name, n.input, n.output]);
    const original = model.graph.nodes.map(key);
    let at = 0;
    for (const node of pruned.graph.node) {
      at = original.indexOf(key(node), at);
      assert.ok(at >= 0, `${path}: node ${node.name} is not one of the original nodes in order`);
    }
    for (const t of tensors) assert.ok(pruned.producer.has(t), `${path}: nothing produces ${t}`);
    // Nothing dangles: every node input is produced, an initializer or a graph input.
    const inits = new Set(pruned.graph.initializer.map((i) => i.name));
    const inputs = new Set(pruned.graph.input.map((i) => i.name));
    for (const node of pruned.graph.node) {
      for (const input of node.input ?? []) {
        if (input)
          assert.ok(
            pruned.producer.has(input) || inits.has(input) || inputs.has(input),
            `${path}: ${node.name} reads ${input}, which nothing provides`,
          );
      }
    }
    const used = new Set(pruned.graph.node.flatMap((n) => n.input ?? []));
    for (const name of inits) assert.ok(used.has(name ?? ''), `${path}: initializer ${name} is kept but unused`);
    assert.deepEqual(pruned.model.opsetImport, model.graph.model.opsetImport, `${path}: opsets`);
    assert.deepEqual(pruned.inputNames, model.graph.inputNames, `${path}: the inputs to feed`);
  }
});

test('on the sample model the last layer after its Softmax is left out', async () => {
  const model = await openAttentionModel(models[0]);
  const tensors = model.stacks.flatMap((s) => s.layers.map((l) => l.tensor));
  const bytes = attentionOnlyModel(model.graph, model.bytes, tensors);
  const pruned = decodeModel(bytes, 'sample');
  assert.ok(pruned.graph.node.length < model.graph.graph.node.length, 'some nodes must go');
  assert.ok(bytes.length < model.bytes.length, 'the weights only the dropped nodes read must go');
  // The fallback appends the outputs and keeps every byte of the original.
  const appended = exposeTensors(model.graph, model.bytes, tensors);
  const prefix = Buffer.from(appended.buffer, appended.byteOffset, model.bytes.length);
  assert.ok(
    prefix.equals(Buffer.from(model.bytes.buffer, model.bytes.byteOffset, model.bytes.length)),
    'the fallback changed the original bytes',
  );
});
