// Protects what the warm start reads from a model: each role's tensor in torch's [out, in] layout with the model's score scale folded into the queries, the architecture facts (epsilon, GELU, head, token types, positions), refusals that name the part, .npy bytes numpy can read, and reuse layers (assembled probabilities) found with all their heads.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readModel } from '../../analysis/app/readers';
import { decodeNpy, encodeNpy } from '../../analysis/config/npy';
import { traceAnatomy } from '../../analysis/onnx/anatomy';
import { findAttention } from '../../analysis/onnx/attentionFinder';
import { decodeModel } from '../../analysis/onnx/model';
import { rewriteForReuse } from '../../analysis/onnx/reuseRewrite';
import { planWarmStart, roleValues } from '../../analysis/onnx/warmStartWeights';
import type { HeadMap } from '../../analysis/planner/headMap';

import { root } from '../helpers/paths.mjs';
const fixtures = join(root, 'test', 'fixtures', 'models');
const sample = join(root, 'media', 'sample', 'model.onnx');

async function planOf(path: string) {
  const model = await readModel(path);
  const anatomy = traceAnatomy(model.graph, model.stacks);
  return { model, anatomy, plan: planWarmStart(anatomy, path) };
}

describe('warm-start weights by role', () => {
  it('the sample model: every role, tied MLM head, ε 1e-12, Erf GELU, no token types, 128 positions', async () => {
    const { plan } = await planOf(sample);
    assert.deepEqual(plan.dims, { layers: 4, heads: 4, hidden: 128, ffn: 512, vocab: 4096, maxPositions: 128 });
    assert.deepEqual(plan.architecture, {
      norm: 'post',
      layerNormEpsilon: 1e-12,
      activation: 'gelu-erf',
      tokenTypes: 0,
      head: 'mlm',
      tiedOutput: true,
    });
    const roles = plan.roles.map((r) => r.role);
    assert.equal(new Set(roles).size, roles.length, 'each role once');
    // 4 embedding roles, 16 per layer, dense (2) + norm (2) + decoder bias; the tied decoder weight is the word table.
    assert.equal(roles.length, 4 + 16 * 4 + 5);
    assert.ok(!roles.includes('head.decoder.weight') && !roles.includes('embeddings.tokenType'));
    assert.deepEqual(plan.notes, [], 'the sample scales scores by 1/√32, as the trainer does');
  });

  it('linear weights leave as [out, in]; the score scale is folded into the queries only', async () => {
    const { model, anatomy, plan } = await planOf(join(fixtures, 'bert_opset17.onnx'));
    const query = anatomy.layers[1].attention!.query!;
    assert.equal(query.orientation, 'in-out');
    const role = plan.roles.find((r) => r.role === 'layers.1.attention.query.weight')!;
    const values = roleValues(model.graph, role, new Map());
    const stored = roleValues(
      model.graph,
      { role: 'raw', shape: query.weight.dims, source: { ref: query.weight, transpose: false, scale: 1 } },
      new Map(),
    );
    const [inF, outF] = query.weight.dims;
    const factor = 'scale' in role.source ? role.source.scale : NaN;
    assert.ok(Math.abs(factor - 1) < 1e-6, `the fixture scales by 1/√(d/H) (${factor})`);
    for (const [o, i] of [
      [0, 0],
      [3, 17],
      [outF - 1, inF - 1],
    ])
      assert.equal(values[o * inF + i], stored[i * outF + o], `W[${o}][${i}]`);
    assert.deepEqual(plan.architecture, {
      norm: 'post',
      layerNormEpsilon: 1e-5,
      activation: 'gelu-erf',
      tokenTypes: 0,
      head: 'linear',
      tiedOutput: false,
    });
    assert.ok(
      plan.roles.some((r) => r.role === 'head.decoder.weight'),
      'an untied decoder travels',
    );
  });

  it('the decomposed LayerNorm (opset 13) gives the same epsilon as the op (opset 17)', async () => {
    const [a, b] = await Promise.all([planOf(join(fixtures, 'bert_opset13.onnx')), planOf(join(fixtures, 'bert_opset17.onnx'))]);
    assert.equal(a.plan.architecture.layerNormEpsilon, b.plan.architecture.layerNormEpsilon);
    const v = (p: typeof a, role: string) =>
      Array.from(
        roleValues(
          p.model.graph,
          p.plan.roles.find((r) => r.role === role)!,
          new Map(),
        ),
      );
    for (const role of ['layers.2.ffnNorm.scale', 'layers.0.attention.key.weight', 'head.decoder.bias'])
      assert.deepEqual(v(a, role), v(b, role), role);
  });

  it('a model the trainer cannot take is refused naming the part', async () => {
    const model = await readModel(join(fixtures, 'encdec_opset17.onnx'));
    const anatomy = traceAnatomy(model.graph, model.stacks, 'decoder');
    assert.throws(
      () => planWarmStart(anatomy, 'encdec.onnx'),
      (err: Error) => /encdec\.onnx cannot be a warm start for the trainer: .*cross-attention/.test(err.message),
    );
  });

  it('.npy bytes: the header numpy writes (64-byte aligned), values little-endian float32', () => {
    const bytes = encodeNpy([2, 3], Float32Array.from([1, -2, 3.5, 0, 1e-12, -7]));
    assert.equal(Buffer.from(bytes.subarray(0, 6)).toString('latin1'), '\x93NUMPY');
    const headerEnd = 10 + new DataView(bytes.buffer).getUint16(8, true);
    assert.equal(headerEnd % 64, 0);
    assert.match(
      Buffer.from(bytes.subarray(10, headerEnd)).toString('latin1'),
      /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/,
    );
    const back = decodeNpy(bytes);
    assert.deepEqual(back.shape, [2, 3]);
    assert.deepEqual(Array.from(back.data), Array.from(Float32Array.from([1, -2, 3.5, 0, 1e-12, -7])));
    assert.match(Buffer.from(encodeNpy([5], new Float32Array(5))).toString('latin1'), /'shape': \(5,\)/);
  });
});

describe('reuse layers in a graph (what-if rewrite, trained reuse model)', () => {
  it('every layer of a rewritten model is found with all its heads, reuse layers by their value product', async () => {
    const model = await readModel(sample);
    const anatomy = traceAnatomy(model.graph, model.stacks);
    const map: HeadMap = [
      ['exact', 'exact', 'exact', 'exact'],
      [{ reuse: { layer: 0, head: 3 } }, 'exact', { reuse: { layer: 0, head: 0 } }, 'exact'],
      [
        { reuse: { layer: 1, head: 1 } },
        { reuse: { layer: 0, head: 1 } },
        { reuse: { layer: 1, head: 3 } },
        { reuse: { layer: 0, head: 2 } },
      ],
      ['exact', 'exact', 'exact', 'exact'],
    ];
    const rewritten = rewriteForReuse(model.graph, model.bytes, anatomy, map);
    const [stack, ...others] = findAttention(decodeModel(rewritten.bytes, 'rewritten'), 'rewritten');
    assert.equal(others.length, 0);
    assert.deepEqual(
      stack.layers.map((l) => l.heads),
      [4, 4, 4, 4],
      'four layers of four heads, not the computed heads only',
    );
    assert.deepEqual(
      stack.layers.map((l) => l.assembledFrom !== undefined),
      [false, true, true, false],
    );
    assert.deepEqual(
      stack.layers.map((l) => l.tensor),
      rewritten.layers.map((l) => l.probs),
      'the tensors the value products read',
    );
    assert.equal(stack.layers[2].assembledFrom!.length, 2, 'the full-reuse layer draws on layers 0 and 1');
  });
});
