/**
 * The reuse modes, one row each: which layers reuse, the bounds of P and K, their defaults,
 * the candidates the planner scores, and the head map. The cost model, the planner, the
 * config's validation and schema, the CLI help and the panel all read this table, so a new
 * mode is a row here (and, if its heads are placed differently, its `heads` function).
 *
 * P is the paper's number of reuse layers and K its number of reuse heads per reuse layer;
 * layers and heads are 0-based (DESIGN.md "Indexing").
 */
import { InputError } from '../errors';
import type { HeadPairs } from './headAssignment';
import { guidedHeadMap } from './headAssignment';
import { algorithm1HeadMap } from './headMap';
import type { HeadMap, LayerKind } from './headMap';

export type Range = [number, number];

/** What a mode's head map is built from. */
export interface HeadMapRequest {
  L: number;
  H: number;
  P: number;
  K: number;
  /** Measured head-pair similarity, when an analysis is at hand (the planner, emit). */
  headPairs?: HeadPairs;
}

export interface ReuseModeRow {
  name: string;
  /** A few words for menus and tables. */
  label: string;
  /** One line for help texts. */
  description: string;
  /** What its reuse layers do; `custom` layers are whatever its map says. */
  kind: Exclude<LayerKind, 'exact'>;
  /** The reuse (or skip) layers for P, in order; null where a map is given instead (custom). */
  layers: ((L: number, P: number) => number[]) | null;
  /** Accepted P and K for L layers and H heads. */
  bounds: (L: number, H: number) => { P: Range; K: Range };
  /** P when none is given (undefined: P must be given). */
  defaultP?: (L: number) => number;
  /** Whole-layer modes take K = H when none is given. */
  wholeLayers: boolean;
  /** The (P, K) candidates the planner scores; the first mode listing a configuration owns it. */
  candidates: (L: number, H: number) => { P: number; K: number }[];
  /**
   * Whether the planner may place the model's heads into the Algorithm-1 slots by maximum-
   * weight assignment (the same architecture with heads where they lose least).
   */
  placeHeads: boolean;
  /**
   * Whether its head map is chosen from measured similarity, so that every layer it plans
   * must have been analysed (extra layers, appended to the analysed ones, never are).
   */
  measured?: boolean;
  /**
   * The head map of P and K, where it is not Algorithm 1 over `layers` in the paper's slot
   * order (the default); unused where a map is given (custom).
   */
  heads?: (r: HeadMapRequest) => HeadMap;
}

const upTo = (n: number, f: (i: number) => { P: number; K: number }) => Array.from({ length: Math.max(0, n) }, (_, i) => f(i + 1));

/** Algorithm 1 with the mode's layers reusing (or skipping). */
export function slotHeadMap(row: ReuseModeRow, r: HeadMapRequest): HeadMap {
  const kinds: LayerKind[] = new Array(r.L).fill('exact');
  for (const l of row.layers?.(r.L, r.P) ?? []) kinds[l] = row.kind;
  return algorithm1HeadMap(kinds, r.H, row.kind === 'skip' ? 0 : r.K);
}

const firstP = (_L: number, P: number) => Array.from({ length: P }, (_, p) => 1 + p);
/** P may reach the layer before the last (0-based L-1); K any number of heads. */
const anyK = (L: number, H: number) => ({ P: [0, Math.max(0, L - 1)] as Range, K: [0, H] as Range });
/** The same layers with every head (K = H). */
const allK = (L: number, H: number) => ({ P: [0, Math.max(0, L - 1)] as Range, K: [H, H] as Range });
/** P = L-2 (first and last layer exact), K = 1..H-1; K = H would be full again. */
const eachK = (L: number, H: number) => (L - 2 >= 1 ? upTo(H - 1, (K) => ({ P: L - 2, K })) : []);
/** Whole-layer modes: K = H, P = 1..most. */
const eachP = (most: (L: number) => number) => (L: number, H: number) => upTo(most(L), (P) => ({ P, K: H }));

/** Partial and guided: K heads of each of layers 1..P reuse, P and K free (P defaults to the first and last layer exact). */
const kHeadsInFirstP = {
  kind: 'reuse',
  layers: firstP,
  bounds: anyK,
  defaultP: (L: number) => Math.max(0, L - 2),
  wholeLayers: false,
  candidates: eachK,
} as const;

