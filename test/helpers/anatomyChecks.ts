// Test helper: the checks every fully traced BERT-like stack of the model anatomy passes.
import { strict as assert } from 'node:assert';
import type { ModelAnatomy } from '../../analysis/onnx/anatomyTypes';

/** The checks every fully traced BERT-like stack passes. */
export function assertComplete(a: ModelAnatomy, label: string, layers: number, heads: number, hidden: number, ffn: number): void {
  assert.deepEqual(a.missing, [], `${label}: parts not traced`);
  assert.equal(a.layers.length, layers);
  a.layers.forEach((layer, l) => {
    const at = layer.attention!;
    assert.equal(at.heads, heads, `${label} layer ${l}: heads from the split`);
    assert.equal(at.headDim, hidden / heads, `${label} layer ${l}: head size`);
    for (const role of ['query', 'key', 'value', 'output'] as const) {
      const lin = at[role]!;
      assert.equal(lin.inFeatures, hidden, `${label} layer ${l} ${role}: in features`);
      assert.equal(lin.outFeatures, hidden, `${label} layer ${l} ${role}: out features`);
      assert.equal(lin.bias?.dims[0], hidden, `${label} layer ${l} ${role}: bias`);
    }
    assert.equal(layer.norm, 'post', `${label}: BERT is post-LN`);
    assert.equal(layer.ffn!.up.outFeatures, ffn);
    assert.equal(layer.ffn!.down.inFeatures, ffn);
    assert.equal(layer.ffn!.activation?.kind, 'gelu-erf');
    assert.ok(layer.attentionNorm && layer.ffnNorm, `${label} layer ${l}: both LayerNorms`);
    assert.equal(layer.attentionResidual!.residual, layer.input, `${label} layer ${l}: the attention's residual is its input`);
    if (l > 0) assert.equal(layer.input, a.layers[l - 1].output, `${label}: layer ${l} reads what layer ${l - 1} writes`);
  });
  assert.ok(a.embeddings?.word && a.embeddings.position && a.embeddings.norm, `${label}: embeddings`);
  assert.equal(a.embeddings!.output, a.layers[0].input, `${label}: the first layer reads the embeddings`);
}
