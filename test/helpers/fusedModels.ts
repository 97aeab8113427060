// One-node models of the fused attention ops, written with the project's protobuf tools, and
// random feeds for them: the rewrite is checked against ONNX Runtime's own kernels.
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

type Dim = number | string;
/** A graph input: its shape, and int32 / bool where not float. */
export interface Port {
  name: string;
  shape: Dim[];
  type?: 'float32' | 'int32' | 'bool';
}

const elem = { float32: 1, int32: 6, bool: 9 } as const;

export interface FusedCase {
  title: string;
  op: 'Attention' | 'MultiHeadAttention' | 'GroupQueryAttention' | 'Attention23';
  /** The node's inputs in order; '' leaves one out. */
  inputs: (Port | '')[];
  outputs: string[];
  attributes: Record<string, number | number[] | string>;
  /** Concrete sizes for each named dim. */
  sizes: Record<string, number>;
  /** Feeds that are not random (masks, lengths). */
  fixed?: Record<string, number[]>;
  /** Outputs compared only where true (padded rows ONNX Runtime fills differently), by output name. */
  compare?: Record<string, (index: number[]) => boolean>;
}

function attribute(name: string, v: number | number[] | string): onnx.IAttributeProto {
  if (typeof v === 'string') return { name, s: new TextEncoder().encode(v), type: 3 };
  if (Array.isArray(v)) return { name, ints: v, type: 7 };
  return Number.isInteger(v) && !['scale', 'softcap', 'mask_filter_value'].includes(name)
    ? { name, i: v, type: 2 }
    : { name, f: v, type: 1 };
}

export function fusedModel(c: FusedCase): Uint8Array {
  const ports = c.inputs.filter((p): p is Port => p !== '');
  const domain = c.op === 'Attention23' ? '' : 'com.microsoft';
  const node: onnx.INodeProto = {
    opType: c.op === 'Attention23' ? 'Attention' : c.op,
    domain,
    name: 'fused',
    input: c.inputs.map((p) => (p === '' ? '' : p.name)),
    output: c.outputs,
    attribute: Object.entries(c.attributes).map(([k, v]) => attribute(k, v)),
  };
  const dim = (d: Dim) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d });
  return onnx.ModelProto.encode({
    irVersion: 10,
    opsetImport: [
      { domain: '', version: c.op === 'Attention23' ? 23 : 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: c.title,
      node: [node],
      input: ports.map((p) => ({
        name: p.name,
        type: { tensorType: { elemType: elem[p.type ?? 'float32'], shape: { dim: p.shape.map(dim) } } },
      })),
      output: c.outputs.filter((o) => o).map((name) => ({ name, type: { tensorType: { elemType: 1 } } })),
    },
  }).finish();
}

export function fusedFeeds(c: FusedCase, seed = 1): Record<string, ort.Tensor> {
  const random = pseudoRandom(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const p of c.inputs) {
    if (p === '') continue;
    const dims = p.shape.map((d) => (typeof d === 'number' ? d : c.sizes[d]));
    const count = dims.reduce((a, b) => a * b, 1);
    const fixed = c.fixed?.[p.name];
    if (p.type === 'int32') feeds[p.name] = new ort.Tensor('int32', Int32Array.from(fixed ?? new Array(count).fill(1)), dims);
    else if (p.type === 'bool') feeds[p.name] = new ort.Tensor('bool', Uint8Array.from(fixed ?? new Array(count).fill(1)), dims);
    else feeds[p.name] = new ort.Tensor('float32', Float32Array.from(fixed ?? Array.from({ length: count }, () => random() * 2 - 1)), dims);
  }
  return feeds;
}

/** Runs model bytes once; graph optimizations off, so that ONNX Runtime cannot fuse the rewrite back. */
export async function runOnce(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', logSeverityLevel: 4 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
