/**
 * `attention-reuse train`: checks the config, the data, the run folder and the interpreter,
 * tokenizes text into shards in the run folder and starts the reference PyTorch trainer
 * (media/trainer/train.py), with torchrun for several processes. Its output goes to this
 * process's stdout/stderr. With `initFrom`, the analysed model's weights are written by role
 * into RUN_DIR/init (warmStart.ts) and the trainer starts from them.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { appendExactLayers, formatReuseConfig } from '../config/reuseConfig';
import type { ReuseConfig } from '../config/reuseConfig';
import { InputError } from '../errors';
import { readReuseConfig } from './readers';
import type { ServiceCallbacks } from './service';
import { ensureFolder, exists, readJson, writeFileAtomic } from './storage';
import { prepareTrainData } from './trainData';
import { runTrainer } from './trainProcess';
import type { TrainFailure } from './trainProcess';
import { exportWarmStart } from './warmStart';

export interface TrainCallbacks extends ServiceCallbacks {
  /** The trainer died (not a clean exit, a refusal or an interruption): how far it got and its last lines. */
  onFailure?: (failure: TrainFailure) => void;
}

export const trainLaunchers = ['python', 'torchrun'] as const;
export const trainDevices = ['auto', 'cpu', 'cuda'] as const;
export const trainPrecisions = ['fp32', 'bf16', 'fp16'] as const;
export const trainNorms = ['post', 'pre'] as const;
export const trainPositions = ['absolute', 'relative'] as const;

export interface TrainOptions {
  config: string;
  /** A token-shard folder (attention-reuse tokenize), a tokens@1 file, or text (needs `tokenizer`); optional with `steps` 0. */
  data?: string;
  /** The model's tokenizer.json: tokenizes text; shards written with another one are refused. */
  tokenizer?: string;
  out: string;
  steps?: number;
  /** Examples per optimizer step over all processes and micro-batches (default 32). */
  batchSize?: number;
  /** Micro-batches per step, gradient accumulation (default 1). */
  accumulate?: number;
  /** fp32 (default), bf16 (autocast on CPU or GPU) or fp16 (CUDA, with a gradient scaler). */
  precision?: (typeof trainPrecisions)[number];
  lr?: number;
  /** Linear warm-up steps before the linear decay (default 10% of steps). */
  warmupSteps?: number;
  seed?: number;
  maxLength?: number;
  /** Share of text lines held out for evaluation when text is tokenized here (default 0.01). */
  heldOut?: number;
  /** Steps between evaluations on the held-out shards, 0 for none (default 200). */
  evalEvery?: number;
  /** Global batches of held-out rows per evaluation (default 20). */
  evalBatches?: number;
  checkpointEvery?: number;
  /** Save a checkpoint and stop after this many minutes (resumable). */
  maxMinutes?: number;
  /** LayerNorm placement: post (BERT, default) or pre. */
  norm?: (typeof trainNorms)[number];
  /** absolute (default) or relative: a learned bias per computed head and offset (the TF reuse layer). */
  position?: (typeof trainPositions)[number];
  /** Exact layers appended to the config's (the paper's Reuse 13L: a 12-layer config + 1). */
  extraLayers?: number;
  /** Start from the weights of this ONNX model (the one the config was planned on), by their role. */
  initFrom?: string;
  /** Also learn the `initFrom` model's outputs: a frozen exact copy as teacher. */
  distill?: boolean;
  /** Softmax temperature of the distillation KL (default 2). */
  distillTemperature?: number;
  /** Weight w of the KL in (1 - w)·MLM + w·T²·KL (default 0.5). */
  distillWeight?: number;
  device?: (typeof trainDevices)[number];
  resume?: boolean;
  /** Interpreter with PyTorch (default $ATTENTION_REUSE_PYTHON or python3). */
  python?: string;
  launcher?: (typeof trainLaunchers)[number];
  nproc?: number;
}

/** Finds media/trainer/train.py above this file: dist/cli.js and out/analysis/app/ both work. */
export async function trainerScript(): Promise<string> {
  for (let dir = __dirname, i = 0; i < 6; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'media', 'trainer', 'train.py');
    if (await exists(candidate)) return candidate;
  }
  throw new Error(`media/trainer/train.py not found above ${__dirname}`);
}

