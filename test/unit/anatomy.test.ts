// Protects the model anatomy the what-if rewrite and the warm-start export read weights from: every role traced from the Softmax, on every fixture.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { readModel } from '../../analysis/app/readers';
import { traceAnatomy } from '../../analysis/onnx/anatomy';
import type { ModelAnatomy } from '../../analysis/onnx/anatomyTypes';
import { rewriteForReuse } from '../../analysis/onnx/reuseRewrite';
import { algorithm1HeadMap } from '../../analysis/planner/headMap';
import type { LayerKind } from '../../analysis/planner/headMap';

const root = join(__dirname, '..', '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'models');

/** The BERT-base-shaped masked LM of the benchmark, exported when missing (needs torch: required in CI, else skipped). */
function benchModel(t: { skip: (why: string) => void }): string | undefined {
  const path = join(root, '.cache', 'bench', 'bert-base-mlm.onnx');
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const r = spawnSync('/usr/bin/python3', [join(root, 'scripts', 'bench', 'benchModels.py'), 'export', 'bert-base-mlm', path], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
  if (r.status === 0) return path;
  const why = `cannot export the BERT-base-shaped model (/usr/bin/python3 with torch and onnx): ${(r.stderr ?? '').trim().split('\n').pop()}`;
  if (process.env.CI === 'true') assert.fail(why);
  t.skip(why);
  return undefined;
}

async function anatomyOf(path: string, stack?: string): Promise<ModelAnatomy> {
  const model = await readModel(path);
  return traceAnatomy(model.graph, model.stacks, stack);
}

/** The checks every fully traced BERT-like stack passes. */
function assertComplete(a: ModelAnatomy, label: string, layers: number, heads: number, hidden: number, ffn: number): void {
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

describe('model anatomy', () => {
  it('the sample model: weights behind Transpose nodes, decomposed LayerNorms (eps 1e-12), an MLM head tied to the word embedding', async () => {
    const a = await anatomyOf(join(root, 'media', 'sample', 'model.onnx'));
    assertComplete(a, 'sample', 4, 4, 128, 512);
    const q = a.layers[1].attention!.query!;
    assert.deepEqual(
      { weight: q.weight.name, dims: q.weight.dims, orientation: q.orientation, storage: q.weight.storage, bias: q.bias!.name, transposed: q.transpose !== null },
      { weight: 'layers.1.attention.query.weight', dims: [128, 128], orientation: 'out-in', storage: 'initializer', bias: 'layers.1.attention.query.bias', transposed: true },
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

  it('a BERT-base-shaped model (scripts/bench/benchModels.py): 12 × 12 heads of 64, the MLM head tied, full reuse P = 6 removes 6 layers of Q and K', async (t) => {
    const path = benchModel(t);
    if (!path) return;
    const model = await readModel(path);
    const a = traceAnatomy(model.graph, model.stacks);
    assertComplete(a, 'BERT-base', 12, 12, 768, 3072);
    assert.equal(a.layers[0].attention!.query!.orientation, 'out-in', 'exported without constant folding: weights behind Transposes');
    assert.deepEqual(a.embeddings!.position!.table.dims, [512, 768], 'positions from a Range, broadcast by an Unsqueeze');
    assert.equal(a.head?.kind, 'mlm');
    assert.equal(a.head!.tied, true);
    assert.equal(a.head!.decoder.outFeatures, 30522);
    const full = algorithm1HeadMap(['exact', ...new Array<LayerKind>(6).fill('reuse'), ...new Array<LayerKind>(5).fill('exact')], 12, 12);
    const r = rewriteForReuse(model.graph, model.bytes, a, full);
    assert.equal(r.parametersRemoved, 6 * 2 * (768 * 768 + 768), 'Q and K weights and biases of six layers');
    assert.ok(r.doesLessWork);
  });

  it('encoder-decoder: each stack traced as far as it goes, the rest named with the reason', async () => {
    const path = join(fixtures, 'encdec_opset17.onnx');
    const encoder = await anatomyOf(path, 'encoder');
    assert.ok(encoder.layers.every((l) => l.attention?.query && l.ffn && l.ffnNorm), 'encoder layers are complete');
    assert.deepEqual(encoder.missing.map((m) => m.part), ['head'], 'the encoder feeds no output head of its own');
    const decoder = await anatomyOf(path, 'decoder');
    assert.ok(decoder.layers.every((l) => l.attention?.query && l.attentionNorm), 'decoder self-attention is traced');
    assert.ok(decoder.missing.some((m) => m.part === 'ffn.up' && /cross-attention/.test(m.why)), 'the cross-attention between self-attention and FFN is named');
    const cross = await anatomyOf(path, 'cross');
    assert.ok(cross.layers.every((l) => l.attention?.key && l.ffn), 'cross-attention layers and their FFN');
    assert.notEqual(cross.layers[0].attention!.query!.input, cross.layers[0].attention!.key!.input, 'queries and keys read different streams');
  });

  it('a graph without a head split says which parts are missing, and why', async () => {
    const a = await anatomyOf(join(fixtures, 'tiny_single_head.onnx'));
    const parts = a.missing.map((m) => m.part);
    for (const p of ['attention.querySplit', 'attention.keySplit', 'embeddings']) assert.ok(parts.includes(p), `${p} missing from ${parts.join(', ')}`);
    assert.ok(a.missing.every((m) => m.why.length > 10), 'every missing part carries a reason');
    assert.equal(a.layers[0].attention!.query, null);
  });
});
