/**
 * The graph as one flat list of top-level nodes, so that attention inside ONNX local functions
 * and `If` branches can be found with the same walk as top-level attention and exposed as a
 * graph output (ONNX Runtime returns graph outputs only, never a value inside a function body
 * or a subgraph). Function calls are inlined, their values renamed under the call's name; an
 * `If` is replaced by the branch chosen for it, whose outputs become the If's outputs through
 * Identity nodes, or by both branches at once (`--branches all`); a `Loop` of a fixed number of
 * iterations that holds attention is unrolled (`loopUnroll.ts`).
 */
import type { onnx } from 'onnx-proto';
import { unrollLoop } from './loopUnroll';

/** Which branch of an `If` a value is computed in. */
export interface BranchStep {
  /** The If node's name (its first output where it has none). */
  node: string;
  branch: 'then' | 'else';
  /** The If's condition tensor. */
  condition: string;
}

/** One node of the flat graph. */
export interface FlatNode {
  node: onnx.INodeProto;
  /** Index in the file's top-level node list of the node it is, or the call or If it came from. */
  origin: number;
  /** Whether it is that top-level node unchanged (then a rewrite copies its bytes). */
  original: boolean;
  /** The If branches it sits in, outermost first; empty at the top level. */
  branch: BranchStep[];
}

/** What to do with an If: run one branch, both (each branch's values apart), or keep the If. */
export type BranchChoice = (step: Omit<BranchStep, 'branch'>) => 'then' | 'else' | 'both' | undefined;

export interface FlatGraph {
  nodes: FlatNode[];
  /** Initializers of inlined branches, hoisted to the top level. */
  initializers: onnx.ITensorProto[];
  /** Value infos of inlined branches (shapes the finder may read). */
  valueInfo: onnx.IValueInfoProto[];
  /** Whether anything was inlined (else `nodes` are the file's nodes, in order). */
  changed: boolean;
}

const isDefault = (domain: string | null | undefined) => !domain || domain === 'ai.onnx';
/** Functions inside functions inside …: a bound, since a hostile file may make a function call itself. */
const maxDepth = 16;

export function ifKey(node: onnx.INodeProto): string {
  return node.name || node.output?.[0] || 'If';
}

function subgraph(node: onnx.INodeProto, name: string): onnx.IGraphProto | undefined {
  return node.attribute?.find((a) => a.name === name)?.g ?? undefined;
}

function hasSubgraphs(node: onnx.INodeProto): boolean {
  return node.attribute?.some((a) => a.g || (a.graphs?.length ?? 0) > 0) ?? false;
}

