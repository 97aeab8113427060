import { InputError } from '../errors';
import type { BranchMode } from '../onnx/branches';
import type { ExampleSource } from '../runtime/exampleSource';
import { parseProviderChoice, providerChoices } from '../runtime/providers';
import type { ProviderChoice } from '../runtime/providers';
import { intFlag, stringFlag } from './args';
import type { OptionSpec, ParsedArgs } from './args';

/** Flags shared by every command that runs the model over examples. */
export const sourceOptions: OptionSpec = {
  inputs: { type: 'string' },
  text: { type: 'string' },
  tokenizer: { type: 'string' },
  'max-length': { type: 'string' },
  pack: { type: 'boolean' },
  examples: { type: 'string' },
  batch: { type: 'string' },
  ep: { type: 'string' },
  branches: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
};

export const sourceHelp = `  --inputs FILE.jsonl    one example per line: {"input_ids":[...],"attention_mask":[...]}
                         (any input names the model declares; a missing attention_mask
                         means every token is real)
  --text FILE            one example per line, tokenized with --tokenizer
  --tokenizer FILE       the model's Hugging Face tokenizer.json
  --max-length N         truncate text to N tokens (default: the model's position limit, else 128)
  --pack                 concatenate lines into sequences of --max-length tokens, as pre-training
                         examples are built (the tokenizer's prefix, lines joined by its
                         separator; a line that does not fit continues in the next sequence)
  --examples N           read at most N examples (default: all)
  --batch B              examples per model run (default 8)
  --ep PROVIDER          ${providerChoices.join('|')} (default auto: GPU if one works, else CPU)
  --branches selected|all  attention inside If branches (merged decoders): the branch the
                         examples select (default), or every branch on every example
  -q, --quiet            no progress on stderr`;

export interface SourceFlags {
  source: ExampleSource;
  examples?: number;
  batch?: number;
  ep: ProviderChoice;
  branches: BranchMode;
  quiet: boolean;
}

export function readSourceFlags(values: ParsedArgs['values'], command: string): SourceFlags {
  const inputs = stringFlag(values, 'inputs');
  const text = stringFlag(values, 'text');
  if (!!inputs === !!text) throw new InputError(`${command} needs exactly one of --inputs FILE.jsonl or --text FILE`);
  let source: ExampleSource;
  if (inputs) {
    if (stringFlag(values, 'tokenizer') || stringFlag(values, 'maxLength') || values.pack) throw new InputError('--tokenizer, --max-length and --pack go with --text, not --inputs');
    source = { kind: 'jsonl', path: inputs };
  } else {
    const tokenizer = stringFlag(values, 'tokenizer');
    if (!tokenizer) throw new InputError("--text needs --tokenizer tokenizer.json (the model's Hugging Face tokenizer)");
    source = { kind: 'text', path: text!, tokenizer, maxLength: intFlag(values, 'maxLength'), ...(values.pack === true ? { pack: true } : {}) };
  }
  return {
    source,
    examples: intFlag(values, 'examples'),
    batch: intFlag(values, 'batch'),
    ep: parseProviderChoice(stringFlag(values, 'ep') ?? 'auto'),
    branches: parseBranches(stringFlag(values, 'branches')),
    quiet: values.quiet === true,
  };
}

function parseBranches(value: string | undefined): BranchMode {
  if (value === undefined || value === 'selected' || value === 'all') return value ?? 'selected';
  throw new InputError(`{field} must be selected or all (got "${value}")`, 'branches');
}
