// Protects the fuzz harness itself: on deliberately broken readers it must report a crash with a shrunk counterexample, a hang, and an uncaught error.
import { strict as assert } from 'node:assert';
import { extname, join } from 'node:path';
import { describe, it } from 'node:test';
import { runFuzz } from './harness';

const planted = join(__dirname, `plantedTargets${extname(__filename)}`);

describe('the fuzz harness finds planted bugs', () => {
  it('a crash: the token-file decoder as it was before issue 13', async () => {
    const r = await runFuzz({ module: planted, name: 'tokenFileBefore13' }, { numRuns: 20_000, timeLimitMs: 5000 });
    console.log(
      `planted crash found after ${r.runs} runs in ${r.ms} ms: ${r.error?.split('\n')[0]}; counterexample ${r.counterexample?.slice(0, 80)}`,
    );
    assert.ok(r.failed, `the fuzzer did not find the planted crash in ${r.runs} runs`);
    assert.match(r.error ?? '', /RangeError|SyntaxError/, "the report should carry the reader's own error");
    assert.ok(r.counterexample && r.path, 'the report should carry a counterexample and its replay path');
    const again = await runFuzz(
      { module: planted, name: 'tokenFileBefore13' },
      { numRuns: 1, timeLimitMs: 5000, seed: r.seed, path: r.path },
    );
    assert.ok(again.failed, 'replaying the seed and path must fail the same way');
  });

  it('a hang: the watchdog stops the worker and names the run', async () => {
    const r = await runFuzz({ module: planted, name: 'hangsOnStar' }, { numRuns: 20_000, timeLimitMs: 1000, graceMs: 1500 });
    assert.ok(r.failed && /^hang: run \d+ did not end/.test(r.error ?? ''), `expected a hang report, got ${JSON.stringify(r)}`);
  });

  it('an uncaught error outside the run', async () => {
    const r = await runFuzz({ module: planted, name: 'throwsLater' }, { numRuns: 20_000, timeLimitMs: 3000 });
    assert.ok(
      r.failed && /uncaught in the worker: TypeError: thrown from a timer/.test(r.error ?? ''),
      `expected an uncaught error, got ${JSON.stringify(r)}`,
    );
  });
});