const builtIn: ReuseModeRow[] = [
  {
    name: 'partial',
    label: 'Partial',
    description: 'K heads reused in layers 1..P (default P = L-2: first and last layer exact)',
    ...kHeadsInFirstP,
    placeHeads: true,
  },
  {
    name: 'full',
    label: 'Full',
    description: 'every head reused (K = H) in layers 1..P',
    kind: 'reuse',
    layers: firstP,
    bounds: allK,
    wholeLayers: true,
    candidates: eachP((L) => L - 2),
    placeHeads: true,
  },
  {
    name: 'alternate',
    label: 'Alternate',
    description: 'reuse in the first P odd layers (1, 3, 5, …)',
    kind: 'reuse',
    layers: (_L, P) => Array.from({ length: P }, (_, p) => 2 * p + 1),
    bounds: (L, H) => ({ P: [0, Math.floor(L / 2)], K: [0, H] }),
    wholeLayers: true,
    candidates: eachP((L) => Math.floor(L / 2)),
    placeHeads: true,
  },
  {
    name: 'all-end',
    label: 'All at the end',
    description: 'reuse in the P layers before the last one',
    kind: 'reuse',
    layers: (L, P) => Array.from({ length: P }, (_, p) => L - 1 - P + p),
    bounds: (L, H) => ({ P: [0, Math.max(0, L - 2)], K: [0, H] }),
    wholeLayers: true,
    candidates: eachP((L) => L - 2),
    placeHeads: true,
  },
  {
    name: 'skip',
    label: 'Skip',
    description: 'no attention at all in layers 1..P (K = H by definition)',
    kind: 'skip',
    layers: firstP,
    bounds: allK,
    wholeLayers: true,
    candidates: eachP((L) => L - 2),
    placeHeads: false,
  },
  {
    name: 'guided',
    label: 'Similarity-guided',
    description: 'K heads per layer in layers 1..P, heads and sources chosen by measured similarity',
    ...kHeadsInFirstP,
    placeHeads: false,
    measured: true,
    // Without measurements it costs what partial costs: the same layers and heads reuse.
    heads: (r) => (r.headPairs ? guidedHeadMap(r.L, r.H, r.P, r.K, r.headPairs) : slotHeadMap(modeRow('guided'), r)),
  },
  {
    name: 'custom',
    label: 'Custom head map',
    description: 'any head map (heads[l][h]) from a file',
    kind: 'reuse',
    layers: null,
    bounds: (L, H) => ({ P: [0, L], K: [0, H] }),
    wholeLayers: false,
    candidates: () => [],
    placeHeads: false,
  },
];

const table: ReuseModeRow[] = [...builtIn];

/** The modes, in the order help texts and the planner list them. */
export function reuseModes(): readonly ReuseModeRow[] {
  return table;
}

export function reuseModeNames(): string[] {
  return table.map((r) => r.name);
}

/** A mode's name as every file and option spells it. */
export type ReuseMode = string;

export function modeRow(name: string): ReuseModeRow {
  const row = table.find((r) => r.name === name);
  if (!row) throw new InputError(`{field} must be one of ${reuseModeNames().join(', ')} (got "${name}")`, 'mode');
  return row;
}

export function isReuseMode(name: unknown): name is ReuseMode {
  return typeof name === 'string' && table.some((r) => r.name === name);
}

/** Adds a mode (extensions of the tool, tests); returns a function that removes it again. */
export function addReuseMode(row: ReuseModeRow): () => void {
  if (isReuseMode(row.name)) throw new Error(`reuse mode "${row.name}" exists already`);
  table.splice(table.length - 1, 0, row); // custom stays last
  tableVersion++;
  return () => {
    const at = table.indexOf(row);
    if (at >= 0) table.splice(at, 1);
    tableVersion++;
  };
}

let tableVersion = 0;
/** Changes whenever the table does (for caches built from it, such as the compiled schema). */
export function modesVersion(): number {
  return tableVersion;
}

const range = ([lo, hi]: Range) => (lo === hi ? `${lo}` : `${lo}..${hi}`);

/** Throws an InputError naming P or K when they fall outside the mode's bounds. */
export function checkModeBounds(mode: ReuseMode, L: number, H: number, P: number, K: number, where = ''): void {
  const b = modeRow(mode).bounds(L, H);
  if (!Number.isInteger(P) || P < b.P[0] || P > b.P[1]) {
    throw new InputError(`${where}P (reuse layers) is ${P}, but mode "${mode}" with ${L} layers allows ${range(b.P)}`, 'P');
  }
  if (!Number.isInteger(K) || K < b.K[0] || K > b.K[1]) {
    throw new InputError(`${where}K (reuse heads) is ${K}, but mode "${mode}" with ${H} heads allows ${range(b.K)}`, 'K');
  }
}

/** The canonical (paper slot order) head map of a mode other than custom. */
export function presetHeadMap(mode: ReuseMode, L: number, H: number, P: number, K: number, headPairs?: HeadPairs): HeadMap {
  const row = modeRow(mode);
  if (!row.layers) throw new InputError(`mode "${mode}" needs {field}`, 'headMap');
  checkModeBounds(mode, L, H, P, K);
  const request = { L, H, P, K, headPairs };
  return row.heads ? row.heads(request) : slotHeadMap(row, request);
}

/** Which layers a mode reuses (or skips), 0-based. */
export function presetLayers(mode: ReuseMode, L: number, P: number): number[] {
  return modeRow(mode).layers?.(L, P) ?? [];
}

/**
 * P and K with a mode's defaults filled in: K = H for whole-layer modes, the mode's default
 * P; the mode itself defaults to full when K = H, else partial.
 */
export function resolvePK(
  L: number,
  H: number,
  given: { mode?: ReuseMode; P?: number; K?: number },
): { mode: ReuseMode; P: number; K: number } {
  let K = given.K;
  if (given.mode !== undefined && modeRow(given.mode).wholeLayers) K ??= H;
  if (K === undefined) throw new InputError('{field} is needed (the reuse heads per reuse layer)', 'K');
  const mode = given.mode ?? (K === H ? 'full' : 'partial');
  const P = given.P ?? modeRow(mode).defaultP?.(L);
  if (P === undefined) throw new InputError(`mode "${mode}" needs {field} (the reuse layers)`, 'P');
  return { mode, P, K };
}

/** Every (mode, P, K) the planner scores, in table order. */
export function candidateGrid(L: number, H: number): { mode: ReuseMode; P: number; K: number }[] {
  return table.flatMap((row) => row.candidates(L, H).map(({ P, K }) => ({ mode: row.name, P, K })));
}
