/**
 * Model anatomy: from each attention Softmax the finder located (never from tensor names),
 * the layer's query/key/value projections, head split, scores, scale, mask, probabilities·V,
 * head merge and output projection, and the stack around them: residual adds, LayerNorms,
 * the feed-forward block, the embeddings and the output head. The what-if rewrite slices
 * weights by it and the warm-start export reads weights by role from it; every part that
 * cannot be traced is named in `missing` with the reason, and its field is null.
 */
import type { onnx } from 'onnx-proto';
import type { AttentionLayer, AttentionStack } from './attentionFinder';
import { failed, peelScale, traceActivation, traceHeadSplit, traceLayerNorm, traceLinear } from './anatomyParts';
import type { LayerNormPart, LinearPart, Traced } from './anatomyParts';
import type {
  AttentionPart,
  EmbeddingPart,
  EmbeddingsPart,
  LayerAnatomy,
  MaskPart,
  Missing,
  ModelAnatomy,
  OutputHeadPart,
  ResidualPart,
  ScalePart,
} from './anatomyTypes';
import { indexSource } from './dims';
import { constantRef, nodeLabel } from './graphValues';
import { intsAttr } from './model';
import type { OnnxGraph } from './model';

/** Collects what could not be traced while tracing goes on. */
class Tracer {
  readonly missing: Missing[] = [];
  constructor(private layer?: number) {}
  at(layer: number | undefined): Tracer {
    const t = new Tracer(layer);
    (t as { missing: Missing[] }).missing = this.missing;
    return t;
  }
  need<T>(part: string, traced: Traced<T> | undefined, why = 'not found'): T | null {
    if (traced === undefined || failed(traced)) {
      this.missing.push({
        part,
        ...(this.layer === undefined ? {} : { layer: this.layer }),
        why: traced === undefined ? why : (traced as { why: string }).why,
      });
      return null;
    }
    return traced as T;
  }
}

const is = (node: onnx.INodeProto | undefined, op: string): node is onnx.INodeProto & { opType: string } => node?.opType === op;

/** Traces one stack (default: the first) of a model whose attention the finder located. */
export function traceAnatomy(g: OnnxGraph, stacks: AttentionStack[], stackName?: string): ModelAnatomy {
  const stack = stacks.find((s) => s.name === stackName) ?? stacks[0];
  const tracer = new Tracer();
  const layers = stack.layers.map((layer, l) => traceLayer(g, layer, l, tracer.at(l)));
  const embeddings = layers[0] ? traceEmbeddings(g, layers[0], tracer.at(undefined)) : null;
  const last = layers[layers.length - 1];
  const head = last?.output ? traceHead(g, last.output, embeddings, tracer.at(undefined)) : null;
  return { stack: stack.name, layers, embeddings, head, missing: tracer.missing };
}

function softmaxNode(g: OnnxGraph, layer: AttentionLayer): onnx.INodeProto | undefined {
  return g.graph.node.find((n) => n.opType === 'Softmax' && (n.name === layer.source || n.output?.[0] === layer.source));
}