function capture(
  cmd: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; error?: NodeJS.ErrnoException }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (error: NodeJS.ErrnoException) => done({ code: null, stdout, stderr, error }));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Checks that `python` runs and imports torch; returns torch's version. */
export async function checkPython(python: string): Promise<string> {
  const r = await capture(python, ['-c', 'import torch, sys; sys.stdout.write(torch.__version__)']);
  if (r.error) {
    const why = r.error.code === 'ENOENT' ? 'was not found' : `cannot be started (${r.error.code ?? r.error.message})`;
    throw new InputError(
      `Python interpreter "${python}" ${why}; pass {field} PATH (an interpreter with PyTorch) or set ATTENTION_REUSE_PYTHON`,
      'python',
    );
  }
  if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? `exit code ${r.code}`;
    throw new InputError(
      `"${python}" cannot import torch (${last}); install PyTorch for it (pip install torch, or apt-get install python3-torch) or pass {field} PATH`,
      'python',
    );
  }
  return r.stdout.trim();
}

/** A TCP port that was free a moment ago, for torchrun's static rendezvous on this machine. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

function positive(value: number | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new InputError(`{field} must be a whole number ≥ 1 (got ${value})`, field);
  return value;
}

function oneOf<T extends string>(value: T | undefined, allowed: readonly T[], field: string): T {
  const v = value ?? allowed[0];
  const words = allowed.length > 1 ? `${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}` : allowed[0];
  if (!allowed.includes(v)) throw new InputError(`{field} must be ${words} (got "${v}")`, field);
  return v;
}

/** The run's own settings (RUN_DIR/run.json, written by the trainer) against these options: a resume keeps them. */
async function checkResumeSettings(runDir: string, given: Record<string, unknown>): Promise<void> {
  const file = join(runDir, 'run.json');
  if (!(await exists(file))) return;
  const run = (await readJson(file, 'run settings')) as { settings?: Record<string, unknown> & { model?: Record<string, unknown> } };
  const saved = { ...run.settings, ...run.settings?.model };
  for (const [field, value] of Object.entries(given)) {
    if (field in saved && saved[field] !== value && !(saved[field] === null && value === undefined)) {
      throw new InputError(
        `{field} is ${JSON.stringify(value ?? null)} here, but the run in ${runDir} was started with ${JSON.stringify(saved[field])}; keep it to resume, or choose another output folder`,
        field,
      );
    }
  }
}

/** What a warm start adds to the trainer's command line, and the config it trains (the model's sizes). */
interface WarmStartPlan {
  args: string[];
  config: ReuseConfig;
  norm: (typeof trainNorms)[number];
}

/** `initFrom`, `distill…` checked; the model's weights written to RUN_DIR/init for the trainer. */
async function prepareWarmStart(
  options: TrainOptions,
  config: ReuseConfig,
  runDir: string,
  callbacks: ServiceCallbacks,
): Promise<WarmStartPlan | null> {
  const { distill, distillTemperature: t, distillWeight: w } = options;
  if (!options.initFrom) {
    if (distill || t !== undefined || w !== undefined)
      throw new InputError(
        `{field} learns from the model given to --init-from: give it too`,
        distill ? 'distill' : t !== undefined ? 'distillTemperature' : 'distillWeight',
      );
    return null;
  }
  if ((t !== undefined || w !== undefined) && !distill)
    throw new InputError(`{field} goes with --distill`, t !== undefined ? 'distillTemperature' : 'distillWeight');
  if (t !== undefined && !(t > 0 && Number.isFinite(t)))
    throw new InputError(`{field} must be a positive number (got ${t})`, 'distillTemperature');
  if (w !== undefined && !(w >= 0 && w <= 1)) throw new InputError(`{field} must be in 0..1 (got ${w})`, 'distillWeight');
  const warm = await exportWarmStart(
    {
      model: options.initFrom,
      config,
      configLabel: options.config,
      out: join(runDir, 'init'),
      inputs: [options.config, options.data, options.tokenizer],
    },
    callbacks,
  );
  const norm = warm.architecture.norm;
  if (options.norm !== undefined && options.norm !== norm)
    throw new InputError(`{field} ${options.norm}: the --init-from model is ${norm}-LN (leave it out)`, 'norm');
  const distillArgs = distill ? ['--distill', '--distill-temperature', String(t ?? 2), '--distill-weight', String(w ?? 0.5)] : [];
  callbacks.onNote?.(
    `warm start from ${options.initFrom}: ${warm.dims.layers} layers × ${warm.dims.heads} heads, ${warm.architecture.norm}-LN, ε ${warm.architecture.layerNormEpsilon}, ${warm.architecture.activation}, ` +
      `${warm.architecture.tokenTypes ? `${warm.architecture.tokenTypes} token types` : 'no token types'}, ${warm.architecture.head} head${warm.architecture.tiedOutput ? ' (tied)' : ''}, ${warm.dims.maxPositions} positions`,
  );
  return { args: ['--init-from', warm.folder, ...distillArgs], config: warm.config, norm };
}

