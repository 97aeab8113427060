// Runs every compiled unit test (out/test/unit/**/*.test.js) with node's test runner.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) found.push(...find(p));
    else if (name.endsWith('.test.js')) found.push(p);
  }
  return found;
}
const filter = process.argv.slice(2);
const files = find('out/test/unit').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no compiled unit tests under out/test/unit: run `npm run build` first');
  process.exit(1);
}
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
