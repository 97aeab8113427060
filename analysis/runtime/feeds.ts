/**
 * One batch's input tensors for ONNX Runtime: every example's input under a batch axis (token
 * inputs right-padded with zeros to the longest, or to the model's fixed length), inputs given
 * whole fed as they are, in the element type the model declares.
 */
import * as ort from 'onnxruntime-node';
import { InputError } from '../errors';
import type { ModelInput } from '../onnx/inspect';
import { floatToHalf } from './halfFloat';
import type { ExampleInput, InputTensor } from './inputs';

/** Values one input tensor of a batch may hold: typed arrays end near 2^32 bytes. */
const maxBatchValues = 2 ** 28;

type Store = { data: ArrayLike<number | bigint> & { [i: number]: number | bigint }; set: (i: number, v: number) => void };

/** A zeroed typed array of `size` for an ONNX element type, and how to write a number into it. */
function storeFor(type: string, size: number, name: string): Store {
  const plain = <T extends { [i: number]: number }>(data: T): Store => ({
    data: data as unknown as Store['data'],
    set: (i, v) => (data[i] = v),
  });
  switch (type) {
    // A bfloat16 input is fed as float32: the session's model casts it (analysis/onnx/bfloat16.ts).
    case 'float32':
    case 'bfloat16':
      return plain(new Float32Array(size));
    case 'float64':
      return plain(new Float64Array(size));
    case 'float16': {
      const data = new Uint16Array(size);
      return { data: data as unknown as Store['data'], set: (i, v) => (data[i] = floatToHalf(v)) };
    }
    case 'int64': {
      const data = new BigInt64Array(size);
      return { data: data as unknown as Store['data'], set: (i, v) => (data[i] = BigInt(v)) };
    }
    case 'uint64': {
      const data = new BigUint64Array(size);
      return { data: data as unknown as Store['data'], set: (i, v) => (data[i] = BigInt(v)) };
    }
    case 'int32':
      return plain(new Int32Array(size));
    case 'uint32':
      return plain(new Uint32Array(size));
    case 'int16':
      return plain(new Int16Array(size));
    case 'uint16':
      return plain(new Uint16Array(size));
    case 'int8':
      return plain(new Int8Array(size));
    case 'uint8':
      return plain(new Uint8Array(size));
    case 'bool': {
      const data = new Uint8Array(size);
      return { data: data as unknown as Store['data'], set: (i, v) => (data[i] = v ? 1 : 0) };
    }
    default:
      throw new InputError(`input "${name}" has element type ${type}, which this tool cannot feed`);
  }
}

function tensorOf(type: string, store: Store, shape: number[]): ort.Tensor {
  const fed = type === 'bfloat16' ? 'float32' : type;
  return new ort.Tensor(fed as ort.Tensor.Type, store.data as unknown as ort.Tensor.DataType, shape);
}

/**
 * The batch's tensor of one input. Examples' tensors are stacked under a batch axis; with
 * `padTo` their axis 0 (tokens) is right-padded with zeros to that length; an input given
 * whole is the first example's (a batch holds one value of it, see `batchKey`).
 */
export function batchTensor(spec: ModelInput, batch: ExampleInput[], padTo: number | undefined): ort.Tensor {
  const parts = batch.map((ex) => ex.tensors.get(spec.name)!);
  if (parts[0].asGiven) {
    const store = storeFor(spec.type, parts[0].values.length, spec.name);
    parts[0].values.forEach((v, i) => store.set(i, v));
    return tensorOf(spec.type, store, parts[0].shape);
  }
  const first = parts[0].shape;
  const inner = first.slice(1);
  const length = padTo ?? first[0];
  const perExample = first.length === 0 ? [] : [length, ...inner];
  const row = perExample.reduce((a, b) => a * b, 1);
  const size = row * parts.length;
  if (size > maxBatchValues) {
    throw new InputError(
      `a batch of ${parts.length} examples × ${row} values of "${spec.name}" is more than one tensor holds (${maxBatchValues}); lower {field}`,
      'batch',
    );
  }
  const store = storeFor(spec.type, size, spec.name);
  parts.forEach((p: InputTensor, b) => {
    // Batches are gathered by shape (or padded on axis 0 only): a difference here is a bug upstream.
    if (p.shape.slice(1).join() !== inner.join() || (padTo === undefined && p.shape[0] !== first[0])) {
      throw new InputError(`"${spec.name}" has different shapes within one batch`);
    }
    p.values.forEach((v, i) => store.set(b * row + i, v));
  });
  return tensorOf(spec.type, store, [parts.length, ...perExample]);
}

/**
 * Token inputs right-padded with zeros to `length` under a batch axis, in element type `type`
 * (the what-if and masked-LM runs pad their own batches with it).
 */
export function padTensor(type: string, parts: InputTensor[], length: number, name: string): ort.Tensor {
  return batchTensor(
    { name, type, shape: null },
    parts.map((p, i) => ({ index: i, origin: name, tensors: new Map([[name, p]]) })),
    length,
  );
}
