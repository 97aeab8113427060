import { describeError, InputError } from '../errors';
import { fusedAttentionOps } from '../onnx/attentionFinder';
import { modelDims } from '../onnx/dims';
import type { ModelDims } from '../onnx/dims';
import { allBranches, attentionModelOf, declaredGraphInputs, describeModel } from '../onnx/inspect';
import type { InspectResult, ModelInput } from '../onnx/inspect';
import { decodeModel } from '../onnx/model';
import type { OnnxGraph } from '../onnx/model';
import { tokenInputOf } from './examples';
import { checkExternalData, readModel } from './readers';
import { readBytes } from './storage';

/** The attention tensors a model file exposes, grouped into stacks, and the inputs it expects. */
export async function inspectModel(path: string): Promise<InspectResult> {
  return describeModel(await readModel(path));
}

/**
 * Why a model cannot be analyzed: not ONNX at all, attention fused into one op, no attention
 * the finder recognises, or weights kept beside it that cannot be read.
 */
export type ModelProblemKind = 'unreadable' | 'fusedAttention' | 'noAttention' | 'externalData';

/** What a model file is, as far as the tool can read it: `inspect` and what stops an analysis. */
export interface ModelSummary {
  model: string;
  bytes: number;
  /** Null when the file is not a readable ONNX model. */
  opset: number | null;
  /** The exporter that wrote it (`producer_name producer_version`), where the file says. */
  producer: string | null;
  inputs: ModelInput[];
  /** The encoder's token-id input, which text examples are tokenized into; null when there is none. */
  tokenInput: string | null;
  stacks: InspectResult['stacks'];
  dims: ModelDims | null;
  /** Null when the model can be analyzed. */
  problem: { kind: ModelProblemKind; message: string } | null;
}

/**
 * Reads a model as far as it can be read and says what stops an analysis, instead of
 * throwing at the first obstacle: a front end checks the model with it before asking for
 * inputs, and shows what it found either way. A file that cannot be read at all (missing,
 * unreadable, too large) is still an InputError.
 */
export async function summarizeModel(path: string, signal?: AbortSignal): Promise<ModelSummary> {
  const bytes = await readBytes(path, 'model', { signal });
  const unread = unreadModel(path, bytes.byteLength, null);
  let graph: OnnxGraph;
  try {
    // Every If branch, as inspect lists them.
    graph = decodeModel(bytes, path, allBranches);
  } catch (err) {
    return { ...unread, problem: problemOf('unreadable', err) };
  }
  const inputs = declaredGraphInputs(graph);
  const tokenInput = tokenInputOf(inputs);
  const producer = [graph.model.producerName, graph.model.producerVersion].filter(Boolean).join(' ') || null;
  const known: ModelSummary = {
    ...unread,
    opset: graph.opset,
    producer,
    inputs,
    tokenInput: tokenInput ?? null,
    dims: modelDims(graph, tokenInput),
  };
  let model;
  try {
    model = attentionModelOf(graph, bytes, path);
  } catch (err) {
    return { ...known, problem: problemOf(fusedAttentionOps(graph).length > 0 ? 'fusedAttention' : 'noAttention', err) };
  }
  const stacks = describeModel(model).stacks;
  try {
    await checkExternalData(model);
  } catch (err) {
    return { ...known, stacks, problem: problemOf('externalData', err) };
  }
  return { ...known, stacks };
}

/** The summary of a model nothing could be read from but its size (`problem` says why, if it is known). */
export function unreadModel(path: string, bytes: number, problem: ModelSummary['problem']): ModelSummary {
  return { model: path, bytes, opset: null, producer: null, inputs: [], tokenInput: null, stacks: [], dims: null, problem };
}

function problemOf(kind: ModelProblemKind, err: unknown): ModelSummary['problem'] {
  // Anything but a refusal of the file is a bug, and is not dressed up as a property of the model.
  if (!(err instanceof InputError)) throw err;
  return { kind, message: describeError(err) };
}
