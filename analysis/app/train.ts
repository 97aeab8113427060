/**
 * `attention-reuse train`: checks the config, the data and the interpreter, tokenizes text
 * into the run folder and starts the reference PyTorch trainer (media/trainer/train.py),
 * with torchrun for several processes. Its output goes to this process's stdout/stderr.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { maskIdOf } from '../config/tokenFile';
import { InputError } from '../errors';
import { isTokenFile, readReuseConfig, readTokenFileHeader, readTokenizer, tokenizeText } from './readers';
import type { ServiceCallbacks } from './service';
import { checkOutput, ensureFolder, exists, writeFileAtomic } from './storage';

export const trainLaunchers = ['python', 'torchrun'] as const;
export const trainDevices = ['auto', 'cpu', 'cuda'] as const;

export interface TrainOptions {
  config: string;
  /** A text file (needs `tokenizer`) or a token file. */
  data: string;
  tokenizer?: string;
  out: string;
  steps?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  maxLength?: number;
  checkpointEvery?: number;
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

/** Trains a reuse config; resolves with the trainer's exit code (130 when cancelled). */
export async function trainReuseModel(options: TrainOptions, callbacks: ServiceCallbacks = {}): Promise<number> {
  const { signal, onNote } = callbacks;
  const launcher = options.launcher ?? 'python';
  if (!trainLaunchers.includes(launcher)) throw new InputError(`{field} must be python or torchrun (got "${launcher}")`, 'launcher');
  if (options.nproc !== undefined && launcher !== 'torchrun') throw new InputError('{field} goes with torchrun', 'nproc');
  const nproc = positive(options.nproc, 'nproc', 2);
  const device = options.device ?? 'auto';
  if (!trainDevices.includes(device)) throw new InputError(`{field} must be auto, cpu or cuda (got "${device}")`, 'device');
  const lr = options.lr ?? 1e-4;
  if (!(lr > 0 && Number.isFinite(lr))) throw new InputError(`{field} must be a positive number (got ${lr})`, 'lr');
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new InputError(`{field} must be a whole number ≥ 0 (got ${seed})`, 'seed');
  const steps = positive(options.steps, 'steps', 1000);
  const batchSize = positive(options.batchSize, 'batchSize', 32);
  if (launcher === 'torchrun' && batchSize % nproc !== 0) {
    throw new InputError(`{field} ${batchSize} must be a multiple of the ${nproc} processes (it is split over them)`, 'batchSize');
  }
  const checkpointEvery = positive(options.checkpointEvery, 'checkpointEvery', 200);

  const configPath = resolve(options.config);
  const config = await readReuseConfig(configPath);
  const maxLength = positive(options.maxLength, 'maxLength', config.dims.maxPositions);
  if (maxLength > config.dims.maxPositions) throw new InputError(`{field} ${maxLength} exceeds the config's maxPositions (${config.dims.maxPositions})`, 'maxLength');
  const runDir = resolve(options.out);
  // The run folder is made (or found to be a file in the way) before the interpreter starts.
  await ensureFolder(runDir);
  const resume = options.resume === true;
  if (!resume && (await exists(join(runDir, 'checkpoint.pt')))) {
    throw new InputError(`${runDir} already holds a run (checkpoint.pt): pass {field} to continue it or choose another output folder`, 'resume');
  }
  if (resume && !(await exists(join(runDir, 'checkpoint.pt')))) throw new InputError(`{field}: ${runDir} has no checkpoint.pt to continue from`, 'resume');

  // The data is checked before the interpreter starts, and tokenized after it proved to work.
  let tokens = resolve(options.data);
  let tokenize: (() => Promise<void>) | undefined;
  if (await isTokenFile(options.data)) {
    const header = await readTokenFileHeader(options.data);
    if (header.vocabSize > config.dims.vocab) {
      throw new InputError(`token file ${options.data} holds ids up to ${header.vocabSize - 1}, but the config's vocabulary has ${config.dims.vocab} rows: tokenized for another model`);
    }
  } else {
    if (!options.tokenizer) throw new InputError(`the training data ${options.data} is text, so training needs {field} tokenizer.json to tokenize it`, 'tokenizer');
    const tok = await readTokenizer(options.tokenizer);
    maskIdOf(tok);
    const target = join(runDir, 'tokens.bin');
    const output = { overwrite: true, inputs: [options.config, options.data, options.tokenizer], signal, onNote };
    await checkOutput(target, output);
    tokens = target;
    tokenize = async () => writeFileAtomic(target, await tokenizeText(options.data, tok, maxLength, config.dims.vocab, signal), output);
  }

  const python = options.python ?? process.env.ATTENTION_REUSE_PYTHON ?? 'python3';
  const torchVersion = await checkPython(python);
  await tokenize?.();

  const script = await trainerScript();
  const trainerArgs = [
    script, configPath, '--data', tokens, '--out', runDir,
    '--steps', String(steps), '--batch-size', String(batchSize), '--lr', String(lr), '--seed', String(seed),
    '--max-length', String(maxLength), '--checkpoint-every', String(checkpointEvery), '--device', device,
    ...(resume ? ['--resume'] : []),
  ];
  // torchrun of PyTorch 1.x reads its default "--redirects 0" as None on Python 3.11 and
  // crashes (Debian 12's python3-torch); stdout teed to the console avoids that code path.
  const oldTorchrun = Number(torchVersion.split('.')[0]) < 2 ? ['--redirects', '1', '--tee', '1'] : [];
  const args =
    launcher === 'torchrun'
      ? ['-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', String(nproc), '--master_addr', '127.0.0.1', '--master_port', String(await freePort()), ...oldTorchrun, ...trainerArgs]
      : trainerArgs;
  onNote?.(`training ${config.mode} P = ${config.P} K = ${config.K} with torch ${torchVersion} (${launcher === 'torchrun' ? `torchrun, ${nproc} processes` : 'one process'}) into ${runDir}`);
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
