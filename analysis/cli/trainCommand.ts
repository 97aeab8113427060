import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { constants } from 'node:os';
import { InputError } from '../errors';
import { readReuseConfig } from '../config/reuseConfig';
import { isTokenFile, tokenizeTextFile } from '../config/tokenFile';
import { loadTokenizer } from '../runtime/inputs';
import { parse, positiveInt, requireOne } from './args';
import { exists, writeFileAtomic } from './files';

export const trainHelp = `Usage: attention-reuse train CONFIG.reuse.json --data FILE --out RUN_DIR [options]

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
  --device D            auto | cpu | cuda (default auto)
  --resume              continue from RUN_DIR/checkpoint.pt
  --python PATH         interpreter with PyTorch (default $ATTENTION_REUSE_PYTHON or python3)
  --launcher L          python (one process) | torchrun (default python)
  --nproc N             processes for torchrun (default 2; gloo on CPU, nccl on GPU)`;

/** Finds media/trainer/train.py above this file: dist/cli.js and out/analysis/cli/ both work. */
export function trainerScript(): string {
  for (let dir = __dirname, i = 0; i < 6; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'media', 'trainer', 'train.py');
    if (existsSync(candidate)) return candidate;
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
    throw new InputError(`Python interpreter "${python}" ${why}; pass --python PATH (an interpreter with PyTorch) or set ATTENTION_REUSE_PYTHON`);
  }
  if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? `exit code ${r.code}`;
    throw new InputError(`"${python}" cannot import torch (${last}); install PyTorch for it (pip install torch, or apt-get install python3-torch) or pass --python PATH`);
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
    console.log(trainHelp);
    return 0;
  }
  const str = (k: string) => values[k] as string | undefined;
  const configPath = resolve(requireOne(positionals, 'reuse config', 'train'));
  const data = str('data');
  const outDir = str('out');
  if (!data) throw new InputError('train needs --data FILE (a text file with --tokenizer, or a token file)');
  if (!outDir) throw new InputError('train needs --out RUN_DIR');
  const launcher = str('launcher') ?? 'python';
  if (launcher !== 'python' && launcher !== 'torchrun') throw new InputError(`--launcher must be python or torchrun (got "${launcher}")`);
  if (str('nproc') !== undefined && launcher !== 'torchrun') throw new InputError('--nproc goes with --launcher torchrun');
  const nproc = positiveInt(str('nproc'), '--nproc', 2);
  const device = str('device') ?? 'auto';
  if (!['auto', 'cpu', 'cuda'].includes(device)) throw new InputError(`--device must be auto, cpu or cuda (got "${device}")`);
  const lr = str('lr') === undefined ? 1e-4 : Number(str('lr'));
  if (!(lr > 0 && Number.isFinite(lr))) throw new InputError(`--lr must be a positive number (got "${str('lr')}")`);
  const seed = str('seed') === undefined ? 0 : Number(str('seed'));
  if (!Number.isInteger(seed) || seed < 0) throw new InputError(`--seed must be a whole number ≥ 0 (got "${str('seed')}")`);
  const steps = positiveInt(str('steps'), '--steps', 1000);
  const batchSize = positiveInt(str('batch-size'), '--batch-size', 32);
  if (launcher === 'torchrun' && batchSize % nproc !== 0) throw new InputError(`--batch-size ${batchSize} must be a multiple of --nproc ${nproc} (it is split over the processes)`);
  const checkpointEvery = positiveInt(str('checkpoint-every'), '--checkpoint-every', 200);

  const config = await readReuseConfig(configPath);
  const maxLength = positiveInt(str('max-length'), '--max-length', config.dims.maxPositions);
  if (maxLength > config.dims.maxPositions) throw new InputError(`--max-length ${maxLength} exceeds the config's maxPositions (${config.dims.maxPositions})`);
  const runDir = resolve(outDir);
  const resume = values.resume === true;
  if (!resume && (await exists(join(runDir, 'checkpoint.pt')))) {
    throw new InputError(`${runDir} already holds a run (checkpoint.pt): pass --resume to continue it or choose another --out`);
  }
  if (resume && !(await exists(join(runDir, 'checkpoint.pt')))) throw new InputError(`--resume: ${runDir} has no checkpoint.pt to continue from`);
  if (!(await exists(data))) throw new InputError(`--data ${data} does not exist`);

  const python = str('python') ?? process.env.ATTENTION_REUSE_PYTHON ?? 'python3';
  const torchVersion = await checkPython(python);

  let tokens = resolve(data);
  if (!(await isTokenFile(data))) {
    const tokenizerPath = str('tokenizer');
    if (!tokenizerPath) throw new InputError(`--data ${data} is text, so train needs --tokenizer tokenizer.json to tokenize it`);
    const tok = await loadTokenizer(tokenizerPath);
    tokens = join(runDir, 'tokens.bin');
    await writeFileAtomic(tokens, await tokenizeTextFile(data, tok, maxLength, config.dims.vocab), true);
  }

  const script = trainerScript();
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
  console.log(`training ${config.mode} P = ${config.P} K = ${config.K} with torch ${torchVersion} (${launcher === 'torchrun' ? `torchrun, ${nproc} processes` : 'one process'}) into ${runDir}`);
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
