import { emitReuseConfig } from '../app/emit';
import { InputError } from '../errors';
import { intFlag, parse, requireOne, stringFlag } from './args';
import { modeFlag, modeHelp } from './costCommand';
import { shapeFlags, shapeOverrides } from './planCommand';

export const emitHelp = () => `Usage: attention-reuse emit ANALYSIS.json --reuse-layers P --reuse-heads K --out NAME.reuse.json [options]

Writes a reuse config (attention-reuse/config@1) for one stack of an analysis file: the
head map (0-based heads[l][h]: "exact", "skip" or {"reuse": {"layer": i, "head": j}} naming
the head that computed the tensor), the model sizes and the cost and similarity estimates.

  --stack NAME        which stack (needed when the analysis has more than one)
  --mode M            one of (default: full when K = H, else partial):
${modeHelp('                        ')}
  --reuse-layers P    reuse (or skip) layers; partial and guided default to L-2
  --reuse-heads K     reuse heads per reuse layer; whole-layer modes default to K = H
  --head-map FILE     JSON array heads[l][h] (or a reuse config) for --mode custom
  --canonical         keep the paper's slot order (reuse heads last) instead of placing the
                      model's heads where the measured similarity is highest
  --extra-layers N    layers appended after the analysed ones (the paper's Reuse 13L: 12 + 1);
                      mode, P, K and the map describe the deeper stack (dims.layers counts
                      them, extraLayers records them); estimates compare with the analysed model
  --seq-len N         sequence length of the FLOPs estimate (default: the analysed mean length)
  --hidden/--ffn/--vocab/--max-positions N   sizes the analysis could not read from the graph
  --out FILE          where to write (a name ending in .reuse.json gets the editor's schema)
  --force             replace FILE if it exists`;

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
      'extra-layers': { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      ...shapeFlags,
    },
    'emit',
  );
  if (values.help) {
    console.log(emitHelp());
    return 0;
  }
  const analysis = requireOne(positionals, 'analysis file', 'emit');
  const out = stringFlag(values, 'out');
  if (!out) throw new InputError('emit needs --out FILE (e.g. --out model.reuse.json)');
  const config = await emitReuseConfig({
    analysis,
    stack: stringFlag(values, 'stack'),
    mode: modeFlag(values),
    P: intFlag(values, 'P', 0),
    K: intFlag(values, 'K', 0),
    headMapFile: stringFlag(values, 'headMap'),
    canonical: values.canonical === true,
    seqLen: intFlag(values, 'seqLen'),
    extraLayers: intFlag(values, 'extraLayers', 0),
    shape: shapeOverrides(values),
    out,
    force: values.force === true,
  });
  const e = config.estimates!;
  console.log(
    `wrote ${out}: ${config.mode} P = ${config.P} K = ${config.K}; params ${e.paramsRatio.toFixed(4)}, FLOPs ${e.flopsRatio.toFixed(4)}, ` +
      `similarity kept ${e.similarityKept === null ? '—' : e.similarityKept.toFixed(4)} (uniform baseline ${e.uniformBaseline === null ? '—' : e.uniformBaseline.toFixed(4)})`,
  );
  if (!out.endsWith('.reuse.json')) console.log('note: name the file *.reuse.json so that the editor checks it against the schema');
  return 0;
}
