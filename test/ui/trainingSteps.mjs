// The UI test's training runs, as a user follows them in the packaged extension: a longer run started from a task in
// tasks.json while the panel is closed; the panel opened mid-run draws exactly one point per step; Cancel in the
// panel ends the task with a checkpoint and the run reads "cancelled"; the earlier run and this one are overlaid with
// a legend. Screenshots go to .artifacts/ui/ through `shoot`.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { webviewFrame } from './workbench.mjs';

const longSteps = 400;
const longRun = { type: 'attentionReuse.train', label: 'long run', steps: longSteps, evalEvery: 5, problemMatcher: [] };

/**
 * tasks.json with the longer run, written before the workbench opens (it reads the file then): it trains the config
 * the test writes later with Plan Reuse's suggested name, into a run folder of its own. Paths are relative to the
 * workspace folder, as users write them.
 */
export function writeTasks(workspace) {
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  const task = { ...longRun, config: '.attention-reuse/model.reuse.json', out: '.attention-reuse/runs/long-run' };
  writeFileSync(join(workspace, '.vscode/tasks.json'), JSON.stringify({ version: '2.0.0', tasks: [task] }, null, 2));
}

function metricsSteps(runDir) {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l).step);
}

/** The row's attributes read in one go: the panel may redraw the row between separate reads while lines arrive. */
function attributes(locator, names) {
  return locator.evaluate((el, ns) => ns.map((n) => el.getAttribute(n)), names);
}

async function until(page, what, timeoutMs, probe) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await page.waitForTimeout(250);
  }
}

export function trainingSteps({ page, shoot, step, check, runCommand, workspace, configPath, firstRunDir }) {
  const runDir = join(workspace, '.attention-reuse/runs/long-run');
  return {
    /** A run started from tasks.json with the panel closed; the panel opened mid-run; Cancel there; two runs overlaid. */
    async midRunCancelAndOverlay() {
      check(
        configPath === join(workspace, '.attention-reuse/model.reuse.json'),
        `tasks.json trains .attention-reuse/model.reuse.json; Plan Reuse wrote ${configPath}`,
      );
      await runCommand(page, 'View: Close All Editors');
      await page.waitForTimeout(500);
      await runCommand(page, 'Tasks: Run Task');
      await page.keyboard.type(longRun.label, { delay: 10 });
      const row = page.locator('.quick-input-list .monaco-list-row', { hasText: longRun.label }).first();
      await row.waitFor({ state: 'visible', timeout: 20_000 });
      await row.click();
      step(`started the tasks.json task "long run" (${longSteps} steps, an evaluation every 5) with the panel closed`);
      await until(page, 'the long run to log 10 steps', 120_000, () => metricsSteps(runDir).length >= 10);
      const statusItem = page.locator('.statusbar-item', { hasText: 'Training:' });
      await statusItem.first().waitFor({ state: 'visible', timeout: 10_000 });
      step(`status bar: "${(await statusItem.first().innerText()).trim()}"`);
      await shoot('training-mid-run');

      // The panel opened mid-run: the host replays the run, and live lines keep coming meanwhile.
      await runCommand(page, 'Attention Reuse: Open Panel');
      const rowSelector = '.training-run[data-run$="long-run"]';
      const frame = await webviewFrame(page, `${rowSelector}[data-state="running"]`, 30_000);
      const runRow = frame.locator(rowSelector);
      const seen = await until(page, 'new steps drawn after the panel opened', 30_000, async () => {
        const points = Number(await runRow.getAttribute('data-points'));
        return points > 12 && points;
      });
      const [points, steps, first] = await attributes(runRow, ['data-points', 'data-steps', 'data-first-step']);
      check(
        points === steps && first === '1',
        `opened mid-run, the chart holds ${points} points for ${steps} steps from step ${first}: a step was drawn twice`,
      );
      step(`panel opened mid-run: ${seen} points for ${steps} steps`);
      await runRow.scrollIntoViewIfNeeded();
      await shoot('training-opened-mid-run');

      // Cancel in the panel: the trainer finishes its step, saves a checkpoint and the task ends.
      await runRow.locator('[data-action="cancel-training"]').click();
      step('pressed Cancel in the panel');
      await until(page, 'the run to read "cancelled"', 60_000, async () => (await runRow.getAttribute('data-state')) === 'cancelled');
      const badge = (await runRow.locator('.badge.state').innerText()).trim();
      check(badge === 'cancelled', `the run's badge reads "${badge}"`);
      const message = (await runRow.locator('.run-message').innerText()).trim();
      check(/^Training cancelled after step \d+ of 400; its checkpoint at step \d+ is saved/.test(message), `the panel says "${message}"`);
      const toast = page.locator('.notification-toast', { hasText: 'training cancelled' });
      await toast.first().waitFor({ state: 'visible', timeout: 10_000 });
      const toastText = (await toast.first().innerText()).replace(/\s+/g, ' ').trim();
      check(!/exit code none|see its terminal/.test(toastText), `the toast says "${toastText}"`);
      await statusItem.first().waitFor({ state: 'hidden', timeout: 10_000 });
      const status = JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8'));
      check(
        status.state === 'interrupted' && existsSync(join(runDir, 'checkpoint.pt')),
        `status.json says ${JSON.stringify(status)}; a cancel must leave a checkpoint`,
      );
      const logged = metricsSteps(runDir);
      // The last lines reach the panel a moment after the trainer wrote them.
      const chartRow = () =>
        attributes(runRow, ['data-points', 'data-steps', 'data-first-step', 'data-last-step']).then((a) => a.map(Number));
      const final = await until(page, `the chart to draw the ${logged.length} logged steps`, 15_000, async () => {
        const a = await chartRow();
        return a[0] >= logged.length && a;
      }).catch(chartRow);
      check(
        final[0] === logged.length && final[1] === logged.length && final[2] === logged[0] && final[3] === logged[logged.length - 1],
        `the chart holds ${final[0]} points (steps ${final[2]}..${final[3]}), metrics.jsonl ${logged.length} lines (${logged[0]}..${logged.at(-1)})`,
      );
      step(`cancelled from the panel: "${message}"; toast "${toastText}"; ${final[0]} points = ${logged.length} metrics lines`);
      await shoot('training-cancelled');

      // Two runs overlaid: the earlier 5-step run stays beside this one, each in its colour, named in the legend.
      const names = (await frame.locator('.training-run .run-name').allInnerTexts()).map((t) => t.trim());
      check(
        names.length === 2 && names[0] === firstRunDir.split('/').pop() && names[1] === 'long-run',
        `the legend lists ${JSON.stringify(names)}`,
      );
      const total = Number(await frame.locator('.training .loss-box').getAttribute('data-points'));
      check(total === logged.length + 5, `the loss chart draws ${total} points; the two runs have ${logged.length} + 5`);
      const evalPoints = Number(await frame.locator('.training .eval-box').getAttribute('data-points'));
      check(evalPoints >= Math.floor(logged.at(-1) / 5), `the held-out chart draws ${evalPoints} points for evaluations every 5 steps`);
      await frame.locator('.training .loss-box').scrollIntoViewIfNeeded();
      await page.waitForTimeout(300);
      await shoot('training-two-runs');
      step(`two runs overlaid: ${names.join(', ')}; ${total} loss points, ${evalPoints} held-out points`);
    },
  };
}
