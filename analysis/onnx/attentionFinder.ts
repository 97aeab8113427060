import type { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import type { StackKind } from '../runtime/types';
import { constantInts, intsAttr, valueShape } from './model';
import type { OnnxGraph } from './model';

/** One layer's attention-probability tensor, as found in the graph. */
export interface AttentionLayer {
  /** Tensor to expose as a graph output; [batch, heads, queries, keys] at run time. */
  tensor: string;
  /** Name of the Softmax node (or the graph output) it was found at. */
  source: string;
  /** Heads, where the graph tells (a fixed dim or a constant reshape); null otherwise. */
  heads: number | null;
  /** Graph inputs the query side and the key side depend on. */
  queryInputs: string[];
  keyInputs: string[];
  /**
   * A reuse layer (a trained reuse model, a what-if rewrite): its [batch, heads, q, k]
   * probabilities are assembled (Slice/Gather/Concat over the head axis) from these Softmax
   * outputs, its own and earlier layers'; `tensor` is what its value product reads and
   * `source` names that MatMul.
   */
  assembledFrom?: string[];
}

/** Layers of one attention stack, in layer order. */
export interface AttentionStack {
  name: string;
  kind: StackKind;
  layers: AttentionLayer[];
}

/** Contrib and standard ops that compute attention internally and never expose probabilities. */
const fusedOps = new Set([
  'Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'PackedAttention', 'PackedMultiHeadAttention',
  'DecoderMaskedMultiHeadAttention', 'DecoderMaskedSelfAttention', 'DecoderAttention', 'LongformerAttention',
  'SparseAttention', 'QAttention', 'PagedAttention', 'RelativePositionBias',
]);
const matMulOps = new Set(['MatMul', 'Einsum', 'FusedMatMul', 'MatMulInteger']);
/** Ops between the query-key product and the Softmax: scale, bias, mask, soft-capping, casts and reshapes. */
const scoreOps = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Where', 'Cast', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Max', 'Min',
  'Clip', 'Tanh', 'Expand',
]);
/** Ops between the Softmax and the value product. */
const probOps = new Set(['Reshape', 'Cast', 'Identity', 'Dropout', 'Where', 'Squeeze', 'Unsqueeze', 'Mul', 'Transpose']);
/** Ops that assemble a reuse layer's heads from Softmax outputs (walked back from its value product). */
const assemblyOps = new Set(['Concat', 'Slice', 'Gather', 'Split', 'Unsqueeze', 'Squeeze', 'Identity', 'Reshape', 'Cast', 'Dropout']);
const shapeOnlyOps = new Set(['Reshape', 'Identity', 'Squeeze', 'Unsqueeze']);
const searchDepth = 8;

/**
 * Finds every attention-probability tensor: a Softmax whose input comes from a query-key
 * MatMul of two activations and whose output feeds a value MatMul with another activation. Fused attention ops are refused with a
 * message that says how to export the model instead, because they hide the probabilities.
 */
