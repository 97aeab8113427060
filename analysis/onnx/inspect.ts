import { findAttention } from './attentionFinder';
import type { AttentionStack } from './attentionFinder';
import type { BranchSelection } from './branches';
import { conditionInputs } from './ifConditions';
import type { BranchChoice } from './graphFlatten';
import { decodeModel, elemTypeName, valueShape } from './model';
import type { OnnxGraph } from './model';
import { unfuseAttention } from './unfuse';

/** A graph input the model expects, as `inspect` reports it. */
export interface ModelInput {
  name: string;
  type: string;
  shape: (number | string)[] | null;
  /** The If whose branch this input decides (a merged decoder's `use_cache_branch`). */
  selectsBranch?: string;
}

/** What `inspect` prints with `--json`. */
export interface InspectResult {
  model: string;
  opset: number;
  stacks: {
    name: string;
    kind: AttentionStack['kind'];
    causal: boolean;
    /** Key/value heads of grouped-query attention (fewer than the query heads), where the graph tells. */
    kvHeads?: number;
    /** Where its layers are computed: `then` or `else` of the If node named. */
    branch?: { node: string; branch: 'then' | 'else'; condition: string }[];
    layers: { layer: number; tensor: string; heads: number | null; source: string }[];
  }[];
  inputs: ModelInput[];
  /** Fused attention ops rewritten into visible steps (`unfuse.ts`), as `domain.op ×count`. */
  unfused?: string[];
}

/** A model opened for attention work: the decoded graph and the attention it exposes. */
export interface AttentionModel {
  path: string;
  bytes: Uint8Array;
  graph: OnnxGraph;
  stacks: AttentionStack[];
  inputs: ModelInput[];
  /** The If branches this model was narrowed to (`selectBranches`), each with the input value that chose it. */
  branchSelections?: BranchSelection[];
  /** Fused attention ops rewritten into visible steps; `bytes` and `graph` are the rewrite. */
  unfused?: string[];
}

/** Every branch of every If: what `inspect` lists, and what `--branches all` runs. */
export const allBranches: BranchChoice = () => 'both';

/**
 * Decodes a model's bytes and finds its attention; `path` names it in messages and results.
 * Attention in If branches is found in every branch (`branches.ts` narrows it to the branch an
 * example selects).
 */
export function openAttentionModel(bytes: Uint8Array, path: string, choose: BranchChoice = allBranches): AttentionModel {
  return attentionModelOf(decodeModel(bytes, path, choose), bytes, path);
}

/**
 * Finds the attention of a decoded (and flattened) model (the model summary decodes first, to
 * describe what it can). Fused attention ops are first rewritten into the steps they compute.
 */
export function attentionModelOf(decoded: OnnxGraph, original: Uint8Array, path: string): AttentionModel {
  const unfused = unfuseAttention(decoded, original, path);
  const graph = unfused ? decodeModel(unfused.bytes, path) : decoded;
  const bytes = unfused ? unfused.bytes : original;
  const stacks = findAttention(graph, path);
  const inputs = declaredGraphInputs(graph);
  for (const c of conditionInputs(graph, stacks)) {
    const input = inputs.find((i) => i.name === c.input);
    if (input) input.selectsBranch = c.node;
  }
  return { path, bytes, graph, stacks, inputs, ...(unfused ? { unfused: unfused.ops } : {}) };
}

/** The graph inputs a caller feeds, with their element types and shapes as the file declares them. */
export function declaredGraphInputs(graph: OnnxGraph): ModelInput[] {
  const declared = new Map(graph.graph.input.map((i) => [i.name, i]));
  return graph.inputNames.map((name) => {
    const info = declared.get(name);
    return {
      name,
      type: elemTypeName(info?.type?.tensorType?.elemType),
      shape: (info && valueShape(info)) ?? null,
    };
  });
}

export function describeModel(m: AttentionModel): InspectResult {
  return {
    model: m.path,
    opset: m.graph.opset,
    stacks: m.stacks.map((s) => ({
      name: s.name,
      kind: s.kind,
      causal: s.causal === true,
      ...(s.kvHeads ? { kvHeads: s.kvHeads } : {}),
      ...(s.branch?.length ? { branch: s.branch } : {}),
      layers: s.layers.map((l, i) => ({ layer: i, tensor: l.tensor, heads: l.heads, source: l.source })),
    })),
    inputs: m.inputs,
    ...(m.unfused ? { unfused: m.unfused } : {}),
  };
}
