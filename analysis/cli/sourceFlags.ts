import { InputError } from '../errors';
import type { BranchMode } from '../onnx/branches';
import type { ExampleSource } from '../runtime/exampleSource';
import { parseProviderChoice, providerChoices } from '../runtime/providers';
import type { ProviderChoice } from '../runtime/providers';
import { arrayFileName } from '../app/arrayExamples';
import { parseChannels, parseImageSize } from '../runtime/images';
import { flagOf, intFlag, stringFlag } from './args';
import type { OptionSpec, ParsedArgs } from './args';

/** Flags shared by every command that runs the model over examples. */
export const sourceOptions: OptionSpec = {
  inputs: { type: 'string' },
  text: { type: 'string' },
  images: { type: 'string' },
  preprocessor: { type: 'string' },
  'image-size': { type: 'string' },
  'image-mean': { type: 'string' },
  'image-std': { type: 'string' },
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
                         means every token is real); or FILE.npz (one array per input,
                         named as the input) or FILE.npy (the one input without a default,
                         e.g. audio features): the first axis counts the examples
  --text FILE            one example per line, tokenized with --tokenizer
  --images FOLDER        every .png, .jpg and .jpeg file in it, in name order, one example each,
                         prepared as the model's preprocessor_config.json says (beside the
                         model, or --preprocessor FILE; else ViT's defaults: the model's size,
                         /255, mean and std 0.5); these flags override its fields:
  --image-size N|HxW     resize to N×N or H×W pixels (no centre crop)
  --image-mean M|R,G,B   subtract per channel (after /255)
  --image-std S|R,G,B    then divide per channel
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
  const images = stringFlag(values, 'images');
  if ([inputs, text, images].filter((v) => v !== undefined).length !== 1) {
    throw new InputError(`${command} needs exactly one of --inputs FILE.jsonl|.npz|.npy, --text FILE or --images FOLDER`);
  }
  const imageFlags = ['preprocessor', 'imageSize', 'imageMean', 'imageStd'].filter((f) => stringFlag(values, f) !== undefined);
  if (!images && imageFlags.length) throw new InputError(`${flagOf(imageFlags[0])} goes with --images`);
  if (!text && (stringFlag(values, 'tokenizer') || stringFlag(values, 'maxLength') || values.pack))
    throw new InputError(`--tokenizer, --max-length and --pack go with --text, not ${inputs ? '--inputs' : '--images'}`);
  let source: ExampleSource;
  if (images) {
    const size = stringFlag(values, 'imageSize');
    const mean = stringFlag(values, 'imageMean');
    const std = stringFlag(values, 'imageStd');
    source = { kind: 'images', path: images };
    const preprocessor = stringFlag(values, 'preprocessor');
    if (preprocessor !== undefined) source.preprocessor = preprocessor;
    if (size !== undefined) source.imageSize = parseImageSize(size);
    if (mean !== undefined) source.imageMean = parseChannels(mean, 'imageMean');
    if (std !== undefined) source.imageStd = parseChannels(std, 'imageStd');
  } else if (inputs) {
    source = arrayFileName.test(inputs) ? { kind: 'arrays', path: inputs } : { kind: 'jsonl', path: inputs };
  } else {
    const tokenizer = stringFlag(values, 'tokenizer');
    if (!tokenizer) throw new InputError("--text needs --tokenizer tokenizer.json (the model's Hugging Face tokenizer)");
    source = {
      kind: 'text',
      path: text!,
      tokenizer,
      maxLength: intFlag(values, 'maxLength'),
      ...(values.pack === true ? { pack: true } : {}),
    };
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
