/**
 * The host's check of what the webview posts: every message is untrusted input (a
 * compromised or buggy page must not reach the file system or commands with arbitrary
 * values), so each is validated field by field and copied, keyed by its type.
 */
import type { FromWebview } from '../protocol/messages';
import type { FromModelEditor } from '../protocol/modelMessages';

export type Checked<M> = { ok: true; message: M } | { ok: false; reason: string };
export type CheckedMessage = Checked<FromWebview>;

/** Exports larger than this are refused (a 4k PNG is a few MB; this leaves ample room). */
export const maxExportBytes = 64 * 1024 * 1024;
const maxIndex = 1_000_000;
/** The most candidates one "Try on model" measures. */
export const maxTried = 8;

class Invalid extends Error {}

type Fields = Record<string, unknown>;

function record(v: unknown): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Invalid('not an object');
  return v as Fields;
}

function index(o: Fields, key: string, max = maxIndex): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Invalid(`"${key}" must be an integer in 0..${max}`);
  return v;
}

/** An optional index: absent (undefined) or an integer in 0..max. */
function optionalIndex(o: Fields, key: string, max = maxIndex): number | undefined {
  return o[key] === undefined ? undefined : index(o, key, max);
}

function text(o: Fields, key: string, maxLength: number, pattern?: RegExp): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength)
    throw new Invalid(`"${key}" must be a string of 1..${maxLength} characters`);
  if (pattern && !pattern.test(v)) throw new Invalid(`"${key}" has characters it may not hold`);
  return v;
}

function oneOf<T extends string>(o: Fields, key: string, values: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
    throw new Invalid(`"${key}" must be one of ${values.join(', ')}`);
  return v as T;
}

const stackName = /^[\w.:/-]+$/;
/** A run names its folder: any path, but no control characters. */
const runName = /^\P{Cc}+$/u;

/** `{key: value}` when value is defined, else nothing: an absent optional field stays absent in the copy. */
function withDefined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Checks one message type's fields and returns a fresh object with only the protocol's fields. */
type Validator<M extends { type: string }, T extends M['type']> = (o: Fields) => Extract<M, { type: T }>;
/** One validator per type of a union of messages: a type added to the union fails to compile until it has one. */
type Validators<M extends { type: string }> = { [T in M['type']]: Validator<M, T> };

const modelAction = (o: Fields) => ({
  type: 'modelAction' as const,
  action: oneOf(o, 'action', ['analyze', 'inspectInPanel', 'showLog'] as const),
});

/**
 * One validator per message the webview may post. The mapped type makes a message added to
 * `FromWebview` fail to compile until it has a validator here.
 */
const validators: Validators<FromWebview> = {
  ready: () => ({ type: 'ready' }),
  openDetail: () => ({ type: 'openDetail' }),
  requestAttentionMap: (o) => ({
    type: 'requestAttentionMap',
    messageId: index(o, 'messageId', Number.MAX_SAFE_INTEGER),
    example: index(o, 'example'),
    stack: text(o, 'stack', 200, stackName),
    layer: index(o, 'layer'),
    head: index(o, 'head'),
    ...withDefined('matchLayer', optionalIndex(o, 'matchLayer')),
  }),
  selectLayerPair: (o) => ({
    type: 'selectLayerPair',
    stack: text(o, 'stack', 200, stackName),
    layer: index(o, 'layer'),
    otherLayer: index(o, 'otherLayer'),
  }),
  emitConfig: (o) => ({ type: 'emitConfig', stack: text(o, 'stack', 200, stackName), candidate: index(o, 'candidate') }),
  exportChart: (o) => {
    const format = oneOf(o, 'format', ['png', 'csv', 'svg'] as const);
    const chart = text(o, 'chart', 120, /^[\w.-]+$/);
    const data = text(o, 'data', maxExportBytes);
    if (format === 'png' && !/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/.test(data))
      throw new Invalid('a PNG export must be a base64 data:image/png URL');
    if (format === 'svg' && !data.startsWith('<svg')) throw new Invalid('an SVG export must start with <svg');
    return { type: 'exportChart', chart, format, data };
  },
  runCommand: (o) => ({
    type: 'runCommand',
    command: oneOf(o, 'command', ['analyzeSample', 'analyzeModel', 'openAnalysis', 'showLog'] as const),
  }),
  modelAction,
  cancelTraining: (o) => ({ type: 'cancelTraining', run: text(o, 'run', 4096, runName) }),
  resumeTraining: (o) => ({ type: 'resumeTraining', run: text(o, 'run', 4096, runName) }),
  tryOnModel: (o) => {
    const list = o.candidates;
    // Each candidate is a rewrite and a run of the model: a few at a time.
    if (!Array.isArray(list) || list.length === 0 || list.length > maxTried)
      throw new Invalid(`"candidates" must list 1 to ${maxTried} candidates`);
    const candidates = list.map((v: unknown) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > maxIndex)
        throw new Invalid(`"candidates" must hold integers in 0..${maxIndex}`);
      return v;
    });
    return { type: 'tryOnModel', stack: text(o, 'stack', 200, stackName), candidates: [...new Set(candidates)] };
  },
  cancelTryOnModel: () => ({ type: 'cancelTryOnModel' }),
  log: (o) => ({ type: 'log', level: oneOf(o, 'level', ['info', 'warn', 'error'] as const), message: text(o, 'message', 4000) }),
};

/** What the `.onnx` summary editor may post. */
const modelEditorValidators: Validators<FromModelEditor> = {
  ready: () => ({ type: 'ready' }),
  modelAction,
};

/**
 * Validates one message against a table of validators and returns a fresh object holding
 * only the fields the protocol defines, or the reason it was refused.
 */
function checkMessage<M extends { type: string }>(table: Validators<M>, raw: unknown): Checked<M> {
  try {
    const o = record(raw);
    const type = o.type;
    if (typeof type !== 'string' || !Object.hasOwn(table, type))
      return { ok: false, reason: `unknown message type ${JSON.stringify(type)?.slice(0, 60)}` };
    // The cast joins the table's per-type validators back into one signature.
    return { ok: true, message: (table[type as M['type']] as Validator<M, M['type']>)(o) };
  } catch (err) {
    if (err instanceof Invalid) {
      const type = typeof raw === 'object' && raw !== null ? String((raw as { type?: unknown }).type).slice(0, 60) : typeof raw;
      return { ok: false, reason: `${type}: ${err.message}` };
    }
    throw err;
  }
}

/** A message from the panel's webviews. */
export function checkWebviewMessage(raw: unknown): CheckedMessage {
  return checkMessage(validators, raw);
}

/** A message from the `.onnx` summary editor. */
export function checkModelEditorMessage(raw: unknown): Checked<FromModelEditor> {
  return checkMessage(modelEditorValidators, raw);
}
