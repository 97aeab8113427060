// Protects reading model sizes from a graph (the cost model's inputs): hidden, FFN, vocabulary, positions.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { modelDims } from '../../analysis/onnx/dims';
import { readModel as openAttentionModel } from '../../analysis/app/readers';
import { root } from '../helpers/paths.mjs';

describe('modelDims', () => {
  const cases: [string, object][] = [
    ['media/sample/model.onnx', { hidden: 128, ffn: 512, vocab: 4096, maxPositions: 128 }],
    ...['bert_opset11', 'bert_opset13', 'bert_opset17', 'bert_fp16', 'bert_constants', 'bert_reshape2d'].map((n): [string, object] => [
      `test/fixtures/models/${n}.onnx`,
      { hidden: 24, ffn: 48, vocab: 50, maxPositions: 32 },
    ]),
  ];
  for (const [file, want] of cases) {
    it(file, async () => {
      const m = await openAttentionModel(join(root, file));
      assert.deepEqual(
        modelDims(m.graph, 'input_ids'),
        want,
        'embedding tables or FFN weights read wrongly (Gemm transB, Transpose of a constant?)',
      );
    });
  }
  it('a graph with no token embedding says null rather than guessing', async () => {
    const m = await openAttentionModel(join(root, 'test/fixtures/models/tiny_single_head.onnx'));
    assert.deepEqual(modelDims(m.graph, undefined), { hidden: null, ffn: null, vocab: null, maxPositions: null });
  });
});
