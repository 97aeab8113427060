// Runs one folder of node:test suites straight from their TypeScript sources (tsx), with no
// tsc or esbuild step: `unit` needs only node_modules; `integration` also spawns the CLI
// bundle (dist/cli.js) and Python; `fuzz` runs the fuzzers for about half a minute.
// Further arguments keep the files whose path contains one.
// usage: node scripts/runTests.mjs unit|integration|fuzz [FILTER...]
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) found.push(...find(p));
    else if (name.endsWith('.test.ts')) found.push(p);
  }
  return found.sort();
}

const [suite, ...filter] = process.argv.slice(2);
if (suite !== 'unit' && suite !== 'integration' && suite !== 'fuzz') {
  console.error('usage: node scripts/runTests.mjs unit|integration|fuzz [FILTER...]');
  process.exit(2);
}
if (suite === 'integration' && !existsSync('dist/cli.js')) {
  console.error('dist/cli.js is missing: the integration tests run the CLI bundle; run `npm run build` first');
  process.exit(1);
}
const files = find(join('test', suite)).filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test/${suite}/**/*.test.ts matches ${filter.join(' ')}`);
  process.exit(1);
}
// tsx's CommonJS hook (the sources are CommonJS): the test runner starts each file in a child
// process with these flags, and worker threads inherit them too, so the similarity kernel's
// workers load TypeScript. (On Node 20 a worker does not get the hooks of `--import tsx`: a
// worker file `x.ts` fails there with "Unknown file extension".)
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
