import { defaultHeldOut } from '../app/tokenize';
import { trainDevices, trainLaunchers, trainNorms, trainPositions, trainPrecisions, trainReuseModel } from '../app/train';
import type { TrainOptions } from '../app/train';
import { failureReport } from '../app/trainProcess';
import { InputError } from '../errors';
import { intFlag, numberFlag, parse, requireOne, stringFlag } from './args';

export const trainHelp = () => `Usage: attention-reuse train CONFIG.reuse.json --data PATH --out RUN_DIR [options]

Trains the reuse config's BERT-style masked-LM with the reference PyTorch trainer: reuse
heads take the attention probabilities of the head the config names, everything else is a
standard BERT layer. Writes RUN_DIR/metrics.jsonl (one JSON object per logged step: step,
loss, lr, tokensPerSecond, elapsedSeconds; evalLoss, evalAccuracy, evalPerplexity on
evaluation steps), RUN_DIR/run.json, RUN_DIR/checkpoint.pt, RUN_DIR/status.json,
RUN_DIR/model.pt when every step is done, and RUN_DIR/model.onnx (eager attention, logits
at every position: analyze it, and compare it with the original). Exits with the trainer's
exit code; a trainer that dies is reported with its last lines.

Data
  --data PATH           token shards (attention-reuse tokenize), a token file, or text (one
                        example per line, needs --tokenizer), packed into RUN_DIR/data/
  --tokenizer FILE      the model's tokenizer.json; shards of another tokenizer are refused
  --max-length N        tokens per example (default: the shards', else the config's maxPositions)
  --held-out F          share of text lines held out for evaluation (default ${defaultHeldOut})
Optimisation
  --steps N             optimizer steps (default 1000)
  --batch-size N        examples per step over all processes and micro-batches (default 32)
  --accumulate N        micro-batches per step, gradient accumulation (default 1)
  --precision P         ${trainPrecisions.join(' | ')} (default fp32; bf16 autocasts on CPU or GPU,
                        fp16 needs CUDA and uses a gradient scaler)
  --lr R                peak learning rate of AdamW (default 1e-4)
  --warmup-steps N      linear warm-up, then linear decay to 0 (default 10% of --steps)
  --seed N              model initialisation, batches and masking (default 0)
Model (the paper's options)
  --norm N              ${trainNorms.join(' | ')}: LayerNorm after (BERT, default) or before each block
  --position P          ${trainPositions.join(' | ')}: relative adds a learned bias per computed head
                        and offset, as the TF reuse layer (default absolute)
  --extra-layers N      exact layers appended to the config's (12-layer full P = 6 + 1 is
                        the paper's Reuse 13L); the deeper config goes to RUN_DIR/config.reuse.json
Warm start (from the model the config was planned on)
  --init-from MODEL     start from the ONNX model's weights by their role (embeddings, Q/K/V/O,
                        LayerNorms, FFN, output head; reuse heads drop their Q/K) and its
                        architecture; the config's source.modelSha256, layers, heads and hidden
                        size must be the model's
  --distill             also learn the original's outputs: a frozen exact copy as teacher
  --distill-temperature T  softmax temperature of the KL (default 2)
  --distill-weight W    objective (1 - W)·MLM + W·T²·KL (default 0.5)
Run
  --steps 0             evaluate and export only (--data may then be left out)
  --eval-every N        steps between evaluations on the held-out data, 0 for none (default 200)
  --eval-batches N      global batches of held-out rows per evaluation (default 20)
  --checkpoint-every N  steps between checkpoints (default 200)
  --max-minutes M       save a checkpoint and stop after M minutes (continue with --resume)
  --device D            ${trainDevices.join(' | ')} (default auto)
  --resume              continue from RUN_DIR/checkpoint.pt (the run's settings must not change)
  --python PATH         interpreter with PyTorch (default $ATTENTION_REUSE_PYTHON or python3)
  --launcher L          ${trainLaunchers.join(' | ')} (default python: one process)
  --nproc N             processes for torchrun, DistributedDataParallel (default 2; gloo on
                        CPU, nccl on GPU)`;

export async function trainCommand(argv: string[], signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      data: { type: 'string' },
      tokenizer: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      'batch-size': { type: 'string' },
      accumulate: { type: 'string' },
      precision: { type: 'string' },
      lr: { type: 'string' },
      'warmup-steps': { type: 'string' },
      seed: { type: 'string' },
      'max-length': { type: 'string' },
      'held-out': { type: 'string' },
      'eval-every': { type: 'string' },
      'eval-batches': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'max-minutes': { type: 'string' },
      norm: { type: 'string' },
      position: { type: 'string' },
      'extra-layers': { type: 'string' },
      'init-from': { type: 'string' },
      distill: { type: 'boolean' },
      'distill-temperature': { type: 'string' },
      'distill-weight': { type: 'string' },
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
  if (!out) throw new InputError('train needs --out RUN_DIR');
  return trainReuseModel(
    {
      config,
      data,
      out,
      tokenizer: stringFlag(values, 'tokenizer'),
      steps: intFlag(values, 'steps', 0),
      batchSize: intFlag(values, 'batchSize'),
      accumulate: intFlag(values, 'accumulate'),
      precision: stringFlag(values, 'precision') as TrainOptions['precision'],
      lr: numberFlag(values, 'lr'),
      warmupSteps: intFlag(values, 'warmupSteps', 0),
      seed: intFlag(values, 'seed', 0),
      maxLength: intFlag(values, 'maxLength'),
      heldOut: numberFlag(values, 'heldOut'),
      evalEvery: intFlag(values, 'evalEvery', 0),
      evalBatches: intFlag(values, 'evalBatches'),
      checkpointEvery: intFlag(values, 'checkpointEvery'),
      maxMinutes: numberFlag(values, 'maxMinutes'),
      norm: stringFlag(values, 'norm') as TrainOptions['norm'],
      position: stringFlag(values, 'position') as TrainOptions['position'],
      extraLayers: intFlag(values, 'extraLayers', 0),
      initFrom: stringFlag(values, 'initFrom'),
      distill: values.distill === true ? true : undefined,
      distillTemperature: numberFlag(values, 'distillTemperature'),
      distillWeight: numberFlag(values, 'distillWeight'),
      device: stringFlag(values, 'device') as TrainOptions['device'],
      resume: values.resume === true,
      python: stringFlag(values, 'python'),
      launcher: stringFlag(values, 'launcher') as TrainOptions['launcher'],
      nproc: intFlag(values, 'nproc'),
    },
    // The trainer's own lines go to stdout; this one goes with them. A death is told on stderr.
    {
      signal,
      onNote: (line) => console.log(line),
      onFailure: (failure) => failureReport(failure, out).forEach((line) => console.error(line)),
    },
  );
}
