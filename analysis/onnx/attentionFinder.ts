import type { onnx } from 'onnx-proto';
import { InputError } from '../errors';
import type { StackKind } from '../runtime/types';
import { assembledLayers } from './assembledAttention';
import type { SoftmaxPart } from './assembledAttention';
import { CausalMaskReader } from './causalMask';
import { dataflow, meets } from './dataflow';
import type { BranchStep } from './graphFlatten';
import { keyHeads, queryHeads } from './heads';
import { holdsSoftmax } from './loopUnroll';
import { valueShape } from './model';
import type { OnnxGraph } from './model';

/** One layer's attention-probability tensor, as found in the graph. */
export interface AttentionLayer {
  /** Tensor to expose as a graph output; [batch, heads, queries, keys] (or [batch·heads, queries, keys]) at run time. */
  tensor: string;
  /** Name of the Softmax node (or the graph output) it was found at. */
  source: string;
  /** Query heads, where the graph tells (a fixed dim or a constant reshape); null otherwise. */
  heads: number | null;
  /** Graph inputs whose values (not only shapes) reach the query side and the key side. */
  queryInputs: string[];
  keyInputs: string[];
  /** Whether its mask is causal (see causalMask.ts); absent for attentions exported as outputs. */
  causal?: boolean;
  /** Key/value heads where grouped-query attention shares them among query heads; null otherwise. */
  kvHeads?: number | null;
  /** Graph inputs the mask the scores meet depends on (e.g. attention_mask). */
  maskInputs?: string[];
  /** The If branches it is computed in, outermost first (absent or empty: the top level). */
  branch?: BranchStep[];
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
  /** Causal self-attention (a decoder): each query sees the keys up to its own position. */
  causal?: boolean;
  /** Key/value heads of grouped-query attention (fewer than the query heads), where the graph tells. */
  kvHeads?: number;
  /** The If branch its layers are computed in, when not at the top level. */
  branch?: BranchStep[];
}

/** Contrib and standard ops that compute attention internally and never expose probabilities. */
const fusedOps = new Set([
  'Attention',
  'MultiHeadAttention',
  'GroupQueryAttention',
  'PackedAttention',
  'PackedMultiHeadAttention',
  'DecoderMaskedMultiHeadAttention',
  'DecoderMaskedSelfAttention',
  'DecoderAttention',
  'LongformerAttention',
  'SparseAttention',
  'QAttention',
  'PagedAttention',
  'RelativePositionBias',
]);
const matMulOps = new Set(['MatMul', 'Einsum', 'FusedMatMul', 'MatMulInteger']);
/** Ops between the query-key product and the Softmax: scale, bias, mask, soft-capping, casts and reshapes. */
const scoreOps = new Set([
  ...['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Clip', 'Tanh'],
  ...['Where', 'Cast', 'Identity', 'Reshape', 'Squeeze', 'Unsqueeze', 'Expand'],
]);
/** Ops between the Softmax and the value product. */
const probOps = new Set(['Reshape', 'Cast', 'Identity', 'Dropout', 'Where', 'Squeeze', 'Unsqueeze', 'Mul', 'Transpose']);
/** Ops that assemble a reuse layer's heads from Softmax outputs (walked back from its value product). */
const shapeOnlyOps = new Set(['Reshape', 'Identity', 'Squeeze', 'Unsqueeze']);
const searchDepth = 8;

/**
 * Finds every attention-probability tensor: a Softmax whose input comes from a query-key
 * MatMul of two activations and whose output feeds a value MatMul with another activation.
 * Fused attention ops left in the graph (`unfuse.ts` rewrites the common ones first) are
 * refused with a message that says how to export the model instead.
 */
