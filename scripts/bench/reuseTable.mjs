// The README's table of reuse candidates measured on a model: `plan --model` (every candidate
// rewritten and run against the original on a calibration set; with --search the measured
// greedy search too), then, with --mlm, `whatif --mlm` on every candidate for masked-LM
// accuracy. Prints a Markdown table and writes the figures to .artifacts/bench/.
//   node scripts/bench/reuseTable.mjs ANALYSIS.json MODEL.onnx (--text F --tokenizer T | --inputs F)
//        [--calibration N] [--search] [--search-width N] [--mlm] [--label NAME]
// Needs `npx tsc -b` (it loads the services from out/).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.ORT_DISABLE_TELEMETRY ??= '1';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const out = (path) => require(join(root, 'out', 'analysis', path));
const { planMeasured } = out('app/measuredPlan.js');
const { whatIf } = out('app/whatif.js');
const { buildReuseConfig } = out('app/emit.js');
const { formatReuseConfig } = out('config/reuseConfig.js');
const { readAnalysis } = out('app/readers.js');
const { pickStack } = out('result/analysisFile.js');

const argv = process.argv.slice(2);
const flag = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const [analysisPath, model] = argv;
const source = flag('--inputs')
  ? { kind: 'jsonl', path: flag('--inputs') }
  : { kind: 'text', path: flag('--text'), tokenizer: flag('--tokenizer') };
const calibration = Number(flag('--calibration') ?? 64);
const label = flag('--label') ?? model;

const started = Date.now();
const loadBefore = loadavg()[0];
const { plan } = await planMeasured(
  {
    analysis: analysisPath,
    model,
    source,
    calibration,
    batch: 8,
    ep: 'cpu',
    search: argv.includes('--search'),
    searchWidth: Number(flag('--search-width') ?? 4),
  },
  { onProgress: (d, t) => process.stderr.write(`\rplan: ${d}/${t} candidates`), onNote: (l) => process.stderr.write(`${l}\n`) },
);
process.stderr.write('\n');
const rows = [
  ...plan.candidates.map((c, i) => ({ c, mark: `${i === plan.recommended ? '>' : ''}${i === plan.recommendedBySimilarity ? 's' : ''}` })),
  ...(plan.search ? [{ c: plan.search, mark: 'search' }] : []),
];

if (argv.includes('--mlm')) {
  const analysis = await readAnalysis(analysisPath);
  const stack = pickStack(analysis.stacks, plan.stack, analysisPath);
  const dir = mkdtempSync(join(tmpdir(), 'reuse-table-'));
  for (const [i, row] of rows.entries()) {
    const config = buildReuseConfig(
      stack,
      { mode: row.c.mode, headMap: row.c.heads },
      { analysisSha256: '0'.repeat(64), modelSha256: analysis.model.sha256 },
    );
    const path = join(dir, `c${i}.reuse.json`);
    writeFileSync(path, formatReuseConfig(config));
    const r = await whatIf({ model, config: path, source, examples: calibration, batch: 8, ep: 'cpu', mlm: true });
    row.mlm = r.mlm.accuracy;
    process.stderr.write(`\rwhatif --mlm: ${i + 1}/${rows.length}`);
  }
  process.stderr.write('\n');
}

const f = (x, d = 4) => (x === null || x === undefined ? '—' : x.toFixed(d));
const m = plan.measured;
const lines = [
  `${label}: ${plan.shape.layers} layers × ${plan.shape.heads} heads, hidden ${plan.shape.hidden}; FLOPs at n = ${plan.seqLen}; ${m.examples} calibration examples (${m.tokens} real tokens); ${cpus()[0]?.model}, ${cpus().length} cores, shared (load average ${loadBefore.toFixed(1)} → ${loadavg()[0].toFixed(1)}); ${new Date().toISOString().slice(0, 10)}`,
  '',
  `| | mode | P | K | FLOPs | similarity kept | uniform baseline | KL (nats/token) | top-1 | ${argv.includes('--mlm') ? 'MLM accuracy (original → rewritten) | ' : ''}speed ratio |`,
  `|---|---|---|---|---|---|---|---|---|${argv.includes('--mlm') ? '---|' : ''}---|`,
];
for (const { c, mark, mlm } of rows) {
  const speed = `${c.measured.speedMeasured ? '×' : '~'}${f(c.measured.speedRatio, 2)}`;
  const acc = argv.includes('--mlm') ? `${f(mlm?.original, 3)} → ${f(mlm?.rewritten, 3)} | ` : '';
  lines.push(
    `| ${mark} | ${c.mode} | ${c.P} | ${c.K} | ${f(c.cost.flopsRatio)} | ${f(c.similarityKept, 3)} | ${f(c.uniformBaseline, 3)} | ${f(c.measured.kl, 4)} | ${f(c.measured.top1, 3)} | ${acc}${speed} |`,
  );
}
lines.push(
  '',
  `Spearman ρ(similarity kept, KL) over ${m.rankCorrelationOver} candidates: ${f(m.rankCorrelation, 3)}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
console.log(lines.join('\n'));
mkdirSync(join(root, '.artifacts', 'bench'), { recursive: true });
const file = join(root, '.artifacts', 'bench', `reuse-table-${Date.now()}.json`);
writeFileSync(file, JSON.stringify({ label, plan, rows: rows.map((r) => ({ mark: r.mark, mlm: r.mlm })) }, null, 2));
console.log(`figures → ${file}`);
