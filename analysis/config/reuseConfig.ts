import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { InputError } from '../errors';
import { costOf } from '../planner/cost';
import type { CostEstimate, ModelShape } from '../planner/cost';
import { impliedPK, isReuse, layerRoles } from '../planner/headMap';
import type { HeadMap } from '../planner/headMap';
import { checkModeBounds, modeRow, modesVersion, presetLayers, reuseModes } from '../planner/modes';
import type { ReuseMode } from '../planner/modes';
import baseSchema from './reuseConfig.schema.json';

export const configSchemaId = 'attention-reuse/config@1';

/** A config's `dims` are exactly the cost model's sizes. */
export type ConfigDims = ModelShape;

export type ConfigEstimates = Pick<
  CostEstimate,
  'seqLen' | 'params' | 'paramsReuse' | 'paramsRatio' | 'flops' | 'flopsReuse' | 'flopsRatio' | 'scoreMemoryRatio'
> &
  Partial<Pick<CostEstimate, 'trainingMemoryRatio'>> & { similarityKept: number | null; uniformBaseline: number | null };

/** The reuse config file (`attention-reuse/config@1`, DESIGN.md "Files the tool writes"). */
export interface ReuseConfig {
  schema: typeof configSchemaId;
  source: { analysisSha256: string; modelSha256: string };
  stack: string;
  /** The stack that is trained: `dims.layers` counts the extra layers too. */
  dims: ConfigDims;
  /**
   * Layers added to the analysed model (default 0): rows `dims.layers - extraLayers ..` of
   * `heads` are new layers appended after the analysed ones (the paper's Reuse 13L).
   */
  extraLayers?: number;
  mode: ReuseMode;
  /** Reuse (or skip) layers, the paper's P. */
  P: number;
  /** Reuse heads per reuse layer, the paper's K. */
  K: number;
  heads: HeadMap;
  estimates?: ConfigEstimates;
}

/**
 * The config's JSON Schema with the modes of the mode table: what the trainer and the CLI
 * validate against, and what the build writes to media/schemas/ for the editor.
 */
export function configSchema(): Record<string, unknown> {
  const schema = structuredClone(baseSchema) as { properties: Record<string, Record<string, unknown>> };
  const rows = reuseModes();
  schema.properties.mode = {
    ...schema.properties.mode,
    enum: rows.map((r) => r.name),
    enumDescriptions: rows.map((r) => `${r.label}: ${r.description}`),
  };
  return schema;
}

let compiled: { version: number; validate: ValidateFunction } | undefined;

function validator(): ValidateFunction {
  if (compiled?.version !== modesVersion()) {
    compiled = { version: modesVersion(), validate: new Ajv({ allErrors: false, strict: false }).compile(configSchema()) };
  }
  return compiled.validate;
}

