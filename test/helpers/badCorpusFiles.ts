// Test helper: builds the files a bad-input case names (test/fixtures/bad/cases.json), large ones generated here rather than committed.
import {
  copyFileSync,
  chmodSync,
  closeSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';
import { analyzeModel } from '../../analysis/app/analyze';
import { emitReuseConfig } from '../../analysis/app/emit';
import { encodeTokenFile } from '../../analysis/config/tokenFile';
import { root } from './paths.mjs';
import { encodeNpy, encodeNpz, randomArray, randomPng } from './npyFiles';
import { pseudoRandom } from '../../analysis/runtime/pseudoRandom';

export const placeholders: Record<string, string> = {
  root,
  models: join(root, 'test', 'fixtures', 'models'),
  bad: join(root, 'test', 'fixtures', 'bad'),
  sample: join(root, 'media', 'sample'),
};

/** How one file of a case's work folder is made; `set` edits JSON fields by dotted path. */
export interface FileSpec {
  /** Bytes written one per character (latin1), so that cases can hold a BOM, NUL or invalid UTF-8. */
  text?: string;
  json?: unknown;
  copy?: string;
  /** An analysis, config or tokenizer of the library (built once per test run). */
  analysis?: string;
  config?: string;
  tokenizer?: string;
  /** Fields to set by dotted path; "$delete" removes one, "$raw:TEXT" writes TEXT unquoted. */
  set?: Record<string, unknown>;
  /** Wraps the JSON in this many arrays. */
  nest?: number;
  gen?:
    | 'deepJsonl'
    | 'longLine'
    | 'binary'
    | 'bigJsonl'
    | 'bigText'
    | 'externalModel'
    | 'tokenFile'
    | 'sparse'
    | 'png'
    | 'arrays'
    | 'fusedEdit';
  /** Generator size: MiB for lines and big files, depth for deepJsonl, bytes for sparse. */
  size?: number;
  /**
   * Generator options (externalModel: location, truncate; tokenFile: header fields; arrays: NAME → shape, one makes an
   * .npy; fusedEdit: from (a fixture's name), op (its first node of that type is edited), attribute, value (an integer)).
   */
  options?: Record<string, unknown>;
  folder?: boolean;
  symlink?: string;
  hardlink?: string;
  /** Octal permissions applied last, e.g. "000". */
  mode?: string;
}

/** Replaces {root}, {models}, {bad}, {sample}, {work} and {lib}. */
export function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/\{(\w+)\}/g, (m, key: string) => vars[key] ?? placeholders[key] ?? m);
}

/** The library: real analysis files, shards of several runs and a reuse config, made once. */
export interface Library {
  dir: string;
  files: Record<string, string>;
}

export async function buildLibrary(dir: string): Promise<Library> {
  const m = placeholders.models;
  const inputs = join(m, 'bert_opset13.inputs.jsonl');
  const otherInputs = join(dir, 'copy-of-inputs.jsonl');
  copyFileSync(inputs, otherInputs);
  const runs: Record<string, { model?: string; inputs?: string; shard?: [number, number]; examples?: number }> = {
    base: {},
    s0of2: { shard: [0, 2] },
    s1of2: { shard: [1, 2] },
    s1of2ex3: { shard: [1, 2], examples: 3 },
    s1of2otherInputs: { shard: [1, 2], inputs: otherInputs },
    s1of2otherModel: { shard: [1, 2], model: join(m, 'bert_opset17.onnx'), inputs: join(m, 'bert_opset17.inputs.jsonl') },
    s0of3: { shard: [0, 3] },
    s1of3: { shard: [1, 3] },
  };
  const files: Record<string, string> = {};
  for (const [name, r] of Object.entries(runs)) {
    files[name] = join(dir, `${name}.json`);
    await analyzeModel({
      model: r.model ?? join(m, 'bert_opset13.onnx'),
      source: { kind: 'jsonl', path: r.inputs ?? inputs },
      ep: 'cpu',
      examples: r.examples,
      shard: r.shard && { index: r.shard[0], count: r.shard[1] },
      out: files[name],
    });
  }
  files.config = join(dir, 'base.reuse.json');
  await emitReuseConfig({ analysis: files.base, out: files.config, P: 1, K: 2 });
  files.sampleTokenizer = join(placeholders.sample, 'tokenizer.json');
  return { dir, files };
}

