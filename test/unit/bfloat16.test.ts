// Protects the bfloat16 paths: the CPU's float32 widening computes what the bfloat16 weights say (external ones cast as the session loads, never read into JavaScript), and the GPU's float32 interface leaves the graph in bfloat16.
import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { bfloat16Interface, hasBfloat16, widenBfloat16 } from '../../analysis/onnx/bfloat16';
import { decodeModel } from '../../analysis/onnx/model';
import { bfloat16ToFloat, floatToBfloat16 } from '../../analysis/runtime/halfFloat';

const info = (name: string, elemType: number, dims: (number | string)[]) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/** y = Softmax(Cast(x, bf16) · W1 · W2) cast back to float32; W1 inline, W2 external (in `dir`). */
function model(dir: string, w1: number[], w2: number[]): Uint8Array {
  const bits = (w: number[]) => new Uint8Array(Uint16Array.from(w, floatToBfloat16).buffer);
  writeFileSync(join(dir, 'w2.bin'), bits(w2));
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'bf16',
      node: [
        { opType: 'Cast', input: ['x'], output: ['xb'], attribute: [{ name: 'to', i: 16, type: 2 }] },
        { opType: 'MatMul', input: ['xb', 'w1'], output: ['h'] },
        { opType: 'MatMul', input: ['h', 'w2'], output: ['s'] },
        { opType: 'Softmax', input: ['s'], output: ['p'], attribute: [{ name: 'axis', i: -1, type: 2 }] },
        { opType: 'Cast', input: ['p'], output: ['y'], attribute: [{ name: 'to', i: 1, type: 2 }] },
      ],
      initializer: [
        { name: 'w1', dataType: 16, dims: [2, 2], rawData: bits(w1) },
        {
          name: 'w2',
          dataType: 16,
          dims: [2, 2],
          dataLocation: 1,
          externalData: [
            { key: 'location', value: 'w2.bin' },
            { key: 'offset', value: '0' },
            { key: 'length', value: '8' },
          ],
        },
      ],
      input: [info('x', 1, ['n', 2])],
      valueInfo: [info('h', 16, ['n', 2])],
      output: [info('y', 1, ['n', 2])],
    },
  }).finish();
}

test('widened to float32, a bfloat16 model runs on the CPU and computes with its rounded weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-bf16-unit-'));
  const [w1, w2] = [
    [0.3, -1.7, 2.2, 0.45],
    [1.1, 0.2, -0.6, 0.9],
  ];
  const bytes = model(dir, w1, w2);
  const g = decodeModel(bytes, 'bf16');
  assert.ok(hasBfloat16(g));
  const widened = widenBfloat16(g, bytes);
  const session = await ort.InferenceSession.create(widened, { extra: { session: { model_external_initializers_file_folder_path: dir } } });
  const x = [1, 2];
  const y = (await session.run({ x: new ort.Tensor('float32', Float32Array.from(x), [1, 2]) })).y.data as Float32Array;
  // The same computation by hand with the weights rounded to bfloat16 (the activations stay float32).
  const r = (w: number[]) => w.map((v) => bfloat16ToFloat(floatToBfloat16(v)));
  const [a, b] = [r(w1), r(w2)];
  const h = [x[0] * a[0] + x[1] * a[2], x[0] * a[1] + x[1] * a[3]];
  const s = [h[0] * b[0] + h[1] * b[2], h[0] * b[1] + h[1] * b[3]];
  const e = s.map((v) => Math.exp(v - Math.max(...s)));
  e.forEach((v, i) => assert.ok(Math.abs(v / (e[0] + e[1]) - y[i]) < 1e-5, `y[${i}] = ${y[i]}`));
  const w = decodeModel(widened, 'widened');
  // Nothing bfloat16 is left for the CPU but the external weight's stored bytes.
  assert.deepEqual(
    w.graph.initializer.filter((t) => t.dataType === 16).map((t) => t.name),
    ['w2/bfloat16'],
  );
  assert.ok([...w.graph.input, ...w.graph.output, ...w.graph.valueInfo].every((i) => i.type?.tensorType?.elemType !== 16));
  assert.ok(
    w.graph.node.every((n) => !n.attribute?.some((a) => a.name === 'to' && Number(a.i) === 16)),
    'a Cast to bfloat16 is left',
  );
  // The external weight is still external: a Cast node turns it to float32 as the session loads it.
  const stored = w.graph.initializer.find((t) => t.name === 'w2/bfloat16');
  assert.equal(stored?.dataLocation, 1);
  assert.equal(stored?.dataType, 16);
});

test('the GPU path keeps the graph bfloat16 and feeds and returns float32', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-bf16-unit-'));
  const bytes = model(dir, [1, 0, 0, 1], [1, 0, 0, 1]);
  const g = decodeModel(bytes, 'bf16');
  // Its graph input is float32 already; give it a bfloat16 output to cast.
  g.graph.output[0] = info('p', 16, ['n', 2]);
  const wrapped = decodeModel(bfloat16Interface(g, bytes), 'wrapped');
  assert.equal(wrapped.graph.output[0].type?.tensorType?.elemType, 1, 'the output is float32');
  assert.equal(wrapped.producer.get('p')?.opType, 'Cast', 'p is a Cast of the bfloat16 probabilities');
  assert.equal(wrapped.graph.initializer.find((t) => t.name === 'w1')?.dataType, 16, 'the weights stay bfloat16');
});
