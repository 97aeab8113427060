// Protects the panel's shell and the other pages of the extension in a real browser, under their CSP: the last run's
// failure shown whole with what to do next and what the panel still shows, untrusted names (labels, file names, model
// and tensor names) drawn as text, a new analysis starting from no selection, the model card and the .onnx summary
// page, and the notebook renderer drawing an analysis file's layer-pair heatmap.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analysisMessage, makeStack } from './fixtures.mjs';
import { root } from '../helpers/paths.mjs';
import { cellCentre, lastPosted, launchBrowser, openPanel, openRenderer, posted, send, withCheckedPage } from './page.mjs';

const shots = join(root, '.artifacts', 'webview');
mkdirSync(shots, { recursive: true });
const evil = '<img src=x onerror=alert(1)>';
const layerCanvas = '.redundancy .map:first-child > .grid-chart canvas';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Also checks that no markup in a name became an element. */
function withPage(open, options, body) {
  return withCheckedPage(browser.context, open, options, async (page) => {
    await body(page);
    assert.equal(await page.locator('img, b').count(), 0, 'markup in a name became an element');
  });
}

/** A model summary as extension/panelPayloads.ts builds it. */
function summary(overrides = {}) {
  return {
    path: `/models/${evil}.onnx`,
    name: `${evil}.onnx`,
    bytes: 5_432_100,
    opset: 17,
    producer: 'pytorch 2.1.0',
    inputs: [
      { name: 'input_ids', type: 'int64', shape: ['batch', 'sequence'] },
      { name: evil, type: 'int64', shape: null },
    ],
    stacks: [{ name: 'encoder', kind: 'self', layers: 12, heads: Array(12).fill(12) }],
    dims: { hidden: 768, ffn: 3072, vocab: 30522, maxPositions: null },
    problem: null,
    ...overrides,
  };
}

const fused = {
  kind: 'fusedAttention',
  title: 'Attention is fused into one op',
  message: `/models/${evil}.onnx uses fused attention (com.microsoft.Attention ×12), which computes the attention probabilities inside one op and never exposes them; export the model without attention fusion`,
  hints: ['Export the model again without attention fusion.', 'Skip the transformer optimizer.'],
};