function setPath(obj: unknown, path: string, value: unknown): void {
  const keys = path.split('.');
  let at = obj as Record<string, unknown>;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  const last = keys[keys.length - 1];
  if (value === '$delete') delete at[last];
  else at[last] = value;
}

/** A JSONL line of `input_ids` (all 1) at least `mib` MiB long. */
function longJsonlLine(mib: number): string {
  const count = Math.ceil((mib * 2 ** 20) / 2);
  return `{"input_ids":[${'1,'.repeat(count - 1)}1]}\n`;
}

/** Writes `target` by repeating `unit` until it holds `mib` MiB, in large writes. */
function repeatTo(target: string, unit: string, mib: number): void {
  const block = Buffer.from(unit.repeat(Math.max(1, Math.floor(2 ** 20 / unit.length))));
  const fd = openSync(target, 'w');
  try {
    for (let written = 0; written < mib * 2 ** 20; written += block.length) writeSync(fd, block);
  } finally {
    closeSync(fd);
  }
}

/** bert_opset13 with its large initializers moved into a data file beside it (ONNX external data). */
function externalModel(target: string, options: Record<string, unknown>): void {
  const m = onnx.ModelProto.decode(new Uint8Array(readFileSync(join(placeholders.models, 'bert_opset13.onnx'))));
  const dataName = 'model.data';
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of m.graph!.initializer!) {
    if (!t.rawData || t.rawData.length <= 256) continue;
    chunks.push(Buffer.from(t.rawData));
    t.externalData = [
      { key: 'location', value: String(options.location ?? dataName) },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(t.rawData.length) },
    ];
    t.dataLocation = 1;
    offset += t.rawData.length;
    t.rawData = new Uint8Array(0);
  }
  const data = Buffer.concat(chunks);
  writeFileSync(join(dirname(target), dataName), options.truncate ? data.subarray(0, Number(options.truncate)) : data);
  writeFileSync(target, onnx.ModelProto.encode(m).finish());
}

/** A fused fixture with one integer attribute of its first node of type `op` set (added when absent). */
function fusedEdit(target: string, options: Record<string, unknown>): void {
  const m = onnx.ModelProto.decode(readFileSync(join(placeholders.models, `${String(options.from)}.onnx`)));
  const node = m.graph!.node!.find((n) => n.opType === options.op);
  if (!node) throw new Error(`${String(options.from)}.onnx has no ${String(options.op)} node`);
  node.attribute = (node.attribute ?? []).filter((a) => a.name !== options.attribute);
  node.attribute.push(
    onnx.AttributeProto.create({ name: String(options.attribute), type: onnx.AttributeProto.AttributeType.INT, i: Number(options.value) }),
  );
  writeFileSync(target, onnx.ModelProto.encode(m).finish());
}

