// Protects the what-if rewrite: reuse heads see exactly their source's probabilities of the same pass, all-exact changes nothing, slicing removes what the cost model says and computes what substitution computes.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { readModel } from '../../analysis/app/readers';
import { traceAnatomy } from '../../analysis/onnx/anatomy';
import { GRAPH, INITIALIZER, exposeTensors, fieldsOf } from '../../analysis/onnx/expose';
import { decodeModel } from '../../analysis/onnx/model';
import { rewriteForReuse } from '../../analysis/onnx/reuseRewrite';
import type { ReuseRewrite } from '../../analysis/onnx/reuseRewrite';
import { costOf } from '../../analysis/planner/cost';
import { algorithm1HeadMap, isReuse } from '../../analysis/planner/headMap';
import type { HeadMap, LayerKind } from '../../analysis/planner/headMap';

import { root } from '../helpers/paths.mjs';
import { mixedMap } from '../helpers/reuseConfigFixture';
const fixtures = join(root, 'test', 'fixtures', 'models');
const sample = join(root, 'media', 'sample', 'model.onnx');
const bert = ['bert_opset11', 'bert_opset13', 'bert_opset17', 'bert_constants', 'bert_reshape2d', 'bert_fp16', 'bert_attn_outputs'].map(
  (n) => join(fixtures, `${n}.onnx`),
);

async function rewrite(path: string, map: HeadMap): Promise<{ r: ReuseRewrite; original: Uint8Array }> {
  const model = await readModel(path);
  const anatomy = traceAnatomy(model.graph, model.stacks);
  return { r: rewriteForReuse(model.graph, model.bytes, anatomy, map), original: model.bytes };
}

/** Runs a model on one example of `n` tokens (ids from a fixed pattern, every token real). */
async function run(bytes: Uint8Array, n: number, vocab: number, extra: string[] = []): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(extra.length ? exposeTensors(decodeModel(bytes, 'rewritten'), bytes, extra) : bytes);
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt((7 + 13 * i) % vocab));
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
  });
  await session.release();
  const f32: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(out))
    f32[k] = t.type === 'float16' ? Float32Array.from(t.data as Uint16Array, halfToFloat) : (t.data as Float32Array);
  return f32;
}

