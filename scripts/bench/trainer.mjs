// Trainer throughput for `npm run bench`: the reference trainer (media/trainer/train.py) on a
// BERT-base-shaped model (12 layers, 12 heads, hidden 768, FFN 3072, 128-token rows of random
// tokens) with full reuse in layers 1..6 (the paper's K = 12, P = 6) and without reuse, in
// fp32 and bf16 autocast on the CPU. Each figure is its own process (benchTrainer.py); the
// first two steps are warm-up. Two interleaved rounds (one with --quick), each figure keeping
// its better round, as the analysis figures do: a busy neighbour only ever slows a run down.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { machineBusySeconds } from './load.mjs';

export function benchTrainer({ root, python, cores, quick, cacheDir }) {
  const steps = quick ? 4 : 7;
  const batch = 8;
  const best = new Map();
  const runs = [];
  for (let round = 0; round < (quick ? 1 : 2); round++) {
    for (const [model, precision] of [
      ['reuse', 'fp32'],
      ['baseline', 'fp32'],
      ['reuse', 'bf16'],
      ['baseline', 'bf16'],
    ]) {
      const busy0 = machineBusySeconds();
      const t0 = performance.now();
      const args = [
        join(root, 'scripts', 'bench', 'benchTrainer.py'),
        model,
        precision,
        String(steps),
        String(batch),
        String(cores),
        join(cacheDir, 'trainer'),
      ];
      const r = spawnSync(python, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(cores) }, maxBuffer: 1 << 24 });
      const wall = (performance.now() - t0) / 1000;
      const line = r.stdout.trim().split('\n').pop();
      if (r.status !== 0 || !line?.startsWith('{')) {
        process.stderr.write(r.stderr);
        throw new Error(`trainer bench ${model} ${precision} exited with ${r.status}`);
      }
      const result = JSON.parse(line);
      result.otherLoad = Math.max(0, (machineBusySeconds() - busy0 - result.cpuSeconds) / wall);
      console.log(
        `  trainer, ${model.padEnd(8)} ${precision}, batch ${batch} × 128 tokens   ${result.rate.toFixed(0).padStart(6)} tokens/s  (other load ${result.otherLoad.toFixed(2)} cores)`,
      );
      runs.push(result);
      const key = `${model} ${precision}`;
      if (!best.has(key) || result.rate > best.get(key).rate) best.set(key, result);
    }
  }
  return [...best.values()].map((f) => ({
    ...f,
    rounds: runs.filter((r) => r.model === f.model && r.precision === f.precision).map((r) => r.rate),
  }));
}

export function formatTrainer(figures) {
  const lines = [
    'trainer (media/trainer/train.py), BERT-base shape, 128-token rows, batch 8, CPU; best round [all rounds]',
    `  ${'model'.padEnd(34)} ${'precision'.padEnd(10)} ${'tokens/s'.padStart(9)} ${'s/step'.padStart(7)} ${'max RSS'.padStart(9)} ${'other load'.padStart(11)}`,
  ];
  for (const f of figures) {
    const name = f.model === 'reuse' ? 'reuse, full K = 12 in layers 1..6' : 'baseline (no reuse)';
    lines.push(
      `  ${name.padEnd(34)} ${f.precision.padEnd(10)} ${f.rate.toFixed(0).padStart(9)} ${(f.tokensPerStep / f.rate).toFixed(2).padStart(7)} ${`${f.maxRssMiB.toFixed(0)} MiB`.padStart(9)} ${f.otherLoad.toFixed(2).padStart(11)}  [${f.rounds.map((r) => r.toFixed(0)).join(', ')}]`,
    );
  }
  return lines.join('\n');
}