/** Flattens `graph` (the model's main graph), inlining `model.functions` and the Ifs `choose` decides. */
export function flattenGraph(model: onnx.IModelProto, graph: onnx.IGraphProto, choose: BranchChoice): FlatGraph {
  const functions = new Map((model.functions ?? []).map((f) => [`${f.domain ?? ''}:${f.name ?? ''}`, f]));
  const out: FlatGraph = { nodes: [], initializers: [], valueInfo: [], changed: false };
  // What a Loop's trip count and condition may be: initializers and Constant nodes of the main graph.
  const constants = new Map<string, onnx.ITensorProto>((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  for (const n of graph.node ?? []) {
    const value = n.opType === 'Constant' ? n.attribute?.find((a) => a.name === 'value')?.t : undefined;
    if (value && n.output?.[0]) constants.set(n.output[0], value);
  }
  const opset = Number(model.opsetImport?.find((o) => isDefault(o.domain))?.version ?? 0);

  const visit = (node: onnx.INodeProto, origin: number, original: boolean, branch: BranchStep[], depth: number): void => {
    const fn = functions.get(`${node.domain ?? ''}:${node.opType ?? ''}`);
    if (fn && !isDefault(node.domain) && depth < maxDepth && !(fn.node ?? []).some(hasSubgraphs)) {
      out.changed = true;
      for (const inner of inlineCall(node, fn)) visit(inner, origin, false, branch, depth + 1);
      return;
    }
    const unrolled =
      node.opType === 'Loop' && isDefault(node.domain) && depth < maxDepth
        ? unrollLoop(node, (t) => constants.get(t), renameNode, opset)
        : undefined;
    if (unrolled) {
      out.changed = true;
      out.initializers.push(...unrolled.initializers);
      for (const inner of unrolled.nodes) visit(inner, origin, false, branch, depth + 1);
      return;
    }
    const decision =
      node.opType === 'If' && isDefault(node.domain) && depth < maxDepth
        ? choose({ node: ifKey(node), condition: node.input?.[0] ?? '' })
        : undefined;
    if (!decision) {
      out.nodes.push({ node, origin, original, branch });
      return;
    }
    out.changed = true;
    const step = { node: ifKey(node), condition: node.input?.[0] ?? '' };
    const taken: ('then' | 'else')[] = decision === 'both' ? ['then', 'else'] : [decision];
    const producedByThen = new Set<string>();
    for (const side of taken) {
      const g = subgraph(node, `${side}_branch`);
      if (!g) continue;
      // With both branches inlined, an else-branch value named like a then-branch one is renamed.
      const rename = side === 'else' ? clashRenames(g, producedByThen, `${step.node}/else/`) : new Map<string, string>();
      const renamed = (t: string) => rename.get(t) ?? t;
      for (const init of g.initializer ?? []) out.initializers.push({ ...init, name: renamed(init.name ?? '') });
      for (const info of g.valueInfo ?? []) out.valueInfo.push({ ...info, name: renamed(info.name ?? '') });
      const path = [...branch, { ...step, branch: side }];
      for (const inner of g.node ?? []) {
        const copy = rename.size > 0 ? renameNode(inner, renamed) : inner;
        if (side === 'then') for (const o of copy.output ?? []) producedByThen.add(o);
        visit(copy, origin, false, path, depth + 1);
      }
      // The If's outputs come from the first branch taken (the other's are left for the attention alone).
      if (side === taken[0]) {
        (g.output ?? []).forEach((o, i) => {
          const target = node.output?.[i];
          if (target) {
            const identity = {
              opType: 'Identity',
              name: `${step.node}/${side}/output_${i}`,
              input: [renamed(o.name ?? '')],
              output: [target],
            };
            out.nodes.push({ node: identity, origin, original: false, branch: path });
          }
        });
      }
    }
  };
  (graph.node ?? []).forEach((node, i) => visit(node, i, true, [], 0));
  return out;
}

/** The body of local function `fn` for one call: formal names bound to the call's, the rest under the call's name. */
function inlineCall(call: onnx.INodeProto, fn: onnx.IFunctionProto): onnx.INodeProto[] {
  const prefix = `${call.name || call.output?.[0] || fn.name}/`;
  const bound = new Map<string, string>();
  (fn.input ?? []).forEach((formal, i) => bound.set(formal, call.input?.[i] ?? ''));
  (fn.output ?? []).forEach((formal, i) => bound.set(formal, call.output?.[i] || `${prefix}${formal}`));
  const rename = (t: string) => (t === '' ? '' : (bound.get(t) ?? `${prefix}${t}`));
  const callAttrs = new Map((call.attribute ?? []).map((a) => [a.name ?? '', a]));
  return (fn.node ?? []).map((node) => ({
    ...node,
    name: `${prefix}${node.name ?? ''}`,
    input: (node.input ?? []).map(rename),
    output: (node.output ?? []).map(rename),
    // An attribute that refers to the function's own attribute takes the call's value (or is
    // left out, leaving the op's default, where the call gives none).
    attribute: (node.attribute ?? []).flatMap((a) => {
      if (!a.refAttrName) return [a];
      const given = callAttrs.get(a.refAttrName);
      return given ? [{ ...given, name: a.name }] : [];
    }),
  }));
}

/** Values `g` computes (recursively) whose names are in `taken`: renamed under `prefix`. */
function clashRenames(g: onnx.IGraphProto, taken: Set<string>, prefix: string): Map<string, string> {
  const rename = new Map<string, string>();
  const collect = (graph: onnx.IGraphProto): void => {
    for (const init of graph.initializer ?? []) if (taken.has(init.name ?? '')) rename.set(init.name ?? '', prefix + init.name);
    for (const node of graph.node ?? []) {
      for (const o of node.output ?? []) if (o && taken.has(o)) rename.set(o, prefix + o);
      for (const a of node.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) collect(sub);
    }
  };
  collect(g);
  return rename;
}

export function renameNode(node: onnx.INodeProto, rename: (t: string) => string): onnx.INodeProto {
  const graphs = (g: onnx.IGraphProto): onnx.IGraphProto => ({
    ...g,
    node: (g.node ?? []).map((n) => renameNode(n, rename)),
    output: (g.output ?? []).map((o) => ({ ...o, name: rename(o.name ?? '') })),
  });
  return {
    ...node,
    input: (node.input ?? []).map(rename),
    output: (node.output ?? []).map(rename),
    attribute: node.attribute?.map((a) =>
      a.g || a.graphs?.length ? { ...a, g: a.g ? graphs(a.g) : a.g, graphs: a.graphs?.map(graphs) } : a,
    ),
  };
}

/**
 * Names a node reads, its subgraphs' reads of outer values included (a subgraph reads the
 * enclosing graph's values by name, without listing them as inputs of its node).
 */
export function readsOf(node: onnx.INodeProto): string[] {
  const reads = [...(node.input ?? [])];
  if (!hasSubgraphs(node)) return reads;
  const walk = (g: onnx.IGraphProto): void => {
    const local = new Set<string>([...(g.input ?? []).map((i) => i.name ?? ''), ...(g.initializer ?? []).map((i) => i.name ?? '')]);
    for (const n of g.node ?? []) for (const o of n.output ?? []) local.add(o);
    for (const n of g.node ?? []) {
      for (const i of n.input ?? []) if (i && !local.has(i)) reads.push(i);
      for (const a of n.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) walk(sub);
    }
    for (const o of g.output ?? []) if (o.name && !local.has(o.name)) reads.push(o.name);
  };
  for (const a of node.attribute ?? []) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) walk(sub);
  return reads;
}
