// Protects the model anatomy the what-if rewrite and the warm-start export read weights from: every role traced from the Softmax, on every fixture.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readModel } from '../../analysis/app/readers';
import { traceAnatomy } from '../../analysis/onnx/anatomy';
import type { ModelAnatomy } from '../../analysis/onnx/anatomyTypes';
import { assertComplete } from '../helpers/anatomyChecks';

import { root } from '../helpers/paths.mjs';
const fixtures = join(root, 'test', 'fixtures', 'models');

async function anatomyOf(path: string, stack?: string): Promise<ModelAnatomy> {
  const model = await readModel(path);
  return traceAnatomy(model.graph, model.stacks, stack);
}

describe('model anatomy', () => {
  it('the sample model: weights behind Transpose nodes, decomposed LayerNorms (eps 1e-12), an MLM head tied to the word embedding', async () => {
    const a = await anatomyOf(join(root, 'media', 'sample', 'model.onnx'));
    assertComplete(a, 'sample', 4, 4, 128, 512);
    const q = a.layers[1].attention!.query!;
    assert.deepEqual(
      {
        weight: q.weight.name,
        dims: q.weight.dims,
        orientation: q.orientation,
        storage: q.weight.storage,
        bias: q.bias!.name,
        transposed: q.transpose !== null,
      },
      {
        weight: 'layers.1.attention.query.weight',
        dims: [128, 128],
        orientation: 'out-in',
        storage: 'initializer',
        bias: 'layers.1.attention.query.bias',
        transposed: true,
      },
      'a PyTorch Linear exported with its Transpose: [out, in]',
    );
    assert.equal(a.layers[0].ffn!.up.weight.dims.join(), '512,128');
    assert.ok(Math.abs(a.layers[0].attentionNorm!.epsilon - 1e-12) < 1e-18, 'epsilon read from the decomposed norm');
    assert.equal(a.layers[0].attentionNorm!.form, 'decomposed');
    assert.equal(a.layers[0].attentionNorm!.scale!.name, 'layers.0.attention_norm.weight');
    const scale = a.layers[0].attention!.scale!;
    assert.equal(scale.at, 'scores');
    assert.ok(Math.abs(scale.factor - 1 / Math.sqrt(32)) < 1e-7, 'the 1/sqrt(d_head) scale');
    assert.equal(a.layers[0].attention!.mask?.perHead, false, 'the padding mask is shared by the heads');
    assert.equal(a.embeddings!.word!.table.name, 'token.weight');
    assert.deepEqual(a.embeddings!.position!.table.dims, [128, 128]);
    assert.equal(a.embeddings!.tokenType, null);
    assert.equal(a.head?.kind, 'mlm');
    if (a.head?.kind !== 'mlm') return;
    assert.equal(a.head.tied, true, 'the decoder is the word embedding');
    assert.equal(a.head.decoder.weight.name, 'token.weight');
    assert.equal(a.head.decoder.outFeatures, 4096);
    assert.equal(a.head.activation.kind, 'gelu-erf');
    assert.equal(a.head.dense.weight.name, 'head_dense.weight');
    assert.equal(a.head.decoder.bias?.name, 'decoder_bias');
  });

  for (const [name, storage, form, onReshape, elemType] of [
    ['bert_opset11', 'initializer', 'decomposed', false, 1],
    ['bert_opset13', 'initializer', 'decomposed', false, 1],
    ['bert_opset17', 'initializer', 'LayerNormalization', false, 1],
    ['bert_constants', 'constant', 'decomposed', false, 1],
    ['bert_reshape2d', 'initializer', 'decomposed', true, 1],
    ['bert_fp16', 'initializer', 'LayerNormalization', false, 10],
    ['bert_attn_outputs', 'initializer', 'LayerNormalization', false, 1],
  ] as const) {
    it(`${name}: every part, weights [in, out] (${storage}), ${form} LayerNorms, an untied linear head`, async () => {
      const a = await anatomyOf(join(fixtures, `${name}.onnx`));
      assertComplete(a, name, 3, 4, 24, 48);
      const k = a.layers[2].attention!.key!;
      assert.equal(k.orientation, 'in-out');
      assert.equal(k.weight.storage, storage);
      assert.equal(k.weight.elemType, elemType);
      assert.equal(a.layers[0].ffnNorm!.form, form);
      assert.ok(Math.abs(a.layers[0].ffnNorm!.epsilon - 1e-5) < 1e-9);
      // The fixtures share their all-ones LayerNorm weight through Identity nodes: the holder is found behind them.
      assert.equal(a.layers[0].attentionNorm!.scale!.name, 'model.embeddings.norm.weight');
      assert.equal(a.layers[0].attention!.softmaxOnReshape, onReshape);
      assert.equal(a.head?.kind, 'linear');
      assert.equal(a.head!.tied, false);
      assert.equal(a.head!.decoder.outFeatures, 50);
    });
  }

  it('encoder-decoder: each stack traced as far as it goes, the rest named with the reason', async () => {
    const path = join(fixtures, 'encdec_opset17.onnx');
    const encoder = await anatomyOf(path, 'encoder');
    assert.ok(
      encoder.layers.every((l) => l.attention?.query && l.ffn && l.ffnNorm),
      'encoder layers are complete',
    );
    assert.deepEqual(
      encoder.missing.map((m) => m.part),
      ['head'],
      'the encoder feeds no output head of its own',
    );
    const decoder = await anatomyOf(path, 'decoder');
    assert.ok(
      decoder.layers.every((l) => l.attention?.query && l.attentionNorm),
      'decoder self-attention is traced',
    );
    assert.ok(
      decoder.missing.some((m) => m.part === 'ffn.up' && /cross-attention/.test(m.why)),
      'the cross-attention between self-attention and FFN is named',
    );
    const cross = await anatomyOf(path, 'cross');
    assert.ok(
      cross.layers.every((l) => l.attention?.key && l.ffn),
      'cross-attention layers and their FFN',
    );
    assert.notEqual(
      cross.layers[0].attention!.query!.input,
      cross.layers[0].attention!.key!.input,
      'queries and keys read different streams',
    );
  });

  it('a graph without a head split says which parts are missing, and why', async () => {
    const a = await anatomyOf(join(fixtures, 'tiny_single_head.onnx'));
    const parts = a.missing.map((m) => m.part);
    for (const p of ['attention.querySplit', 'attention.keySplit', 'embeddings'])
      assert.ok(parts.includes(p), `${p} missing from ${parts.join(', ')}`);
    assert.ok(
      a.missing.every((m) => m.why.length > 10),
      'every missing part carries a reason',
    );
    assert.equal(a.layers[0].attention!.query, null);
  });
});
