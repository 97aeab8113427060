// Protects how a training task stops (extension/trainerProcess.ts): Cancel reaches the trainer the CLI started (a
// process group), which finishes its step and exits 130 with a checkpoint; a second Cancel kills the group at once;
// the last lines of the output are kept for the failure report; and how a run ended is worded from status.json
// (extension/trainOutcome.ts), so a --max-minutes stop or a Terminate Task never reads "exit code none".
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { runOutcome } from '../../extension/trainOutcome';
import type { RunFacts } from '../../extension/trainOutcome';
import { LineTail, TrainerProcess } from '../../extension/trainerProcess';
import type { TrainerExit } from '../../extension/trainerProcess';

// A stand-in for `attention-reuse train`: it starts a "trainer" that logs a step every 20 ms, saves a checkpoint
// on SIGTERM and exits 130; the CLI itself passes the trainer's exit code on, as the real one does.
const trainer = `
let step = 0, stop = false;
process.on('SIGTERM', () => (stop = true));
const timer = setInterval(() => {
  step++;
  console.log('step ' + step + '/1000  loss 5.0');
  if (stop) { console.log('stopped after step ' + step + '; checkpoint saved'); clearInterval(timer); process.exitCode = 130; }
}, 20);`;
const cli = `
process.on('SIGTERM', () => {});
const child = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(trainer)}], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 1));`;

function start(script: string, onOutput: (t: string) => void = () => {}): TrainerProcess {
  return new TrainerProcess({ command: process.execPath, args: ['-e', script], cwd: process.cwd(), env: process.env, onOutput });
}

async function untilOutput(p: { seen: string }, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 250 && !pattern.test(p.seen); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(p.seen, pattern, 'the stand-in trainer never logged');
}

describe('TrainerProcess', () => {
  it('stop reaches the trainer the CLI started: it saves a checkpoint and the CLI exits 130', async () => {
    const out = { seen: '' };
    const p = start(cli, (t) => (out.seen += t));
    await untilOutput(out, /step 3\//);
    p.stop();
    assert.equal(p.stopping, true);
    const exit = await p.exited;
    assert.equal(exit.code, 130, `the CLI exited ${exit.code}: did the stop reach the trainer (a process group)?`);
    assert.equal(exit.stopRequested, true);
    assert.match(exit.tail[exit.tail.length - 1], /checkpoint saved/);
    assert.equal(p.running, false);
  });

  it('a second stop kills the group at once', async () => {
    const out = { seen: '' };
    const p = start(
      `process.on('SIGTERM', () => console.log('ignoring the stop')); setInterval(() => console.log('step'), 20);`,
      (t) => (out.seen += t),
    );
    await untilOutput(out, /step/);
    p.stop();
    await untilOutput(out, /ignoring the stop/);
    p.kill();
    const exit = await p.exited;
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.code, 137);
  });

  it('keeps the last lines of the output, an unterminated one included', () => {
    const tail = new LineTail(3);
    tail.push('a\nb\r\nc\n\nd');
    tail.push('e\nf');
    assert.deepEqual(tail.get(), ['c', 'de', 'f']);
  });
});

const exit = (code: number, more: Partial<TrainerExit> = {}): TrainerExit => ({
  code,
  signal: null,
  stopRequested: false,
  tail: [],
  ...more,
});
const facts = (more: Partial<RunFacts>): RunFacts => ({
  exit: exit(0),
  status: null,
  lastStep: null,
  steps: 200,
  maxMinutes: 0,
  runDir: '/runs/r1',
  modelWritten: false,
  checkpointSaved: false,
  ...more,
});

describe('runOutcome', () => {
  it('a finished run names where the model is', () => {
    const o = runOutcome(facts({ status: { state: 'finished', step: 200, steps: 200 }, modelWritten: true, lastStep: 200 }));
    assert.equal(o.state, 'finished');
    assert.equal(o.message, 'Training finished; the model is in /runs/r1.');
  });

  it('a --max-minutes stop exits 0 without model.pt and says so, with the checkpoint to resume from', () => {
    const o = runOutcome(facts({ status: { state: 'time-limit', step: 37, steps: 200 }, maxMinutes: 2, checkpointSaved: true }));
    assert.equal(o.state, 'time-limit');
    assert.equal(o.checkpointStep, 37);
    assert.match(o.message, /time limit \(2 min\) after step 37 of 200, without model\.pt; its checkpoint at step 37 is saved/);
  });

  it('a cancelled run (exit 130, status interrupted) is "cancelled", never "exit code none"', () => {
    const o = runOutcome(
      facts({
        exit: exit(130, { stopRequested: true }),
        status: { state: 'interrupted', step: 12, steps: 200 },
        lastStep: 12,
        checkpointSaved: true,
      }),
    );
    assert.equal(o.state, 'cancelled');
    assert.equal(o.exitCode, 130);
    assert.equal(o.message, 'Training cancelled after step 12 of 200; its checkpoint at step 12 is saved; Resume continues from it.');
    const early = runOutcome(facts({ exit: exit(137, { stopRequested: true, signal: 'SIGKILL' }) }));
    assert.equal(early.state, 'cancelled');
    assert.match(early.message, /^Training stopped at once before its first step; it saved no checkpoint\.$/);
  });

  it('a refusal (exit 2) gives the CLI line; a crash its exit code, the reason and the last lines', () => {
    const refused = runOutcome(
      facts({ exit: exit(2, { tail: ['checking…', 'attention-reuse: --batch-size 30 must be a multiple of 4 process(es)'] }) }),
    );
    assert.equal(refused.state, 'failed');
    assert.equal(refused.message, 'Training was refused (exit code 2): --batch-size 30 must be a multiple of 4 process(es)');
    const tail = [
      'step 40/200  loss 4.1',
      'Traceback (most recent call last):',
      '  File "train.py", line 3',
      'RuntimeError: CUDA out of memory',
    ];
    const crashed = runOutcome(facts({ exit: exit(1, { tail }), lastStep: 40, checkpointSaved: true }));
    assert.equal(crashed.state, 'failed');
    assert.equal(
      crashed.message,
      'Training failed (exit code 1) after step 40 of 200: RuntimeError: CUDA out of memory; its last checkpoint (checkpoint.pt) is kept; Resume continues from it.',
    );
    assert.deepEqual(crashed.logTail, tail);
    // The fields the CLI adds when the trainer dies (status.json of a failed run) take precedence.
    const killed = runOutcome(
      facts({
        exit: exit(137),
        status: {
          state: 'failed',
          step: 41,
          steps: 200,
          checkpointStep: 40,
          signal: 'SIGKILL',
          reason: 'killed by SIGKILL (out of memory)',
          logTail: ['x'],
        },
      }),
    );
    assert.equal(
      killed.message,
      'Training failed (killed by SIGKILL) after step 41 of 200: killed by SIGKILL (out of memory); its checkpoint at step 40 is saved; Resume continues from it.',
    );
    assert.deepEqual(killed.logTail, ['x']);
  });
});
