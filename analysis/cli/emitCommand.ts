import { InputError } from '../errors';
import { readHeadMapFile } from '../config/headMapFile';
import { checkConfigSemantics, configSchemaId, estimatesOf, formatReuseConfig } from '../config/reuseConfig';
import type { ReuseConfig } from '../config/reuseConfig';
import { impliedPK } from '../planner/headMap';
import type { HeadMap } from '../planner/headMap';
import { configurationHeads, scoreCandidate, stackShape } from '../planner/plan';
import type { PlannerStack } from '../planner/plan';
import { pickStack, readPlannerAnalysis } from '../planner/planInput';
import { parse, positiveInt, requireOne } from './args';
import { parseMode } from './costCommand';
import { sha256File, writeFileAtomic } from './files';
import { shapeFlags, shapeOverrides } from './planCommand';

export const emitHelp = `Usage: attention-reuse emit ANALYSIS.json --reuse-layers P --reuse-heads K --out NAME.reuse.json [options]

Writes a reuse config (attention-reuse/config@1) for one stack of an analysis file: the
head map (0-based heads[l][h]: "exact", "skip" or {"reuse": {"layer": i, "head": j}} naming
the head that computed the tensor), the model sizes and the cost and similarity estimates.

  --stack NAME        which stack (needed when the analysis has more than one)
  --mode M            partial | full | alternate | all-end | skip | guided | custom
                      (default: full when K = H, else partial)
  --reuse-layers P    reuse (or skip) layers; partial and guided default to L-2
  --reuse-heads K     reuse heads per reuse layer; full and skip take K = H,
                      alternate and all-end default to it
  --head-map FILE     JSON array heads[l][h] for --mode custom
  --canonical         keep the paper's slot order (reuse heads last) instead of placing the
                      model's heads where the measured similarity is highest
  --seq-len N         sequence length of the FLOPs estimate (default: the position count)
  --hidden/--ffn/--vocab/--max-positions N   sizes the analysis could not read from the graph
  --out FILE          where to write (a name ending in .reuse.json gets the editor's schema)
  --force             replace FILE if it exists`;

function count(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InputError(`${flag} must be a whole number ≥ 0 (got "${value}")`);
  return n;
}

export async function emitCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      stack: { type: 'string' },
      mode: { type: 'string' },
      'reuse-layers': { type: 'string' },
      'reuse-heads': { type: 'string' },
      'head-map': { type: 'string' },
      canonical: { type: 'boolean' },
      'seq-len': { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      ...shapeFlags,
    },
    'emit',
  );
  if (values.help) {
    console.log(emitHelp);
    return 0;
  }
  const path = requireOne(positionals, 'analysis file', 'emit');
  const out = values.out as string | undefined;
  if (!out) throw new InputError('emit needs --out FILE (e.g. --out model.reuse.json)');
  const analysis = await readPlannerAnalysis(path);
  const stack = pickStack(analysis, values.stack as string | undefined, path);
  const config = await buildConfig(stack, values, {
    analysisSha256: await sha256File(path),
    modelSha256: analysis.model.sha256,
  });
  await writeFileAtomic(out, formatReuseConfig(config), values.force === true);
  const e = config.estimates!;
  console.log(
    `wrote ${out}: ${config.mode} P = ${config.P} K = ${config.K}; params ${e.paramsRatio.toFixed(4)}, FLOPs ${e.flopsRatio.toFixed(4)}, ` +
      `similarity kept ${e.similarityKept === null ? '—' : e.similarityKept.toFixed(4)} (uniform baseline ${e.uniformBaseline === null ? '—' : e.uniformBaseline.toFixed(4)})`,
  );
  if (!out.endsWith('.reuse.json')) console.log('note: name the file *.reuse.json so that the editor checks it against the schema');
  return 0;
}

/** Builds and checks the config that `emit` writes, from one analysis stack and the flags. */
export async function buildConfig(
  stack: PlannerStack,
  values: Record<string, string | boolean | undefined>,
  source: ReuseConfig['source'],
): Promise<ReuseConfig> {
  const shape = stackShape(stack, shapeOverrides(values));
  const { layers: L, heads: H } = shape;
  const seqLen = positiveInt(values['seq-len'] as string | undefined, '--seq-len', shape.maxPositions);
  let mode = parseMode(values.mode as string | undefined);
  let P = count(values['reuse-layers'], '--reuse-layers');
  let K = count(values['reuse-heads'], '--reuse-heads');
  let heads: HeadMap;
  if (mode === 'custom' || values['head-map'] !== undefined) {
    if (mode !== undefined && mode !== 'custom') throw new InputError('--head-map goes with --mode custom');
    const file = values['head-map'] as string | undefined;
    if (!file) throw new InputError('--mode custom needs --head-map FILE');
    mode = 'custom';
    heads = await readHeadMapFile(file, L, H);
    const implied = impliedPK(heads);
    if (P !== undefined && P !== implied.P) throw new InputError(`--reuse-layers ${P} does not match the head map, which reuses or skips in ${implied.P} layers`);
    if (K !== undefined && K !== implied.K) throw new InputError(`--reuse-heads ${K} does not match the head map, whose most reuse heads in one layer is ${implied.K}`);
    ({ P, K } = implied);
  } else {
    if (mode === 'full' || mode === 'skip' || mode === 'alternate' || mode === 'all-end') K ??= H; // whole-layer presets, as in the paper
    if (K === undefined) throw new InputError('emit needs --reuse-heads K');
    mode ??= K === H ? 'full' : 'partial';
    if (P === undefined && (mode === 'partial' || mode === 'guided')) P = Math.max(0, L - 2);
    if (P === undefined) throw new InputError(`emit --mode ${mode} needs --reuse-layers P`);
    heads = configurationHeads(stack, mode, P, K, values.canonical === true);
  }
  const scored = scoreCandidate(stack, shape, seqLen, mode === 'custom' ? 'partial' : mode, P, K, heads);
  const config: ReuseConfig = {
    schema: configSchemaId,
    source,
    stack: stack.name,
    dims: { layers: L, heads: H, hidden: shape.hidden, ffn: shape.ffn, vocab: shape.vocab, maxPositions: shape.maxPositions },
    mode,
    P,
    K,
    heads,
    estimates: estimatesOf(scored.cost, scored.similarityKept, scored.uniformBaseline),
  };
  checkConfigSemantics(config);
  return config;
}
