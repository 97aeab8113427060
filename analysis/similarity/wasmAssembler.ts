/**
 * A small assembler for the subset of WebAssembly text the SIMD kernel is written in:
 * one module that imports its memory and exports functions whose bodies are flat
 * instruction sequences (`local.get $x`, `f32x4.add`, `block $out` … `end`; no folded
 * S-expressions). The kernel's binary is built from its source text when the module loads,
 * so the repository holds no opaque .wasm file, no build step has to run first, and the
 * bundles carry it without a loader. Opcodes follow the WebAssembly core spec 2.0
 * (including fixed-width SIMD and bulk memory).
 */

export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';

export interface WasmFunction {
  name: string;
  params: [string, ValueType][];
  result?: ValueType;
  locals: [string, ValueType][];
  /** Flat instructions; `;;` starts a comment that runs to the end of the line. */
  body: string;
  exported?: boolean;
}

export interface WasmModuleSource {
  /** Imported as `env.memory`; `shared` memories need `maximumPages`. */
  memory: { initialPages: number; maximumPages: number; shared: boolean };
  functions: WasmFunction[];
}

const valueTypes: Record<ValueType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

// Instructions without immediates, by opcode (one byte, or 0xfd + LEB128 for SIMD).
const plain: Record<string, number> = {
  unreachable: 0x00,
  nop: 0x01,
  return: 0x0f,
  drop: 0x1a,
  select: 0x1b,
  'i32.eqz': 0x45,
  'i32.eq': 0x46,
  'i32.ne': 0x47,
  'i32.lt_s': 0x48,
  'i32.lt_u': 0x49,
  'i32.gt_s': 0x4a,
  'i32.gt_u': 0x4b,
  'i32.le_s': 0x4c,
  'i32.le_u': 0x4d,
  'i32.ge_s': 0x4e,
  'i32.ge_u': 0x4f,
  'f32.eq': 0x5b,
  'f32.ne': 0x5c,
  'f32.lt': 0x5d,
  'f32.gt': 0x5e,
  'f32.le': 0x5f,
  'f32.ge': 0x60,
  'f64.eq': 0x61,
  'f64.ne': 0x62,
  'f64.lt': 0x63,
  'f64.gt': 0x64,
  'f64.le': 0x65,
  'f64.ge': 0x66,
  'i32.add': 0x6a,
  'i32.sub': 0x6b,
  'i32.mul': 0x6c,
  'i32.div_s': 0x6d,
  'i32.div_u': 0x6e,
  'i32.rem_s': 0x6f,
  'i32.rem_u': 0x70,
  'i32.and': 0x71,
  'i32.or': 0x72,
  'i32.xor': 0x73,
  'i32.shl': 0x74,
  'i32.shr_s': 0x75,
  'i32.shr_u': 0x76,
  'f32.abs': 0x8b,
  'f32.neg': 0x8c,
  'f32.add': 0x92,
  'f32.sub': 0x93,
  'f32.mul': 0x94,
  'f32.div': 0x95,
  'f32.min': 0x96,
  'f32.max': 0x97,
  'f64.abs': 0x99,
  'f64.neg': 0x9a,
  'f64.add': 0xa0,
  'f64.sub': 0xa1,
  'f64.mul': 0xa2,
  'f64.div': 0xa3,
  'f64.min': 0xa4,
  'f64.max': 0xa5,
  'f64.convert_i32_s': 0xb7,
  'f64.convert_i32_u': 0xb8,
  'f64.promote_f32': 0xbb,
};

