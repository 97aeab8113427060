/**
 * A `Loop` whose body holds attention, unrolled into plain nodes so that each iteration's
 * probabilities are a value of the main graph (ONNX Runtime cannot output a value inside a loop
 * body): one iteration is one layer, as when a model applies one shared layer several times.
 * Only loops that always run a fixed number of times are unrolled: a constant trip count, no
 * condition (or a constant true one) and a body that passes its condition through unchanged.
 */
import type { onnx } from 'onnx-proto';
import { constantInts } from './constantValues';

/** Iterations unrolled at most: beyond, the loop stays as it is (and its attention unexposed). */
const maxIterations = 256;

export interface Unrolled {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
}

/** Whether a subgraph (or one inside it) has a Softmax. */
export function holdsSoftmax(g: onnx.IGraphProto): boolean {
  return (g.node ?? []).some(
    (n) => n.opType === 'Softmax' || (n.attribute ?? []).some((a) => [a.g, ...(a.graphs ?? [])].some((sub) => sub && holdsSoftmax(sub))),
  );
}

/** Whether a tensor is one boolean true. */
function isTrue(t: onnx.ITensorProto | undefined): boolean {
  if (!t) return false;
  const raw = t.rawData;
  return (raw && raw.length === 1 && raw[0] === 1) || (t.int32Data?.length === 1 && t.int32Data[0] === 1);
}

/** The body's condition output is its condition input (directly, through Identity, or a constant true). */
function passesCondition(body: onnx.IGraphProto): boolean {
  const condIn = body.input?.[1]?.name;
  let out = body.output?.[0]?.name;
  for (let i = 0; i < 4 && out !== condIn; i++) {
    const producer = (body.node ?? []).find((n) => n.output?.includes(out ?? ''));
    if (producer?.opType === 'Constant') return isTrue(producer.attribute?.find((a) => a.name === 'value')?.t ?? undefined);
    if (producer?.opType !== 'Identity') return false;
    out = producer.input?.[0];
  }
  return out === condIn;
}

/**
 * The nodes of `loop` unrolled, or undefined where it holds no attention or may not run a fixed
 * number of times. `constant` looks up top-level constants; `rename` applies a name map to a node
 * (its subgraphs' reads included); `opset` decides how Unsqueeze takes its axes.
 */
export function unrollLoop(
  loop: onnx.INodeProto,
  constant: (name: string) => onnx.ITensorProto | undefined,
  rename: (node: onnx.INodeProto, map: (t: string) => string) => onnx.INodeProto,
  opset: number,
): Unrolled | undefined {
  const body = loop.attribute?.find((a) => a.name === 'body')?.g;
  if (!body || !holdsSoftmax(body)) return undefined;
  const [tripName, condName, ...initial] = loop.input ?? [];
  const trip = tripName ? constantInts(constant(tripName) ?? {}) : undefined;
  const iterations = trip?.length === 1 ? trip[0] : -1;
  if (iterations < 1 || iterations > maxIterations || (condName && !isTrue(constant(condName))) || !passesCondition(body)) return undefined;
  const inputs = (body.input ?? []).map((i) => i.name ?? '');
  const outputs = (body.output ?? []).map((o) => o.name ?? '');
  const carried = initial.length;
  const name = loop.name || loop.output?.[0] || 'Loop';
  const made = new Set<string>([...(body.node ?? []).flatMap((n) => n.output ?? []), ...(body.initializer ?? []).map((t) => t.name ?? '')]);
  // Body initializers are the same in every iteration: hoisted once.
  const initializers = (body.initializer ?? []).map((t) => ({ ...t, name: `${name}/${t.name}` }));
  const hoisted = new Map(initializers.map((t, i) => [body.initializer![i].name ?? '', t.name]));
  const nodes: onnx.INodeProto[] = [];
  const scans: string[][] = outputs.slice(1 + carried).map(() => []);
  let state = initial;
  for (let i = 0; i < iterations; i++) {
    const prefix = `${name}/${i}/`;
    const iteration = `${prefix}${inputs[0] || 'iteration'}`;
    const cond = `${prefix}${inputs[1] || 'cond'}`;
    nodes.push(
      {
        opType: 'Constant',
        name: iteration,
        output: [iteration],
        attribute: [{ name: 'value', type: 4, t: { dataType: 7, int64Data: [i] } }],
      },
      { opType: 'Constant', name: cond, output: [cond], attribute: [{ name: 'value', type: 4, t: { dataType: 9, int32Data: [1] } }] },
    );
    const bound = new Map<string, string>([
      [inputs[0], iteration],
      [inputs[1], cond],
      ...state.map((v, j): [string, string] => [inputs[2 + j], v]),
    ]);
    const map = (t: string) => (t === '' ? '' : (bound.get(t) ?? hoisted.get(t) ?? (made.has(t) ? prefix + t : t)));
    for (const node of body.node ?? []) nodes.push({ ...rename(node, map), name: `${prefix}${node.name ?? ''}` });
    state = outputs.slice(1, 1 + carried).map(map);
    outputs.slice(1 + carried).forEach((o, k) => scans[k].push(map(o)));
  }
  // The loop's outputs: the last carried values, and each scan output stacked on a new axis 0.
  state.forEach((v, j) => nodes.push({ opType: 'Identity', name: `${name}/out_${j}`, input: [v], output: [loop.output![j]] }));
  const axes = `${name}/axes0`;
  if (scans.length > 0 && opset >= 13) {
    nodes.push({
      opType: 'Constant',
      name: axes,
      output: [axes],
      attribute: [{ name: 'value', type: 4, t: { dataType: 7, dims: [1], int64Data: [0] } }],
    });
  }
  scans.forEach((values, k) => {
    const stacked = values.map((v, i) => {
      const out = `${name}/scan_${k}/${i}`;
      const axesArgs = opset >= 13 ? { input: [v, axes] } : { input: [v], attribute: [{ name: 'axes', type: 7, ints: [0] }] };
      nodes.push({ opType: 'Unsqueeze', name: out, output: [out], ...axesArgs });
      return out;
    });
    nodes.push({
      opType: 'Concat',
      name: `${name}/scan_${k}`,
      input: stacked,
      output: [loop.output![carried + k]],
      attribute: [{ name: 'axis', type: 2, i: 0 }],
    });
  });
  return { nodes, initializers };
}