function traceLayer(g: OnnxGraph, layer: AttentionLayer, index: number, t: Tracer): LayerAnatomy {
  const out: LayerAnatomy = {
    index,
    input: null,
    output: null,
    norm: null,
    attention: null,
    attentionResidual: null,
    attentionNorm: null,
    ffn: null,
    ffnResidual: null,
    ffnNorm: null,
  };
  const softmax = softmaxNode(g, layer);
  const why = layer.assembledFrom
    ? `its probabilities are assembled from ${layer.assembledFrom.join(', ')} (a reuse layer)`
    : `no Softmax node ${layer.source} (attention given as a graph output)`;
  out.attention = t.need('attention', softmax ? traceAttention(g, softmax, layer, t) : undefined, why);
  const attention = out.attention;
  if (!attention?.query || !attention.output) return out;
  out.input = attention.query.input;
  const update = attention.output.output;
  const add = residualAdd(g, update);
  out.attentionResidual = t.need('attentionResidual', add, `${update} is not added to a residual stream`);
  if (!add) return out;
  const preNorm = traceLayerNorm(g, out.input);
  let stream: string;
  if (add.residual === out.input) {
    out.norm = 'post';
    out.attentionNorm = t.need('attentionNorm', normAfter(g, add.output), `no LayerNorm reads ${add.output}`);
    if (!out.attentionNorm) return out;
    stream = out.attentionNorm.output;
  } else if (!failed(preNorm) && preNorm.input === add.residual) {
    out.norm = 'pre';
    out.attentionNorm = preNorm;
    stream = add.output;
  } else {
    t.need('attentionNorm', {
      why: `the residual ${add.residual} is neither the attention's input nor the input of a LayerNorm before it`,
    });
    return out;
  }
  let ffnIn = stream;
  if (out.norm === 'pre') {
    // Pre-LN: the norm before the feed-forward block reads the stream after the attention's add.
    out.ffnNorm = t.need('ffnNorm', normAfter(g, stream), `no LayerNorm reads ${stream}`);
    if (!out.ffnNorm) return out;
    ffnIn = out.ffnNorm.output;
  }
  const upTraced = linearFrom(g, ffnIn, true);
  const nextAttention = linearFrom(g, ffnIn) !== undefined && upTraced === undefined;
  const up = t.need(
    'ffn.up',
    upTraced,
    nextAttention
      ? `another attention block (cross-attention) reads ${ffnIn} before any feed-forward block`
      : `no linear layer reads ${ffnIn}`,
  );
  const down = up ? t.need('ffn.down', linearAfter(g, up.output), `no linear layer follows ${up.output}`) : null;
  if (!up || !down) return out;
  const activation = t.need('ffn.activation', traceActivation(g, up.output, down.input));
  out.ffn = { up, activation, down };
  const add2 = residualAdd(g, down.output);
  out.ffnResidual = t.need('ffnResidual', add2, `${down.output} is not added to a residual stream`);
  if (!add2) return out;
  if (out.norm === 'post') {
    out.ffnNorm = t.need('ffnNorm', normAfter(g, add2.output), `no LayerNorm reads ${add2.output}`);
    out.output = out.ffnNorm?.output ?? null;
  } else {
    out.output = add2.output;
  }
  return out;
}

