import { readHeadMap } from '../app/readers';
import { checkModeStructure } from '../config/reuseConfig';
import { InputError } from '../errors';
import { checkShape, costOf, defaultMaxPositions } from '../planner/cost';
import type { CostEstimate, ModelShape } from '../planner/cost';
import { impliedPK } from '../planner/headMap';
import type { HeadMap } from '../planner/headMap';
import { modeRow, presetHeadMap, resolvePK, reuseModes } from '../planner/modes';
import type { ReuseMode } from '../planner/modes';
import { intFlag, parse, stringFlag } from './args';
import type { ParsedArgs } from './args';

/** The `--mode` lines of a help text, one per mode of the mode table. */
export function modeHelp(indent: string): string {
  const rows = reuseModes();
  const width = Math.max(...rows.map((r) => r.name.length));
  return rows.map((r) => `${indent}${r.name.padEnd(width)}  ${r.description}`).join('\n');
}

export const costHelp = () => `Usage: attention-reuse cost --layers L --heads H --hidden D --ffn F --vocab V [options]

Parameters, multiply-adds, attention-score memory (inference) and activation memory
(training) of a BERT-style masked-LM with and without attention reuse (DESIGN.md "Cost";
embeddings and the LM head are left out of the FLOPs, the decoder weight is tied).

  --seq-len N          sequence length the FLOPs are counted at (default 512)
  --max-positions N    position-embedding rows (default 512)
  --reuse-layers P     layers that reuse (or skip), the paper's P
  --reuse-heads K      reuse heads per reuse layer, the paper's K (default H for
                       whole-layer modes)
  --mode M             one of (default: full when K = H, else partial):
${modeHelp('                         ')}
  --head-map FILE      a reuse config or a JSON array heads[l][h] (for --mode custom)
  --extra-layers N     layers added after the L analysed ones (the paper's Reuse 13L is
                       --layers 12 --extra-layers 1); P, K and the mode apply to the deeper
                       stack, every ratio is against the L-layer model
  --json               print the figures as JSON`;

/** A `--mode` value: one of the mode table's names. */
export function modeFlag(values: ParsedArgs['values']): ReuseMode | undefined {
  const value = stringFlag(values, 'mode');
  return value === undefined ? undefined : modeRow(value).name;
}

function required(values: ParsedArgs['values'], field: keyof ModelShape): number {
  const n = intFlag(values, field);
  if (n === undefined) throw new InputError(`cost needs {field} (see attention-reuse cost --help)`, field);
  return n;
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
      'extra-layers': { type: 'string' },
      json: { type: 'boolean' },
    },
    'cost',
  );
  if (values.help) {
    console.log(costHelp());
    return 0;
  }
  const shape: ModelShape = {
    layers: required(values, 'layers'),
    heads: required(values, 'heads'),
    hidden: required(values, 'hidden'),
    ffn: required(values, 'ffn'),
    vocab: required(values, 'vocab'),
    maxPositions: intFlag(values, 'maxPositions') ?? defaultMaxPositions,
  };
  const seqLen = intFlag(values, 'seqLen') ?? 512;
  const extraLayers = intFlag(values, 'extraLayers', 0) ?? 0;
  // Before any head map is built: absurd sizes are refused, not allocated (the extra layers' too).
  checkShape(shape);
  if (extraLayers > 0) checkShape({ ...shape, layers: shape.layers + extraLayers });
  // P, K and the mode describe the stack that is built: the analysed layers and the extra ones.
  const L = shape.layers + extraLayers;
  const H = shape.heads;
  const givenP = intFlag(values, 'P', 0);
  const givenK = intFlag(values, 'K', 0);
  const givenMode = modeFlag(values);
  const headMapFile = stringFlag(values, 'headMap');
  let map: HeadMap;
  let mode: ReuseMode;
  let P: number;
  let K: number;
  if (headMapFile !== undefined || (givenMode !== undefined && !modeRow(givenMode).layers)) {
    if (headMapFile === undefined) throw new InputError(`mode "${givenMode}" needs {field} FILE`, 'headMap');
    map = await readHeadMap(headMapFile, L, H);
    mode = givenMode ?? 'custom';
    ({ P, K } = impliedPK(map));
    checkModeStructure(mode, map, L, H, P, K);
  } else {
    if (givenP === undefined && (givenMode === undefined || !modeRow(givenMode).defaultP)) {
      throw new InputError('cost needs {field} P (0 for the model without reuse)', 'P');
    }
    ({ mode, P, K } = resolvePK(L, H, { mode: givenMode, P: givenP, K: givenK }));
    map = presetHeadMap(mode, L, H, P, K);
    checkModeStructure(mode, map, L, H, P, K);
  }
  const cost = costOf(shape, map, seqLen, extraLayers);
  console.log(values.json ? JSON.stringify({ mode, P, K, ...shape, ...cost }, null, 2) : formatCost(shape, mode, P, K, cost));
  return 0;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

export function formatCost(s: ModelShape, mode: ReuseMode, P: number, K: number, c: CostEstimate): string {
  return [
    `model: ${s.layers} layers × ${s.heads} heads, hidden ${s.hidden}, FFN ${s.ffn}, vocab ${s.vocab}, ${s.maxPositions} positions; n = ${c.seqLen}`,
    ...(c.extraLayers > 0
      ? [`reuse model: ${s.layers + c.extraLayers} layers (${c.extraLayers} extra, appended); ratios against the ${s.layers}-layer model`]
      : []),
    `reuse: ${mode}, P = ${P}, K = ${K} (${c.reuseHeads} reuse heads, ${c.skipLayers} skip layers, ${c.computedHeads} of ${(s.layers + c.extraLayers) * s.heads} heads computed)`,
    `               baseline            reuse      ratio`,
    `params   ${int(c.params).padStart(16)} ${int(c.paramsReuse).padStart(16)}   ${c.paramsRatio.toFixed(6)}`,
    `FLOPs    ${int(c.flops).padStart(16)} ${int(c.flopsReuse).padStart(16)}   ${c.flopsRatio.toFixed(6)}`,
    `scores   ${int(c.scoreMemory).padStart(16)} ${int(c.scoreMemoryReuse).padStart(16)}   ${c.scoreMemoryRatio.toFixed(6)}   inference: attention values per example`,
    `training ${int(c.trainingMemory).padStart(16)} ${int(c.trainingMemoryReuse).padStart(16)}   ${c.trainingMemoryRatio.toFixed(6)}   activation bytes per example kept for backward`,
  ].join('\n');
}