function halfToFloat(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

function assertReuseExact(map: HeadMap, r: ReuseRewrite, out: Record<string, Float32Array>, n: number, label: string): void {
  const size = n * n;
  map.forEach((row, l) =>
    row.forEach((e, h) => {
      if (!isReuse(e)) return;
      const mine = out[r.layers[l].probs].subarray(h * size, (h + 1) * size);
      const source = out[r.layers[e.reuse.layer].probs].subarray(e.reuse.head * size, (e.reuse.head + 1) * size);
      assert.ok(
        mine.every((v, i) => v === source[i]),
        `${label}: head ${h} of layer ${l} is not exactly head ${e.reuse.head} of layer ${e.reuse.layer}`,
      );
    }),
  );
}

describe('what-if rewrite', () => {
  it('an all-exact map leaves the model as it is (bytes and outputs)', async () => {
    for (const path of [sample, ...bert]) {
      const model = await readModel(path);
      const L = model.stacks[0].layers.length;
      const { r, original } = await rewrite(path, algorithm1HeadMap(new Array<LayerKind>(L).fill('exact'), 4, 0));
      assert.equal(Buffer.compare(Buffer.from(r.bytes), Buffer.from(original)), 0, `${path}: an all-exact rewrite changed bytes`);
      const [a, b] = [await run(original, 9, 50), await run(r.bytes, 9, 50)];
      for (const k of Object.keys(a))
        assert.ok(
          a[k].every((v, i) => Math.abs(v - b[k][i]) <= 1e-6),
          `${path}: output ${k} moved`,
        );
    }
  });

  for (const path of [sample, ...bert]) {
    it(`${path.split('/').pop()}: every reuse head holds exactly its source's probabilities of the same pass`, async () => {
      const model = await readModel(path);
      const L = model.stacks[0].layers.length;
      const vocab = path === sample ? 4096 : 50;
      for (const map of [algorithm1HeadMap(['exact', ...new Array<LayerKind>(L - 2).fill('reuse'), 'exact'], 4, 2), mixedMap(L)]) {
        const { r } = await rewrite(path, map);
        const reshaped = path.includes('reshape2d');
        for (const l of r.layers.filter((x) => x.kind === 'reuse')) {
          assert.equal(l.method, reshaped ? 'substituted' : 'sliced', `${path} layer ${l.layer}: ${l.why ?? ''}`);
        }
        assert.equal(r.doesLessWork, !reshaped);
        const out = await run(
          r.bytes,
          11,
          vocab,
          r.layers.map((l) => l.probs),
        );
        assertReuseExact(map, r, out, 11, path);
        // Output names stay: every original output is still produced, with its original shape.
        const original = await run(model.bytes, 11, vocab);
        for (const k of Object.keys(original)) assert.equal(out[k]?.length, original[k].length, `${path}: output ${k}`);
      }
    });
  }

  it('slicing computes what substituting computes (the BERT fixtures share their weights)', async () => {
    const map = mixedMap(3);
    const sliced = await rewrite(join(fixtures, 'bert_opset13.onnx'), map);
    const substituted = await rewrite(join(fixtures, 'bert_reshape2d.onnx'), map);
    const a = (await run(sliced.r.bytes, 12, 50)).logits;
    const b = (await run(substituted.r.bytes, 12, 50)).logits;
    assert.ok(
      a.every((v, i) => Math.abs(v - b[i]) <= 1e-5),
      'sliced and substituted rewrites of the same weights disagree',
    );
    const plain = (await run(sliced.original, 12, 50)).logits;
    assert.ok(
      a.some((v, i) => Math.abs(v - plain[i]) > 1e-3),
      'the rewrite must change the logits',
    );
  });

  it("the parameters the rewrite removes are the cost model's params − paramsReuse", async () => {
    const expected = JSON.parse(readFileSync(join(root, 'media', 'sample', 'training.json'), 'utf8')).model;
    const shape = {
      layers: 4,
      heads: 4,
      hidden: expected.hidden,
      ffn: expected.ffn,
      vocab: expected.vocab,
      maxPositions: expected.max_positions,
    };
    const maps: [string, HeadMap][] = [
      ['partial K=2', algorithm1HeadMap(['exact', 'reuse', 'reuse', 'exact'], 4, 2)],
      ['full P=2', algorithm1HeadMap(['exact', 'reuse', 'reuse', 'exact'], 4, 4)],
      ['skip P=2', algorithm1HeadMap(['exact', 'skip', 'skip', 'exact'], 4, 0)],
      ['mixed', mixedMap(4)],
    ];
    for (const [label, map] of maps) {
      const { r } = await rewrite(sample, map);
      const cost = costOf(shape, map, 128);
      assert.equal(r.parametersRemoved, cost.params - cost.paramsReuse, `${label}: parameters removed`);
      const removedInGraph = countFloat(decodeModel((await readModel(sample)).bytes, 'a')) - countFloat(decodeModel(r.bytes, 'b'));
      assert.equal(removedInGraph, cost.params - cost.paramsReuse, `${label}: initializer elements removed from the written graph`);
    }
  });

  it('a skip layer keeps its residual path: the model runs and its attention nodes are gone', async () => {
    const { r, original } = await rewrite(sample, algorithm1HeadMap(['exact', 'skip', 'exact', 'exact'], 4, 0));
    const g = decodeModel(r.bytes, 'skip');
    assert.ok(!g.graph.node.some((n) => (n.name ?? '').startsWith('/layers.1/attention/')), 'layer 1 attention nodes left in the graph');
    assert.ok(
      g.graph.node.some((n) => (n.name ?? '').startsWith('/layers.1/up')),
      'layer 1 feed-forward block removed',
    );
    assert.ok(decodeModel(original, 'o').graph.node.length > g.graph.node.length);
    const out = await run(r.bytes, 8, 4096);
    assert.ok(out.logits.every(Number.isFinite));
  });
});

describe('what-if rewrite: what it keeps', () => {
  it('untouched nodes and initializers are copied byte for byte', async () => {
    const model = await readModel(sample);
    const { r } = await rewrite(sample, mixedMap(4));
    const out = Buffer.from(r.bytes);
    const g = decodeModel(r.bytes, 'rewritten');
    const kept = new Set(g.graph.initializer.map((t) => t.name));
    // The original file's own initializer fields, as written by the exporter.
    const graphField = fieldsOf(model.bytes).find((f) => f.number === GRAPH)!;
    const graphBytes = model.bytes.subarray(graphField.payload, graphField.end);
    const initFields = fieldsOf(graphBytes).filter((f) => f.number === INITIALIZER);
    model.graph.graph.initializer.forEach((t, i) => {
      if (!kept.has(t.name)) return;
      const field = Buffer.from(graphBytes.subarray(initFields[i].start, initFields[i].end));
      assert.ok(out.includes(field), `initializer ${t.name} is not in the output byte for byte`);
    });
    const originals = new Set(model.graph.graph.node.map((n) => Buffer.from(onnx.NodeProto.encode(n).finish()).toString('base64')));
    const changed = g.graph.node.filter((n) => !originals.has(Buffer.from(onnx.NodeProto.encode(n).finish()).toString('base64')));
    // Layers 1 and 2: renamed Softmax outputs, rewired Q/K weights, biases and reshapes, plus the Slice/Concat that assemble the heads.
    assert.ok(
      changed.every((n) => /layers\.[12]\/attention|^reuse\//.test(n.name ?? '')),
      `nodes outside the reuse layers changed: ${changed
        .map((n) => n.name)
        .filter((x) => !/layers\.[12]\//.test(x ?? ''))
        .join(', ')}`,
    );
  });
});

function countFloat(g: ReturnType<typeof decodeModel>): number {
  return g.graph.initializer
    .filter((t) => t.dataType === 1 && (t.dims?.length ?? 0) >= 1)
    .reduce((s, t) => s + (t.dims ?? []).map(Number).reduce((a, b) => a * b, 1), 0);
}