const simd: Record<string, number> = {
  'i32x4.splat': 0x11,
  'f32x4.splat': 0x13,
  'f64x2.splat': 0x14,
  'i32x4.eq': 0x37,
  'i32x4.ne': 0x38,
  'i32x4.lt_s': 0x39,
  'i32x4.gt_s': 0x3b,
  'f32x4.eq': 0x41,
  'f32x4.ne': 0x42,
  'f32x4.lt': 0x43,
  'f32x4.gt': 0x44,
  'f32x4.le': 0x45,
  'f32x4.ge': 0x46,
  'f64x2.eq': 0x47,
  'f64x2.ne': 0x48,
  'f64x2.lt': 0x49,
  'f64x2.gt': 0x4a,
  'f64x2.le': 0x4b,
  'f64x2.ge': 0x4c,
  'v128.not': 0x4d,
  'v128.and': 0x4e,
  'v128.andnot': 0x4f,
  'v128.or': 0x50,
  'v128.xor': 0x51,
  'v128.bitselect': 0x52,
  'v128.any_true': 0x53,
  'f64x2.promote_low_f32x4': 0x5f,
  'i32x4.shl': 0xab,
  'i32x4.shr_s': 0xac,
  'i32x4.shr_u': 0xad,
  'i32x4.add': 0xae,
  'i32x4.sub': 0xb1,
  'i32x4.min_u': 0xb7,
  'f32x4.abs': 0xe0,
  'f32x4.neg': 0xe1,
  'f32x4.add': 0xe4,
  'f32x4.sub': 0xe5,
  'f32x4.mul': 0xe6,
  'f32x4.div': 0xe7,
  'f32x4.min': 0xe8,
  'f32x4.max': 0xe9,
  'f32x4.pmin': 0xea,
  'f32x4.pmax': 0xeb,
  'f64x2.abs': 0xec,
  'f64x2.neg': 0xed,
  'f64x2.add': 0xf0,
  'f64x2.sub': 0xf1,
  'f64x2.mul': 0xf2,
  'f64x2.div': 0xf3,
  'f64x2.min': 0xf4,
  'f64x2.max': 0xf5,
  'f64x2.pmin': 0xf6,
  'f64x2.pmax': 0xf7,
  'f32x4.nearest': 0x6a,
  'i32x4.trunc_sat_f32x4_u': 0xf9,
  'f32x4.convert_i32x4_s': 0xfa,
  'f64x2.convert_low_i32x4_u': 0xff,
};

// Memory access: opcode and natural alignment (log2 bytes).
const memoryOps: Record<string, [number[], number]> = {
  'i32.load': [[0x28], 2],
  'f32.load': [[0x2a], 2],
  'f64.load': [[0x2b], 3],
  'i32.store': [[0x36], 2],
  'f32.store': [[0x38], 2],
  'f64.store': [[0x39], 3],
  'v128.load': [[0xfd, 0x00], 4],
  'v128.store': [[0xfd, 0x0b], 4],
};

const laneOps: Record<string, number> = { 'f32x4.extract_lane': 0x1f, 'f64x2.extract_lane': 0x21 };

function unsigned(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`wasm: ${n} is not a u32`);
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

function signed(n: number): number[] {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) throw new Error(`wasm: ${n} is not an i32`);
  n |= 0;
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function bytesOf(array: Float32Array | Float64Array | Int32Array): number[] {
  return Array.from(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
}

function name(s: string): number[] {
  const utf8 = Array.from(Buffer.from(s, 'utf8'));
  return [...unsigned(utf8.length), ...utf8];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsigned(body.length), ...body];
}

function vector(items: number[][]): number[] {
  return [...unsigned(items.length), ...items.flat()];
}

