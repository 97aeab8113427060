// Protects the model anatomy and the what-if rewrite on models made by Python: the BERT-base-shaped benchmark model, and a model whose weights are external data.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import * as ort from 'onnxruntime-node';
import { readExternalTensors, slicedTensorNames } from '../../analysis/app/externalData';
import { readModel } from '../../analysis/app/readers';
import { traceAnatomy } from '../../analysis/onnx/anatomy';
import { decodeModel } from '../../analysis/onnx/model';
import { rewriteForReuse } from '../../analysis/onnx/reuseRewrite';
import { algorithm1HeadMap } from '../../analysis/planner/headMap';
import type { LayerKind } from '../../analysis/planner/headMap';
import { assertComplete } from '../helpers/anatomyChecks';
import { fixtureModels as fixtures, root } from '../helpers/paths.mjs';
import { needPython, python } from '../helpers/python';
import { mixedMap } from '../helpers/reuseConfigFixture';

/** The BERT-base-shaped masked LM of the benchmark, exported when missing. */
function benchModel(t: TestContext): string | undefined {
  const path = join(root, '.cache', 'bench', 'bert-base-mlm.onnx');
  if (existsSync(path)) return path;
  if (!needPython(t, ['torch', 'onnx'])) return undefined;
  mkdirSync(dirname(path), { recursive: true });
  const r = spawnSync(python, [join(root, 'scripts', 'bench', 'benchModels.py'), 'export', 'bert-base-mlm', path], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '2' },
  });
  assert.equal(r.status, 0, `cannot export the BERT-base-shaped model: ${(r.stderr ?? '').trim().split('\n').pop()}`);
  return path;
}

describe('anatomy and rewrite of models made by Python', () => {
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

  it('external data: query/key weights sliced from the data file, every other tensor keeps its reference', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ar-external-'));
    const path = join(dir, 'model.onnx');
    const code = `import onnx,sys\nm=onnx.load(sys.argv[1])\nonnx.save_model(m,sys.argv[2],save_as_external_data=True,all_tensors_to_one_file=True,location='model.data',size_threshold=64)`;
    if (!needPython(t, ['onnx'])) return;
    const py = spawnSync(python, ['-c', code, join(fixtures, 'bert_opset13.onnx'), path], { encoding: 'utf8' });
    assert.equal(py.status, 0, `python could not write external data with onnx: ${py.stderr.trim().split('\n').pop()}`);
    const model = await readModel(path);
    const anatomy = traceAnatomy(model.graph, model.stacks);
    const map = mixedMap(3);
    const external = await readExternalTensors(path, model.graph, slicedTensorNames(anatomy, map));
    assert.ok(external.size >= 4, 'the sliced query/key tensors come from the data file');
    const r = rewriteForReuse(model.graph, model.bytes, anatomy, map, external);
    assert.ok(r.layers.filter((l) => l.kind === 'reuse').every((l) => l.method === 'sliced'));
    const g = decodeModel(r.bytes, 'rewritten');
    const refs = (x: typeof g) =>
      x.graph.initializer.filter((i) => Number(i.dataLocation ?? 0) === 1).map((i) => JSON.stringify(i.externalData));
    const before = new Set(refs(model.graph));
    assert.ok(refs(g).length > 0 && refs(g).every((ref) => before.has(ref)), 'kept external references are unchanged');
    const opts = { extra: { session: { model_external_initializers_file_folder_path: dir } } };
    const session = await ort.InferenceSession.create(r.bytes, opts);
    const n = 10;
    const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt((3 + 11 * i) % 50));
    const logits = (
      await session.run({
        input_ids: new ort.Tensor('int64', ids, [1, n]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
      })
    ).logits.data as Float32Array;
    const inlineModel = await readModel(join(fixtures, 'bert_opset13.onnx'));
    const inline = await ort.InferenceSession.create(
      rewriteForReuse(inlineModel.graph, inlineModel.bytes, traceAnatomy(inlineModel.graph, inlineModel.stacks), map).bytes,
    );
    const same = (
      await inline.run({
        input_ids: new ort.Tensor('int64', ids, [1, n]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
      })
    ).logits.data as Float32Array;
    assert.ok(
      logits.length === same.length && logits.every((v, i) => Math.abs(v - same[i]) <= 1e-6),
      'the external-data rewrite computes what the inline one does',
    );
  });
});