export function findAttention(g: OnnxGraph, label: string): AttentionStack[] {
  refuseFusedAttention(g, label);
  const deps = inputDependencies(g);
  const found: (AttentionLayer & { kind: StackKind; at: number })[] = [];
  // Every Softmax of a query-key product (attention or not yet known) and the value products claimed.
  const softmaxes = new Map<string, { node: onnx.INodeProto; queryInputs: string[]; keyInputs: string[] }>();
  const claimed = new Set<onnx.INodeProto>();
  // Attention multiplies two activations (queries by keys), then the probabilities by a
  // third (values); a feature softmax over x·W, or one that feeds a weight, is not attention.
  const isActivation = (t: string | undefined) => !!t && (deps.get(t) ?? 0n) !== 0n;
  g.graph.node.forEach((node, at) => {
    if (node.opType !== 'Softmax' || (node.domain && node.domain !== 'ai.onnx')) return;
    const scores = node.input?.[0];
    const probs = node.output?.[0];
    if (!scores || !probs) return;
    const qk = searchBack(g, scores);
    if (!qk || !isActivation(qk.input?.[0]) || !isActivation(qk.input?.[1])) return;
    const queryInputs = namesOf(g, deps.get(qk.input?.[0] ?? '') ?? 0n);
    const keyInputs = namesOf(g, deps.get(qk.input?.[1] ?? '') ?? 0n);
    softmaxes.set(probs, { node, queryInputs, keyInputs });
    const product = valueProduct(g, probs, isActivation);
    if (!product) return;
    claimed.add(product);
    const tensor = followShapeOps(g, probs);
    const kind: StackKind = sameSet(queryInputs, keyInputs) ? 'self' : 'cross';
    found.push({ tensor, source: node.name || probs, heads: headsOf(g, tensor, qk), queryInputs, keyInputs, kind, at });
  });
  found.push(...assembledLayers(g, softmaxes, claimed, isActivation));
  found.sort((a, b) => a.at - b.at);
  if (found.length === 0) {
    const exposed = exposedAttentionOutputs(g);
    if (exposed.length > 0) return [{ name: 'encoder', kind: 'self', layers: exposed }];
    throw new InputError(
      `${label} has no visible attention: no Softmax is fed by a query-key MatMul of two activations and feeds a value MatMul, ` +
        'and no graph output holds attentions',
    );
  }
  const stacks = groupStacks(found.map(({ at: _at, ...layer }) => layer));
  for (const stack of stacks) {
    // An assembled layer's head count is rarely in the graph; a reuse model's layers all have the stack's.
    const known = new Set(stack.layers.filter((l) => !l.assembledFrom && l.heads !== null).map((l) => l.heads));
    if (known.size === 1) for (const l of stack.layers) if (l.assembledFrom && l.heads === null) l.heads = [...known][0];
  }
  return stacks;
}

/**
 * Reuse layers: a value MatMul that no Softmax claimed, whose probabilities are assembled
 * (through `assemblyOps`) from Softmax outputs of query-key products only. Each is one layer
 * with all its heads, in the order its value product reads them.
 */
function assembledLayers(
  g: OnnxGraph,
  softmaxes: Map<string, { node: onnx.INodeProto; queryInputs: string[]; keyInputs: string[] }>,
  claimed: Set<onnx.INodeProto>,
  isActivation: (t: string | undefined) => boolean,
): (AttentionLayer & { kind: StackKind; at: number })[] {
  const out: (AttentionLayer & { kind: StackKind; at: number })[] = [];
  if (softmaxes.size === 0) return out;
  g.graph.node.forEach((node, at) => {
    const [probs, values] = node.input ?? [];
    if (node.opType !== 'MatMul' || claimed.has(node) || !probs || !isActivation(values) || !isActivation(probs)) return;
    const leaves = new Set<string>();
    const pending = [probs];
    for (let seen = 0; pending.length > 0; seen++) {
      const t = pending.pop()!;
      if (softmaxes.has(t)) {
        leaves.add(t);
        continue;
      }
      const producer = g.producer.get(t);
      if (!producer || !assemblyOps.has(producer.opType ?? '') || seen > 256) return;
      const data = producer.opType === 'Concat' ? (producer.input ?? []) : [producer.input?.[0] ?? ''];
      for (const x of data) if (x && !g.constants.has(x)) pending.push(x);
    }
    if (leaves.size === 0) return;
    const parts = [...leaves].map((t) => softmaxes.get(t)!);
    const union = (key: 'queryInputs' | 'keyInputs') => g.inputNames.filter((n) => parts.some((p) => p[key].includes(n)));
    const queryInputs = union('queryInputs');
    const keyInputs = union('keyInputs');
    const info = [...g.graph.valueInfo, ...g.graph.output].find((v) => v.name === probs);
    const shape = info ? valueShape(info) : undefined;
    out.push({
      tensor: probs,
      source: node.name || probs,
      heads: shape?.length === 4 && typeof shape[1] === 'number' ? shape[1] : null,
      queryInputs,
      keyInputs,
      assembledFrom: parts.map((p) => p.node.name || p.node.output?.[0] || ''),
      kind: sameSet(queryInputs, keyInputs) ? 'self' : 'cross',
      at,
    });
  });
  return out;
}

