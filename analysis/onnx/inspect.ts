import { findAttention } from './attentionFinder';
import type { AttentionStack } from './attentionFinder';
import { decodeModel, elemTypeName, valueShape } from './model';
import type { OnnxGraph } from './model';

/** A graph input the model expects, as `inspect` reports it. */
export interface ModelInput {
  name: string;
  type: string;
  shape: (number | string)[] | null;
}

/** What `inspect` prints with `--json`. */
export interface InspectResult {
  model: string;
  opset: number;
  stacks: {
    name: string;
    kind: AttentionStack['kind'];
    layers: { layer: number; tensor: string; heads: number | null; source: string }[];
  }[];
  inputs: ModelInput[];
}

/** A model opened for attention work: the decoded graph and the attention it exposes. */
export interface AttentionModel {
  path: string;
  bytes: Uint8Array;
  graph: OnnxGraph;
  stacks: AttentionStack[];
  inputs: ModelInput[];
}

/** Decodes a model's bytes and finds its attention; `path` names it in messages and results. */
export function openAttentionModel(bytes: Uint8Array, path: string): AttentionModel {
  return attentionModelOf(decodeModel(bytes, path), bytes, path);
}

/** Finds the attention of a decoded model (the model summary decodes first, to describe what it can). */
export function attentionModelOf(graph: OnnxGraph, bytes: Uint8Array, path: string): AttentionModel {
  const stacks = findAttention(graph, path);
  return { path, bytes, graph, stacks, inputs: declaredGraphInputs(graph) };
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
      layers: s.layers.map((l, i) => ({ layer: i, tensor: l.tensor, heads: l.heads, source: l.source })),
    })),
    inputs: m.inputs,
  };
}
