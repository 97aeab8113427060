// Summarises StrykerJS reports (npm run mutation writes .artifacts/mutation/mutation.json) as
// Markdown: the score per file, then every mutant no test detected, by file and line, with the
// code it changed and what it changed it to. docs/mutation.md quotes it.
// Later reports override earlier ones mutant by mutant (same file, place, mutator and
// replacement), so a run limited to the survivors of a full run (`mutate` set to their
// ranges) updates that run, and a run over other files adds them (the scope run in parts); a
// file whose source differs between the reports is refused.
//   node scripts/mutationReport.mjs [REPORT.json [LATER.json...]]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const paths = process.argv.length > 2 ? process.argv.slice(2) : [join(root, '.artifacts', 'mutation', 'mutation.json')];
const [base, ...later] = paths.map((p) => ({ path: p, report: JSON.parse(readFileSync(p, 'utf8')) }));
const detected = new Set(['Killed', 'Timeout']);
const counted = new Set([...detected, 'Survived', 'NoCoverage']);
const key = (m) =>
  `${m.location.start.line}:${m.location.start.column}-${m.location.end.line}:${m.location.end.column} ${m.mutatorName} ${m.replacement}`;

let overridden = 0;
for (const { path, report } of later) {
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    const into = base.report.files[file];
    if (!into) {
      // A run over other files of the scope (the scope run in parts) adds them.
      base.report.files[file] = { source, mutants };
      continue;
    }
    if (into.source !== source) throw new Error(`${path}: ${file} differs from its source in ${base.path}; run the whole file again`);
    const byKey = new Map(into.mutants.map((m, i) => [key(m), i]));
    for (const m of mutants) {
      const i = byKey.get(key(m));
      if (i === undefined) throw new Error(`${path}: ${file} has a mutant ${key(m)} that ${base.path} lacks`);
      into.mutants[i] = m;
      overridden++;
    }
  }
}

const rows = [];
const undetected = [];
let total = 0;
let caught = 0;
for (const [file, { source, mutants }] of Object.entries(base.report.files)) {
  const mine = mutants.filter((m) => counted.has(m.status));
  const hits = mine.filter((m) => detected.has(m.status)).length;
  const status = (s) => mine.filter((m) => m.status === s).length;
  rows.push(
    `| ${file} | ${mine.length} | ${status('Killed')} | ${status('Timeout')} | ${status('Survived')} | ${status('NoCoverage')} | ${((100 * hits) / mine.length).toFixed(1)}% |`,
  );
  total += mine.length;
  caught += hits;
  const lines = source.split('\n');
  for (const m of mine.filter((x) => !detected.has(x.status))) {
    const line = m.location.start.line;
    const code = lines[line - 1].trim().replace(/\s+/g, ' ');
    undetected.push({
      file,
      line,
      code,
      what: `${m.status === 'NoCoverage' ? 'no coverage, ' : ''}${m.mutatorName}: \`${m.replacement.replace(/\s+/g, ' ').slice(0, 80)}\``,
    });
  }
}

if (later.length > 0) console.log(`${overridden} mutants of ${base.path} taken from ${later.map((l) => l.path).join(', ')}\n`);
console.log('| file | mutants | killed | timed out | survived | no coverage | score |');
console.log('|---|---|---|---|---|---|---|');
console.log(rows.join('\n'));
console.log(`| all | ${total} | | | | | ${((100 * caught) / total).toFixed(1)}% |`);
console.log(`\nUndetected (${undetected.length}):`);
let last = '';
for (const u of undetected) {
  const where = `${u.file}:${u.line}`;
  if (where !== last) console.log(`- ${where} \`${u.code.slice(0, 100)}\``);
  console.log(`  - ${u.what}`);
  last = where;
}
