/**
 * The what-if rewrite: a model in which every reuse head uses the probabilities its source
 * head computes in the same forward pass, exact heads and everything else untouched, and
 * a skip layer's attention block removed with its residual path kept.
 *
 * Where the anatomy is the standard pattern, a reuse layer's query and key weights are sliced
 * to its computed heads and the scores run for those heads only (the model really does less
 * work). Elsewhere the layer computes all its heads as before and the probabilities are
 * substituted. Either way the layer's probability tensor keeps its name and its H heads:
 * the Softmax output is renamed and a Slice/Concat assembles the heads under the old name,
 * so the probabilities·V product, graph outputs and the finder all read the same tensor.
 */
import type { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import { isReuse, layerRoles } from '../planner/headMap';
import type { HeadMap } from '../planner/headMap';
import type { LinearPart } from './anatomyParts';
import type { AttentionPart, ModelAnatomy } from './anatomyTypes';
import { applyGraphEdit, emptyEdit } from './graphEdit';
import type { GraphEdit } from './graphEdit';
import { elemSize, nodeLabel, rawBytes } from './graphValues';
import type { TensorRef } from './graphValues';
import { intAttr } from './model';
import type { OnnxGraph } from './model';

export type LayerMethod = 'unchanged' | 'sliced' | 'substituted' | 'removed';

export interface LayerRewrite {
  layer: number;
  kind: 'exact' | 'reuse' | 'skip';
  method: LayerMethod;
  reuseHeads: number;
  /** Why a reuse layer's probabilities were substituted instead of its weights sliced. */
  why?: string;
  /** The tensor holding the layer's H heads of probabilities in the rewritten model. */
  probs: string;
}

export interface ReuseRewrite {
  bytes: Uint8Array;
  layers: LayerRewrite[];
  /** Every reuse layer sliced and every skip layer removed: the rewritten model does the reuse model's work. */
  doesLessWork: boolean;
  /** Float parameter elements the rewrite removed (rank ≥ 1 initializers and Constant values). */
  parametersRemoved: number;
}

/** Suffix of the renamed Softmax output whose heads the assembly slices. */
const computedSuffix = '::computed';

/**
 * Rewrites a model for a head map of its anatomy's stack (checked by the config reader).
 * `external` holds the bytes of query/key tensors stored as external data, so they can be sliced.
 */
export function rewriteForReuse(
  g: OnnxGraph,
  bytes: Uint8Array,
  anatomy: ModelAnatomy,
  heads: HeadMap,
  external = new Map<string, Uint8Array>(),
): ReuseRewrite {
  const valuesOf = (name: string) => external.get(name) ?? rawBytes(g.constants.get(name)!);
  const byLabel = new Map(g.graph.node.map((n) => [nodeLabel(n), n]));
  const node = (label: string) => {
    const n = byLabel.get(label);
    if (!n) throw new Error(`no node ${label}`);
    return n;
  };
  const edit = emptyEdit();
  const names = new Names(g);
  const outputs = new Set(g.graph.output.map((o) => o.name));
  const roles = layerRoles(heads);
  const layers: LayerRewrite[] = [];
  let lessWork = true;

  heads.forEach((row, l) => {
    const layer = anatomy.layers[l];
    const attention = layer.attention;
    const probs = attention?.exposed ?? '';
    const role = roles[l];
    if (role.kind === 'exact') {
      layers.push({ layer: l, kind: 'exact', method: 'unchanged', reuseHeads: 0, probs });
      return;
    }
    if (role.kind === 'skip') {
      const add = layer.attentionResidual;
      if (!add)
        throw new InputError(
          `layer ${l} cannot be skipped: its attention's residual add was not traced (${whyMissing(anatomy, l, 'attentionResidual')})`,
        );
      edit.replace.set(node(add.node), { name: add.node, opType: 'Identity', input: [add.residual], output: [add.output] });
      const exposedOut = attention && outputs.has(probs);
      if (exposedOut) lessWork = false;
      layers.push({
        layer: l,
        kind: 'skip',
        method: 'removed',
        reuseHeads: 0,
        probs,
        ...(exposedOut ? { why: 'its attention is a graph output, so it is still computed' } : {}),
      });
      return;
    }
    if (!attention) throw new InputError(`layer ${l} cannot reuse attention: ${whyMissing(anatomy, l, 'attention')}`);
    const computed = row.map((e, h) => (e === 'exact' ? h : -1)).filter((h) => h >= 0);
    const why = sliceObstacle(g, attention, row.length, valuesOf);
    const local = `${probs}${computedSuffix}`;
    // The node that produced the layer's probabilities now writes them under another name.
    const producer = g.producer.get(probs)!;
    const renamed = { ...(edit.replace.get(producer) ?? producer), output: (producer.output ?? []).map((o) => (o === probs ? local : o)) };
    edit.replace.set(producer, renamed);
    if (why === undefined && computed.length > 0) sliceQueryKey(attention, computed, edit, names, node, valuesOf);
    if (why !== undefined) lessWork = false;
    const sources = row.map((e, h) => {
      if (isReuse(e)) return { tensor: exposedOf(anatomy, e.reuse.layer), index: e.reuse.head };
      return { tensor: local, index: why === undefined ? computed.indexOf(h) : h };
    });
    const heads = new Map([[local, why === undefined ? computed.length : row.length]]);
    assemble(sources, heads, row.length, probs, edit, names);
    layers.push({
      layer: l,
      kind: 'reuse',
      method: why === undefined ? 'sliced' : 'substituted',
      reuseHeads: role.reuseHeads,
      probs,
      ...(why === undefined ? {} : { why }),
    });
  });
  const edited = applyGraphEdit(g, bytes, edit);
  return { bytes: edited.bytes, layers, doesLessWork: lessWork, parametersRemoved: edited.parameters.before - edited.parameters.after };
}

function exposedOf(anatomy: ModelAnatomy, layer: number): string {
  const a = anatomy.layers[layer].attention;
  if (!a) throw new InputError(`layer ${layer}'s attention cannot be reused: ${whyMissing(anatomy, layer, 'attention')}`);
  return a.exposed;
}

function whyMissing(anatomy: ModelAnatomy, layer: number, part: string): string {
  return (
    anatomy.missing.find((m) => m.layer === layer && m.part.startsWith(part))?.why ??
    anatomy.missing.find((m) => m.layer === layer)?.why ??
    'not traced'
  );
}

/** Why a layer's query/key weights cannot be sliced to its computed heads, or undefined if they can. */
function sliceObstacle(g: OnnxGraph, a: AttentionPart, H: number, valuesOf: (name: string) => Uint8Array | undefined): string | undefined {
  if (!a.query || !a.key || !a.querySplit || !a.keySplit) return 'its query/key projections or head split were not traced';
  if (a.softmaxOnReshape) return 'its Softmax runs on a reshape of the scores';
  if (a.mask?.perHead) return 'its mask may differ per head (a bias from a weight table)';
  for (const split of [a.querySplit, a.keySplit]) {
    if (split.heads !== H || split.headDim === null)
      return `its head split ${split.reshape} does not read ${H} heads from a constant shape`;
    if (split.allowZero) return `its head split ${split.reshape} has allowzero = 1`;
  }
  for (const lin of [a.query, a.key]) {
    for (const t of [lin.weight, lin.bias]) {
      if (t && !valuesOf(t.name))
        return `${t.name} ${t.storage === 'external' ? 'is stored as external data that was not read' : 'has an element type this tool cannot slice'}`;
    }
    if (lin.outFeatures !== H * a.querySplit.headDim!) return `${lin.node} has ${lin.outFeatures} outputs for ${H} heads`;
  }
  const softmax = g.graph.node.find((n) => nodeLabel(n) === a.softmax);
  const axis = softmax ? intAttr(softmax, 'axis', g.opset >= 13 ? -1 : 1) : 0;
  if (axis !== -1 && axis !== 3) return 'its Softmax is not over the last axis';
  return undefined;
}

/** Unique tensor names for what the rewrite adds, and one int64 constant per value. */
class Names {
  private readonly used: Set<string>;
  private readonly ints = new Map<string, string>();
  constructor(private readonly g: OnnxGraph) {
    this.used = new Set([...g.producer.keys(), ...g.constants.keys(), ...g.inputNames]);
  }
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
  int64(values: number[], edit: GraphEdit): string {
    const key = values.join(',');
    let name = this.ints.get(key);
    if (!name) {
      name = this.fresh(`reuse::i64[${key}]`);
      this.ints.set(key, name);
      const raw = new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
      edit.initializers.push({ name, dataType: 7, dims: [values.length], rawData: raw });
    }
    return name;
  }
  get opset(): number {
    return this.g.opset;
  }
}

/** Slices the query and key projections and their head splits to the computed heads. */
function sliceQueryKey(
  a: AttentionPart,
  computed: number[],
  edit: GraphEdit,
  names: Names,
  node: (label: string) => onnx.INodeProto,
  valuesOf: (name: string) => Uint8Array | undefined,
): void {
  const dh = a.querySplit!.headDim!;
  for (const [lin, split] of [
    [a.query!, a.querySplit!],
    [a.key!, a.keySplit!],
  ] as const) {
    const weightName = names.fresh(`${lin.weight.name}::heads`);
    edit.initializers.push(sliceWeight(lin, computed, dh, weightName, valuesOf(lin.weight.name)!));
    rewire(edit, node(lin.transpose ?? lin.node), lin.weight.read, weightName);
    if (lin.bias) {
      const biasName = names.fresh(`${lin.bias.name}::heads`);
      edit.initializers.push(sliceRows(lin.bias, valuesOf(lin.bias.name)!, computed, dh, biasName));
      rewire(edit, node(lin.biasNode ?? lin.node), lin.bias.read, biasName);
    }
    rewire(edit, node(split.reshape), split.shape, names.int64([0, 0, computed.length, dh], edit));
    // The tensors on the query/key path now hold fewer heads: their recorded shapes no longer hold.
    for (const label of [lin.node, lin.biasNode, split.reshape, split.transpose, a.scores, a.scale?.node, a.mask?.node, a.softmax]) {
      if (label) for (const out of node(label).output ?? []) edit.dropValueInfo.add(out);
    }
  }
}

/** Replaces one input name of a node (keeping edits already made to it). */
function rewire(edit: GraphEdit, original: onnx.INodeProto, from: string, to: string): void {
  const current = edit.replace.get(original) ?? original;
  edit.replace.set(original, { ...current, input: (current.input ?? []).map((x) => (x === from ? to : x)) });
}

/** A weight's columns (in-out) or rows (out-in) of the computed heads, as a new initializer. */
function sliceWeight(lin: LinearPart, computed: number[], dh: number, name: string, raw: Uint8Array): onnx.ITensorProto {
  const [r, c] = lin.weight.dims;
  if (lin.orientation === 'out-in') return sliceRows(lin.weight, raw, computed, dh, name);
  const size = elemSize(lin.weight.elemType)!;
  const out = new Uint8Array(r * computed.length * dh * size);
  let at = 0;
  for (let row = 0; row < r; row++) {
    for (const h of computed) {
      const start = (row * c + h * dh) * size;
      out.set(raw.subarray(start, start + dh * size), at);
      at += dh * size;
    }
  }
  return { name, dataType: lin.weight.elemType, dims: [r, computed.length * dh], rawData: out };
}

/** The blocks of `dh` leading-axis rows of the computed heads (a bias, or an [out, in] weight). */
function sliceRows(ref: TensorRef, raw: Uint8Array, computed: number[], dh: number, name: string): onnx.ITensorProto {
  const rowBytes = (ref.dims.length > 1 ? ref.dims[1] : 1) * elemSize(ref.elemType)!;
  const out = new Uint8Array(computed.length * dh * rowBytes);
  computed.forEach((h, i) => out.set(raw.subarray(h * dh * rowBytes, (h + 1) * dh * rowBytes), i * dh * rowBytes));
  return { name, dataType: ref.elemType, dims: [computed.length * dh, ...ref.dims.slice(1)], rawData: out };
}

/**
 * Slice/Concat nodes that write `target` as [batch, H, q, k] from each head's source;
 * `heads` gives a source's head count where it is not H, so a run over all of it needs no Slice.
 */
function assemble(
  sources: { tensor: string; index: number }[],
  heads: Map<string, number>,
  H: number,
  target: string,
  edit: GraphEdit,
  names: Names,
): void {
  const runs: { tensor: string; start: number; end: number }[] = [];
  for (const s of sources) {
    const last = runs[runs.length - 1];
    if (last && last.tensor === s.tensor && last.end === s.index) last.end++;
    else runs.push({ tensor: s.tensor, start: s.index, end: s.index + 1 });
  }
  const whole = (run: (typeof runs)[number]) => run.start === 0 && run.end === (heads.get(run.tensor) ?? H);
  // All heads of one earlier layer, in order (full reuse): the same tensor under the layer's name.
  if (runs.length === 1 && whole(runs[0])) {
    edit.add.push({ name: `reuse/${target}/Identity`, opType: 'Identity', input: [runs[0].tensor], output: [target] });
    return;
  }
  const pieces = runs.map((run, i) => {
    if (runs.length > 1 && whole(run)) return run.tensor;
    const out = runs.length === 1 ? target : names.fresh(`${target}::heads${i}`);
    const name = `reuse/${target}/Slice_${i}`;
    const slice: onnx.INodeProto =
      names.opset >= 10
        ? {
            name,
            opType: 'Slice',
            input: [run.tensor, names.int64([run.start], edit), names.int64([run.end], edit), names.int64([1], edit)],
            output: [out],
          }
        : {
            name,
            opType: 'Slice',
            input: [run.tensor],
            output: [out],
            attribute: [ints('starts', [run.start]), ints('ends', [run.end]), ints('axes', [1])],
          };
    edit.add.push(slice);
    return out;
  });
  if (runs.length > 1)
    edit.add.push({
      name: `reuse/${target}/Concat`,
      opType: 'Concat',
      input: pieces,
      output: [target],
      attribute: [{ name: 'axis', type: 2, i: 1 }],
    });
}

function ints(name: string, values: number[]): onnx.IAttributeProto {
  return { name, type: 7, ints: values };
}