/** Score ops between the query-key product and the Softmax, walked back. */
function traceAttention(g: OnnxGraph, softmax: onnx.INodeProto, layer: AttentionLayer, t: Tracer): Traced<AttentionPart> {
  let cur = softmax.input?.[0] ?? '';
  let softmaxOnReshape = false;
  let scale: ScalePart | null = null;
  let mask: MaskPart | null = null;
  let scores: onnx.INodeProto | undefined;
  for (let i = 0; i < 10 && !scores; i++) {
    const node = g.producer.get(cur);
    if (!node) break;
    if (node.opType === 'MatMul') scores = node;
    else if (node.opType === 'Reshape') {
      softmaxOnReshape = true;
      cur = node.input?.[0] ?? '';
    } else if (node.opType === 'Cast' || node.opType === 'Identity') cur = node.input?.[0] ?? '';
    else if (node.opType === 'Mul' || node.opType === 'Div') {
      const peeled = peelScale(g, cur);
      if (!peeled) return { why: `${nodeLabel(node)} scales the scores by a computed tensor` };
      scale = { node: peeled.node, factor: peeled.factor, at: 'scores' };
      cur = peeled.tensor;
    } else if (node.opType === 'Add' || node.opType === 'Where') {
      const inputs = (node.input ?? []).filter(Boolean);
      const onPath = inputs.find((x) => leadsToProduct(g, x));
      const other = node.opType === 'Where' ? inputs[0] : inputs.find((x) => x !== onPath);
      if (!onPath || !other) return { why: `${nodeLabel(node)} does not add a mask to the scores` };
      mask = { node: nodeLabel(node), input: other, perHead: readsWeightTable(g, other) };
      cur = onPath;
    } else return { why: `${nodeLabel(node)} (${node.opType}) sits between the scores and the Softmax` };
  }
  if (!scores) return { why: `no query-key MatMul before ${nodeLabel(softmax)}` };
  const [qIn, kIn] = scores.input ?? [];
  const qScale = peelScale(g, qIn);
  const kScale = peelScale(g, kIn);
  if (qScale) scale = { node: qScale.node, factor: qScale.factor, at: 'query' };
  if (kScale) scale = { node: kScale.node, factor: kScale.factor, at: 'key' };
  const querySplit = t.need('attention.querySplit', traceHeadSplit(g, qScale?.tensor ?? qIn, [[0, 2, 1, 3]]));
  let keySplit = traceHeadSplit(g, kScale?.tensor ?? kIn, [[0, 2, 3, 1]]);
  const swap = g.producer.get(kScale?.tensor ?? kIn);
  if (failed(keySplit) && is(swap, 'Transpose') && intsAttr(swap, 'perm')?.join() === '0,1,3,2')
    keySplit = traceHeadSplit(g, swap.input?.[0] ?? '', [[0, 2, 1, 3]]);
  const keySplitPart = t.need('attention.keySplit', keySplit);
  const query = querySplit ? t.need('attention.query', traceLinear(g, querySplit.projected)) : null;
  const key = keySplitPart ? t.need('attention.key', traceLinear(g, keySplitPart.projected)) : null;

  const context = valueProduct(g, softmax.output?.[0] ?? '');
  t.need('attention.context', context, `no probabilities·V MatMul reads ${softmax.output?.[0]}`);
  const valueSplit = context ? t.need('attention.valueSplit', traceHeadSplit(g, context.input?.[1] ?? '', [[0, 2, 1, 3]])) : null;
  const value = valueSplit ? t.need('attention.value', traceLinear(g, valueSplit.projected)) : null;
  const merged = context ? mergeHeads(g, context.output?.[0] ?? '') : undefined;
  const merge = t.need(
    'attention.merge',
    merged,
    `the heads of ${context ? nodeLabel(context) : 'the context'} are not merged by Transpose + Reshape`,
  );
  const projection = merged ? linearFrom(g, merged.output) : undefined;
  const output = merge ? t.need('attention.output', projection, `no linear layer reads ${merged?.output}`) : null;
  return {
    softmax: nodeLabel(softmax),
    probs: softmax.output?.[0] ?? '',
    exposed: layer.tensor,
    softmaxOnReshape,
    heads: querySplit?.heads ?? layer.heads,
    headDim: querySplit?.headDim ?? null,
    query,
    key,
    value,
    querySplit,
    keySplit: keySplitPart,
    valueSplit,
    scores: nodeLabel(scores),
    scale,
    mask,
    context: context ? nodeLabel(context) : null,
    merge: merge ? { transpose: merge.transpose, reshape: merge.reshape } : null,
    output,
  };
}

/** Whether a tensor comes from a MatMul through score ops (so it is the scores, not the mask). */
function leadsToProduct(g: OnnxGraph, tensor: string, depth = 0): boolean {
  const node = g.producer.get(tensor);
  if (!node || depth > 6) return false;
  if (node.opType === 'MatMul') return true;
  if (!['Mul', 'Div', 'Add', 'Cast', 'Reshape', 'Where', 'Identity'].includes(node.opType ?? '')) return false;
  return (node.input ?? []).some((x) => x && !constantRef(g, x) && leadsToProduct(g, x, depth + 1));
}

/**
 * Whether a mask may differ per head: it reads a weight table through a Gather (a relative-
 * position bias) or a constant with a head axis (ALiBi slopes, [1, H, n, n] biases). A causal
 * matrix ([n, n] or [1, 1, n, n]) and the padding mask are the same for every head.
 */
function readsWeightTable(g: OnnxGraph, tensor: string): boolean {
  const seen = new Set<string>();
  const pending = [tensor];
  while (pending.length > 0 && seen.size < 64) {
    const t = pending.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    const ref = constantRef(g, t);
    if (ref) {
      if (ref.dims.length >= 3 && ref.dims[ref.dims.length - 3] > 1) return true;
      continue;
    }
    const node = g.producer.get(t);
    if (node?.opType === 'Gather' && constantRef(g, node.input?.[0] ?? '')?.dims.length === 2) return true;
    for (const x of node?.input ?? []) if (x) pending.push(x);
  }
  return false;
}