function generate(target: string, spec: FileSpec): void {
  const size = spec.size ?? 1;
  switch (spec.gen) {
    case 'deepJsonl':
      return writeFileSync(target, `{"input_ids":${'['.repeat(size)}1${']'.repeat(size)}}\n`);
    case 'longLine':
      return writeFileSync(target, spec.options?.text ? `${'word '.repeat(Math.ceil((size * 2 ** 20) / 5))}\n` : longJsonlLine(size));
    case 'binary': {
      // An ELF-like header (NUL in its first line), then seeded random bytes.
      const random = pseudoRandom(size);
      const bytes = Buffer.from(
        Array.from({ length: size * 1024 }, (_, i) => (i < 8 ? [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0][i] : Math.floor(random() * 256))),
      );
      return writeFileSync(target, bytes);
    }
    case 'bigJsonl':
      return repeatTo(target, readFileSync(join(placeholders.models, 'bert_opset13.inputs.jsonl'), 'utf8'), size);
    case 'bigText':
      return repeatTo(target, readFileSync(join(placeholders.sample, 'sentences.txt'), 'utf8'), size);
    case 'externalModel':
      return externalModel(target, spec.options ?? {});
    case 'tokenFile': {
      const o = spec.options ?? {};
      const bytes = encodeTokenFile(
        [
          [2, 5, 3],
          [2, 6, 3],
        ],
        { vocabSize: Number(o.vocabSize ?? 9), padId: 0, maskId: 4, specialIds: [0, 2, 3], maxLength: 8, tokenizer: 't', text: 'x' },
      );
      if (o.headerLength !== undefined) new DataView(bytes.buffer).setUint32(8, Number(o.headerLength), true);
      return writeFileSync(target, o.truncate ? bytes.subarray(0, Number(o.truncate)) : bytes);
    }
    case 'png': {
      const png = randomPng(size, size, 1);
      // options.declare: the width and height its IHDR claims instead (a decompression bomb's header).
      const declare = spec.options?.declare as number[] | undefined;
      if (declare) {
        png.writeUInt32BE(declare[0], 16);
        png.writeUInt32BE(declare[1], 20);
      }
      return writeFileSync(target, png);
    }
    case 'arrays': {
      const shapes = Object.entries((spec.options ?? {}) as Record<string, number[]>);
      const arrays = Object.fromEntries(shapes.map(([name, shape], i) => [name, randomArray(shape, i + 1)]));
      return writeFileSync(target, target.endsWith('.npy') ? encodeNpy(arrays[shapes[0][0]]) : encodeNpz(arrays));
    }
    case 'fusedEdit':
      return fusedEdit(target, spec.options ?? {});
    case 'sparse': {
      const fd = openSync(target, 'w');
      ftruncateSync(fd, size);
      return closeSync(fd);
    }
    default:
      throw new Error(`unknown generator ${spec.gen}`);
  }
}

/** Makes one file of a work folder; returns nothing, throws on a spec it does not know. */
export function makeFile(target: string, spec: FileSpec, lib: Library, vars: Record<string, string>): void {
  mkdirSync(dirname(target), { recursive: true });
  if (spec.folder) mkdirSync(target, { recursive: true });
  else if (spec.symlink !== undefined) symlinkSync(fill(spec.symlink, vars), target);
  else if (spec.hardlink !== undefined) linkSync(fill(spec.hardlink, vars), target);
  else if (spec.gen) generate(target, spec);
  else if (spec.copy !== undefined) copyFileSync(fill(spec.copy, vars), target);
  else if (spec.text !== undefined) writeFileSync(target, spec.text, 'latin1');
  else {
    const source = spec.analysis ?? spec.config ?? spec.tokenizer;
    let json: unknown = spec.json;
    if (source !== undefined) {
      const path = source === 'tokenizer' ? lib.files.sampleTokenizer : lib.files[source];
      if (!path) throw new Error(`no library file ${source}`);
      json = JSON.parse(readFileSync(path, 'utf8'));
    }
    for (const [path, value] of Object.entries(spec.set ?? {})) setPath(json, path, value);
    // "$raw:1e999" writes 1e999 itself: JSON that parses to Infinity, which no JSON value can say.
    let text = JSON.stringify(json).replace(/"\$raw:([^"]*)"/g, '$1');
    for (let i = 0; i < (spec.nest ?? 0); i++) text = `[${text}]`;
    writeFileSync(target, text);
  }
  if (spec.mode !== undefined) chmodSync(target, parseInt(spec.mode, 8));
}
