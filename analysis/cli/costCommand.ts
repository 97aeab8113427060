import { InputError } from '../errors';
import { readHeadMapFile } from '../config/headMapFile';
import { checkModeStructure } from '../config/reuseConfig';
import { costOf, defaultMaxPositions } from '../planner/cost';
import type { CostEstimate, ModelShape } from '../planner/cost';
import { impliedPK, presetHeadMap, reuseModes } from '../planner/headMap';
import type { HeadMap, ReuseMode } from '../planner/headMap';
import { parse, positiveInt } from './args';

export const costHelp = `Usage: attention-reuse cost --layers L --heads H --hidden D --ffn F --vocab V [options]

Parameters, multiply-adds and attention-score memory of a BERT-style masked-LM with and
without attention reuse (DESIGN.md "Cost"; embeddings and the LM head are left out of the
FLOPs, the decoder weight is tied).

  --seq-len N          sequence length the FLOPs are counted at (default 512)
  --max-positions N    position-embedding rows (default 512)
  --reuse-layers P     layers that reuse (or skip), the paper's P
  --reuse-heads K      reuse heads per reuse layer, the paper's K (default H for
                       full, skip, alternate and all-end)
  --mode M             ${reuseModes.join(' | ')} (default: full when K = H, else partial);
                       guided costs the same as partial; custom needs --head-map
  --head-map FILE      a reuse config or a JSON array heads[l][h] (for --mode custom)
  --json               print the figures as JSON`;

/** A whole number ≥ 0 (P and K may be 0: no reuse). */
function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InputError(`${flag} must be a whole number ≥ 0 (got "${value}")`);
  return n;
}

function required(value: string | undefined, flag: string): number {
  if (value === undefined) throw new InputError(`cost needs ${flag} (see attention-reuse cost --help)`);
  return positiveInt(value, flag, 0);
}

export function parseMode(value: string | undefined): ReuseMode | undefined {
  if (value === undefined) return undefined;
  if (!(reuseModes as readonly string[]).includes(value)) throw new InputError(`--mode must be one of ${reuseModes.join(', ')} (got "${value}")`);
  return value as ReuseMode;
}

export async function costCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      layers: { type: 'string' },
      heads: { type: 'string' },
      hidden: { type: 'string' },
      ffn: { type: 'string' },
      vocab: { type: 'string' },
      'seq-len': { type: 'string' },
      'max-positions': { type: 'string' },
      'reuse-layers': { type: 'string' },
      'reuse-heads': { type: 'string' },
      mode: { type: 'string' },
      'head-map': { type: 'string' },
      json: { type: 'boolean' },
    },
    'cost',
  );
  if (values.help) {
    console.log(costHelp);
    return 0;
  }
  const str = (k: string) => values[k] as string | undefined;
  const shape: ModelShape = {
    layers: required(str('layers'), '--layers'),
    heads: required(str('heads'), '--heads'),
    hidden: required(str('hidden'), '--hidden'),
    ffn: required(str('ffn'), '--ffn'),
    vocab: required(str('vocab'), '--vocab'),
    maxPositions: positiveInt(str('max-positions'), '--max-positions', defaultMaxPositions),
  };
  const seqLen = positiveInt(str('seq-len'), '--seq-len', 512);
  const { layers: L, heads: H } = shape;
  let P = count(str('reuse-layers'), '--reuse-layers');
  let K = count(str('reuse-heads'), '--reuse-heads');
  let mode = parseMode(str('mode'));
  let map: HeadMap;
  if (mode === 'custom' || str('head-map') !== undefined) {
    if (mode !== undefined && mode !== 'custom') throw new InputError('--head-map goes with --mode custom');
    const path = str('head-map');
    if (path === undefined) throw new InputError('--mode custom needs --head-map FILE');
    mode = 'custom';
    map = await readHeadMapFile(path, L, H);
    ({ P, K } = impliedPK(map));
  } else {
    if (mode === 'full' || mode === 'skip' || mode === 'alternate' || mode === 'all-end') K ??= H; // whole-layer presets, as in the paper
    if (P === undefined) throw new InputError('cost needs --reuse-layers P (0 for the model without reuse)');
    if (K === undefined) throw new InputError('cost needs --reuse-heads K');
    mode ??= K === H ? 'full' : 'partial';
    map = presetHeadMap(mode, L, H, P, K);
    checkModeStructure(mode, map, L, H, P, K);
  }
  const cost = costOf(shape, map, seqLen);
  console.log(values.json ? JSON.stringify({ mode, P, K, ...shape, ...cost }, null, 2) : formatCost(shape, mode, P, K, cost));
  return 0;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

export function formatCost(s: ModelShape, mode: ReuseMode, P: number, K: number, c: CostEstimate): string {
  return [
    `model: ${s.layers} layers × ${s.heads} heads, hidden ${s.hidden}, FFN ${s.ffn}, vocab ${s.vocab}, ${s.maxPositions} positions; n = ${c.seqLen}`,
    `reuse: ${mode}, P = ${P}, K = ${K} (${c.reuseHeads} reuse heads, ${c.skipLayers} skip layers, ${c.computedHeads} of ${s.layers * s.heads} heads computed)`,
    `               baseline            reuse      ratio`,
    `params   ${int(c.params).padStart(16)} ${int(c.paramsReuse).padStart(16)}   ${c.paramsRatio.toFixed(6)}`,
    `FLOPs    ${int(c.flops).padStart(16)} ${int(c.flopsReuse).padStart(16)}   ${c.flopsRatio.toFixed(6)}`,
    `scores   ${int(c.scoreMemory).padStart(16)} ${int(c.scoreMemoryReuse).padStart(16)}   ${c.scoreMemoryRatio.toFixed(6)}`,
  ].join('\n');
}