export function findAttention(g: OnnxGraph, label: string): AttentionStack[] {
  refuseFusedAttention(g, label);
  const flow = dataflow(g);
  const masks = new CausalMaskReader(g);
  const found: (AttentionLayer & { kind: StackKind; at: number })[] = [];
  // Every Softmax of a query-key product (attention or not yet known) and the value products claimed.
  const softmaxes = new Map<string, SoftmaxPart>();
  const claimed = new Set<onnx.INodeProto>();
  // Attention multiplies two activations (queries by keys), then the probabilities by a
  // third (values); a feature softmax over x·W, or one that feeds a weight, is not attention.
  const isActivation = (t: string | undefined) => !!t && flow.inputs(t).length > 0;
  g.nodes.forEach((node, at) => {
    if (node.opType !== 'Softmax' || (node.domain && node.domain !== 'ai.onnx')) return;
    const scores = node.input?.[0];
    const probs = node.output?.[0];
    if (!scores || !probs) return;
    const qk = searchBack(g, scores);
    if (!qk || !isActivation(qk.input?.[0]) || !isActivation(qk.input?.[1])) return;
    const [q, k] = [qk.input![0], qk.input![1]];
    // Self-attention projects its queries and keys from one hidden state (keys may add a past
    // cache); cross-attention's keys come from another. Shapes do not count (dataflow.ts).
    const kind: StackKind = meets(flow.sources(q), flow.sources(k)) ? 'self' : 'cross';
    const causal = kind === 'self' && masks.isCausal(qk.output?.[0] ?? '', scores);
    const maskInputs = masks.operandInputs(qk.output?.[0] ?? '', scores, flow);
    const part: SoftmaxPart = { node, queryInputs: flow.inputs(q), keyInputs: flow.inputs(k), kind, causal, maskInputs };
    softmaxes.set(probs, part);
    const product = valueProduct(g, probs, isActivation);
    if (!product) return;
    claimed.add(product);
    const tensor = followShapeOps(g, probs);
    const heads = queryHeads(g, flow, tensor, qk);
    found.push({
      tensor,
      source: node.name || probs,
      heads,
      queryInputs: part.queryInputs,
      keyInputs: part.keyInputs,
      causal,
      kvHeads: keyHeads(g, flow, qk, heads),
      maskInputs,
      branch: g.branchOf.get(node) ?? [],
      kind,
      at,
    });
  });
  found.push(...assembledLayers(g, softmaxes, claimed, isActivation));
  found.sort((a, b) => a.at - b.at);
  if (found.length === 0) {
    const exposed = exposedAttentionOutputs(g);
    if (exposed.length > 0) return [{ name: 'encoder', kind: 'self', causal: false, layers: exposed }];
    const hidden = g.nodes.find((n) => (n.attribute ?? []).some((a) => [a.g, ...(a.graphs ?? [])].some((sub) => sub && holdsSoftmax(sub))));
    if (hidden) {
      const why =
        hidden.opType === 'Loop'
          ? ', which runs a number of times only known at run time (or may stop early), so it cannot be unrolled'
          : '';
      throw new InputError(
        `${label} computes its Softmax inside ${hidden.opType} "${hidden.name || hidden.output?.[0]}"${why}; ONNX Runtime cannot output a value from inside it`,
      );
    }
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

/** Fused attention ops of the graph, as `domain.op ×count` (empty when it has none). */
export function fusedAttentionOps(g: OnnxGraph): string[] {
  const counts = new Map<string, number>();
  for (const node of g.nodes) {
    const domain = node.domain || 'ai.onnx';
    const fused = (domain === 'com.microsoft' && fusedOps.has(node.opType ?? '')) || (domain === 'ai.onnx' && node.opType === 'Attention');
    if (fused) {
      const key = `${domain}.${node.opType}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts].map(([op, n]) => `${op} ×${n}`);
}

/** How to get a model whose attention is visible, for every refusal of fused attention. */
export const fusionAdvice =
  'export the model without attention fusion (e.g. torch.onnx.export with the eager attention implementation, ' +
  'attn_implementation="eager", and without onnxruntime\'s transformer optimizer or optimum\'s --optimize)';

/** Fused ops left after `unfuse.ts` rewrote the ones it can (PackedAttention, LongformerAttention, …). */
function refuseFusedAttention(g: OnnxGraph, label: string): void {
  const ops = fusedAttentionOps(g);
  if (ops.length === 0) return;
  throw new InputError(
    `${label} uses fused attention (${ops.join(', ')}), which computes the attention probabilities inside one op and never ` +
      'exposes them, and which this tool does not rewrite into visible steps (it rewrites com.microsoft Attention, ' +
      `MultiHeadAttention and GroupQueryAttention and the ONNX Attention op); ${fusionAdvice}`,
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

/** Masks reach every later layer through the residual stream, so they say nothing of a stack. */
const isMaskName = (n: string) => /mask/i.test(n);

/** The stack-name suffix of a layer inside If branches: `@then`, `@else`, `@then.else` when nested. */
export function branchSuffix(branch: BranchStep[] | undefined): string {
  return branch && branch.length > 0 ? `@${branch.map((b) => b.branch).join('.')}` : '';
}

/**
 * Splits layers into stacks: cross-attention is `cross`, causal self-attention `decoder`, and
 * the rest `encoder`. Cross-attention keys depend on the encoder's inputs, which tell a
 * non-causal decoder self-attention (its queries also depend on inputs of their own) from the
 * encoder's; two encoders of different inputs (text and image) are `encoder:INPUTS` each.
 * Layers inside If branches go into stacks named with the branch (`decoder@then`).
 */
function groupStacks(found: (AttentionLayer & { kind: StackKind })[]): AttentionStack[] {
  const encoderInputs = new Set(found.filter((f) => f.kind === 'cross').flatMap((f) => f.keyInputs));
  const groups = new Map<string, AttentionStack>();
  for (const { kind, ...layer } of found) {
    const tokens = layer.queryInputs.filter((n) => !isMaskName(n) && !(layer.maskInputs ?? []).includes(n));
    const own = tokens.filter((n) => !encoderInputs.has(n));
    let name: string;
    if (kind === 'cross') name = 'cross';
    else if (layer.causal) name = 'decoder';
    else if (encoderInputs.size > 0) name = own.length > 0 ? 'decoder' : 'encoder';
    else name = `encoder:${tokens.join(',')}`;
    name += branchSuffix(layer.branch);
    const stack = groups.get(name);
    if (stack) {
      stack.layers.push(layer);
      // A stack is causal when every layer is: the similarity treats its rows alike.
      stack.causal = stack.causal === true && layer.causal === true;
    } else {
      groups.set(name, {
        name,
        kind,
        causal: layer.causal === true,
        layers: [layer],
        ...(layer.branch?.length ? { branch: layer.branch } : {}),
      });
    }
  }
  const stacks = [...groups.values()];
  for (const s of stacks) {
    const kv = s.layers.find((l) => l.kvHeads)?.kvHeads;
    if (kv) s.kvHeads = kv;
  }
  // One self-attention stack of its inputs (per branch) is plainly "encoder".
  for (const s of stacks) {
    const [base, suffix = ''] = s.name.split(/(?=@)/);
    if (!base.startsWith('encoder:')) continue;
    const alike = stacks.filter(
      (o) => o.name.startsWith('encoder:') && o.name.endsWith(suffix) && (suffix !== '' || !o.name.includes('@')),
    );
    if (alike.length === 1) s.name = `encoder${suffix}`;
  }
  return stacks;
}
