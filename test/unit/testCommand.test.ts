// Protects the one test command (scripts/testAll.sh), run with fake dpkg, id, apt-get and npm first on PATH: a missing Debian package fails it with one line naming the packages whoever runs it, root installs what is missing, every suite runs in order with the PyTorch tests required (and needPython then fails rather than skips), and a failing fast-lane step stops it.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { root } from '../helpers/paths.mjs';
import { needPython } from '../helpers/python';

const bin = mkdtempSync(join(tmpdir(), 'ar-testall-'));
after(() => rmSync(bin, { recursive: true, force: true }));

// The fakes read and write two files: the packages "not installed" and a log of what ran.
const fakes: Record<string, string> = {
  dpkg: 'grep -qx -- "$2" "$FAKE_STATE" && exit 1; exit 0',
  id: 'echo "$FAKE_UID"',
  'apt-get': 'echo "apt-get $*" >>"$FAKE_LOG"; [ "$1" = install ] && [ "$FAKE_APT_EXIT" = 0 ] && : >"$FAKE_STATE"; exit "$FAKE_APT_EXIT"',
  npm: 'echo "npm $* (ATTENTION_REUSE_TEST_COMMAND=$ATTENTION_REUSE_TEST_COMMAND)" >>"$FAKE_LOG"; [ "$*" = "$FAKE_NPM_FAIL" ] && exit 1; exit 0',
};
for (const [name, body] of Object.entries(fakes)) {
  writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
}

let runs = 0;
/** Runs the test command with the fakes; `missing` are the packages dpkg does not know. */
function testAll(options: { uid: number; missing?: string[]; aptExit?: number; npmFail?: string }) {
  const state = join(bin, `state${++runs}`);
  const log = join(bin, `log${runs}`);
  writeFileSync(state, (options.missing ?? []).map((p) => `${p}\n`).join(''));
  writeFileSync(log, '');
  const env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    FAKE_STATE: state,
    FAKE_LOG: log,
    FAKE_UID: String(options.uid),
    FAKE_APT_EXIT: String(options.aptExit ?? 100),
    FAKE_NPM_FAIL: options.npmFail ?? '',
  };
  const r = spawnSync('bash', [join(root, 'scripts', 'testAll.sh')], { encoding: 'utf8', env, timeout: 30_000 });
  const ran = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ran };
}

const missingLine =
  /^missing Debian packages the suites need: chromium python3-torch \(as root: apt-get install -y chromium python3-torch\)$/;

describe('scripts/testAll.sh', () => {
  it('without root and without PyTorch: exits non-zero with one line naming the packages, and runs nothing', () => {
    const r = testAll({ uid: 1000, missing: ['python3-torch', 'chromium'] });
    assert.notEqual(r.code, 0, 'the test command passed with packages missing');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one stderr line expected:\n${r.stderr}`);
    assert.match(lines[0], missingLine, 'the line does not name the missing packages');
    assert.deepEqual(r.ran, [], 'it went on to apt-get or npm without the packages');
    assert.doesNotMatch(r.stdout, /all test suites passed/);
  });

  it('as root when apt-get fails: the same line, after trying to install them', () => {
    const r = testAll({ uid: 0, missing: ['python3-torch', 'chromium'], aptExit: 100 });
    assert.notEqual(r.code, 0, 'the test command passed though apt-get could not install');
    assert.match(r.stderr.trim().split('\n').pop()!, missingLine);
    assert.ok(
      r.ran.some((l) => /^apt-get install .*chromium python3-torch$/.test(l)),
      `apt-get install was not tried: ${r.ran.join('; ')}`,
    );
    assert.ok(!r.ran.some((l) => l.startsWith('npm')), 'npm ran though the packages are still missing');
  });

  it('as root when apt-get installs them: every suite runs in order with the PyTorch tests required', () => {
    const r = testAll({ uid: 0, missing: ['python3-torch'], aptExit: 0 });
    assert.equal(r.code, 0, `the test command failed:\n${r.stderr}`);
    assert.match(r.stdout, /all test suites passed/);
    const npm = r.ran.filter((l) => l.startsWith('npm'));
    const steps = npm.map((l) => l.replace(/^npm (run )?| \(.*$/g, ''));
    assert.deepEqual(
      steps,
      [
        'ci --no-audit --no-fund',
        'typecheck',
        'lint',
        'format:check',
        'lint:python',
        'test',
        'build',
        'test:integration',
        'test:fuzz',
        'test:webview',
        'test:vscode',
        'test:vscode:untrusted',
        'package',
        'test:ui',
        'test:electron',
      ],
      'a suite is missing from the test command or runs out of order',
    );
    for (const l of npm)
      assert.match(
        l,
        /ATTENTION_REUSE_TEST_COMMAND=1\)$/,
        `"${l}" ran without ATTENTION_REUSE_TEST_COMMAND=1: its PyTorch tests could skip`,
      );
  });

  it('a failing fast-lane step stops it, naming the step', () => {
    const r = testAll({ uid: 1000, npmFail: 'run lint' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /FAILED: fast lane: lint \(eslint\)/);
    assert.ok(!r.ran.some((l) => /npm (test|run build)/.test(l)), `steps after the failure ran: ${r.ran.join('; ')}`);
  });

  it('under it, a PyTorch test whose module is missing fails; run by hand, it is skipped with the reason', (t) => {
    const saved = { command: process.env.ATTENTION_REUSE_TEST_COMMAND, ci: process.env.CI };
    t.after(() => {
      for (const [key, value] of [
        ['ATTENTION_REUSE_TEST_COMMAND', saved.command],
        ['CI', saved.ci],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    });
    const skipped: string[] = [];
    const context = { skip: (why: string) => skipped.push(why) } as unknown as Parameters<typeof needPython>[0];
    process.env.ATTENTION_REUSE_TEST_COMMAND = '1';
    delete process.env.CI;
    assert.throws(
      () => needPython(context, ['no_such_module_18']),
      /cannot import no_such_module_18 .*apt-get install python3-no_such_module_18 .*never skip/,
    );
    delete process.env.ATTENTION_REUSE_TEST_COMMAND;
    assert.equal(needPython(context, ['no_such_module_18']), false);
    assert.equal(skipped.length, 1, 'outside the test command and CI the test is skipped, with its reason');
  });
});