/** Encodes one function body; labels and locals are resolved by name. */
function assembleBody(fn: WasmFunction, functionIndex: Map<string, number>): number[] {
  const localIndex = new Map<string, number>();
  [...fn.params, ...fn.locals].forEach(([n], i) => localIndex.set(n, i));
  const tokens = fn.body
    .replace(/;;[^\n]*/g, '')
    .split(/\s+/)
    .filter((t) => t.length > 0);
  const out: number[] = [];
  const labels: (string | undefined)[] = [];
  let i = 0;
  const where = () => `wasm: function ${fn.name}, token ${i} ("${tokens[i - 1]}")`;
  const next = (): string => {
    if (i >= tokens.length) throw new Error(`${where()}: unexpected end of body`);
    return tokens[i++];
  };
  const number = (): number => {
    const t = next();
    const v = Number(t);
    if (!Number.isFinite(v)) throw new Error(`${where()}: "${t}" is not a number`);
    return v;
  };
  const label = (): number => {
    const t = next();
    const depth = labels.length - 1 - labels.lastIndexOf(t);
    if (!labels.includes(t)) throw new Error(`${where()}: unknown label ${t}`);
    return depth;
  };
  while (i < tokens.length) {
    const op = next();
    if (op === 'block' || op === 'loop' || op === 'if') {
      out.push(op === 'block' ? 0x02 : op === 'loop' ? 0x03 : 0x04, 0x40);
      labels.push(tokens[i]?.startsWith('$') ? next() : undefined);
    } else if (op === 'else') {
      out.push(0x05);
    } else if (op === 'end') {
      if (labels.length === 0) throw new Error(`${where()}: end without a block`);
      labels.pop();
      out.push(0x0b);
    } else if (op === 'br' || op === 'br_if') {
      out.push(op === 'br' ? 0x0c : 0x0d, ...unsigned(label()));
    } else if (op === 'call') {
      const target = next();
      const index = functionIndex.get(target.replace(/^\$/, ''));
      if (index === undefined) throw new Error(`${where()}: unknown function ${target}`);
      out.push(0x10, ...unsigned(index));
    } else if (op === 'local.get' || op === 'local.set' || op === 'local.tee') {
      const t = next();
      const index = localIndex.get(t.replace(/^\$/, ''));
      if (index === undefined) throw new Error(`${where()}: unknown local ${t}`);
      out.push(op === 'local.get' ? 0x20 : op === 'local.set' ? 0x21 : 0x22, ...unsigned(index));
    } else if (op === 'i32.const') {
      out.push(0x41, ...signed(number()));
    } else if (op === 'f32.const') {
      out.push(0x43, ...bytesOf(Float32Array.of(number())));
    } else if (op === 'f64.const') {
      out.push(0x44, ...bytesOf(Float64Array.of(number())));
    } else if (op === 'v128.const') {
      const shape = next();
      const values = shape === 'f64x2' ? [number(), number()] : [number(), number(), number(), number()];
      const array =
        shape === 'i32x4'
          ? Int32Array.from(values)
          : shape === 'f32x4'
            ? Float32Array.from(values)
            : shape === 'f64x2'
              ? Float64Array.from(values)
              : undefined;
      if (!array) throw new Error(`${where()}: v128.const takes i32x4, f32x4 or f64x2, not ${shape}`);
      out.push(0xfd, ...unsigned(0x0c), ...bytesOf(array));
    } else if (op === 'i8x16.shuffle') {
      const lanes = Array.from({ length: 16 }, number);
      if (lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) throw new Error(`${where()}: shuffle lanes must be 0..31`);
      out.push(0xfd, ...unsigned(0x0d), ...lanes);
    } else if (op in laneOps) {
      out.push(0xfd, ...unsigned(laneOps[op]), number());
    } else if (op in memoryOps) {
      const [code, natural] = memoryOps[op];
      let offset = 0;
      let align = natural;
      while (/^(offset|align)=/.test(tokens[i] ?? '')) {
        const [key, value] = next().split('=');
        if (key === 'offset') offset = Number(value);
        else align = Math.log2(Number(value));
      }
      if (!Number.isInteger(align) || align > natural) throw new Error(`${where()}: bad alignment`);
      out.push(...code.slice(0, 1), ...(code.length > 1 ? unsigned(code[1]) : []), ...unsigned(align), ...unsigned(offset));
    } else if (op === 'memory.copy') {
      out.push(0xfc, ...unsigned(10), 0x00, 0x00);
    } else if (op === 'memory.fill') {
      out.push(0xfc, ...unsigned(11), 0x00);
    } else if (op in plain) {
      out.push(plain[op]);
    } else if (op in simd) {
      out.push(0xfd, ...unsigned(simd[op]));
    } else {
      throw new Error(`${where()}: unknown instruction`);
    }
  }
  if (labels.length !== 0) throw new Error(`wasm: function ${fn.name}: ${labels.length} block(s) not closed`);
  // Locals are declared in runs of one type.
  const runs: number[][] = [];
  for (const [, type] of fn.locals) {
    const last = runs[runs.length - 1];
    if (last && last[1] === valueTypes[type]) last[0]++;
    else runs.push([1, valueTypes[type]]);
  }
  const code = [...vector(runs.map(([count, type]) => [...unsigned(count), type])), ...out, 0x0b];
  return [...unsigned(code.length), ...code];
}

/** The binary module for `source`. */
export function assembleModule(source: WasmModuleSource): Uint8Array {
  const { functions, memory } = source;
  const signatures: string[] = [];
  const typeOf = functions.map((fn) => {
    const encoded = [0x60, ...vector(fn.params.map(([, t]) => [valueTypes[t]])), ...vector(fn.result ? [[valueTypes[fn.result]]] : [])];
    const key = encoded.join(',');
    if (!signatures.includes(key)) signatures.push(key);
    return signatures.indexOf(key);
  });
  const functionIndex = new Map(functions.map((fn, index) => [fn.name, index]));
  const limits = memory.shared
    ? [0x03, ...unsigned(memory.initialPages), ...unsigned(memory.maximumPages)]
    : [0x01, ...unsigned(memory.initialPages), ...unsigned(memory.maximumPages)];
  const exported = functions.filter((fn) => fn.exported);
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vector(signatures.map((s) => s.split(',').map(Number)))),
    ...section(2, vector([[...name('env'), ...name('memory'), 0x02, ...limits]])),
    ...section(3, vector(typeOf.map((t) => unsigned(t)))),
    ...section(7, vector(exported.map((fn) => [...name(fn.name), 0x00, ...unsigned(functionIndex.get(fn.name)!)]))),
    ...section(10, vector(functions.map((fn) => assembleBody(fn, functionIndex)))),
  ]);
}
