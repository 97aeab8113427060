// One measurement, run by hand (not a test): a BERT-base-shaped encoder with random weights and
// 4096 positions (benchModels.py bert-base-4096, traced on 16 tokens with a dynamic sequence
// axis) analysed on EXAMPLES 4096-token examples with `--rows 128 --batch 1`, pinned to two
// cores. The peak RSS is that of the whole process tree (the CLI, its worker threads and any
// child), summed from /proc every 50 ms, since the largest single process's maxRSS would miss
// children. A watchdog kills the run if the tree passes CAP GiB (default 8), so that a
// regression cannot take the machine's memory from everything else on it. Prints one JSON
// line; with --write-summary it also goes into bench/summary.json (long4096), from which the
// README's figures are generated.
//   node scripts/bench/long4096.mjs [EXAMPLES=2] [ROWS=128] [CAP=8] [--write-summary]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { pseudoRandom } from '../../test/helpers/random.mjs';
import { readmeFigures, summaryPath, withReadmeFigures } from './summary.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cacheDir = join(root, '.cache', 'bench');
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const examples = Number(positional[0] ?? 2);
const rows = Number(positional[1] ?? 128);
const cap = Number(positional[2] ?? 8) * 2 ** 30;
const tokens = 4096;
const model = join(cacheDir, 'bert-base-4096.onnx');
const inputs = join(cacheDir, `bert-base-4096-${tokens}.jsonl`);
const out = join(root, '.artifacts', 'bench', 'bert-base-4096.analysis.json');

mkdirSync(cacheDir, { recursive: true });
mkdirSync(dirname(out), { recursive: true });
if (!existsSync(model)) {
  const r = spawnSync('/usr/bin/python3', [join(root, 'scripts', 'bench', 'benchModels.py'), 'export', 'bert-base-4096', model], {
    stdio: 'inherit',
    env: { ...process.env, OMP_NUM_THREADS: '2' },
  });
  if (r.status !== 0) throw new Error('exporting bert-base-4096 failed (needs /usr/bin/python3 with torch and onnx)');
}
const rand = pseudoRandom(11);
const mask = Array(tokens).fill(1);
const lines = Array.from({ length: examples }, () =>
  JSON.stringify({ input_ids: Array.from({ length: tokens }, () => Math.floor(rand() * 30522)), attention_mask: mask }),
);
writeFileSync(inputs, lines.join('\n') + '\n');

/** Resident bytes of `pid` and all its descendants now. */
function treeRss(pid) {
  const children = new Map();
  const rss = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      rss.set(Number(name), Number(fields[21]) * 4096);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {
      // The process ended while we read it.
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    total += rss.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

const args = [
  join(root, 'dist', 'cli.js'),
  'analyze',
  model,
  '--inputs',
  inputs,
  '--examples',
  String(examples),
  '--rows',
  String(rows),
  '--batch',
  '1',
  '--out',
  out,
  '--force',
];
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1', OMP_NUM_THREADS: '2' };
const t0 = performance.now();
const child = spawn('taskset', ['-c', '0,1', process.execPath, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
let peak = 0;
let capped = false;
const timer = setInterval(() => {
  peak = Math.max(peak, treeRss(child.pid));
  if (peak > cap && !capped) {
    capped = true;
    child.kill('SIGKILL');
  }
}, 50);
const code = await new Promise((done) => child.on('exit', (c, signal) => done(c ?? signal)));
clearInterval(timer);
if (capped)
  throw new Error(`analyze passed the ${cap / 2 ** 30} GiB cap (process tree at ${Math.round(peak / 2 ** 20)} MiB) and was stopped`);
const seconds = (performance.now() - t0) / 1000;
if (code !== 0) throw new Error(`analyze exited with ${code}`);
const file = JSON.parse(readFileSync(out, 'utf8'));
const result = {
  model: 'BERT-base shape (12 layers, 12 heads, hidden 768, FFN 3072, vocab 30522, 4096 positions, random weights)',
  command: `attention-reuse analyze --rows ${rows} --batch 1`,
  examples: file.run.examples,
  tokens: file.run.tokens,
  seconds: Number(seconds.toFixed(1)),
  secondsPerExample: Number((seconds / examples).toFixed(1)),
  peakTreeRssMiB: Math.round(peak / 2 ** 20),
  date: new Date().toISOString().slice(0, 10),
  machine: `taskset to both cores of the ${cpus().length}-vCPU ${cpus()[0]?.model ?? 'CPU'}, shared with other jobs: load average ${loadavg()[0].toFixed(1)} at the end`,
};
console.log(JSON.stringify(result));
if (process.argv.includes('--write-summary')) {
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  writeFileSync(summaryPath, JSON.stringify({ ...summary, long4096: result }, null, 2) + '\n');
  const readme = join(root, 'README.md');
  writeFileSync(readme, withReadmeFigures(readFileSync(readme, 'utf8'), readmeFigures({ ...summary, long4096: result })));
  console.log(`bench/summary.json and README.md figures updated`);
}
