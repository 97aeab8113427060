/**
 * The host's side of the panel protocol that needs no `vscode`: checking what the webview
 * posts (untrusted input: a compromised or buggy page must not reach the file system or
 * commands with arbitrary values) and turning an analysis file into the flat typed arrays
 * the webview draws from.
 */
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { AnalysisInfo, AnalysisMessage, FromWebview, StackPayload, Tensor } from '../webview/protocol';

export type CheckedMessage = { ok: true; message: FromWebview } | { ok: false; reason: string };

/** Exports larger than this are refused (a 4k PNG is a few MB; this leaves ample room). */
export const maxExportBytes = 64 * 1024 * 1024;
const maxIndex = 1_000_000;

class Invalid extends Error {}

function record(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Invalid('not an object');
  return v as Record<string, unknown>;
}

function index(o: Record<string, unknown>, key: string, max = maxIndex): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Invalid(`"${key}" must be an integer in 0..${max}`);
  return v;
}

function text(o: Record<string, unknown>, key: string, maxLength: number, pattern?: RegExp): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) throw new Invalid(`"${key}" must be a string of 1..${maxLength} characters`);
  if (pattern && !pattern.test(v)) throw new Invalid(`"${key}" has characters it may not hold`);
  return v;
}

function oneOf<T extends string>(o: Record<string, unknown>, key: string, values: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new Invalid(`"${key}" must be one of ${values.join(', ')}`);
  return v as T;
}

const stackName = /^[\w.:/-]+$/;

/**
 * Validates one message from the webview and returns a fresh object holding only the
 * fields the protocol defines, or the reason it was refused.
 */
export function checkWebviewMessage(raw: unknown): CheckedMessage {
  try {
    const o = record(raw);
    const type = o.type;
    switch (type) {
      case 'ready':
        return { ok: true, message: { type } };
      case 'openDetail':
        return { ok: true, message: { type } };
      case 'requestAttentionMap':
        return {
          ok: true,
          message: { type, requestId: index(o, 'requestId', Number.MAX_SAFE_INTEGER), example: index(o, 'example'), stack: text(o, 'stack', 200, stackName), layer: index(o, 'layer'), head: index(o, 'head') },
        };
      case 'selectLayerPair':
        return { ok: true, message: { type, stack: text(o, 'stack', 200, stackName), layer: index(o, 'layer'), otherLayer: index(o, 'otherLayer') } };
      case 'emitConfig':
        return { ok: true, message: { type, stack: text(o, 'stack', 200, stackName), candidate: index(o, 'candidate') } };
      case 'exportChart': {
        const format = oneOf(o, 'format', ['png', 'csv', 'svg'] as const);
        const chart = text(o, 'chart', 120, /^[\w.-]+$/);
        const data = text(o, 'data', maxExportBytes);
        if (format === 'png' && !/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/.test(data)) throw new Invalid('a PNG export must be a base64 data:image/png URL');
        if (format === 'svg' && !data.startsWith('<svg')) throw new Invalid('an SVG export must start with <svg');
        return { ok: true, message: { type, chart, format, data } };
      }
      case 'runCommand':
        return { ok: true, message: { type, command: oneOf(o, 'command', ['analyzeSample', 'analyzeModel', 'openAnalysis'] as const) } };
      case 'log':
        return { ok: true, message: { type, level: oneOf(o, 'level', ['info', 'warn', 'error'] as const), message: text(o, 'message', 4000) } };
      default:
        return { ok: false, reason: `unknown message type ${JSON.stringify(type)?.slice(0, 60)}` };
    }
  } catch (err) {
    if (err instanceof Invalid) {
      const type = typeof raw === 'object' && raw !== null ? String((raw as { type?: unknown }).type).slice(0, 60) : typeof raw;
      return { ok: false, reason: `${type}: ${err.message}` };
    }
    throw err;
  }
}

/** Flattens nested arrays of a known shape into one typed array, checking every length. */
function flat<T extends Float64Array | Int32Array>(Type: new (n: number) => T, nested: unknown, shape: number[], what: string): Tensor<T> {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Type(size);
  let at = 0;
  const walk = (v: unknown, depth: number) => {
    if (depth === shape.length) {
      out[at++] = v as number;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw new Error(`${what} does not have shape [${shape.join(', ')}]`);
    for (const x of v) walk(x, depth + 1);
  };
  walk(nested, 0);
  return { shape, data: out };
}

export function stackPayload(s: AnalysisFile['stacks'][number]): StackPayload {
  const L = s.layerCount; // the paper's L
  const H = s.headCount; // the paper's H
  return {
    name: s.name,
    kind: s.kind,
    layerCount: L,
    headCount: H,
    dims: s.dims,
    headPairs: flat(Float64Array, s.headPairs, [L, H, L, H], 'headPairs'),
    c: flat(Float64Array, s.c, [L, H, L], 'c'),
    cArgmax: flat(Int32Array, s.cArgmax, [L, H, L], 'cArgmax'),
    layerPairs: flat(Float64Array, s.layerPairs, [L, L], 'layerPairs'),
    sequentialHeads: flat(Int32Array, s.sequential.map((row) => row.map((e) => e.head)), [Math.max(0, L - 1), H], 'sequential'),
    sequentialValues: flat(Float64Array, s.sequential.map((row) => row.map((e) => e.value)), [Math.max(0, L - 1), H], 'sequential'),
    uniform: flat(Float64Array, s.uniform, [L, H], 'uniform'),
    entropy: flat(Float64Array, s.entropy, [L, H], 'entropy'),
  };
}

export function analysisMessage(file: AnalysisFile | null, label: string, canShowAttention: boolean): AnalysisMessage {
  if (!file) return { type: 'analysis', info: null, stacks: [] };
  const info: AnalysisInfo = {
    label,
    model: file.model,
    run: {
      examples: file.run.examples,
      tokens: file.run.tokens,
      executionProvider: file.run.executionProvider,
      precision: file.run.precision,
      seconds: file.run.seconds,
      inputs: file.run.inputs,
    },
    canShowAttention,
  };
  return { type: 'analysis', info, stacks: file.stacks.map(stackPayload) };
}
