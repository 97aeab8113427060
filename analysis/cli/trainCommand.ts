import { trainDevices, trainLaunchers, trainReuseModel } from '../app/train';
import type { TrainOptions } from '../app/train';
import { InputError } from '../errors';
import { intFlag, numberFlag, parse, requireOne, stringFlag } from './args';

export const trainHelp = () => `Usage: attention-reuse train CONFIG.reuse.json --data FILE --out RUN_DIR [options]

Trains the reuse config's BERT-style masked-LM with the reference PyTorch trainer: reuse
heads take the attention probabilities of the head the config names, everything else is a
standard post-LayerNorm BERT layer. Writes RUN_DIR/metrics.jsonl (one JSON object per
logged step: step, loss, lr, tokensPerSecond, elapsedSeconds), RUN_DIR/checkpoint.pt and,
at the end, RUN_DIR/model.pt. Exits with the trainer's exit code.

  --data FILE           a text file (one example per line, needs --tokenizer) or a token
                        file (see docs/planning.md); text is tokenized into RUN_DIR/tokens.bin
  --tokenizer FILE      the model's tokenizer.json
  --steps N             optimizer steps (default 1000)
  --batch-size N        examples per step over all processes (default 32)
  --lr R                peak learning rate of AdamW, linear warm-up and decay (default 1e-4)
  --seed N              model initialisation, batches and masking (default 0)
  --max-length N        tokens per example (default: the config's maxPositions)
  --checkpoint-every N  steps between checkpoints (default 200)
  --device D            ${trainDevices.join(' | ')} (default auto)
  --resume              continue from RUN_DIR/checkpoint.pt
  --python PATH         interpreter with PyTorch (default $ATTENTION_REUSE_PYTHON or python3)
  --launcher L          ${trainLaunchers.join(' | ')} (default python: one process)
  --nproc N             processes for torchrun (default 2; gloo on CPU, nccl on GPU)`;

export async function trainCommand(argv: string[], signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      data: { type: 'string' },
      tokenizer: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      'max-length': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      device: { type: 'string' },
      resume: { type: 'boolean' },
      python: { type: 'string' },
      launcher: { type: 'string' },
      nproc: { type: 'string' },
    },
    'train',
  );
  if (values.help) {
    console.log(trainHelp());
    return 0;
  }
  const config = requireOne(positionals, 'reuse config', 'train');
  const data = stringFlag(values, 'data');
  const out = stringFlag(values, 'out');
  if (!data) throw new InputError('train needs --data FILE (a text file with --tokenizer, or a token file)');
  if (!out) throw new InputError('train needs --out RUN_DIR');
  return trainReuseModel(
    {
      config,
      data,
      out,
      tokenizer: stringFlag(values, 'tokenizer'),
      steps: intFlag(values, 'steps'),
      batchSize: intFlag(values, 'batchSize'),
      lr: numberFlag(values, 'lr'),
      seed: intFlag(values, 'seed', 0),
      maxLength: intFlag(values, 'maxLength'),
      checkpointEvery: intFlag(values, 'checkpointEvery'),
      device: stringFlag(values, 'device') as TrainOptions['device'],
      resume: values.resume === true,
      python: stringFlag(values, 'python'),
      launcher: stringFlag(values, 'launcher') as TrainOptions['launcher'],
      nproc: intFlag(values, 'nproc'),
    },
    // The trainer's own lines go to stdout; this one goes with them.
    { signal, onNote: (line) => console.log(line) },
  );
}
