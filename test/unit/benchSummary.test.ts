// Protects the README's performance figures: they are exactly what scripts/bench/summary.mjs generates from the committed bench/summary.json, which says where, when and by what command they were measured; and a run.mjs report maps onto the summary's figures.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { root } from '../helpers/paths.mjs';
import { readmeEnd, readmeFigures, readmeStart, summarize, summaryPath } from '../../scripts/bench/summary.mjs';

const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('benchmark figures', () => {
  it('the README block is the one generated from bench/summary.json', () => {
    const a = readme.indexOf(readmeStart);
    const b = readme.indexOf(readmeEnd);
    assert.ok(a >= 0 && b > a, 'README.md lost its bench markers: the figures can no longer be checked');
    assert.equal(
      readme.slice(a, b + readmeEnd.length),
      readmeFigures(summary),
      'README figures differ from bench/summary.json: run `node scripts/bench/summary.mjs --readme` (or the summary was edited by hand)',
    );
  });

  it('no figure of the Performance section lives outside the generated block', () => {
    // The section ends at the next level-2 heading (its own ### subsections belong to it).
    const start = readme.indexOf('## Performance');
    const section = readme.slice(start, readme.indexOf('\n## ', start));
    const outside = section.slice(0, section.indexOf(readmeStart)) + section.slice(section.indexOf(readmeEnd));
    const figures = outside.match(/\b\d+\.\d+ ?(×|ms|examples\/s|G )|\b\d+% of/g) ?? [];
    assert.deepEqual(figures, [], 'a measured figure in the README prose cannot be checked against the summary: move it into the block');
  });

  it('the summary says where, when and how it was measured', () => {
    assert.equal(summary.schema, 'attention-reuse/bench-summary@1');
    assert.match(summary.date, /^\d{4}-\d{2}-\d{2}$/);
    assert.match(summary.command, /^npm run bench/);
    assert.ok(summary.machine.cpu && summary.machine.cores >= 1 && summary.machine.note, 'machine: cpu, cores and a note are required');
    for (const name of ['bert-base', 'long']) {
      const rates = summary.cases[name]?.rates ?? {};
      for (const key of ['a', 'aCores', 'b', 'c', 'cMain', 'd']) assert.ok(rates[key] > 0, `${name}: rate ${key} missing`);
    }
  });

  it('summarize() takes each figure from the measurement run.mjs labels with it', () => {
    // As run.mjs writes them: the batch size on the case, each measurement's rate and timed examples.
    const m = (rate: number, extra = {}) => ({ rate, timedExamples: 112, ...extra });
    const kernel = {
      simdPairs: { msPerExample: 11, perSecond: 15e9 },
      scalarPairs: { msPerExample: 80 },
      peak: { blockLoopL1PairElementsPerSecond: 20e9 },
    };
    const memory = [m(1, { examples: 100, maxRSS: 1000 * 2 ** 20 }), m(1, { examples: 1000, maxRSS: 900 * 2 ** 20 })];
    const one = { batch: 8, a: m(1), aCores: m(2), b: m(3), c: m(4), cMain: m(5), d: m(6), kernel, memory };
    const report = {
      date: '2026-12-01T10:00:00.000Z',
      machine: { cpu: 'CPU X', cores: 2, node: 'v20.0.0' },
      cases: { 'bert-base': one, long: { ...one, kernel: undefined, memory: undefined } },
    };
    const s = summarize(report, { command: 'npm run bench', machineNote: 'note' });
    assert.deepEqual(s.cases['bert-base'].rates, { a: 1, aCores: 2, b: 3, c: 4, cMain: 5, d: 6 });
    assert.deepEqual(s.cases['bert-base'].maxRssMiB, { 100: 1000, 1000: 900 });
    assert.deepEqual(s.kernel, {
      simdMsPerExample: 11,
      simdPairElementsPerSecond: 15e9,
      blockLoopPeakPairElementsPerSecond: 20e9,
      jsMsPerExample: 80,
    });
    assert.deepEqual([s.date, s.machine.cpu, s.command], ['2026-12-01', 'CPU X', 'npm run bench']);
    assert.match(readmeFigures(s), /\| BERT-base, batch 8, 112 timed \| 1\.00 \| 2\.00 \| 3\.00 \| 5\.00 \| 6\.00 \| 0\.83× \| 0\.40× \|/);
    // --rows on the long case, and the 4096-token figure measured by its own script, kept from the previous summary.
    const long4096 = {
      model: 'M',
      command: 'analyze --rows 128',
      examples: 2,
      tokens: 8192,
      seconds: 100,
      secondsPerExample: 50,
      peakTreeRssMiB: 3500,
      date: '2026-11-30',
      machine: 'two cores',
    };
    const withRows = summarize(
      { ...report, cases: { ...report.cases, long: { ...one, kernel: undefined, memory: undefined, cRows: m(10, { rows: 64 }) } } },
      { command: 'npm run bench', machineNote: 'note', previous: { ...s, long4096 } },
    );
    assert.equal(withRows.cases.long.rates.cRows, 10);
    assert.equal(withRows.cases.long.rows, 64);
    assert.deepEqual(withRows.long4096, long4096, 'a full run dropped the 4096-token figure');
    const text = readmeFigures(withRows);
    assert.match(text, /With `--rows 64` .* 10\.00 examples\/s: 2\.0× exact mode \(c1\) and 500% of the forward pass/);
    assert.match(text, /on 2 examples of 4096 tokens took 50\.0 s per example with a peak RSS of 3,500 MiB for the whole process tree/);
  });
});