/** `/heads/2/1/reuse/layer` → `heads[2][1].reuse.layer`. */
function fieldName(instancePath: string): string {
  if (!instancePath) return '(top level)';
  return instancePath
    .slice(1)
    .split('/')
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

/** Whether parsed JSON has the shape of the config's JSON Schema (the editor reports schema errors itself). */
export function matchesConfigSchema(json: unknown): boolean {
  return validator()(json);
}

/** Schema and semantic checks of parsed JSON; every message names the field. */
export function checkReuseConfig(json: unknown, label: string): ReuseConfig {
  const validate = validator();
  if (!validate(json)) {
    const e = validate.errors?.[0];
    const field = fieldName(e?.instancePath ?? '');
    const headEntry = /^heads\[\d+\]\[\d+\]/.exec(field);
    const what = headEntry
      ? `must be "exact", "skip" or {"reuse": {"layer": i, "head": j}}`
      : e?.keyword === 'const' || e?.keyword === 'enum'
        ? `${e.message} (${JSON.stringify(e.params)})`
        : (e?.message ?? 'is invalid');
    throw new InputError(`${label} is not a valid ${configSchemaId} file: ${headEntry ? headEntry[0] : field} ${what}`);
  }
  const config = json as unknown as ReuseConfig;
  try {
    checkConfigSemantics(config);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${label}: ${err.message}`);
    throw err;
  }
  return config;
}

/** The rules JSON Schema cannot say: shapes against dims, causal sources, computed sources, P/K against the map. */
export function checkConfigSemantics(config: ReuseConfig): void {
  const { layers: L, heads: H } = config.dims;
  if (config.heads.length !== L) throw new InputError(`heads has ${config.heads.length} layers, but dims.layers is ${L}`);
  config.heads.forEach((row, l) => {
    if (row.length !== H) throw new InputError(`heads[${l}] has ${row.length} entries, but dims.heads is ${H}`);
  });
  if (config.dims.hidden % H !== 0) throw new InputError(`dims.hidden (${config.dims.hidden}) must be a multiple of dims.heads (${H})`);
  if ((config.extraLayers ?? 0) >= L)
    throw new InputError(`extraLayers (${config.extraLayers}) must be less than dims.layers (${L}), which counts them`);
  checkHeadMap(config.heads, H);
  checkModeStructure(config.mode, config.heads, L, H, config.P, config.K);
}

/** Every reuse entry names a head of an earlier layer that computes its own attention. */
export function checkHeadMap(map: HeadMap, H: number): void {
  map.forEach((row, l) =>
    row.forEach((e, h) => {
      if (!isReuse(e)) return;
      const { layer: i, head: j } = e.reuse;
      const at = `heads[${l}][${h}].reuse`;
      if (!Number.isInteger(i) || i < 0) throw new InputError(`${at}.layer must be a layer index ≥ 0 (got ${i})`);
      if (i >= l) {
        const allowed = l === 0 ? 'layer 0 has no earlier layer to reuse from' : `it must be an earlier layer, 0..${l - 1}`;
        throw new InputError(`${at}.layer is ${i}, but a head can only reuse attention computed before it: ${allowed}`);
      }
      if (!Number.isInteger(j) || j < 0 || j >= H) throw new InputError(`${at}.head ${j} is out of range 0..${H - 1}`);
      const source = map[i][j];
      if (source !== 'exact') {
        const why =
          source === 'skip' ? 'is skipped (computes nothing)' : `itself reuses heads[${source.reuse.layer}][${source.reuse.head}]`;
        throw new InputError(`heads[${l}][${h}] reuses heads[${i}][${j}], which ${why}: name the head that computed the tensor`);
      }
    }),
  );
  layerRoles(map); // throws on a layer that mixes "skip" with computed or reused heads
}

function listLayers(layers: number[]): string {
  if (layers.length === 0) return 'no layers';
  const contiguous = layers.every((x, i) => i === 0 || x === layers[i - 1] + 1);
  return contiguous && layers.length > 2
    ? `layers ${layers[0]}..${layers[layers.length - 1]}`
    : `layer${layers.length > 1 ? 's' : ''} ${layers.join(', ')}`;
}

/** P, K and the map agree with what the mode means (DESIGN.md "Indexing"). */
export function checkModeStructure(mode: ReuseMode, map: HeadMap, L: number, H: number, P: number, K: number): void {
  const roles = layerRoles(map);
  if (!modeRow(mode).layers) {
    const implied = impliedPK(map);
    if (P !== implied.P) throw new InputError(`P is ${P}, but the custom map reuses or skips in ${implied.P} layers`);
    if (K !== implied.K) throw new InputError(`K is ${K}, but the most reuse heads in one layer of the custom map is ${implied.K}`);
    return;
  }
  checkModeBounds(mode, L, H, P, K);
  const skip = modeRow(mode).kind === 'skip';
  const expected = new Set(skip || K > 0 ? presetLayers(mode, L, P) : []);
  const want = skip
    ? `mode "${mode}" with P = ${P} drops attention in ${listLayers([...expected])}`
    : `mode "${mode}" with P = ${P}, K = ${K} reuses ${K} heads in each of ${listLayers([...expected])}`;
  roles.forEach((role, l) => {
    const ok = expected.has(l) ? (skip ? role.kind === 'skip' : role.kind === 'reuse' && role.reuseHeads === K) : role.kind === 'exact';
    if (!ok) {
      const has =
        role.kind === 'skip' ? 'is a skip layer' : role.kind === 'exact' ? 'computes every head' : `has ${role.reuseHeads} reuse heads`;
      throw new InputError(`heads[${l}] ${has}, but ${want} (use mode "custom" for other maps)`);
    }
  });
}

/** The config's stack exists in the analysis and has the config's shape. */
export function checkConfigAgainstAnalysis(
  config: ReuseConfig,
  stacks: { name: string; layerCount: number; headCount: number }[],
  label: string,
): void {
  const stack = stacks.find((s) => s.name === config.stack);
  if (!stack) throw new InputError(`stack "${config.stack}" is not in ${label} (it has ${stacks.map((s) => `"${s.name}"`).join(', ')})`);
  const extra = config.extraLayers ?? 0;
  if (stack.layerCount !== config.dims.layers - extra || stack.headCount !== config.dims.heads) {
    const layers = extra > 0 ? `${config.dims.layers - extra} analysed layers + ${extra} extra` : `${config.dims.layers} layers`;
    throw new InputError(
      `dims (${layers} × ${config.dims.heads} heads) do not match stack "${stack.name}" of ${label} (${stack.layerCount} × ${stack.headCount})`,
    );
  }
}

export function estimatesOf(cost: CostEstimate, similarityKept: number | null, uniformBaseline: number | null): ConfigEstimates {
  const { seqLen, params, paramsReuse, paramsRatio, flops, flopsReuse, flopsRatio, scoreMemoryRatio, trainingMemoryRatio } = cost;
  return {
    seqLen,
    params,
    paramsReuse,
    paramsRatio,
    flops,
    flopsReuse,
    flopsRatio,
    scoreMemoryRatio,
    trainingMemoryRatio,
    similarityKept,
    uniformBaseline,
  };
}

/**
 * The config with `n` exact layers appended after its last layer (what `train --extra-layers`
 * trains): P, K and the reuse heads stay, so similarity kept stays, and the cost estimates
 * are recomputed against the analysed model. A 12-layer full P = 6 config plus one layer is
 * the paper's Reuse 13L, the same map `emit --extra-layers 1` writes. Modes whose reuse
 * layers are placed from the end (all-end) would no longer be what they say: refused.
 */
export function appendExactLayers(config: ReuseConfig, n: number): ReuseConfig {
  if (!Number.isInteger(n) || n < 0) throw new InputError(`{field} must be a whole number ≥ 0 (got ${n})`, 'extraLayers');
  if (n === 0) return config;
  const H = config.dims.heads;
  const heads = [...config.heads, ...Array.from({ length: n }, () => new Array<'exact'>(H).fill('exact'))];
  const extraLayers = (config.extraLayers ?? 0) + n;
  const deeper: ReuseConfig = { ...config, dims: { ...config.dims, layers: config.dims.layers + n }, extraLayers, heads };
  try {
    checkConfigSemantics(deeper);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    throw new InputError(`{field} ${n}: ${err.message}; write the deeper config with emit --extra-layers instead`, 'extraLayers');
  }
  const e = config.estimates;
  if (e) {
    const analysed = { ...config.dims, layers: config.dims.layers + n - extraLayers };
    deeper.estimates = estimatesOf(costOf(analysed, heads, e.seqLen, extraLayers), e.similarityKept, e.uniformBaseline);
  }
  return deeper;
}

/** JSON text with one line per layer of `heads`, so that the map reads as a table. */
export function formatReuseConfig(config: ReuseConfig): string {
  const placeholder = '@@heads@@';
  const body = JSON.stringify({ ...config, heads: placeholder }, null, 2);
  const rows = config.heads.map((row) => `    ${JSON.stringify(row)}`).join(',\n');
  return `${body.replace(`"${placeholder}"`, `[\n${rows}\n  ]`)}\n`;
}
