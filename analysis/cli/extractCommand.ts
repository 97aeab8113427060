import { extractAttention } from '../app/extract';
import { InputError } from '../errors';
import { parse, requireOne, stringFlag } from './args';
import { Progress, providerNote } from './progress';
import { readSourceFlags, sourceHelp, sourceOptions } from './sourceFlags';

export const extractHelp =
  () => `Usage: attention-reuse extract MODEL.onnx (--inputs FILE.jsonl|.npz|.npy | --text FILE --tokenizer tokenizer.json | --images FOLDER) --out DIR [options]

Runs the model and writes every example's attention, real tokens only, to DIR:
  DIR/index.json      schema attention-reuse/extract@1: model, run, stacks, and per example
                      and stack {name, queries, keys, offset, tokens?}
  DIR/attention.bin   float32 little-endian; at each offset one [layers][heads][queries][keys] block

${sourceHelp}
  --out DIR              output folder (created; existing outputs are not replaced without --force)
  --force                replace DIR/index.json and DIR/attention.bin if they exist`;

export async function extractCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(argv, { ...sourceOptions, out: { type: 'string' }, force: { type: 'boolean' } }, 'extract');
  if (values.help) {
    console.log(extractHelp());
    return 0;
  }
  const model = requireOne(positionals, 'model file', 'extract');
  const flags = readSourceFlags(values, 'extract');
  const out = stringFlag(values, 'out');
  if (out === undefined) throw new InputError('extract needs --out DIR');
  const progress = new Progress('extract', flags.quiet);
  const result = await extractAttention(
    { model, ...flags, out, force: values.force === true },
    { signal, onProgress: (done, total) => progress.update(done, total), onNote: providerNote(flags.quiet) },
  );
  progress.finish();
  console.log(`${result.index.run.examples} examples, ${result.bytes} bytes of attention → ${result.outDir}`);
  return 0;
}
