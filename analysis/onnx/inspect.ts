import { readFile } from 'node:fs/promises';
import { InputError } from '../errors';
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

export async function openAttentionModel(path: string): Promise<AttentionModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError(`cannot read model ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const graph = decodeModel(bytes, path);
  const stacks = findAttention(graph, path);
  const declared = new Map(graph.graph.input.map((i) => [i.name, i]));
  const inputs = graph.inputNames.map((name) => {
    const info = declared.get(name);
    return {
      name,
      type: elemTypeName(info?.type?.tensorType?.elemType),
      shape: (info && valueShape(info)) ?? null,
    };
  });
  return { path, bytes, graph, stacks, inputs };
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

export async function inspectModelFile(path: string): Promise<InspectResult> {
  return describeModel(await openAttentionModel(path));
}