/** Fused attention ops of the graph, as `domain.op ×count` (empty when it has none). */
export function fusedAttentionOps(g: OnnxGraph): string[] {
  const counts = new Map<string, number>();
  for (const node of g.graph.node) {
    const domain = node.domain || 'ai.onnx';
    const fused = (domain === 'com.microsoft' && fusedOps.has(node.opType ?? '')) || (domain === 'ai.onnx' && node.opType === 'Attention');
    if (fused) {
      const key = `${domain}.${node.opType}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts].map(([op, n]) => `${op} ×${n}`);
}

function refuseFusedAttention(g: OnnxGraph, label: string): void {
  const ops = fusedAttentionOps(g);
  if (ops.length === 0) return;
  throw new InputError(
    `${label} uses fused attention (${ops.join(', ')}), which computes the attention probabilities inside one op and never ` +
      'exposes them; export the model without attention fusion (e.g. torch.onnx.export with the eager attention ' +
      'implementation, attn_implementation="eager", and without onnxruntime\'s transformer optimizer or optimum\'s --optimize)',
  );
}

/** Breadth-first search back from the scores through score ops to the query-key product. */
function searchBack(g: OnnxGraph, start: string): onnx.INodeProto | undefined {
  let frontier = [start];
  for (let depth = 0; depth < searchDepth && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const t of frontier) {
      const node = g.producer.get(t);
      if (!node) continue;
      if (matMulOps.has(node.opType ?? '')) return node;
      if (!scoreOps.has(node.opType ?? '')) continue;
      for (const inp of node.input ?? []) if (inp && !g.constants.has(inp)) next.push(inp);
    }
    frontier = next;
  }
  return undefined;
}

/** The MatMul that multiplies the probabilities by another activation (the values), through probability ops. */
function valueProduct(g: OnnxGraph, start: string, isActivation: (t: string) => boolean): onnx.INodeProto | undefined {
  let frontier = [start];
  for (let depth = 0; depth < searchDepth && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const t of frontier) {
      for (const node of g.consumers.get(t) ?? []) {
        if (matMulOps.has(node.opType ?? '') && (node.input ?? []).some((x) => x !== t && isActivation(x))) return node;
        if (probOps.has(node.opType ?? '') && node.output?.[0]) next.push(node.output[0]);
      }
    }
    frontier = next;
  }
  return undefined;
}

/** Softmax on a 2-D reshape is followed by a Reshape back; expose the tensor after it. */
function followShapeOps(g: OnnxGraph, tensor: string): string {
  let cur = tensor;
  for (let i = 0; i < searchDepth; i++) {
    const users = g.consumers.get(cur) ?? [];
    if (users.length !== 1 || !shapeOnlyOps.has(users[0].opType ?? '') || !users[0].output?.[0]) break;
    cur = users[0].output[0];
  }
  return cur;
}

/** For each tensor, the bitmask of graph inputs it depends on (nodes are topologically sorted). */
function inputDependencies(g: OnnxGraph): Map<string, bigint> {
  const deps = new Map<string, bigint>();
  g.inputNames.forEach((name, i) => deps.set(name, 1n << BigInt(i)));
  for (const node of g.graph.node) {
    let mask = 0n;
    for (const inp of node.input ?? []) mask |= deps.get(inp) ?? 0n;
    for (const out of node.output ?? []) deps.set(out, mask);
  }
  return deps;
}

function namesOf(g: OnnxGraph, mask: bigint): string[] {
  return g.inputNames.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Heads from a fixed dim 1 of the tensor, else from the constant Reshape that splits Q into heads. */
function headsOf(g: OnnxGraph, tensor: string, qk: onnx.INodeProto): number | null {
  const info = [...g.graph.valueInfo, ...g.graph.output].find((v) => v.name === tensor);
  const shape = info ? valueShape(info) : undefined;
  if (shape && shape.length === 4 && typeof shape[1] === 'number') return shape[1];
  let t = qk.input?.[0];
  for (let i = 0; t && i < searchDepth; i++) {
    const node = g.producer.get(t);
    if (!node) break;
    if (node.opType === 'Transpose') {
      const perm = intsAttr(node, 'perm');
      const reshape = g.producer.get(node.input?.[0] ?? '');
      if (perm && perm[1] === 2 && reshape?.opType === 'Reshape') {
        const dims = shapeValues(g, reshape.input?.[1] ?? '');
        const heads = dims?.[2];
        return heads !== undefined && heads > 0 ? heads : null;
      }
      break;
    }
    if (!['Mul', 'Div', 'Cast', 'Identity', 'Add', 'MatMul'].includes(node.opType ?? '')) break;
    t = node.input?.find((x) => x && !g.constants.has(x));
    // Queries projected straight from a [batch, seq, hidden] input were never split into heads.
    const input = g.graph.input.find((i) => i.name === t);
    if (input) return valueShape(input)?.length === 3 ? 1 : null;
  }
  return null;
}

/** Values of a shape vector where fixed: a constant, or a Concat of constants and dynamic dims (-1). */
function shapeValues(g: OnnxGraph, name: string): number[] | undefined {
  const c = g.constants.get(name);
  if (c) return constantInts(c);
  const node = g.producer.get(name);
  if (node?.opType !== 'Concat') return undefined;
  const out: number[] = [];
  for (const part of node.input ?? []) {
    let src = part;
    const un = g.producer.get(part);
    if (un?.opType === 'Unsqueeze') src = un.input?.[0] ?? '';
    const v = g.constants.get(src);
    const ints = v ? constantInts(v) : undefined;
    out.push(...(ints ?? [-1]));
  }
  return out;
}

/** Attentions already exported as graph outputs (e.g. `output_attentions=True`), in name order. */
function exposedAttentionOutputs(g: OnnxGraph): AttentionLayer[] {
  const layerOf = (n: string) => Number(/(\d+)(?!.*\d)/.exec(n)?.[1] ?? 0);
  return g.graph.output
    .filter((o) => /attention/i.test(o.name ?? '') && (valueShape(o)?.length ?? 4) === 4)
    .sort((a, b) => layerOf(a.name ?? '') - layerOf(b.name ?? ''))
    .map((o) => {
      const shape = valueShape(o);
      return {
        tensor: o.name ?? '',
        source: o.name ?? '',
        heads: shape && typeof shape[1] === 'number' ? shape[1] : null,
        queryInputs: g.inputNames,
        keyInputs: g.inputNames,
      };
    });
}

/**
 * Splits layers into stacks. Cross-attention keys depend only on the encoder's inputs, so
 * those inputs tell a decoder's self-attention (its queries also depend on inputs of
 * their own) from the encoder's (its queries depend on encoder inputs alone).
 */
function groupStacks(found: (AttentionLayer & { kind: StackKind })[]): AttentionStack[] {
  const encoderInputs = new Set(found.filter((f) => f.kind === 'cross').flatMap((f) => f.keyInputs));
  const groups = new Map<string, AttentionStack>();
  for (const { kind, ...layer } of found) {
    // Masks reach every later layer through the residual stream, so they say nothing of the stack.
    const tokens = layer.queryInputs.filter((n) => !/mask/i.test(n));
    const own = tokens.filter((n) => !encoderInputs.has(n));
    let name: string;
    if (kind === 'cross') name = 'cross';
    else if (encoderInputs.size > 0) name = own.length > 0 ? 'decoder' : 'encoder';
    else name = `encoder:${tokens.join(',')}`;
    const stack = groups.get(name);
    if (stack) stack.layers.push(layer);
    else groups.set(name, { name, kind, layers: [layer] });
  }
  const stacks = [...groups.values()];
  // A model with one self-attention stack and no cross-attention calls it plainly "encoder".
  if (stacks.length === 1 && stacks[0].name.startsWith('encoder:')) stacks[0].name = 'encoder';
  return stacks;
}
