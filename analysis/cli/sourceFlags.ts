import { InputError } from '../errors';
import { parseProviderChoice } from '../runtime/providers';
import type { ProviderChoice } from '../runtime/providers';
import type { ExampleSource } from '../runtime/exampleSource';
import { positiveInt } from './args';
import type { OptionSpec } from './args';

/** Flags shared by every command that runs the model over examples. */
export const sourceOptions: OptionSpec = {
  inputs: { type: 'string' },
  text: { type: 'string' },
  tokenizer: { type: 'string' },
  'max-length': { type: 'string' },
  examples: { type: 'string' },
  batch: { type: 'string' },
  ep: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
};

export const sourceHelp = `  --inputs FILE.jsonl    one example per line: {"input_ids":[...],"attention_mask":[...]}
                         (any input names the model declares; a missing attention_mask
                         means every token is real)
  --text FILE            one example per line, tokenized with --tokenizer
  --tokenizer FILE       the model's Hugging Face tokenizer.json
  --max-length N         truncate text to N tokens (default: the model's position limit, else 128)
  --examples N           read at most N examples (default: all)
  --batch B              examples per model run (default 8)
  --ep PROVIDER          auto|cpu|webgpu|cuda|dml|coreml (default auto: GPU if one works, else CPU)
  -q, --quiet            no progress on stderr`;

export interface SourceFlags {
  source: ExampleSource;
  examples: number;
  batch: number;
  ep: ProviderChoice;
  quiet: boolean;
}

export function readSourceFlags(values: Record<string, string | boolean | undefined>, command: string): SourceFlags {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const inputs = str('inputs');
  const text = str('text');
  if (!!inputs === !!text) throw new InputError(`${command} needs exactly one of --inputs FILE.jsonl or --text FILE`);
  let source: ExampleSource;
  if (inputs) {
    if (str('tokenizer') || str('max-length')) throw new InputError('--tokenizer and --max-length go with --text, not --inputs');
    source = { kind: 'jsonl', path: inputs };
  } else {
    const tokenizer = str('tokenizer');
    if (!tokenizer) throw new InputError('--text needs --tokenizer tokenizer.json (the model\'s Hugging Face tokenizer)');
    const maxLength = str('max-length');
    source = { kind: 'text', path: text!, tokenizer, maxLength: maxLength === undefined ? undefined : positiveInt(maxLength, '--max-length', 0) };
  }
  return {
    source,
    examples: positiveInt(str('examples'), '--examples', Number.MAX_SAFE_INTEGER),
    batch: positiveInt(str('batch'), '--batch', 8),
    ep: parseProviderChoice(str('ep') ?? 'auto'),
    quiet: values.quiet === true,
  };
}
