// Debian's Python for the suites that need PyTorch. Under the test command (scripts/testAll.sh
// sets ATTENTION_REUSE_TEST_COMMAND=1) and in CI they fail when it is missing, so that a green
// run always means they ran; a developer running one suite by hand sees them skipped with why.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export const python = '/usr/bin/python3';

/** Whether a missing interpreter or module fails the test rather than skipping it. */
export const pythonRequired = () => process.env.ATTENTION_REUSE_TEST_COMMAND === '1' || process.env.CI === 'true';

/** True when `python` imports every module; otherwise fails the test (see pythonRequired) or skips it with the reason. */
export function needPython(t: TestContext, modules = ['torch']): boolean {
  const r = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
  if (r.status === 0) return true;
  const reason = (r.stderr ?? r.error?.message ?? '').trim().split('\n').pop();
  const packages = modules.map((m) => `python3-${m}`).join(' ');
  const why = `${python} cannot import ${modules.join(' and ')} (${reason}); apt-get install ${packages} libopenblas0-pthread`;
  if (pythonRequired()) assert.fail(`${why} (the test command and CI never skip the PyTorch tests)`);
  console.log(`skipped: ${why}`);
  t.skip(why);
  return false;
}
