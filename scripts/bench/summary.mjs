// The benchmark's summary (bench/summary.json, committed) and the README figures written from
// it: `npm run bench` writes the summary of a full run, and the README's block between the
// bench markers is generated from the summary (test/unit/benchSummary.test.ts checks that they
// agree). Figures depend on the machine and its neighbours, so the summary says where, when
// and by what command they were taken.
//   node scripts/bench/summary.mjs --readme    rewrites README.md's block from bench/summary.json
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const summaryPath = join(root, 'bench', 'summary.json');
export const readmeStart = '<!-- bench figures: generated from bench/summary.json by `node scripts/bench/summary.mjs --readme` -->';
export const readmeEnd = '<!-- end of bench figures -->';

/** The figures of a run.mjs report: examples/s per measurement, kernel times, peak memory. */
export function summarize(report, { command, machineNote, previous }) {
  const cases = {};
  for (const [name, r] of Object.entries(report.cases)) {
    cases[name] = {
      batch: r.batch,
      timedExamples: r.cMain.timedExamples,
      rates: {
        a: r.a.rate,
        aCores: r.aCores.rate,
        b: r.b.rate,
        c: r.c.rate,
        cMain: r.cMain.rate,
        d: r.d.rate,
        ...(r.cRows ? { cRows: r.cRows.rate } : {}),
      },
      ...(r.cRows ? { rows: r.cRows.rows } : {}),
      ...(r.memory?.length === 2 ? { maxRssMiB: Object.fromEntries(r.memory.map((m) => [m.examples, m.maxRSS / 2 ** 20])) } : {}),
    };
  }
  const k = report.cases['bert-base']?.kernel;
  return {
    schema: 'attention-reuse/bench-summary@1',
    date: report.date.slice(0, 10),
    command,
    machine: { cpu: report.machine.cpu, cores: report.machine.cores, node: report.machine.node, note: machineNote },
    cases,
    // Measured by its own script (long4096.mjs), not by run.mjs: kept from the previous summary.
    ...(previous?.long4096 ? { long4096: previous.long4096 } : {}),
    ...(k?.simdPairs
      ? {
          kernel: {
            simdMsPerExample: k.simdPairs.msPerExample,
            simdPairElementsPerSecond: k.simdPairs.perSecond,
            blockLoopPeakPairElementsPerSecond: k.peak.blockLoopL1PairElementsPerSecond,
            jsMsPerExample: k.scalarPairs.msPerExample,
          },
        }
      : {}),
  };
}

const f = (x, digits = 2) => x.toFixed(digits);
const ratio = (x, y) => `${f(x / y, x / y >= 2 ? 1 : 2)}×`;
const mib = (x) => Math.round(x).toLocaleString('en-US');

/** The README block: the table of rates and ratios, memory, the kernel, and other machines' figures. */
export function readmeFigures(s) {
  const bert = s.cases['bert-base'];
  const long = s.cases.long;
  const row = (label, c) => {
    const r = c.rates;
    return `| ${label}, batch ${c.batch}, ${c.timedExamples} timed | ${f(r.a)} | ${f(r.aCores)} | ${f(r.b)} | ${f(r.cMain)} | ${f(r.d)} | ${ratio(r.cMain, r.d)} | ${ratio(r.aCores, r.cMain)} |`;
  };
  const lines = [
    readmeStart,
    `${s.machine.cores}-vCPU ${s.machine.cpu} (${s.machine.note}); ${s.date}, \`${s.command}\`:`,
    '',
    `| examples/s | (a) ORT defaults | (a') ORT, ${s.machine.cores} threads | (b) extraction | (c1) analysis | (d) PyTorch + cdist | (c1)/(d) | (a')/(c1) |`,
    '|---|---|---|---|---|---|---|---|',
    row('BERT-base', bert),
    row('long: 6 × 8 heads, 1024 tokens', long),
    '',
    `With ${s.machine.cores} similarity workers (\`--threads ${s.machine.cores}\`, (c)) the figures are ${f(bert.rates.c)} and ${f(long.rates.c)} examples/s.`,
  ];
  if (long.rates.cRows) {
    lines.push(
      `With \`--rows ${long.rows}\` (eq. 2 estimated from ${long.rows} query rows sampled inside the model) the long case runs at ${f(long.rates.cRows)} examples/s: ` +
        `${ratio(long.rates.cRows, long.rates.cMain)} exact mode (c1) and ${f((100 * long.rates.cRows) / long.rates.aCores, 0)}% of the forward pass (a').`,
    );
  }
  if (s.long4096) {
    const b = s.long4096;
    lines.push(
      `${b.model}: \`${b.command}\` on ${b.examples} examples of ${b.tokens / b.examples} tokens took ${f(b.secondsPerExample, 1)} s per example with a peak RSS of ` +
        `${mib(b.peakTreeRssMiB)} MiB for the whole process tree (${b.date}, \`node scripts/bench/long4096.mjs\`, ${b.machine}).`,
    );
  }
  if (s.extraPairs) lines.push(`${s.extraPairs.note}: ${s.extraPairs.ratios.map((x) => `${f(x)}×`).join(', ')}.`);
  if (bert.maxRssMiB) {
    const [few, many] = Object.keys(bert.maxRssMiB).map(Number);
    const [a, b] = [bert.maxRssMiB[few], bert.maxRssMiB[many]];
    lines.push(
      `Max RSS of (c): ${mib(a)} MiB for ${few} examples, ${mib(b)} MiB for ${mib(many)} (ratio ${f(b / a)}): memory does not grow with the data.`,
    );
  }
  if (s.kernel) {
    const k = s.kernel;
    lines.push(
      `The similarity kernel alone (WebAssembly SIMD, one thread): ${f(k.simdMsPerExample, 1)} ms per BERT-base example, ` +
        `${f(k.simdPairElementsPerSecond / 1e9, 1)} G pair elements/s, ${f((100 * k.simdPairElementsPerSecond) / k.blockLoopPeakPairElementsPerSecond, 0)}% ` +
        `of the machine's measured block-loop peak; the plain JavaScript kernel takes ${f(k.jsMsPerExample, 0)} ms.`,
    );
  }
  for (const o of s.elsewhere ?? []) lines.push(`${o.where} the same scripts gave ${o.figures} (${o.source}).`);
  lines.push(readmeEnd);
  return lines.join('\n');
}

/** README.md with its bench block replaced by `block`. */
export function withReadmeFigures(readme, block) {
  const a = readme.indexOf(readmeStart);
  const b = readme.indexOf(readmeEnd);
  if (a < 0 || b < a) throw new Error(`README.md has no block between "${readmeStart}" and "${readmeEnd}"`);
  return readme.slice(0, a) + block + readme.slice(b + readmeEnd.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--readme')) {
  const readme = join(root, 'README.md');
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  writeFileSync(readme, withReadmeFigures(readFileSync(readme, 'utf8'), readmeFigures(summary)));
  console.log(`README.md figures rewritten from ${summaryPath}`);
}
