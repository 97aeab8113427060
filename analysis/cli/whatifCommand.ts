import { whatIf } from '../app/whatif';
import type { WhatIfResult } from '../app/whatif';
import { InputError } from '../errors';
import { intFlag, parse, stringFlag } from './args';
import { Progress, providerNote } from './progress';
import { readSourceFlags, sourceHelp, sourceOptions } from './sourceFlags';

export const whatifHelp =
  () => `Usage: attention-reuse whatif MODEL.onnx CONFIG.reuse.json (--inputs FILE.jsonl | --text FILE --tokenizer tokenizer.json) [options]

Tries a reuse config on the model itself: rewrites it so that every reuse head uses the
probabilities its source head computes in the same forward pass (a skip layer's attention
removed, its residual kept), runs the original and the rewrite over the inputs on the same
execution provider, interleaved, and reports how far every output moves over real tokens
(max |Δ|, mean cosine; KL(softmax(original) ‖ softmax(rewritten)) in nats per token and
top-1 agreement for the first output with a vocabulary or class axis) and the latency of
both. Where the graph is the standard pattern the rewrite slices the reuse heads' query and
key weights away, so it really does less work; elsewhere it substitutes the probabilities
and the speed is estimated from the cost model, not measured.

The config must be this model's (source.modelSha256, and the stack's layers, heads and
hidden size).

${sourceHelp}
  --mlm                  also masked-LM accuracy of both models: 15% of each example's real,
                         non-special tokens (at least one) masked, the same on every run
  --mask-id N            the mask token's id (default: the tokenizer's [MASK] or <mask>); with
                         --inputs and no tokenizer the first and last tokens count as special
  --repeat N             time every batch N times per model, the fastest counting (default 1;
                         steadier figures on a busy machine)
  --write-model FILE     also write the rewritten model (after the measurement)
  --force                replace --write-model if it exists
  --json                 print only the result as JSON on stdout: drift.outputs[] (name, maxAbs,
                         cosine), drift.kl, drift.top1, mlm.accuracy.original/.rewritten,
                         speed.original/.rewritten (ms per example), speed.ratio (original /
                         rewritten: above 1 is faster), speed.measured, rewrite, memory, notes`;

export async function whatifCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...sourceOptions,
      mlm: { type: 'boolean' },
      'mask-id': { type: 'string' },
      repeat: { type: 'string' },
      'write-model': { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    'whatif',
  );
  if (values.help) {
    console.log(whatifHelp());
    return 0;
  }
  if (positionals.length !== 2) throw new InputError('whatif takes a model and a reuse config (see attention-reuse whatif --help)');
  const [model, config] = positionals;
  const flags = readSourceFlags(values, 'whatif');
  const maskId = intFlag(values, 'maskId', 0);
  if (maskId !== undefined && values.mlm !== true) throw new InputError('--mask-id goes with --mlm');
  const progress = new Progress('whatif', flags.quiet);
  const result = await whatIf(
    {
      model,
      config,
      ...flags,
      mlm: values.mlm === true,
      maskId,
      repeat: intFlag(values, 'repeat'),
      writeModel: stringFlag(values, 'writeModel'),
      force: values.force === true,
    },
    { signal, onProgress: (done, total) => progress.update(done, total), onNote: providerNote(flags.quiet) },
  );
  progress.finish();
  console.log(values.json ? JSON.stringify(result, null, 2) : formatWhatIf(result));
  return 0;
}

const n = (x: number) => x.toLocaleString('en-US');
const f = (x: number | null, digits = 4) => (x === null ? '—' : x.toFixed(digits));

export function formatWhatIf(r: WhatIfResult): string {
  const lines = [`stack "${r.stack}": ${n(r.examples)} examples, ${n(r.tokens)} real tokens, ${r.executionProvider}`];
  for (const l of r.rewrite.layers) {
    const what =
      l.kind === 'reuse'
        ? `reuse ${l.reuseHeads} head${l.reuseHeads === 1 ? '' : 's'}, ${l.method}`
        : l.kind === 'skip'
          ? 'skip, attention removed'
          : 'exact';
    lines.push(`  layer ${String(l.layer).padStart(2)}  ${what}`);
  }
  lines.push(`  parameters removed: ${n(r.rewrite.parametersRemoved)}`, '', '  output                          max |Δ|    cosine');
  for (const o of r.drift.outputs) lines.push(`  ${o.name.padEnd(30)} ${o.maxAbs.toExponential(3).padStart(10)}  ${f(o.cosine, 6)}`);
  if (r.drift.kl !== null) {
    lines.push(
      `  KL(original ‖ rewritten) ${f(r.drift.kl, 5)} nats per token (${r.drift.klOutput}, ${n(r.drift.positions)} tokens); top-1 agreement ${f(r.drift.top1)}`,
    );
  }
  if (r.mlm)
    lines.push(
      `  masked-LM accuracy (${n(r.mlm.maskedTokens)} masked tokens): original ${f(r.mlm.accuracy.original)}, rewritten ${f(r.mlm.accuracy.rewritten)}`,
    );
  const how = r.speed.measured ? 'measured, both models interleaved' : 'rewritten ESTIMATED from the cost model, not measured';
  lines.push(
    `  latency: original ${f(r.speed.original, 3)} ms/example, rewritten ${f(r.speed.rewritten, 3)} ms/example, speed-up ×${f(r.speed.ratio, 3)} (${how})`,
  );
  lines.push(`  peak RSS ${r.memory.peakRssMiB.toFixed(0)} MiB`);
  if (r.rewrite.written) lines.push(`wrote ${r.rewrite.written}`);
  return lines.join('\n');
}
