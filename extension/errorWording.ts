/**
 * How the extension words an error about a service option (InputError.field): as the
 * setting that sets it, or as the label the panel and the commands give it. The CLI words
 * the same fields as flags (analysis/cli/args.ts `flagOf`). Every message the extension shows
 * or logs goes through `userMessage`.
 */
import type { ModelProblemKind } from '../analysis/app/model';
import { describeError, InputError } from '../analysis/errors';

/** Service options that a setting of package.json sets, by option name → setting key. */
export const settingOfField: Readonly<Record<string, string>> = {
  batch: 'attentionReuse.batchSize',
  examples: 'attentionReuse.examples',
  ep: 'attentionReuse.executionProvider',
  python: 'attentionReuse.pythonPath',
  launcher: 'attentionReuse.training.launcher',
  nproc: 'attentionReuse.training.processes',
  steps: 'attentionReuse.training.steps',
};

/** The rest as the UI and the command arguments name them. */
const labelOfField: Readonly<Record<string, string>> = {
  P: 'P (reuse layers)',
  K: 'K (reuse heads)',
  mode: 'the mode',
  stack: 'the stack argument',
  headMap: 'a head map',
  seqLen: 'the sequence length',
  targetFlops: 'the FLOPs target',
  excludeSinks: 'excludeSinks: true',
  // Commands that write files take `overwrite: true` where the CLI takes --force.
  force: 'overwrite: true',
  // Analyze Attention's choice of examples; the CLI's --inputs.
  inputs: 'a JSONL of model inputs',
  branches: 'branches: "all"',
};

export function wordField(field: string): string {
  const setting = settingOfField[field];
  if (setting !== undefined) return `the ${setting} setting`;
  return labelOfField[field] ?? field;
}

/** One line for a notification or the log. */
export function userMessage(err: unknown): string {
  return describeError(err, wordField);
}

/** The whole message, every line of it, for the panel (a notification cuts it short). */
export function fullMessage(err: unknown): string {
  const text = err instanceof InputError ? err.worded(wordField) : err instanceof Error ? err.message : String(err);
  return text.trim() || 'unknown error';
}

/** A model the tool cannot analyze, in a few words and with what to do about it. */
export const modelProblemWords: Readonly<Record<ModelProblemKind, { title: string; hints: string[] }>> = {
  unreadable: {
    title: 'Not a readable ONNX model',
    hints: [
      'Check that the file is a complete ONNX export: a download or copy that was cut short cannot be read.',
      'A model in another format (PyTorch .pt, SafeTensors, TensorFlow) must be exported to ONNX first, e.g. with torch.onnx.export.',
    ],
  },
  fusedAttention: {
    title: 'Attention is fused into one op',
    hints: [
      'Export the model again without attention fusion: torch.onnx.export with the eager attention implementation (attn_implementation="eager").',
      "Skip onnxruntime's transformer optimizer and optimum's --optimize for the model you analyze; you can still optimize the one you deploy.",
    ],
  },
  noAttention: {
    title: 'No attention found',
    hints: [
      'The tool looks for a Softmax fed by a query-key MatMul of two activations that feeds a value MatMul; a model without attention, or one that computes it another way, cannot be analyzed.',
      'If the model can return its attentions (output_attentions=True), export it with them as graph outputs.',
    ],
  },
  externalData: {
    title: 'Weights kept beside the model cannot be read',
    hints: ['Keep the .onnx file and the external data files it names together in one folder, as the exporter wrote them.'],
  },
};

export const showLogHint = '"Show Log" opens the Attention Reuse log with every step of the run.';

/** What to do after a failed analysis, one sentence each: the setting to change, then the log. */
export function failureHints(err: unknown): string[] {
  const hints: string[] = [];
  const setting = err instanceof InputError && err.field !== undefined ? settingOfField[err.field] : undefined;
  if (setting) hints.push(`Change the ${setting} setting (Settings › Extensions › Attention Reuse) and analyze again.`);
  else if (err instanceof InputError) hints.push('Fix the file the message names, or pick other inputs, and analyze again.');
  else hints.push('This looks like a bug in Attention Reuse: the log has the details; please report it with the model’s inspect output.');
  hints.push(showLogHint);
  return hints;
}
