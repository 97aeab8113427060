// Test helper: fast-check arbitraries that mutate real files: bytes (flips, truncations, insertions, copies, large varints), text, and JSON fields by path.
import * as fc from 'fast-check';

/** A position as a fraction of a length, so that shrinking moves it towards the start. */
const where = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const at = (fraction: number, length: number) => Math.floor(fraction * length);

/** Values a hostile file puts where numbers are expected: boundaries, huge, negative, fractional. */
export const awkwardNumber = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE),
  fc.integer(),
  fc.double(),
);

/** JSON values of every type, deep and shallow, numbers awkward. */
export const awkwardValue: fc.Arbitrary<unknown> = fc.oneof(
  { maxDepth: 3 },
  awkwardNumber,
  fc.constantFrom(null, true, false, '', 'exact', 'skip', 'encoder', '[UNK]'),
  fc.string({ maxLength: 12 }),
  fc.array(awkwardNumber, { maxLength: 6 }),
  fc.constant([[[[[[[[1]]]]]]]]),
  fc.dictionary(fc.string({ maxLength: 6 }), awkwardNumber, { maxKeys: 3 }),
);

type ByteOp =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'copy'; from: number; to: number; length: number }
  | { kind: 'varint'; at: number; value: number };

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: where, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: where }),
  fc.record({ kind: fc.constant('insert' as const), at: where, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('copy' as const), from: where, to: where, length: fc.integer({ min: 1, max: 256 }) }),
  // Protobuf lengths and counts are varints: a large one aims at the decoder's bounds checks.
  fc.record({
    kind: fc.constant('varint' as const),
    at: where,
    value: fc.oneof(fc.integer({ min: 128, max: 2 ** 31 - 1 }), fc.constant(2 ** 31 - 1)),
  }),
);

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function applyBytes(base: Uint8Array, ops: ByteOp[]): Uint8Array {
  let b = Uint8Array.from(base);
  for (const op of ops) {
    const n = b.length;
    if (n === 0) break;
    if (op.kind === 'flip') b[at(op.at, n)] = op.value;
    else if (op.kind === 'truncate') b = b.subarray(0, at(op.at, n));
    else if (op.kind === 'insert' || op.kind === 'varint') {
      const i = at(op.at, n);
      const piece = op.kind === 'insert' ? op.bytes : Uint8Array.from(varint(op.value));
      const next = new Uint8Array(n + piece.length);
      next.set(b.subarray(0, i));
      next.set(piece, i);
      next.set(b.subarray(i), i + piece.length);
      b = next;
    } else {
      const from = at(op.from, n);
      b.copyWithin(at(op.to, n), from, Math.min(n, from + op.length));
    }
  }
  return b;
}

/** One of `bases` with 1 to 6 byte mutations. */
export function mutatedBytes(bases: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .record({ base: fc.integer({ min: 0, max: bases.length - 1 }), ops: fc.array(byteOp, { minLength: 1, maxLength: 6 }) })
    .map(({ base, ops }) => applyBytes(bases[base], ops));
}

/** One of `bases` with character flips, truncations and insertions of any code unit (lone surrogates and NULs included). */
export function mutatedText(bases: string[]): fc.Arbitrary<string> {
  const op = fc.record({ at: where, cut: fc.boolean(), insert: fc.string({ unit: 'binary', maxLength: 8 }) });
  return fc.record({ base: fc.integer({ min: 0, max: bases.length - 1 }), ops: fc.array(op, { maxLength: 4 }) }).map(({ base, ops }) => {
    let s = bases[base];
    for (const o of ops) {
      const i = at(o.at, s.length + 1);
      s = o.cut ? s.slice(0, i) + o.insert : s.slice(0, i) + o.insert + s.slice(i + 1);
    }
    return s;
  });
}

/** Every path to a value inside `json` (arrays and objects included), as key lists. */
export function jsonPaths(json: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(json)) json.forEach((v, i) => jsonPaths(v, [...prefix, i], out));
  else if (json && typeof json === 'object') for (const [k, v] of Object.entries(json)) jsonPaths(v, [...prefix, k], out);
  return out;
}

type JsonOp =
  | { path: number; kind: 'set'; value: unknown }
  | { path: number; kind: 'delete' }
  | { path: number; kind: 'nest' }
  | { path: number; kind: 'scale'; by: number };

/**
 * One of `bases` (parsed JSON) with 1 to 4 field mutations: a field set to an awkward value,
 * deleted, wrapped in an array, or a number scaled. Paths are chosen among the base's own,
 * so mutations land where readers look.
 */
export function mutatedJson(bases: unknown[]): fc.Arbitrary<unknown> {
  const paths = bases.map((b) => jsonPaths(b));
  const op: fc.Arbitrary<JsonOp> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ path: fc.nat(), kind: fc.constant('set' as const), value: awkwardValue }) },
    { weight: 1, arbitrary: fc.record({ path: fc.nat(), kind: fc.constant('delete' as const) }) },
    { weight: 1, arbitrary: fc.record({ path: fc.nat(), kind: fc.constant('nest' as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({ path: fc.nat(), kind: fc.constant('scale' as const), by: fc.constantFrom(-1, 0, 2, 1e6, 1.0000001, 1e-9) }),
    },
  );
  return fc
    .record({ base: fc.integer({ min: 0, max: bases.length - 1 }), ops: fc.array(op, { minLength: 1, maxLength: 4 }) })
    .map(({ base, ops }) => {
      const json = structuredClone(bases[base]);
      for (const o of ops) {
        const path = paths[base][o.path % paths[base].length];
        if (path.length === 0) continue;
        let parent = json as Record<string | number, unknown>;
        for (const k of path.slice(0, -1)) {
          if (parent === null || typeof parent !== 'object') break;
          parent = parent[k] as Record<string | number, unknown>;
        }
        if (parent === null || typeof parent !== 'object') continue;
        const key = path[path.length - 1];
        // A copy: constant values are shared between runs, and a value set inside itself would be a cycle.
        if (o.kind === 'set') parent[key] = structuredClone(o.value);
        else if (o.kind === 'delete') delete parent[key];
        else if (o.kind === 'nest') parent[key] = [parent[key]];
        else if (typeof parent[key] === 'number') parent[key] = (parent[key] as number) * o.by;
      }
      return json;
    });
}