describe('panel shell', () => {
  test('a failed run is shown whole with what to do next and what the panel still shows; names stay text', async () => {
    const stack = makeStack({ L: 4, H: 2 });
    const message = `${'The tokenizer /data/tokenizer.json has ids up to 50000, but the model has 30522 rows: it is not this model’s tokenizer. '.repeat(4)}\nSecond line: ${evil}`;
    await withPage(openPanel, {}, async (page) => {
      await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
      await send(page, analysisMessage([stack], true, { label: `model ${evil}`, fileName: `${evil}.analysis.json` }));
      assert.equal(await page.locator('h1.title').textContent(), `model ${evil}`, 'the label is shown as typed');
      assert.match(
        await page.locator('.file-info').textContent(),
        /^<img src=x onerror=alert\(1\)>\.analysis\.json · analyzed /,
        'the panel says which file it shows and since when',
      );
      await send(page, {
        type: 'runStatus',
        status: {
          state: 'failed',
          label: `bert ${evil}`,
          at: Date.now(),
          message,
          hints: ['Pick the model’s own tokenizer.json.', '"Show Log" opens the log.'],
        },
      });
      const banner = page.locator('.run-status');
      assert.equal(await banner.isVisible(), true, 'no failure banner');
      assert.equal(await banner.getAttribute('role'), 'alert', 'a failure is announced');
      assert.equal(await banner.locator('.message').textContent(), message, 'the whole message, every line of it, must be shown');
      assert.equal(await banner.locator('h2').textContent(), `The last analysis failed: bert ${evil}`);
      assert.deepEqual(await banner.locator('.hints li').allTextContents(), [
        'Pick the model’s own tokenizer.json.',
        '"Show Log" opens the log.',
      ]);
      assert.match(
        await banner.locator('.note').textContent(),
        /The panel still shows model <img src=x onerror=alert\(1\)> \(analyzed /,
        'the banner must say the heatmaps below are the previous analysis',
      );
      assert.equal(await page.locator(layerCanvas).isVisible(), true, 'the previous analysis stays on screen');
      await page.screenshot({ path: join(shots, 'failed-run-dark.png'), fullPage: true });
      await banner.locator('vscode-button', { hasText: 'Show Log' }).click();
      assert.deepEqual(await lastPosted(page, 'runCommand'), { type: 'runCommand', command: 'showLog' });
      await banner.locator('vscode-button', { hasText: 'Dismiss' }).click();
      assert.equal(await banner.isVisible(), false, 'Dismiss hides the banner');
      await send(page, { type: 'runStatus', status: { state: 'running', label: 'next model', at: Date.now() } });
      assert.match(
        await banner.textContent(),
        /^Analyzing next model… The panel still shows .* until it finishes\.$/,
        'a new status shows again',
      );
      await send(page, { type: 'runStatus', status: { state: 'cancelled', label: 'next model', at: Date.now() } });
      assert.match(await banner.textContent(), /The analysis of next model was cancelled at .*The panel still shows/);
      await send(page, { type: 'runStatus', status: null });
      assert.equal(await banner.isVisible(), false);
    });
  });

  test('another analysis starts from no selection at the top of the page; the same one keeps its selection', async () => {
    const stack = makeStack({ L: 6, H: 4 });
    await withPage(openPanel, { height: 500 }, async (page) => {
      await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
      await send(page, analysisMessage([stack], true, { id: 'first' }));
      await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, layerCanvas);
      const { x, y } = await cellCentre(page, layerCanvas, 1, 3);
      await page.mouse.click(x, y);
      await page.mouse.wheel(0, 2000);
      await page.waitForFunction(() => window.scrollY > 0);
      await send(page, analysisMessage([stack], true, { id: 'first' }));
      assert.deepEqual((await page.evaluate(() => window.__state)).pair, [1, 3], 'the same analysis sent again keeps the selection');
      await send(page, analysisMessage([stack], true, { id: 'second' }));
      const state = await page.evaluate(() => window.__state);
      assert.equal(state.analysis, 'second');
      assert.equal(state.pair, null, 'a new analysis must not inherit the previous selection');
      assert.equal(await page.locator('.pair-detail').isVisible(), false, 'the head detail of the previous selection is still open');
      assert.equal(await page.evaluate(() => window.scrollY), 0, 'a new analysis starts at the top of the page');
    });
  });

  test('the model card of "Inspect in Panel" shows the summary and its problem, and posts its buttons', async () => {
    await withPage(openPanel, {}, async (page) => {
      await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
      await send(page, { type: 'modelSummary', summary: summary({ problem: fused, stacks: [] }) });
      const card = page.locator('.model-card');
      assert.equal(await card.locator('h2.title').textContent(), `${evil}.onnx`);
      assert.equal(await card.locator('.problem h3').textContent(), 'This model cannot be analyzed: attention is fused into one op');
      assert.equal(await card.locator('[data-model-action="analyze"]').count(), 0, 'no Analyze button for a model that cannot be analyzed');
      await card.locator('[data-model-action="showLog"]').click();
      assert.deepEqual(await lastPosted(page, 'modelAction'), { type: 'modelAction', action: 'showLog' });
      await send(page, { type: 'modelSummary', summary: summary() });
      await card.locator('[data-model-action="analyze"]').click();
      assert.deepEqual(await lastPosted(page, 'modelAction'), { type: 'modelAction', action: 'analyze' });
      await card.locator('[data-action="close-model"]').click();
      assert.equal(await card.isVisible(), false);
    });
  });
});

