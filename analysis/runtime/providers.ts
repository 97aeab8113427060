import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputError } from '../errors';

/** Execution providers a user can ask for; `auto` means "the GPU if one works, else the CPU". */
export const providerChoices = ['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml'] as const;
export type ProviderChoice = (typeof providerChoices)[number];
export type Provider = Exclude<ProviderChoice, 'auto'>;

/** GPU providers onnxruntime-node 1.30 ships per platform, in the order `auto` tries them. */
export function gpuProvidersFor(platform: NodeJS.Platform, arch: string): Provider[] {
  if (platform === 'linux') return arch === 'x64' ? ['cuda', 'webgpu'] : [];
  if (platform === 'win32') return ['dml', 'webgpu'];
  if (platform === 'darwin') return ['coreml', 'webgpu'];
  return [];
}

export function parseProviderChoice(value: string): ProviderChoice {
  if ((providerChoices as readonly string[]).includes(value)) return value as ProviderChoice;
  throw new InputError(`{field} must be one of ${providerChoices.join(', ')} (got "${value}")`, 'ep');
}

/** A started session and the provider that actually runs it. */
export interface StartedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** Why providers were skipped: `name: reason` under auto, whole sentences for an explicit choice. */
  notes: string[];
}

/**
 * Starts a session on the requested provider, or on the first GPU provider that works for
 * `auto`, falling back to the CPU with a note. Each GPU provider is first probed in a child
 * process, because a missing GPU makes the native code print warnings that JavaScript
 * cannot silence; the user sees one line from us instead.
 */
export async function startSession(
  model: Uint8Array,
  choice: ProviderChoice,
  options: ort.InferenceSession.SessionOptions = {},
  /** The model for the CPU where it differs (a bfloat16 graph widened to float32), made only if the CPU runs. */
  cpuModel?: () => Uint8Array,
): Promise<StartedSession> {
  // ONNX Runtime reads this when its environment starts with the first session: the extension
  // host gets no telemetry (files under $TMPDIR and an upload attempt) just as the CLI does.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  const notes: string[] = [];
  const candidates: Provider[] = choice === 'auto' ? gpuProvidersFor(process.platform, process.arch) : choice === 'cpu' ? [] : [choice];
  for (const provider of candidates) {
    const probe = await probeProvider(provider);
    if (!probe.ok) {
      notes.push(
        choice === 'auto' ? `${provider}: ${probe.reason}` : `${provider} is not available (${probe.reason}); falling back to cpu`,
      );
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(model, { ...options, executionProviders: [provider] });
      return { session, provider, notes };
    } catch (err) {
      notes.push(
        choice === 'auto'
          ? `${provider}: ${firstLine(err)}`
          : `${provider} failed to start this model (${firstLine(err)}); falling back to cpu`,
      );
    }
  }
  const session = await ort.InferenceSession.create(cpuModel ? cpuModel() : model, { ...options, executionProviders: ['cpu'] });
  return { session, provider: 'cpu', notes };
}

const probes = new Map<Provider, Promise<{ ok: boolean; reason: string }>>();

/** Starts a one-node model on the provider in a child process; cached per process. */
export function probeProvider(provider: Provider): Promise<{ ok: boolean; reason: string }> {
  let p = probes.get(provider);
  if (!p) {
    p = runProbe(provider);
    probes.set(provider, p);
  }
  return p;
}

function runProbe(provider: Provider): Promise<{ ok: boolean; reason: string }> {
  const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
  // A Softmax over a [1,2] float input; the bytes are an ONNX ModelProto written by hand.
  const script = `
const ort = require(${JSON.stringify(ortDir)});
const m = Buffer.from(${JSON.stringify(Buffer.from(tinySoftmaxModel()).toString('base64'))}, 'base64');
ort.InferenceSession.create(m, { executionProviders: [${JSON.stringify(provider)}] })
  .then(async (s) => { await s.run({ x: new ort.Tensor('float32', new Float32Array([1, 2]), [1, 2]) }); process.stdout.write('ok'); process.exit(0); })
  .catch((e) => { process.stdout.write(String(e && e.message || e).split('\\n')[0]); process.exit(3); });`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ORT_DISABLE_TELEMETRY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && out === 'ok') resolve({ ok: true, reason: '' });
      else resolve({ ok: false, reason: shortReason(out || err || `probe exited with ${code}`) });
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: e.message });
    });
  });
}

function shortReason(text: string): string {
  let line = text
    .trim()
    .split('\n')[0]
    .replace(/^Error:\s*/, '');
  // Native errors start with a source location and a failed check; the reason is after "was false.".
  const afterCheck = / was (?:false|true)\.\s*(.+)$/.exec(line);
  if (afterCheck) line = afterCheck[1];
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

function firstLine(err: unknown): string {
  return shortReason(err instanceof Error ? err.message : String(err));
}

/** ONNX bytes for y = Softmax(x), x: float32 [1, 2], opset 13. Hand-encoded to avoid a file. */
function tinySoftmaxModel(): Uint8Array {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
  const info = (name: string) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 2 }] } } },
  });
  return onnx.ModelProto.encode({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'probe', node: [{ opType: 'Softmax', input: ['x'], output: ['y'] }], input: [info('x')], output: [info('y')] },
  }).finish();
}

/** The lines a user sees about the provider: one under `auto`, the fallback sentence plus one otherwise. */
export function describeProvider(choice: ProviderChoice, provider: Provider, notes: string[]): string[] {
  if (choice !== 'auto') return [...notes, `execution provider: ${provider}`];
  const tried = notes.length > 0 ? ` (no GPU provider started: ${notes.join('; ')})` : '';
  return [`execution provider: ${provider}${tried}`];
}