const probPath = new Set(['Reshape', 'Cast', 'Identity', 'Dropout']);

function valueProduct(g: OnnxGraph, probs: string): onnx.INodeProto | undefined {
  let frontier = [probs];
  for (let depth = 0; depth < 4 && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const t of frontier) {
      for (const node of g.consumers.get(t) ?? []) {
        if (node.opType === 'MatMul' && node.input?.[0] === t) return node;
        if (probPath.has(node.opType ?? '') && node.output?.[0]) next.push(node.output[0]);
      }
    }
    frontier = next;
  }
  return undefined;
}

function mergeHeads(g: OnnxGraph, context: string): { transpose: string; reshape: string; output: string } | undefined {
  const transpose = (g.consumers.get(context) ?? []).find((n) => n.opType === 'Transpose' && intsAttr(n, 'perm')?.join() === '0,2,1,3');
  const reshape = transpose ? (g.consumers.get(transpose.output?.[0] ?? '') ?? []).find((n) => n.opType === 'Reshape') : undefined;
  if (!transpose || !reshape) return undefined;
  return { transpose: nodeLabel(transpose), reshape: nodeLabel(reshape), output: reshape.output?.[0] ?? '' };
}

/** The linear layer that reads `input`: a MatMul or Gemm with a fixed weight, with its bias Add if any. */
function linearFrom(g: OnnxGraph, input: string, notSplit = false): Traced<LinearPart> | undefined {
  for (const node of g.consumers.get(input) ?? []) {
    if ((node.opType !== 'MatMul' && node.opType !== 'Gemm') || node.input?.[0] !== input) continue;
    let out = node.output?.[0] ?? '';
    const next = g.consumers.get(out) ?? [];
    if (
      node.opType === 'MatMul' &&
      next.length === 1 &&
      next[0].opType === 'Add' &&
      next[0].input?.some((x) => x !== out && constantRef(g, x)?.dims.length === 1)
    ) {
      out = next[0].output?.[0] ?? out;
    }
    const traced = traceLinear(g, out);
    // With notSplit, a projection split into heads (another attention's query) is not the one sought.
    if (notSplit && (g.consumers.get(out) ?? []).some((n) => n.opType === 'Reshape')) continue;
    if (!failed(traced)) return traced;
  }
  return undefined;
}

/** The next linear layer downstream of `tensor` through elementwise activation ops. */
function linearAfter(g: OnnxGraph, tensor: string): Traced<LinearPart> | undefined {
  let frontier = [tensor];
  const seen = new Set<string>();
  for (let depth = 0; depth < 8 && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const t of frontier) {
      if (seen.has(t)) continue;
      seen.add(t);
      const found = linearFrom(g, t);
      if (found && t !== tensor) return found;
      for (const node of g.consumers.get(t) ?? []) {
        if (['Erf', 'Tanh', 'Relu', 'Gelu', 'Mul', 'Div', 'Add', 'Pow'].includes(node.opType ?? '') && node.output?.[0])
          next.push(node.output[0]);
      }
    }
    frontier = next;
  }
  return undefined;
}

/** The Add that adds `update` to a residual stream. */
function residualAdd(g: OnnxGraph, update: string): ResidualPart | undefined {
  const adds = (g.consumers.get(update) ?? []).filter((n) => n.opType === 'Add');
  for (const add of adds) {
    const residual = add.input?.find((x) => x !== update);
    if (residual && !constantRef(g, residual)) return { node: nodeLabel(add), residual, update, output: add.output?.[0] ?? '' };
  }
  return undefined;
}

