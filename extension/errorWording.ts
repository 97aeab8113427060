/**
 * How the extension words an error about a service option (InputError.field): as the
 * setting that sets it, or as the label the panel and the commands give it. The CLI words
 * the same fields as flags (analysis/cli/args.ts `flagOf`). Every message the extension shows
 * or logs goes through `userMessage`.
 */
import { describeError } from '../analysis/errors';

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
