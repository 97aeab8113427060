// Protects the training chart's one point per step (protocol/metricSeries.ts): a replay overlapping live lines,
// duplicated lines, lines out of order and a run re-read after a resume all leave one point per step, in step order.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { MetricColumns } from '../../protocol/messages';
import { StepSeries, pointsOf, runLabel } from '../../protocol/metricSeries';
import { metricsMessage } from '../../extension/panelPayloads';

/** Columns of lines for `steps`, with loss = 10 - step / 10 (+ `shift`), and an evaluation every 5th step. */
function columns(steps: number[], shift = 0): MetricColumns {
  const lines = steps.map((step) => ({
    step,
    loss: 10 - step / 10 + shift,
    lr: 1e-4,
    ...(step % 5 === 0 ? { evalLoss: 9 - step / 10, evalAccuracy: step / 100 } : {}),
  }));
  return metricsMessage('run', lines, false).points;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const steps = (s: StepSeries) => s.points.map((p) => p.step);

describe('StepSeries', () => {
  it('keeps one point per step when the replay of a run overlaps the live lines (the 205-points-for-200-steps bug)', () => {
    const s = new StepSeries();
    s.merge(columns(range(1, 120)), true);
    // A view opened mid-run: live lines 121..125 arrive, then the whole run so far replayed, then more live lines.
    s.merge(columns(range(121, 125)));
    s.merge(columns(range(1, 125)), true);
    s.merge(columns(range(121, 200)));
    assert.deepEqual(steps(s), range(1, 200), 'the chart must hold each step once, in order');
  });

  it('a duplicate line replaces the point of its step (the last line for a step wins)', () => {
    const s = new StepSeries();
    s.merge(columns(range(1, 10)));
    const r = s.merge(columns([4, 4, 10], 100));
    assert.deepEqual(steps(s), range(1, 10));
    assert.equal(r.added, 0);
    assert.equal(r.replaced, 3);
    assert.equal(r.appendedOnly, false, 'a replaced point is not an append: the chart must redraw from it');
    assert.equal(r.from, 3);
    assert.equal(s.points[3].loss, 10 - 0.4 + 100, 'a resumed run logs its steps again: the new value must win');
  });

  it('sorts lines that arrive out of order and reports a pure append as one', () => {
    const s = new StepSeries();
    s.merge(columns([5, 1, 3]));
    s.merge(columns([2, 4]));
    assert.deepEqual(steps(s), [1, 2, 3, 4, 5]);
    const r = s.merge(columns([6, 7]));
    assert.deepEqual([r.appendedOnly, r.from, r.added], [true, 5, 2], 'steps after the last one are an append from the old length');
  });

  it('reset replaces the run, skips lines without a step and keeps evaluation columns', () => {
    const s = new StepSeries();
    s.merge(columns(range(1, 50)));
    const c = columns([0, 10, 20]);
    c.step[0] = NaN;
    const r = s.merge(c, true);
    assert.deepEqual(steps(s), [10, 20], 'reset must drop the earlier points');
    assert.equal(r.skipped, 1);
    assert.equal(s.points[0].evalAccuracy, 0.1);
    assert.ok(Number.isNaN(pointsOf(columns([3]))[0].evalLoss), 'a line without an evaluation reads NaN there');
    const back = new StepSeries();
    back.merge(s.toColumns());
    assert.deepEqual(back.points, s.points, 'toColumns must carry every column');
  });

  it('a step-0 line without a loss (a warm start evaluates before training) is kept', () => {
    const s = new StepSeries();
    s.merge(
      metricsMessage(
        'run',
        [
          { step: 0, evalLoss: 4.2 },
          { step: 1, loss: 5 },
        ],
        false,
      ).points,
    );
    assert.deepEqual(steps(s), [0, 1]);
    assert.ok(Number.isNaN(s.points[0].loss));
  });

  it('labels a run by its folder name', () => {
    assert.equal(runLabel('/w/.attention-reuse/runs/partial-20261130-101500'), 'partial-20261130-101500');
    assert.equal(runLabel('C:\\runs\\b\\'), 'b');
    assert.equal(runLabel('headless'), 'headless');
  });
});
