// The README's warm-start table: on the sample model, held-out masked-LM loss of the recommended
// reuse config after the same steps of (a) warm start + self-distillation, (b) warm start alone,
// (c) training from scratch, against the original model (an all-exact warm start, --steps 0).
// Data: WordNet glosses split as the sample was trained, one sentence per 64-token row as it was
// trained on (warmStartCorpus.py). One thread per run (OMP_NUM_THREADS=1).
// usage: node scripts/bench/warmStartTable.mjs [--steps 300] [--batch 32] [--out .artifacts/bench/warmstart]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..', '..');
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '300' },
    batch: { type: 'string', default: '32' },
    out: { type: 'string', default: join(root, '.artifacts', 'bench', 'warmstart') },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const out = resolve(values.out);
const sample = join(root, 'media', 'sample');
const cli = join(root, 'dist', 'cli.js');
const env = { ...process.env, OMP_NUM_THREADS: '1', ORT_DISABLE_TELEMETRY: '1', ATTENTION_REUSE_PYTHON: values.python };
const tok = join(sample, 'tokenizer.json');
const steps = values.steps;
const batch = values.batch;

function run(cmd, args, what) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status}:\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  console.log(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return r.stdout;
}
const ar = (...args) => run(process.execPath, [cli, ...args], args.slice(0, 2).join(' '));

if (!existsSync(cli)) throw new Error('dist/cli.js is missing: npm run build');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const started = new Date().toISOString();
const load0 = loadavg();

const corpus = JSON.parse(run(values.python, [join(root, 'scripts', 'bench', 'warmStartCorpus.py'), join(out, 'shards')], 'corpus').trim());
const heldRows = corpus.heldOutRows;
const evalBatches = String(Math.ceil(heldRows / Number(batch)));

// The recommended config: plan --model measured on 64 of the sample sentences, with the measured search.
const analysis = join(out, 'sample.analysis.json');
const model = join(sample, 'model.onnx');
const text = ['--text', join(sample, 'sentences.txt'), '--tokenizer', tok];
ar('analyze', model, ...text, '--out', analysis, '-q');
const config = join(out, 'recommended.reuse.json');
const plan = ar('plan', analysis, '--model', model, ...text, '--calibration', '64', '--search', '--out', config);
const exact = join(out, 'exact.reuse.json');
ar('emit', analysis, '--reuse-layers', '0', '--reuse-heads', '0', '--out', exact);

const common = [
  '--data',
  join(out, 'shards'),
  '--tokenizer',
  tok,
  '--batch-size',
  batch,
  '--eval-every',
  '100',
  '--eval-batches',
  evalBatches,
  '--checkpoint-every',
  '100',
];
const rows = [
  { name: 'original model (all heads exact, no training)', args: [exact, '--init-from', model, '--steps', '0'] },
  { name: 'original model trained the same steps (all heads exact)', args: [exact, '--init-from', model, '--steps', steps] },
  { name: 'warm start + self-distillation', args: [config, '--init-from', model, '--distill', '--steps', steps] },
  { name: 'warm start alone', args: [config, '--init-from', model, '--steps', steps] },
  { name: 'from scratch (lr 1e-4, as the warm starts)', args: [config, '--steps', steps] },
  { name: "from scratch (lr 1e-3, the sample model's)", args: [config, '--steps', steps, '--lr', '1e-3'] },
];
const results = rows.map((row, i) => {
  const runDir = join(out, `run${i}`);
  ar('train', ...row.args, ...common, '--out', runDir);
  const metrics = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const evals = metrics.filter((m) => Number.isFinite(m.evalLoss));
  const last = metrics.at(-1);
  return { ...row, start: evals[0], end: evals.at(-1), seconds: last.elapsedSeconds, tokensPerSecond: last.tokensPerSecond };
});

const fmt = (e) => (e ? `${e.evalLoss.toFixed(3)} (acc ${e.evalAccuracy.toFixed(3)})` : '—');
const table = [
  '| run | held-out MLM loss at step 0 | after ' + steps + ' steps | train seconds |',
  '|---|---|---|---|',
  ...results.map(
    (r) => `| ${r.name} | ${r.start?.step === 0 ? fmt(r.start) : '—'} | ${r.end?.step > 0 ? fmt(r.end) : '—'} | ${r.seconds.toFixed(0)} |`,
  ),
].join('\n');
const summary = {
  started,
  finished: new Date().toISOString(),
  loadBefore: load0,
  loadAfter: loadavg(),
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  steps: Number(steps),
  batch: Number(batch),
  heldOutRows: heldRows,
  heldOutTokens: results[0].start?.evalTokens,
  corpus,
  plan: plan.split('\n').filter((l) => /^(>|s) /.test(l)),
  results,
};
writeFileSync(join(out, 'warmstart.json'), JSON.stringify(summary, null, 2) + '\n');
console.log(`\n${table}\n\n${JSON.stringify({ ...summary, results: undefined }, null, 2)}`);
