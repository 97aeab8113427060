// Protects the runner's feeds (analysis/runtime/feeds.ts): every element type a model may declare gets its own typed array with the values written as that type (float16 as half-precision bits, 64-bit ints as BigInt, bfloat16 fed as float32), token inputs right-padded with zeros under a batch axis, scalars stacked, inputs given whole fed as they are, and shapes that differ within a batch refused.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InputError } from '../../analysis/errors';
import type { ModelInput } from '../../analysis/onnx/inspect';
import { batchTensor } from '../../analysis/runtime/feeds';
import { floatToHalf } from '../../analysis/runtime/halfFloat';
import type { ExampleInput, InputTensor } from '../../analysis/runtime/inputs';

const spec = (type: string): ModelInput => ({ name: 'x', type, shape: ['batch', 'sequence'] });
const batch = (...tensors: InputTensor[]): ExampleInput[] =>
  tensors.map((t, index) => ({ index, origin: `mem:${index + 1}`, tensors: new Map([['x', t]]) }));
const tokens = (...values: number[]): InputTensor => ({ values, shape: [values.length] });

describe('batch feeds', () => {
  it('writes each element type into its own typed array, padded with zeros', () => {
    const cases: [string, string, (values: number[]) => ArrayLike<unknown>][] = [
      ['float32', 'float32', (v) => Float32Array.from(v)],
      ['bfloat16', 'float32', (v) => Float32Array.from(v)],
      ['float64', 'float64', (v) => Float64Array.from(v)],
      ['float16', 'float16', (v) => Uint16Array.from(v.map(floatToHalf))],
      ['int64', 'int64', (v) => BigInt64Array.from(v.map(BigInt))],
      ['uint64', 'uint64', (v) => BigUint64Array.from(v.map(BigInt))],
      ['int32', 'int32', (v) => Int32Array.from(v)],
      ['uint32', 'uint32', (v) => Uint32Array.from(v)],
      ['int16', 'int16', (v) => Int16Array.from(v)],
      ['uint16', 'uint16', (v) => Uint16Array.from(v)],
      ['int8', 'int8', (v) => Int8Array.from(v)],
      ['uint8', 'uint8', (v) => Uint8Array.from(v)],
      ['bool', 'bool', (v) => Uint8Array.from(v.map((x) => (x ? 1 : 0)))],
    ];
    for (const [declared, fed, expect] of cases) {
      const t = batchTensor(spec(declared), batch(tokens(3, 1, 2), tokens(5)), 4);
      assert.equal(t.type, fed, `${declared} fed as ${t.type}`);
      assert.deepEqual(t.dims, [2, 4], `${declared}: dims`);
      assert.deepEqual(t.data, expect([3, 1, 2, 0, 5, 0, 0, 0]), `${declared}: values written as another type, or not padded with zeros`);
    }
    assert.throws(
      () => batchTensor(spec('string'), batch(tokens(1)), undefined),
      (err: unknown) => err instanceof InputError && err.message === 'input "x" has element type string, which this tool cannot feed',
    );
  });

  it('stacks scalars under the batch axis and feeds an input given whole as it is', () => {
    const scalars = batchTensor(spec('int64'), batch({ values: [7], shape: [] }, { values: [9], shape: [] }), undefined);
    assert.deepEqual([scalars.dims, scalars.data], [[2], BigInt64Array.from([7n, 9n])]);
    const whole = batchTensor(
      spec('bool'),
      batch({ values: [1], shape: [1], asGiven: true }, { values: [1], shape: [1], asGiven: true }),
      1,
    );
    assert.deepEqual([whole.dims, whole.data], [[1], Uint8Array.from([1])], 'an input given whole gained a batch axis or lost its value');
  });

  it('refuses shapes that differ within a batch: inner axes always, axis 0 when nothing is padded', () => {
    const refused = (tensors: InputTensor[], padTo: number | undefined) =>
      assert.throws(
        () => batchTensor(spec('float32'), batch(...tensors), padTo),
        (err: unknown) => err instanceof InputError && err.message === '"x" has different shapes within one batch',
      );
    refused([tokens(1, 2), tokens(1, 2, 3)], undefined);
    refused(
      [
        { values: [1, 2], shape: [1, 2] },
        { values: [1, 2, 3], shape: [1, 3] },
      ],
      2,
    );
    assert.deepEqual(
      batchTensor(spec('float32'), batch(tokens(1, 2), tokens(1, 2, 3)), 3).dims,
      [2, 3],
      'padding is what makes lengths agree',
    );
  });
});
