/**
 * `attention-reuse train`: checks the config, the data, the run folder and the interpreter,
 * tokenizes text into shards in the run folder and starts the reference PyTorch trainer
 * (media/trainer/train.py), with torchrun for several processes. Its output goes to this
 * process's stdout/stderr.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { appendExactLayers, formatReuseConfig } from '../config/reuseConfig';
import { InputError } from '../errors';
import { readReuseConfig } from './readers';
import type { ServiceCallbacks } from './service';
import { ensureFolder, exists, readJson, writeFileAtomic } from './storage';
import { prepareTrainData } from './trainData';

export const trainLaunchers = ['python', 'torchrun'] as const;
export const trainDevices = ['auto', 'cpu', 'cuda'] as const;
export const trainPrecisions = ['fp32', 'bf16', 'fp16'] as const;
export const trainNorms = ['post', 'pre'] as const;
export const trainPositions = ['absolute', 'relative'] as const;

export interface TrainOptions {
  config: string;
  /** A token-shard folder (attention-reuse tokenize), a tokens@1 file, or text (needs `tokenizer`). */
  data: string;
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

function capture(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; error?: NodeJS.ErrnoException }> {
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
    throw new InputError(`Python interpreter "${python}" ${why}; pass {field} PATH (an interpreter with PyTorch) or set ATTENTION_REUSE_PYTHON`, 'python');
  }
  if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? `exit code ${r.code}`;
    throw new InputError(`"${python}" cannot import torch (${last}); install PyTorch for it (pip install torch, or apt-get install python3-torch) or pass {field} PATH`, 'python');
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
      throw new InputError(`{field} is ${JSON.stringify(value ?? null)} here, but the run in ${runDir} was started with ${JSON.stringify(saved[field])}; keep it to resume, or choose another output folder`, field);
    }
  }
}

