// Debian's Python for the suites that need PyTorch (TOOLING.md: they fail in CI when it is
// missing, and skip elsewhere).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export const python = '/usr/bin/python3';

/** True when `python` imports every module; otherwise fails the test under CI=true and skips it elsewhere. */
export function needPython(t: TestContext, modules = ['torch']): boolean {
  const r = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
  if (r.status === 0) return true;
  const reason = (r.stderr ?? r.error?.message ?? '').trim().split('\n').pop();
  const packages = modules.map((m) => `python3-${m}`).join(' ');
  const why = `${python} cannot import ${modules.join(' and ')} (${reason}); apt-get install ${packages} libopenblas0-pthread`;
  if (process.env.CI === 'true') assert.fail(why);
  t.skip(why);
  return false;
}