/** Trains a reuse config; resolves with the trainer's exit code (130 when cancelled). A trainer that dies is reported to `onFailure`. */
export async function trainReuseModel(options: TrainOptions, callbacks: TrainCallbacks = {}): Promise<number> {
  const { signal, onNote } = callbacks;
  const launcher = oneOf(options.launcher, trainLaunchers, 'launcher');
  if (options.nproc !== undefined && launcher !== 'torchrun') throw new InputError('{field} goes with torchrun', 'nproc');
  const nproc = launcher === 'torchrun' ? positive(options.nproc, 'nproc', 2) : 1;
  const device = oneOf(options.device, trainDevices, 'device');
  const precision = oneOf(options.precision, trainPrecisions, 'precision');
  const position = oneOf(options.position, trainPositions, 'position');
  const lr = options.lr ?? 1e-4;
  if (!(lr > 0 && Number.isFinite(lr))) throw new InputError(`{field} must be a positive number (got ${lr})`, 'lr');
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new InputError(`{field} must be a whole number ≥ 0 (got ${seed})`, 'seed');
  const steps = options.steps ?? 1000;
  if (!Number.isInteger(steps) || steps < 0)
    throw new InputError(`{field} must be a whole number ≥ 0 (got ${steps}; 0 evaluates and exports only)`, 'steps');
  const batchSize = positive(options.batchSize, 'batchSize', 32);
  const accumulate = positive(options.accumulate, 'accumulate', 1);
  if (batchSize % (nproc * accumulate) !== 0) {
    throw new InputError(
      `{field} ${batchSize} must be a multiple of ${nproc} process(es) × ${accumulate} micro-batch(es): it is split over them evenly`,
      'batchSize',
    );
  }
  const checkpointEvery = positive(options.checkpointEvery, 'checkpointEvery', 200);
  const evalBatches = positive(options.evalBatches, 'evalBatches', 20);
  const evalEvery = options.evalEvery ?? 200;
  if (!Number.isInteger(evalEvery) || evalEvery < 0)
    throw new InputError(`{field} must be a whole number ≥ 0 (got ${evalEvery})`, 'evalEvery');
  if (options.warmupSteps !== undefined && (!Number.isInteger(options.warmupSteps) || options.warmupSteps < 0)) {
    throw new InputError(`{field} must be a whole number ≥ 0 (got ${options.warmupSteps})`, 'warmupSteps');
  }
  if (options.maxMinutes !== undefined && !(options.maxMinutes > 0))
    throw new InputError(`{field} must be a positive number (got ${options.maxMinutes})`, 'maxMinutes');
  if (options.data === undefined && steps !== 0)
    throw new InputError(
      'training needs {field} PATH (token shards, a token file, or text with --tokenizer); only --steps 0 runs without it',
      'data',
    );

  const runDir = resolve(options.out);
  // The run folder is made (or found to be a file in the way) before the interpreter starts.
  await ensureFolder(runDir);
  let configPath = resolve(options.config);
  let config = await readReuseConfig(configPath);
  const resume = options.resume === true;
  if (!resume && (await exists(join(runDir, 'checkpoint.pt')))) {
    throw new InputError(
      `${runDir} already holds a run (checkpoint.pt): pass {field} to continue it or choose another output folder`,
      'resume',
    );
  }
  if (resume && !(await exists(join(runDir, 'checkpoint.pt'))))
    throw new InputError(`{field}: ${runDir} has no checkpoint.pt to continue from`, 'resume');
  const warm = await prepareWarmStart(options, config, runDir, callbacks);
  const norm = warm?.norm ?? oneOf(options.norm, trainNorms, 'norm');
  const sized = warm !== null && JSON.stringify(warm.config.dims) !== JSON.stringify(config.dims);
  if (warm) config = warm.config;
  if ((options.extraLayers ?? 0) > 0) config = appendExactLayers(config, options.extraLayers!);
  if (sized || (options.extraLayers ?? 0) > 0) {
    // The config trained (the model's sizes, extra layers) lives in the run folder, beside its checkpoints.
    configPath = join(runDir, 'config.reuse.json');
    await writeFileAtomic(configPath, formatReuseConfig(config), {
      overwrite: true,
      inputs: [options.config, options.data, options.tokenizer],
    });
  }

  // The data is checked before the interpreter starts, and tokenized after it proved to work.
  const prepared =
    options.data === undefined ? null : await prepareTrainData({ ...options, data: options.data, runDir }, config, callbacks);
  const data = prepared?.data ?? { path: undefined, maxLength: options.maxLength ?? config.dims.maxPositions, tokenizerSha256: undefined };
  if (resume)
    await checkResumeSettings(runDir, {
      batchSize,
      accumulate,
      precision,
      seed,
      maxLength: data.maxLength,
      lr,
      warmupSteps: options.warmupSteps,
      norm,
      position,
    });

  const python = options.python ?? process.env.ATTENTION_REUSE_PYTHON ?? 'python3';
  const torchVersion = await checkPython(python);
  await prepared?.tokenize?.();

  const script = await trainerScript();
  const optional = (flag: string, value: number | undefined) => (value === undefined ? [] : [flag, String(value)]);
  const trainerArgs = [
    script,
    configPath,
    ...(data.path ? ['--data', resolve(data.path)] : []),
    '--out',
    runDir,
    '--steps',
    String(steps),
    '--batch-size',
    String(batchSize),
    '--accumulate',
    String(accumulate),
    '--precision',
    precision,
    '--lr',
    String(lr),
    '--seed',
    String(seed),
    '--max-length',
    String(data.maxLength),
    ...(warm ? warm.args : ['--norm', norm]),
    '--position',
    position,
    '--eval-every',
    String(evalEvery),
    '--eval-batches',
    String(evalBatches),
    '--checkpoint-every',
    String(checkpointEvery),
    '--device',
    device,
    ...optional('--warmup-steps', options.warmupSteps),
    ...optional('--max-minutes', options.maxMinutes),
    ...(data.tokenizerSha256 ? ['--tokenizer-sha256', data.tokenizerSha256] : []),
    ...(resume ? ['--resume'] : []),
  ];
  // torchrun of PyTorch 1.x reads its default "--redirects 0" as None on Python 3.11 and
  // crashes (Debian 12's python3-torch); stdout teed to the console avoids that code path.
  const oldTorchrun = Number(torchVersion.split('.')[0]) < 2 ? ['--redirects', '1', '--tee', '1'] : [];
  const args =
    launcher === 'torchrun'
      ? [
          '-m',
          'torch.distributed.run',
          '--nnodes',
          '1',
          '--nproc_per_node',
          String(nproc),
          '--master_addr',
          '127.0.0.1',
          '--master_port',
          String(await freePort()),
          ...oldTorchrun,
          ...trainerArgs,
        ]
      : trainerArgs;
  const deeper = config.extraLayers ? `, ${config.dims.layers} layers (${config.extraLayers} extra)` : '';
  onNote?.(
    `training ${config.mode} P = ${config.P} K = ${config.K}${deeper} with torch ${torchVersion} (${launcher === 'torchrun' ? `torchrun, ${nproc} processes` : 'one process'}) into ${runDir}`,
  );
  const { code, failure } = await runTrainer(python, args, runDir, steps, signal);
  if (failure) callbacks.onFailure?.(failure);
  return code;
}
