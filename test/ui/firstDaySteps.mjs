// The first-time user's steps of the UI test (test/ui/analyzeSample.mjs runs them after the sample's plan and
// training): a model double-clicked in the Explorer opens in the summary editor and its "Analyze…" runs it on the
// inputs file beside it; a fused-attention model analyzed from the Explorer's context menu is refused with its whole
// message in the panel and a toast with "Show Log"; a ViT analyzed on the folder of images beside it shows a patch's
// attention over the image; a stored notebook's analysis output is drawn by the notebook
// renderer in code-server's own notebook editor.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../helpers/paths.mjs';

/** What the steps need from the test: the page, a screenshot, a log line, a check and workbench.mjs's runCommand. */
export function firstDaySteps({ page, shoot, step, check, runCommand }) {
  /** The (nested) webview frame whose `selector` holds `text` (the text of several open webviews may differ). */
  async function frameWith(selector, text, timeoutMs = 60_000) {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      for (const f of page.frames()) {
        try {
          const found = await f.$$eval(selector, (els, t) => els.some((e) => (e.textContent ?? '').includes(t)), text);
          if (found) return f;
        } catch {
          // the frame navigated away
        }
      }
      await page.waitForTimeout(250);
    }
    throw new Error(`no webview shows "${text}" in ${selector} after ${timeoutMs / 1000} s`);
  }

  /**
   * Runs `work` in the webview showing `text`, again in a new frame if the workbench replaced it
   * meanwhile (a panel brought forward reloads its page).
   */
  async function inFrame(selector, text, work, timeoutMs = 60_000) {
    for (let attempt = 0; ; attempt++) {
      const frame = await frameWith(selector, text, timeoutMs);
      try {
        return await work(frame);
      } catch (err) {
        if (attempt >= 3 || !/detached|destroyed|closed/i.test(err.message)) throw err;
        await page.waitForTimeout(500);
      }
    }
  }

  /** An Explorer row by its exact name. */
  const row = (name) =>
    page
      .locator('.explorer-folders-view .monaco-list-row')
      .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${name.replace(/[.]/g, '\\.')}$`) }) })
      .first();

  /** Shows a file's row in the Explorer, expanding its folder. */
  async function reveal(folder, file) {
    // The command, not the activity-bar icon: clicking the icon of the open view closes the side bar.
    await runCommand(page, 'View: Show Explorer');
    const dir = row(folder);
    await dir.waitFor({ state: 'visible', timeout: 20_000 });
    if ((await dir.getAttribute('aria-expanded')) === 'false') await dir.click();
    await row(file).waitFor({ state: 'visible', timeout: 20_000 });
    return row(file);
  }

  async function modelSummary() {
    const model = 'bert_opset17.onnx';
    // Room for the editors in the screenshots: no task terminal, no toasts of the training run.
    await runCommand(page, 'View: Hide Panel');
    await runCommand(page, 'Notifications: Clear All Notifications');
    await (await reveal('models', model)).dblclick();
    const editor = await frameWith('.model-summary h1.title', model);
    const facts = (await editor.locator('.model-summary .run-info').innerText()).trim();
    const stacks = await editor.locator('.model-summary table').first().locator('tbody td').allInnerTexts();
    check(
      stacks.join(' ') === 'encoder self-attention 3 4',
      `the summary of ${model} lists "${stacks.join(' ')}", not one encoder of 3 layers × 4 heads`,
    );
    check(/opset 17/.test(facts), `the summary says "${facts}", without the opset`);
    step(`double-clicked ${model}: summary "${facts}", ${stacks.join(' ')}`);
    await shoot('model-summary');

    await editor.locator('[data-model-action="analyze"]').click();
    const pick = page.locator('.quick-input-widget', { hasText: `which examples for ${model}` });
    await pick.waitFor({ state: 'visible', timeout: 20_000 });
    const first = (await page.locator('.quick-input-list .monaco-list-row').first().innerText()).replace(/\s+/g, ' ').trim();
    check(first.startsWith('bert_opset17.inputs.jsonl'), `the first suggestion is "${first}", not the model's own inputs beside it`);
    step(`Analyze… suggests "${first}" first`);
    await shoot('model-analyze-examples');
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: 'analyzing bert_opset17' }).waitFor({ state: 'hidden', timeout: 120_000 });
    const { grid, file } = await inFrame('body.host-editor h1.title', 'bert_opset17', async (panel) => ({
      grid: await panel.locator('.redundancy canvas[data-grid]').first().getAttribute('data-grid', { timeout: 10_000 }),
      file: (await panel.locator('.file-info').innerText({ timeout: 10_000 })).trim(),
    }));
    check(grid.split(',').slice(3).join('×') === '3×3', `the heatmap of ${model} is ${grid}, not 3×3`);
    check(
      /^bert_opset17-\d{8}-\d{6}\.analysis\.json · analyzed /.test(file),
      `the panel says "${file}", not which file it shows and since when`,
    );
    step(`panel shows ${model}: 3×3 heatmap, "${file}"`);
    await shoot('model-heatmap');
  }

  async function failingModel() {
    const model = 'fused_attention.onnx';
    await (await reveal('models', model)).click({ button: 'right' });
    const item = page.locator('.monaco-menu .action-item', { hasText: 'Analyze Attention' }).first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    // The web workbench's menu acts on the focused item; a plain click on the row only focuses it.
    await item.hover();
    await page.keyboard.press('Enter');
    const toast = page.locator('.notification-toast', { hasText: `could not analyze ${'fused_attention'}` });
    await toast.waitFor({ state: 'visible', timeout: 30_000 });
    const buttons = await toast.locator('.monaco-button').allInnerTexts();
    check(
      buttons.includes('Show Log') && buttons.includes('Show in Panel'),
      `the failure toast offers ${JSON.stringify(buttons)}, not Show in Panel and Show Log`,
    );
    check(!(await page.locator('.quick-input-widget').isVisible()), 'inputs were asked for before the model was checked');
    await page.waitForTimeout(400); // the toast slides in
    await shoot('failure-toast');
    await toast.locator('.monaco-button', { hasText: 'Show in Panel' }).click();
    const { message, fits, still } = await inFrame('.run-status h2', 'The last analysis failed: fused_attention', async (panel) => {
      const banner = panel.locator('.run-status');
      await banner.scrollIntoViewIfNeeded({ timeout: 10_000 });
      const size = await banner.evaluate((e) => ({
        scroll: e.scrollHeight,
        client: e.clientHeight,
        height: e.getBoundingClientRect().height,
      }));
      return {
        message: (await banner.locator('.message').innerText({ timeout: 10_000 })).trim(),
        fits: size.height > 40 && size.scroll <= size.client + 1,
        still: (await banner.locator('.note').innerText({ timeout: 10_000 })).trim(),
      };
    });
    check(
      message.startsWith('Attention is fused into one op.') &&
        message.includes('attn_implementation="eager"') &&
        message.endsWith("optimum's --optimize)"),
      `the panel shows "${message}", not the whole message`,
    );
    check(fits, 'the failure banner is cut off');
    check(/The panel still shows bert_opset17/.test(still), `the banner says "${still}", not what the panel still shows`);
    step(`failure in the panel: "${message.slice(0, 80)}…" (${message.length} characters); "${still}"`);
    await shoot('failure-panel');
  }

  /** A vision model analyzed on the folder of images beside it; the attention viewer lays a patch's attention over an image. */
  async function imageModel() {
    const model = 'vit.onnx';
    await runCommand(page, 'Notifications: Clear All Notifications');
    await (await reveal('vision', model)).dblclick();
    const editor = await frameWith('.model-summary h1.title', model);
    await editor.locator('[data-model-action="analyze"]').click();
    const pick = page.locator('.quick-input-widget', { hasText: `which examples for ${model}` });
    await pick.waitFor({ state: 'visible', timeout: 20_000 });
    const first = (await page.locator('.quick-input-list .monaco-list-row').first().innerText()).replace(/\s+/g, ' ').trim();
    check(
      /^images\/\s*3 images \(PNG, JPEG\), prepared as its preprocessor_config\.json says/.test(first),
      `the first suggestion for ${model} is "${first}", not the folder of images beside it`,
    );
    step(`Analyze… on ${model} suggests "${first}" first`);
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: 'analyzing vit' }).waitFor({ state: 'hidden', timeout: 120_000 });
    const caption = await inFrame('body.host-editor h1.title', 'vit', async (panel) => {
      await panel.locator('[data-action="show-attention"]').click({ timeout: 10_000 });
      const canvas = panel.locator('.image-overlay canvas');
      await canvas.waitFor({ state: 'visible', timeout: 60_000 });
      await canvas.scrollIntoViewIfNeeded();
      const box = await canvas.boundingBox();
      // Patch (1,2) of the 4×4 grid becomes the query.
      await canvas.click({ position: { x: box.width * (2.5 / 4), y: box.height * (1.5 / 4) } });
      await page.waitForTimeout(300);
      return (await panel.locator('.image-overlay .readout').innerText()).trim();
    });
    check(
      /^Query \(1,2\): to \[CLS\] \d\.\d{3}; to the 4×4 patches \d\.\d{3}, most to \(\d,\d\)/.test(caption),
      `the overlay says "${caption}", not patch (1,2)'s attention`,
    );
    step(`image overlay: "${caption}"`);
    await shoot('image-overlay');
  }

  async function notebook() {
    const stored = JSON.parse(readFileSync(join(root, 'test/fixtures/notebooks/sample.ipynb'), 'utf8'));
    const analysis = stored.cells.find((c) => c.outputs?.length).outputs[0].data['application/vnd.attention-reuse.analysis+json'];
    await (await reveal('notebooks', 'sample.ipynb')).dblclick();
    const { grid, readout } = await inFrame(
      '.attention-reuse-analysis h3',
      'Layer-pair similarity',
      async (output) => {
        const canvas = output.locator('.attention-reuse-analysis canvas[data-grid]').first();
        await canvas.waitFor({ state: 'visible', timeout: 30_000 });
        await canvas.scrollIntoViewIfNeeded();
        const grid = (await canvas.getAttribute('data-grid')).split(',').map(Number);
        const [left, top, cell] = grid;
        await canvas.hover({ position: { x: left + 1.5 * cell, y: top + 0.5 * cell } });
        return { grid, readout: (await output.locator('.attention-reuse-analysis .readout').first().innerText()).trim() };
      },
      90_000,
    );
    check(grid[3] === 4 && grid[4] === 4, `the notebook's heatmap is ${grid[3]}×${grid[4]}, the sample model has 4 layers`);
    const want = `layer 0 × layer 1: ${analysis.stacks[0].layerPairs[0][1].toFixed(3)}`;
    check(readout.startsWith(want), `the notebook's readout says "${readout}", the stored output has ${want}`);
    step(`notebook: the stored output is drawn as a 4×4 heatmap; "${readout.slice(0, 60)}…"`);
    await shoot('notebook');
  }

  return { modelSummary, failingModel, imageModel, notebook };
}
