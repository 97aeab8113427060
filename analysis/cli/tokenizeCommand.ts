import { defaultHeldOut, defaultShardTokens, defaultTokenizeLength, tokenizeToShards } from '../app/tokenize';
import { InputError } from '../errors';
import { intFlag, numberFlag, parse, stringFlag } from './args';

export const tokenizeHelp = () => `Usage: attention-reuse tokenize --text FILE --tokenizer tokenizer.json --out DIR [options]

Writes token shards for training (attention-reuse/shards@1, docs/planning.md): the text is
tokenized once with the model's tokenizer.json (as analyze reads text), one line a
sequence, and packed into rows of --max-length tokens in the frame the tokenizer's
post-processor puts around a sequence ([CLS] line [SEP] line [SEP] … for BERT). A share of
the lines goes to held-out shards, which train evaluates on. Every shard records the sha256
of the tokenizer.json; train refuses shards of another tokenizer.

  --max-length N      tokens per row, the model length (default ${defaultTokenizeLength})
  --held-out F        share of the lines held out for evaluation, 0..0.5 (default ${defaultHeldOut})
  --shard-tokens N    tokens per shard file (default ${defaultShardTokens})
  --force             replace the shards DIR already holds`;

export async function tokenizeCommand(argv: string[], signal?: AbortSignal): Promise<number> {
  const { values } = parse(
    argv,
    {
      text: { type: 'string' },
      tokenizer: { type: 'string' },
      out: { type: 'string' },
      'max-length': { type: 'string' },
      'held-out': { type: 'string' },
      'shard-tokens': { type: 'string' },
      force: { type: 'boolean' },
    },
    'tokenize',
  );
  if (values.help) {
    console.log(tokenizeHelp());
    return 0;
  }
  const [text, tokenizer, out] = [stringFlag(values, 'text'), stringFlag(values, 'tokenizer'), stringFlag(values, 'out')];
  if (!text || !tokenizer || !out) throw new InputError('tokenize needs --text FILE, --tokenizer tokenizer.json and --out DIR');
  const index = await tokenizeToShards(
    {
      text,
      tokenizer,
      out,
      maxLength: intFlag(values, 'maxLength'),
      heldOut: numberFlag(values, 'heldOut'),
      shardTokens: intFlag(values, 'shardTokens'),
      force: values.force === true,
    },
    { signal, onNote: (line) => console.error(line) },
  );
  const rows = (entries: { sequences: number }[]) => entries.reduce((n, e) => n + e.sequences, 0);
  console.log(
    `wrote ${out}: ${rows(index.train)} training and ${rows(index.heldOut)} held-out rows of ${index.sequenceLength} tokens in ${index.train.length + index.heldOut.length} shards (tokenizer sha256 ${index.tokenizer.sha256.slice(0, 12)}…)`,
  );
  return 0;
}
