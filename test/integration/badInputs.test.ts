// Protects issue 13's promise over the bad-input corpus (test/fixtures/bad/cases.json): every case ends as the table says, through dist/cli.js (exit code, one stderr line, nothing left behind) and through the services the extension calls (an InputError worded the same, or a CancelledError).
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { flagOf } from '../../analysis/cli/args';
import { CancelledError, InputError } from '../../analysis/errors';
import type { BadCase, Work } from '../helpers/badCorpus';
import { emulateNobody, listFiles, loadCases, prepare, runCli, serviceCall, skipReason } from '../helpers/badCorpus';
import type { Library } from '../helpers/badCorpusFiles';
import { buildLibrary } from '../helpers/badCorpusFiles';

const cases = loadCases();
let lib: Library;

before(async () => {
  lib = await buildLibrary(mkdtempSync(join(tmpdir(), 'ar-bad-lib-')));
});
after(() => lib && rmSync(lib.dir, { recursive: true, force: true }));

/** Sets the case up, or skips it with one printed line; runs `body`, then checks what is left. */
async function withWork(c: BadCase, t: { skip: (why: string) => void }, body: (work: Work) => Promise<void>): Promise<void> {
  const skip = skipReason(c);
  const work = skip ?? prepare(c, lib);
  if (typeof work === 'string') {
    console.log(`skipped ${c.id}: ${work}`);
    t.skip(work);
    return;
  }
  try {
    await body(work);
    for (const [file, bytes] of work.snapshot)
      assert.ok(readFileSync(join(work.dir, file)).equals(bytes), `${c.id}: ${file} was changed: an input must never be overwritten`);
    if (c.left)
      assert.deepEqual(
        listFiles(work.dir),
        [...c.left].sort(),
        `${c.id}: files left in the work folder (a temporary or half-written output?)`,
      );
  } finally {
    work.cleanup();
  }
}

function checkTiming(c: BadCase, elapsed: number, what: string): void {
  const limit = c.signal?.within ?? c.within;
  if (limit !== undefined)
    assert.ok(
      elapsed <= limit,
      `${c.id} (${what}): took ${elapsed} ms, more than ${limit} ms (a loop that does not check the signal, or work before a check?)`,
    );
}

describe('bad-input corpus', () => {
  it('holds at least 8 cases of every kind', () => {
    const counts = new Map<string, number>();
    for (const c of cases) counts.set(c.kind, (counts.get(c.kind) ?? 0) + 1);
    console.log(`bad-input corpus: ${cases.length} cases; ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const [kind, n] of counts) assert.ok(n >= 8, `kind "${kind}" has ${n} cases`);
    assert.equal(new Set(cases.map((c) => c.id)).size, cases.length, 'case ids must be unique');
  });
});

// Timed cases run alone, so that another case's work does not slow them past their limit.
const timed = (c: BadCase) => c.signal !== undefined || c.within !== undefined || c.maxRssMb !== undefined;

for (const [title, selected, concurrency] of [
  ['through dist/cli.js', cases.filter((c) => !timed(c)), 2],
  ['through dist/cli.js, timed', cases.filter(timed), 1],
] as const) {
  describe(`bad-input corpus ${title}`, { concurrency }, () => {
    for (const c of selected) {
      it(`${c.kind}: ${c.id} (${c.why})`, async (t) => {
        await withWork(c, t, async (work) => {
          const r = await runCli(c, work);
          const lines = r.stderr.trim() === '' ? [] : r.stderr.trim().split('\n');
          assert.equal(r.code, c.exit, `${c.id}: exit code; stderr was:\n${r.stderr}`);
          if (c.stderr === null) assert.deepEqual(lines, [], `${c.id}: stderr must stay empty (ONNX Runtime or Node text leaked?)`);
          else if (c.stderrAnyLine)
            assert.ok(
              lines.some((l) => new RegExp(c.stderr!).test(l)),
              `${c.id}: no stderr line matches /${c.stderr}/:\n${r.stderr}`,
            );
          else {
            assert.equal(lines.length, 1, `${c.id}: exactly one stderr line expected, got:\n${r.stderr}`);
            assert.match(lines[0], new RegExp(`^attention-reuse: ${c.stderr}`), `${c.id}: the line does not name the cause`);
          }
          if (c.stdout) assert.match(r.stdout, new RegExp(c.stdout), `${c.id}: stdout`);
          checkTiming(c, r.elapsed, 'CLI');
          if (c.maxRssMb && r.maxRssMb !== undefined) {
            console.log(`${c.id}: peak RSS ${r.maxRssMb.toFixed(0)} MiB, ${r.elapsed} ms`);
            assert.ok(r.maxRssMb <= c.maxRssMb, `${c.id}: peak RSS ${r.maxRssMb.toFixed(0)} MiB > ${c.maxRssMb} MiB`);
          }
        });
      });
    }
  });
}

describe('bad-input corpus through the services (what the extension calls)', () => {
  for (const c of cases.filter((x) => !x.cliOnly)) {
    it(`${c.kind}: ${c.id}`, async (t) => {
      await withWork(c, t, async (work) => {
        const controller = new AbortController();
        const undo = c.user ? emulateNobody() : () => undefined;
        const timer = c.signal ? setTimeout(() => controller.abort(), c.signal.after) : undefined;
        const started = Date.now();
        let outcome: unknown;
        try {
          await serviceCall(c, work, controller.signal)();
        } catch (err) {
          outcome = err;
        } finally {
          clearTimeout(timer);
          undo();
        }
        checkTiming(c, Date.now() - started - (c.signal?.after ?? 0), 'service');
        if (c.exit === 0) assert.equal(outcome, undefined, `${c.id}: the service failed: ${outcome}`);
        else if (c.exit === 130) assert.ok(outcome instanceof CancelledError, `${c.id}: expected CancelledError, got ${outcome}`);
        else {
          assert.ok(outcome instanceof InputError, `${c.id}: expected an InputError, got ${(outcome as Error)?.stack ?? outcome}`);
          const line = outcome.worded(flagOf);
          assert.match(line, new RegExp(`^${c.stderr}`), `${c.id}: the service's message differs from the CLI's`);
        }
      });
    });
  }
});
