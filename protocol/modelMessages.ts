/**
 * The model summary (analysis/app/model.ts `summarizeModel`, worded by the host) as the
 * `.onnx` editor and the panel show it, and the messages of the `.onnx` editor's own small
 * page. Types only, like messages.ts.
 */
import type { ReadyMessage } from './messages';

/** Why the tool cannot analyze a model (analysis/app/model.ts `ModelProblemKind`). */
export type ModelProblemKind = 'unreadable' | 'fusedAttention' | 'noAttention' | 'externalData';

/** A model file as far as the tool can read it. File names and tensor names are untrusted text. */
export interface ModelSummaryPayload {
  path: string;
  /** The file name. */
  name: string;
  bytes: number;
  opset: number | null;
  producer: string | null;
  inputs: { name: string; type: string; shape: (number | string)[] | null }[];
  stacks: { name: string; kind: 'self' | 'cross'; layers: number; heads: (number | null)[] }[];
  dims: { hidden: number | null; ffn: number | null; vocab: number | null; maxPositions: number | null } | null;
  /** Null when the model can be analyzed. */
  problem: {
    kind: ModelProblemKind;
    /** A few words: "Attention is fused into one op". */
    title: string;
    /** The tool's whole message. */
    message: string;
    /** What to do next, one sentence each. */
    hints: string[];
  } | null;
}

/** The summary to show (host → `.onnx` editor, and host → panel after "Inspect in panel"). */
export interface ModelSummaryMessage {
  type: 'modelSummary';
  summary: ModelSummaryPayload | null;
}

/** A button of the model summary: analyze the model, show it in the panel, or show the log. */
export interface ModelActionMessage {
  type: 'modelAction';
  action: 'analyze' | 'inspectInPanel' | 'showLog';
}

export type ToModelEditor = ModelSummaryMessage;
export type FromModelEditor = ReadyMessage | ModelActionMessage;