/** The LayerNorm that reads `tensor` (the op, or the widest decomposition that starts there). */
function normAfter(g: OnnxGraph, tensor: string): LayerNormPart | undefined {
  let best: LayerNormPart | undefined;
  let frontier = [tensor];
  for (let depth = 0; depth < 9 && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const t of frontier) {
      for (const node of g.consumers.get(t) ?? []) {
        const out = node.output?.[0];
        if (!out) continue;
        const traced = traceLayerNorm(g, out);
        if (!failed(traced) && traced.input === tensor && (!best || traced.nodes.length > best.nodes.length)) best = traced;
        if (['ReduceMean', 'Sub', 'Pow', 'Add', 'Sqrt', 'Div', 'Mul'].includes(node.opType ?? '')) next.push(out);
      }
    }
    frontier = next;
  }
  return best;
}

function traceEmbeddings(g: OnnxGraph, first: LayerAnatomy, t: Tracer): EmbeddingsPart | null {
  // The stream entering layer 0: what its queries read (post-LN), or the residual it adds to (pre-LN).
  const entry = first.norm === 'pre' ? first.attentionResidual?.residual : first.input;
  if (!entry) {
    t.need('embeddings', undefined, 'the first layer was not traced');
    return null;
  }
  const norm = traceLayerNorm(g, entry);
  const sum = failed(norm) ? entry : norm.input;
  const gathers: EmbeddingPart[] = [];
  const pending = [sum];
  for (let i = 0; i < 16 && pending.length > 0; i++) {
    const node = g.producer.get(pending.pop()!);
    if (is(node, 'Add')) for (const x of node.input ?? []) if (x && !constantRef(g, x)) pending.push(x);
    // A lookup broadcast over the batch (positions from a Range) comes through an Unsqueeze or Expand.
    if (node && ['Unsqueeze', 'Expand', 'Reshape', 'Cast'].includes(node.opType ?? '') && node.input?.[0]) pending.push(node.input[0]);
    if (is(node, 'Gather')) {
      const table = constantRef(g, node.input?.[0] ?? '');
      if (table?.dims.length === 2) gathers.push({ gather: nodeLabel(node), table, indices: node.input?.[1] ?? '' });
    }
  }
  if (gathers.length === 0) {
    t.need('embeddings', undefined, `${sum} is not a sum of embedding lookups (Gather of a table)`);
    return null;
  }
  // The word table is the largest one looked up with a graph input; a small remaining table (≤ 16 rows) is the token-type one.
  const fromInput = (e: EmbeddingPart) => g.inputNames.includes(indexSource(g, e.indices));
  const word = gathers.filter(fromInput).sort((a, b) => b.table.dims[0] - a.table.dims[0])[0] ?? null;
  const rest = gathers.filter((e) => e !== word);
  const tokenType = rest.find((e) => e.table.dims[0] <= 16) ?? null;
  const position = rest.find((e) => e !== tokenType) ?? null;
  if (!word) t.need('embeddings.word', undefined, 'no embedding table is looked up with a graph input');
  return { word, position, tokenType, norm: failed(norm) ? null : norm, output: entry };
}

function traceHead(g: OnnxGraph, last: string, embeddings: EmbeddingsPart | null, t: Tracer): OutputHeadPart | null {
  const tiedTo = (l: LinearPart) =>
    embeddings?.word !== null && embeddings?.word !== undefined && l.weight.name === embeddings.word.table.name;
  const outputs = g.graph.output.map((o) => o.name ?? '');
  for (const output of outputs) {
    const decoder = traceLinear(g, output);
    if (failed(decoder)) continue;
    if (decoder.input === last) return { kind: 'linear', output, decoder, tied: tiedTo(decoder) };
    const norm = traceLayerNorm(g, decoder.input);
    const dense = linearFrom(g, last);
    if (failed(norm) || !dense || failed(dense)) continue;
    // The dense layer must reach the norm through an activation, or this output belongs to another stack.
    const activation = traceActivation(g, dense.output, norm.input);
    if (failed(activation)) continue;
    return { kind: 'mlm', output, dense, activation, norm, decoder, tied: tiedTo(decoder) };
  }
  const why = outputs.includes(last)
    ? `the model outputs the last layer's hidden state (${last}); it has no output head`
    : `no graph output is a linear layer (or dense + activation + LayerNorm + decoder) of ${last}`;
  t.need('head', undefined, why);
  return null;
}
