// Protects the training section in a real browser: one point per step however the lines arrive (a replay over live
// lines, duplicates, out of order), several runs overlaid with a legend, held-out evaluation plotted, and each run's
// state — running with Cancel, stopping with "Stop now", cancelled with Resume, failed with its last lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { metricsMessage, trainingRunMessage } from './fixtures.mjs';
import { lastPosted, panelBrowser, posted, send, shots } from './page.mjs';

const { withPanel } = panelBrowser();
const row = (page, run) => page.locator(`.training-run[data-run="${run}"]`);

/** The steps of the CSV export, per run. */
async function csvSteps(page) {
  const before = (await posted(page)).length;
  await page.locator('.training [data-export="csv"]').click();
  await page.waitForFunction((n) => window.__posted.length > n, before);
  const lines = (await lastPosted(page, 'exportChart')).data.trim().split('\n').slice(1);
  const byRun = {};
  for (const line of lines) {
    const [run, step] = line.split(',');
    (byRun[run] ??= []).push(Number(step));
  }
  return byRun;
}

describe('training section', () => {
  test('one point per step: a replay over live lines, duplicates and lines out of order', async () => {
    await withPanel({}, async (page) => {
      const run = '/w/.attention-reuse/runs/partial-20261130-101500';
      await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
      await send(page, metricsMessage(run, 1, 120, true));
      // The panel opened mid-run: live lines, then the whole run so far from the host, then more live lines.
      await send(page, metricsMessage(run, 121, 5));
      await send(page, metricsMessage(run, 1, 125, true));
      await send(page, metricsMessage(run, 121, 80));
      await send(page, metricsMessage(run, 0, 0, false, { steps: [150, 3, 200] }));
      await send(page, metricsMessage(run, 0, 0, false, { steps: [202, 201] }));
      const r = row(page, run);
      assert.equal(await r.getAttribute('data-points'), '202', 'steps 1..202 once each: did a replayed or repeated line add a point?');
      assert.equal(await r.getAttribute('data-steps'), '202');
      assert.equal(await r.getAttribute('data-last-step'), '202');
      assert.equal(await page.locator('.training .loss-box').getAttribute('data-points'), '202', 'the chart must draw what the run holds');
      const steps = (await csvSteps(page))['partial-20261130-101500'];
      assert.deepEqual(
        steps,
        Array.from({ length: 202 }, (_, i) => i + 1),
        'the exported points must be the steps in order, each once',
      );
    });
  });

  test('several runs are overlaid with a legend; a new run does not replace the earlier one', async () => {
    await withPanel({}, async (page) => {
      await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
      await send(page, metricsMessage('/runs/partial-k2', 1, 200, true, { evalEvery: 25 }));
      await send(
        page,
        trainingRunMessage('/runs/partial-k2', 'finished', { step: 200, message: 'Training finished; the model is in /runs/partial-k2.' }),
      );
      await send(page, trainingRunMessage('/runs/partial-k4', 'running'));
      await send(page, metricsMessage('/runs/partial-k4', 1, 140, true, { evalEvery: 25, offset: 0.4 }));
      assert.deepEqual(
        await page.locator('.training-run .run-name').allTextContents(),
        ['partial-k2', 'partial-k4'],
        'both runs must be listed, oldest first',
      );
      const swatches = await page
        .locator('.training-run .swatch')
        .evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
      assert.notEqual(swatches[0], swatches[1], 'two runs must get two colours');
      assert.equal(await page.locator('.training .loss-box').getAttribute('data-points'), '340', 'the loss chart must draw both runs');
      const byRun = await csvSteps(page);
      assert.deepEqual([byRun['partial-k2'].length, byRun['partial-k4'].length], [200, 140]);
      // Held-out evaluation: its own small chart, accuracy by default, perplexity on demand.
      await page.waitForSelector('.training .eval-block:not([hidden])');
      assert.equal(
        await page.locator('.training .eval-box').getAttribute('data-points'),
        String(8 + 5),
        'evalAccuracy every 25 steps of both runs',
      );
      assert.match(
        await row(page, '/runs/partial-k4').locator('.run-latest').textContent(),
        /^step 140 of 200 · loss [\d.]+ · held-out loss [\d.]+ at step 125/,
      );
      await page.locator('.training').screenshot({ path: join(shots, 'training-two-runs.png') });
      const legend = await page.locator('.training-runs').getAttribute('aria-label');
      assert.match(legend, /legend/);
    });
  });

  test('states: Cancel while it runs, "Stop now" while it stops, Resume when it can, the last lines when it failed', async () => {
    await withPanel({}, async (page) => {
      const run = '/runs/r1';
      await send(page, { type: 'settings', theme: 'light', host: 'editor' });
      await send(page, trainingRunMessage(run, 'running'));
      await send(page, metricsMessage(run, 1, 12, true));
      assert.equal(await row(page, run).getAttribute('data-state'), 'running');
      const cancel = row(page, run).locator('[data-action="cancel-training"]');
      assert.match(await cancel.getAttribute('aria-label'), /^Cancel training r1/, 'the button must say what it cancels');
      await cancel.click();
      assert.deepEqual(await lastPosted(page, 'cancelTraining'), { type: 'cancelTraining', run });
      await send(page, trainingRunMessage(run, 'cancelling', { message: 'Stopping after the step in progress…' }));
      assert.equal((await row(page, run).locator('[data-action="cancel-training"]').textContent()).trim(), 'Stop now');
      const cancelled = 'Training cancelled after step 13 of 200; its checkpoint at step 13 is saved; Resume continues from it.';
      await send(
        page,
        trainingRunMessage(run, 'cancelled', { step: 13, checkpointStep: 13, exitCode: 130, message: cancelled, canResume: true }),
      );
      assert.equal(await row(page, run).locator('.badge.state').textContent(), 'cancelled');
      assert.equal(await row(page, run).locator('.run-exit').textContent(), 'exit code 130', 'an ended run shows its exit code');
      assert.equal(await row(page, run).locator('.run-message').textContent(), cancelled);
      assert.equal(await row(page, run).locator('[data-action="cancel-training"]').count(), 0, 'an ended run has no Cancel');
      await row(page, run).locator('[data-action="resume-training"]').click();
      assert.deepEqual(await lastPosted(page, 'resumeTraining'), { type: 'resumeTraining', run });

      const failed = '/runs/r2';
      const tail = [
        'step 40/200  loss 4.1',
        'Traceback (most recent call last):',
        '<script>alert(1)</script>',
        'RuntimeError: out of memory',
      ];
      await send(
        page,
        trainingRunMessage(failed, 'failed', {
          exitCode: 1,
          message: 'Training failed (exit code 1) after step 40 of 200: RuntimeError: out of memory',
          logTail: tail,
        }),
      );
      assert.equal(await row(page, failed).getAttribute('role'), 'alert');
      assert.match(await row(page, failed).locator('.run-message').textContent(), /exit code 1/);
      await row(page, failed).locator('summary').click();
      assert.equal(await row(page, failed).locator('pre').textContent(), tail.join('\n'), 'the last lines must be shown verbatim, as text');
      assert.equal(await page.locator('.training script').count(), 0);
      await send(
        page,
        trainingRunMessage('/runs/r3', 'time-limit', {
          message:
            'Training stopped at its time limit (2 min) after step 37 of 200, without model.pt; its checkpoint at step 37 is saved; Resume continues from it.',
        }),
      );
      assert.match(await row(page, '/runs/r3').locator('.run-message').textContent(), /without model\.pt/);
      await page.locator('.training').screenshot({ path: join(shots, 'training-states-light.png') });
    });
  });
});