/** Trains a reuse config; resolves with the trainer's exit code (130 when cancelled). */
export async function trainReuseModel(options: TrainOptions, callbacks: ServiceCallbacks = {}): Promise<number> {
  const { signal, onNote } = callbacks;
  const launcher = oneOf(options.launcher, trainLaunchers, 'launcher');
  if (options.nproc !== undefined && launcher !== 'torchrun') throw new InputError('{field} goes with torchrun', 'nproc');
  const nproc = launcher === 'torchrun' ? positive(options.nproc, 'nproc', 2) : 1;
  const device = oneOf(options.device, trainDevices, 'device');
  const precision = oneOf(options.precision, trainPrecisions, 'precision');
  const norm = oneOf(options.norm, trainNorms, 'norm');
  const position = oneOf(options.position, trainPositions, 'position');
  const lr = options.lr ?? 1e-4;
  if (!(lr > 0 && Number.isFinite(lr))) throw new InputError(`{field} must be a positive number (got ${lr})`, 'lr');
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new InputError(`{field} must be a whole number ≥ 0 (got ${seed})`, 'seed');
  const steps = positive(options.steps, 'steps', 1000);
  const batchSize = positive(options.batchSize, 'batchSize', 32);
  const accumulate = positive(options.accumulate, 'accumulate', 1);
  if (batchSize % (nproc * accumulate) !== 0) {
    throw new InputError(`{field} ${batchSize} must be a multiple of ${nproc} process(es) × ${accumulate} micro-batch(es): it is split over them evenly`, 'batchSize');
  }
  const checkpointEvery = positive(options.checkpointEvery, 'checkpointEvery', 200);
  const evalBatches = positive(options.evalBatches, 'evalBatches', 20);
  const evalEvery = options.evalEvery ?? 200;
  if (!Number.isInteger(evalEvery) || evalEvery < 0) throw new InputError(`{field} must be a whole number ≥ 0 (got ${evalEvery})`, 'evalEvery');
  if (options.warmupSteps !== undefined && (!Number.isInteger(options.warmupSteps) || options.warmupSteps < 0)) {
    throw new InputError(`{field} must be a whole number ≥ 0 (got ${options.warmupSteps})`, 'warmupSteps');
  }
  if (options.maxMinutes !== undefined && !(options.maxMinutes > 0)) throw new InputError(`{field} must be a positive number (got ${options.maxMinutes})`, 'maxMinutes');

  const runDir = resolve(options.out);
  // The run folder is made (or found to be a file in the way) before the interpreter starts.
  await ensureFolder(runDir);
  let configPath = resolve(options.config);
  let config = await readReuseConfig(configPath);
  const resume = options.resume === true;
  if (!resume && (await exists(join(runDir, 'checkpoint.pt')))) {
    throw new InputError(`${runDir} already holds a run (checkpoint.pt): pass {field} to continue it or choose another output folder`, 'resume');
  }
  if (resume && !(await exists(join(runDir, 'checkpoint.pt')))) throw new InputError(`{field}: ${runDir} has no checkpoint.pt to continue from`, 'resume');
  if ((options.extraLayers ?? 0) > 0) {
    // The deeper config is what is trained: it lives in the run folder, beside its checkpoints.
    config = appendExactLayers(config, options.extraLayers!);
    configPath = join(runDir, 'config.reuse.json');
    await writeFileAtomic(configPath, formatReuseConfig(config), { overwrite: true, inputs: [options.config, options.data, options.tokenizer] });
  }

  // The data is checked before the interpreter starts, and tokenized after it proved to work.
  const { data, tokenize } = await prepareTrainData({ ...options, runDir }, config, callbacks);
  if (resume) await checkResumeSettings(runDir, { batchSize, accumulate, precision, seed, maxLength: data.maxLength, lr, warmupSteps: options.warmupSteps, norm, position });

  const python = options.python ?? process.env.ATTENTION_REUSE_PYTHON ?? 'python3';
  const torchVersion = await checkPython(python);
  await tokenize?.();

  const script = await trainerScript();
  const optional = (flag: string, value: number | undefined) => (value === undefined ? [] : [flag, String(value)]);
  const trainerArgs = [
    script, configPath, '--data', resolve(data.path), '--out', runDir,
    '--steps', String(steps), '--batch-size', String(batchSize), '--accumulate', String(accumulate), '--precision', precision,
    '--lr', String(lr), '--seed', String(seed), '--max-length', String(data.maxLength),
    '--norm', norm, '--position', position,
    '--eval-every', String(evalEvery), '--eval-batches', String(evalBatches), '--checkpoint-every', String(checkpointEvery), '--device', device,
    ...optional('--warmup-steps', options.warmupSteps), ...optional('--max-minutes', options.maxMinutes),
    ...(data.tokenizerSha256 ? ['--tokenizer-sha256', data.tokenizerSha256] : []),
    ...(resume ? ['--resume'] : []),
  ];
  // torchrun of PyTorch 1.x reads its default "--redirects 0" as None on Python 3.11 and
  // crashes (Debian 12's python3-torch); stdout teed to the console avoids that code path.
  const oldTorchrun = Number(torchVersion.split('.')[0]) < 2 ? ['--redirects', '1', '--tee', '1'] : [];
  const args =
    launcher === 'torchrun'
      ? ['-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', String(nproc), '--master_addr', '127.0.0.1', '--master_port', String(await freePort()), ...oldTorchrun, ...trainerArgs]
      : trainerArgs;
  const deeper = config.extraLayers ? `, ${config.dims.layers} layers (${config.extraLayers} extra)` : '';
  onNote?.(`training ${config.mode} P = ${config.P} K = ${config.K}${deeper} with torch ${torchVersion} (${launcher === 'torchrun' ? `torchrun, ${nproc} processes` : 'one process'}) into ${runDir}`);
  return await new Promise<number>((done, fail) => {
    // An argument array, never a shell string: paths with spaces or quotes stay intact.
    const child = spawn(python, args, { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
    const onAbort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', fail);
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      done(code ?? 128 + (sig ? (constants.signals[sig] ?? 1) : 1));
    });
  });
}