describe('.onnx summary page', () => {
  for (const theme of ['dark', 'light']) {
    test(`renders what the host read in the model, and what it could not (${theme})`, async () => {
      await withPage(openPanel, { script: 'dist/modelEditor.js', theme, width: 1000, height: 700 }, async (page) => {
        assert.deepEqual(await posted(page), [{ type: 'ready' }], 'the page says ready and nothing else first');
        await send(page, { type: 'modelSummary', summary: summary() });
        assert.equal(await page.locator('h1.title').textContent(), `${evil}.onnx`);
        assert.equal(await page.locator('.run-info').textContent(), '5.2 MB · opset 17 · written by pytorch 2.1.0');
        const stacks = await page.locator('table').first().locator('tbody td').allTextContents();
        assert.deepEqual(stacks, ['encoder', 'self-attention', '12', '12'], 'stacks, layers and heads');
        const inputs = await page.locator('table').nth(1).locator('tbody td').allTextContents();
        assert.deepEqual(inputs, ['input_ids', 'int64', '[batch, sequence]', evil, 'int64', 'not declared']);
        assert.match(
          await page.locator('.not-read').textContent(),
          /Position count: .*cut at 128 tokens/,
          'what the tool cannot read, and why',
        );
        await page.screenshot({ path: join(shots, `model-summary-${theme}.png`), fullPage: true });
        for (const action of ['analyze', 'inspectInPanel', 'showLog']) {
          await page.locator(`[data-model-action="${action}"]`).click();
          assert.deepEqual(await lastPosted(page, 'modelAction'), { type: 'modelAction', action });
        }
        await send(page, { type: 'modelSummary', summary: summary({ problem: fused, stacks: [], inputs: [] }) });
        assert.equal(await page.locator('.problem').getAttribute('role'), 'alert');
        assert.equal(await page.locator('.problem .message').textContent(), fused.message, 'the whole message');
        assert.equal(await page.locator('.problem .hints li').count(), 2, 'what to do next');
        if (theme === 'dark') await page.screenshot({ path: join(shots, 'model-summary-fused.png'), fullPage: true });
      });
    });
  }
});

describe('notebook renderer', () => {
  const notebook = JSON.parse(readFileSync(join(root, 'test/fixtures/notebooks/sample.ipynb'), 'utf8'));
  const mime = 'application/vnd.attention-reuse.analysis+json';
  const analysis = notebook.cells.find((c) => c.outputs?.length).outputs[0].data[mime];
  const render = (page, data, id = 'out-1') =>
    page.evaluate(
      ({ data, id, mime }) => window.__renderer.renderOutputItem({ id, mime, json: () => data }, document.getElementById('output')),
      { data, id, mime },
    );

  test("draws the stored notebook's analysis as the panel's layer-pair heatmap, with its values in the readout", async () => {
    await withPage(openRenderer, {}, async (page) => {
      await render(page, analysis);
      const canvas = '#output canvas';
      await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, canvas);
      const L = analysis.stacks[0].layerCount;
      for (const [l, l2] of [
        [0, 1],
        [2, 3],
        [3, 3],
      ]) {
        const { x, y, rows } = await cellCentre(page, canvas, l, l2);
        assert.equal(rows, L, 'one row per layer');
        await page.mouse.move(x, y);
        const text = await page.locator('#output .readout').textContent();
        assert.ok(
          text.startsWith(`layer ${l} × layer ${l2}: ${analysis.stacks[0].layerPairs[l][l2].toFixed(3)}`),
          `readout "${text}" disagrees with the file`,
        );
      }
      assert.match(await page.locator('#output h3').textContent(), /^Layer-pair similarity — model\.onnx$/);
      await page.screenshot({ path: join(shots, 'notebook-renderer-dark.png') });
    });
  });

  test('refuses output that is not an analysis in words, and draws hostile names as text', async () => {
    await withPage(openRenderer, { theme: 'light' }, async (page) => {
      for (const junk of [
        null,
        { schema: 'other' },
        { ...analysis, stacks: [{ ...analysis.stacks[0], layerCount: 1e9 }] },
        { ...analysis, stacks: [{ ...analysis.stacks[0], layerPairs: [[1]] }] },
      ]) {
        await render(page, junk);
        assert.match(
          await page.locator('#output [role="alert"]').textContent(),
          /^Attention Reuse cannot draw this output: /,
          `drew ${JSON.stringify(junk)?.slice(0, 60)}`,
        );
      }
      await render(page, {
        ...analysis,
        model: { ...analysis.model, path: `/m/${evil}` },
        stacks: [{ ...analysis.stacks[0], name: evil }],
      });
      assert.ok((await page.locator('#output h3').textContent()).endsWith(evil));
      assert.ok((await page.locator('#output figcaption').textContent()).startsWith(evil));
    });
  });
});
