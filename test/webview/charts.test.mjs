// Protects how honest and reachable the panel's charts are, in a real browser: the shared 0–1 colour scale and
// its per-chart option, the diagonal drawn apart, "similarity above uniform" and the marks of cells at or below
// their baseline, exports that look the same in every theme, the planner's marks of candidates below their
// baseline, "Try on model" (request, progress, cancel, results), keyboard access to every chart, named controls,
// an axe-core check with no serious or critical violations, and screenshots in dark, light and high contrast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { analysisMessage, attentionMapMessage, makeStack, metricsMessage, planMessage } from './fixtures.mjs';
import { cellColour, decodePng, parseGrid } from '../helpers/heatmapPixels.mjs';
import { cellCentre, lastPosted, panelBrowser, posted, send, shots } from './page.mjs';

const { withPanel } = panelBrowser();
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const layerCanvas = '.redundancy .map:first-child > .grid-chart canvas';
const headCanvas = '.pair-detail .grid-chart canvas';
const stack = makeStack({ L: 6, H: 4 });
const { L, H, layerPairs, c, uniform } = stack.plain;

/** The pair of heads behind a layer-pair cell, and its baseline: the lower of their similarities to uniform. */
function layerBaseline(l, l2) {
  let best = 0;
  for (let hh = 1; hh < H; hh++) if (c[(l * H + hh) * L + l2] > c[(l * H + best) * L + l2]) best = hh;
  const match = stack.plain.cArgmax[(l * H + best) * L + l2];
  return Math.min(uniform[l * H + best], uniform[l2 * H + match]);
}

async function show(page, theme = 'dark') {
  await send(page, { type: 'settings', theme, host: 'editor' });
  await send(page, analysisMessage([stack]));
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, layerCanvas);
}

async function choose(page, control, value) {
  await page.evaluate(
    ({ control, value }) => {
      const el = document.querySelector(`[data-control="${control}"]`);
      el.value = value;
      el.dispatchEvent(new Event('change'));
    },
    { control, value },
  );
}

async function exported(page, selector, format) {
  const before = (await posted(page)).length;
  await page.locator(`${selector} [data-export="${format}"]`).first().click();
  await page.waitForFunction((n) => window.__posted.length > n, before);
  return (await lastPosted(page, 'exportChart')).data;
}

const legendLabels = (svg) => [...svg.matchAll(/<text [^>]*text-anchor="start"[^>]*>([-\d.]+)<\/text>/g)].map((m) => Number(m[1]));

test('one shared 0–1 scale by default, each chart its own range on request; the diagonal apart; cells at or below their baseline marked', async () => {
  await withPanel({}, async (page) => {
    await show(page);
    let svg = await exported(page, '.redundancy', 'svg');
    assert.deepEqual(legendLabels(svg).sort(), [0, 1], 'the layer-pair legend must run 0–1 by default');
    assert.equal((svg.match(/<line /g) ?? []).length, 3 * L, 'each diagonal cell is hatched (three lines), the rest are not');
    // Cells at or below their baseline carry a corner mark in the cell's text colour; the others none.
    const canvas = page.locator(layerCanvas);
    await canvas.scrollIntoViewIfNeeded();
    const img = decodePng(await canvas.screenshot());
    const grid = parseGrid(await canvas.getAttribute('data-grid'));
    let marked = 0;
    for (let l = 0; l < L; l++) {
      for (let l2 = 0; l2 < L; l2++) {
        if (l === l2) continue;
        const below = layerPairs[l * L + l2] <= layerBaseline(l, l2);
        const m = Math.max(3, Math.round(grid.cell * 0.2));
        const x = grid.left + (l2 + 1) * grid.cell - 1 - m / 2;
        const y = grid.top + (l + 1) * grid.cell - 1 - m / 2;
        const i = (Math.round(y) * img.width + Math.round(x)) * 4;
        const corner = [img.data[i], img.data[i + 1], img.data[i + 2]];
        const body = cellColour(img, grid, 1, l, l2);
        const off = Math.hypot(...corner.map((v, k) => v - body[k]));
        assert.equal(
          off > 40,
          below,
          `cell (${l}, ${l2}) = ${layerPairs[l * L + l2].toFixed(3)} against baseline ${layerBaseline(l, l2).toFixed(3)}: corner mark ${off > 40 ? 'drawn' : 'missing'}`,
        );
        marked += below ? 1 : 0;
      }
    }
    assert.ok(marked > 0 && marked < L * (L - 1), `the fixture must have cells on both sides of their baseline (${marked} marked)`);
    const { x, y } = await cellCentre(page, layerCanvas, 2, 2);
    await page.mouse.move(x, y);
    assert.match(
      await page.locator('.redundancy .map:first-child > .grid-chart .readout').textContent(),
      /a layer against itself, drawn apart from the colour scale/,
    );
    // Per chart: the legend follows the off-diagonal values, to the tenth.
    await choose(page, 'scale-range', 'fitted');
    svg = await exported(page, '.redundancy', 'svg');
    const off = layerPairs.filter((_, i) => i % (L + 1) !== 0);
    assert.deepEqual(
      legendLabels(svg).sort(),
      [Math.floor(Math.min(...off) * 10) / 10, Math.ceil(Math.max(...off) * 10) / 10].sort(),
      'a fitted legend spans the values, the diagonal left out',
    );
    assert.equal((await page.evaluate(() => window.__state)).scale.range, 'fitted', 'the choice is kept in the view state');
    // Above uniform: each cell shows its similarity minus its baseline, and the caption and its formula say so.
    await choose(page, 'scale-range', 'shared');
    await choose(page, 'scale-measure', 'aboveUniform');
    svg = await exported(page, '.redundancy', 'svg');
    const want = (layerPairs[0 * L + 3] - layerBaseline(0, 3)).toFixed(2);
    assert.ok(svg.includes(`>${want}</text>`), `cell (0, 3) must read ${want} (similarity minus baseline) in the above-uniform view`);
    const caption = page.locator('.redundancy > p.note').first();
    assert.match(await caption.textContent(), /uniform baseline/);
    assert.match(
      await caption.getAttribute('title'),
      /M\[l\]\[l′\] = max over heads h of c\[\(l,h\), l′\].*minus the uniform baseline/,
      'the formula belongs in the tooltip',
    );
    assert.doesNotMatch(await caption.textContent(), /c\[\(/, 'the caption itself is in words, not a formula');
  });
});

test('exports are the same picture in every theme: white background, the same colours', async () => {
  const pngs = [];
  for (const theme of ['dark', 'light', 'high-contrast']) {
    await withPanel({ theme }, async (page) => {
      await show(page, theme);
      const data = await exported(page, '.redundancy', 'png');
      pngs.push(decodePng(Buffer.from(data.slice(data.indexOf(',') + 1), 'base64')));
      const svg = await exported(page, '.redundancy', 'svg');
      assert.match(svg, /<rect x="0" y="0" [^>]*fill="#ffffff"/, `the ${theme} SVG must have the export palette's white background`);
    });
  }
  // The other charts' PNGs, exported from a dark panel, are on the export palette's white too.
  await withPanel({ theme: 'dark' }, async (page) => {
    await show(page, 'dark');
    await send(page, planMessage(6, 4));
    await page.locator('[data-action="show-attention"]').click();
    await send(
      page,
      attentionMapMessage((await lastPosted(page, 'requestAttentionMap')).messageId, { tokens: ['[CLS]', 'a', 'b', 'c', '[SEP]'] }),
    );
    await page.waitForFunction(() => document.querySelector('.attention-canvas')?.dataset.grid);
    await send(page, metricsMessage('/r/run-a', 0, 20, true));
    for (const [where, selector] of [
      ['attention map', '.attention'],
      ['Pareto plot', '.planner'],
      ['loss chart', '.training'],
    ]) {
      const data = await exported(page, selector, 'png');
      const img = decodePng(Buffer.from(data.slice(data.indexOf(',') + 1), 'base64'));
      assert.deepEqual(
        Array.from(img.data.slice(0, 3)),
        [255, 255, 255],
        `the ${where} PNG from a dark panel must be on white, not the theme's background`,
      );
    }
  });
  const [dark, light, contrast] = pngs;
  assert.deepEqual([light.width, light.height], [dark.width, dark.height]);
  for (const [name, img] of [
    ['light', light],
    ['high-contrast', contrast],
  ]) {
    let differ = 0;
    for (let i = 0; i < img.data.length; i += 4)
      if (
        Math.abs(img.data[i] - dark.data[i]) + Math.abs(img.data[i + 1] - dark.data[i + 1]) + Math.abs(img.data[i + 2] - dark.data[i + 2]) >
        6
      )
        differ++;
    assert.ok(
      differ / (img.data.length / 4) < 0.002,
      `the ${name} export differs from the dark one in ${differ} pixels: the export follows the theme`,
    );
  }
});

test('planner: candidates below their baseline are marked, never recommended silently; the table has training memory', async () => {
  const plan = planMessage(6, 4);
  const below = plan.candidates.findIndex((x) => x.belowBaseline);
  assert.ok(below >= 0, 'the fixture must have a candidate below its baseline');
  await withPanel({}, async (page) => {
    await show(page);
    await send(page, { ...plan, recommended: below });
    await page.waitForSelector('.planner-body:not([hidden])');
    const cfg = await page.locator('[data-ratio="config"]').textContent();
    assert.match(
      cfg,
      /recommended by similarity, though at or below its uniform baseline/,
      `the recommended candidate below its baseline must say so: "${cfg}"`,
    );
    assert.match(await page.locator('[data-ratio="kept"]').textContent(), /at or below its baseline/);
    const row = page.locator(`table.candidates tr[data-candidate="${below}"]`);
    assert.equal(await row.getAttribute('class'), 'below-baseline');
    assert.match(await row.textContent(), /≤ uniform/);
    const heads = await page.locator('table.candidates thead th').allTextContents();
    assert.ok(heads.includes('training memory'), `the planner table needs a training-memory column: ${heads}`);
    const tm = plan.candidates[below].trainingMemoryRatio.toFixed(3);
    assert.ok(
      (await page.locator('[data-ratio="trainingMemory"]').textContent()).startsWith(tm),
      'the training-memory ratio of the selected candidate',
    );
    // The head map names sources as layer/head pairs.
    const svg = await exported(page, '.planner .grid-chart + .export-bar', 'svg');
    assert.match(svg, />L\d·H\d<\/text>/, 'head-map cells must read as L2·H2, not as a number');
  });
});

test('Try on model: posts the candidates, shows progress with a working Cancel, then KL, top-1 and speed-up with what it measured on', async () => {
  const plan = planMessage(6, 4);
  await withPanel({}, async (page) => {
    await show(page);
    await send(page, plan);
    await page.waitForSelector('table.candidates');
    const first = Number(await page.locator('table.candidates tbody tr').first().getAttribute('data-candidate'));
    await page.locator(`[data-action="try-candidate"][data-candidate="${first}"]`).click();
    assert.deepEqual(await lastPosted(page, 'tryOnModel'), { type: 'tryOnModel', stack: 'encoder', candidates: [first] });
    await page.locator('[data-action="try-shortlist"]').click();
    const all = await lastPosted(page, 'tryOnModel');
    const rows = await page.locator('table.candidates tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.candidate)));
    assert.deepEqual(all.candidates, rows, '"Try these on model" measures the rows of the table');
    const on = { model: '/work/models/model.onnx', examples: 64, tokens: 1234, executionProvider: 'cpu' };
    const base = { type: 'tryOnModelStatus', stack: 'encoder', candidates: rows, on };
    const result = { candidate: rows[0], kl: 0.0123, top1: 0.975, cosine: 0.99, speedRatio: 1.08, speedMeasured: true };
    await send(page, { ...base, state: 'running', done: 1, results: [result] });
    assert.equal(await page.locator('.try-progress').isVisible(), true, 'progress shows while measuring');
    assert.equal(await page.locator('.try-progress').evaluate((el) => `${el.value}/${el.max}`), `1/${rows.length}`);
    assert.match(
      await page.locator('.try-status').textContent(),
      /^Measuring 1 of \d+ .* on model\.onnx with 64 examples \(1234 tokens\), cpu/,
    );
    assert.equal(await page.locator('[data-action="try-shortlist"]').getAttribute('disabled'), '', 'no second run while one measures');
    await page.locator('[data-action="cancel-try"]').click();
    assert.deepEqual(await lastPosted(page, 'cancelTryOnModel'), { type: 'cancelTryOnModel' });
    await send(page, { ...base, state: 'cancelled', done: 1, results: [result] });
    assert.equal(await page.locator('.try-progress').isVisible(), false);
    assert.match(await page.locator('.try-status').textContent(), /^Cancelled after 1 of/);
    const cells = await page.locator(`table.candidates tr[data-candidate="${rows[0]}"] td`).allTextContents();
    assert.ok(
      cells.includes('0.0123') && cells.includes('97.5%') && cells.includes('1.08×'),
      `the row must show KL, top-1 and speed-up: ${cells}`,
    );
    await send(page, { ...base, state: 'failed', done: 0, results: [], message: 'model.onnx has changed since it was analysed' });
    assert.equal(await page.locator('.try-status').textContent(), 'Could not measure: model.onnx has changed since it was analysed');
  });
});

test('keyboard: every chart takes focus with a visible mark, the Pareto plot steps through candidates, every control is named', async () => {
  await withPanel({}, async (page) => {
    await show(page);
    await send(page, planMessage(6, 4));
    await page.waitForSelector('.planner-body:not([hidden])');
    // Tab to the layer-pair heatmap: the cursor appears on a cell and the readout speaks it.
    await page.locator(layerCanvas).evaluate((el) => el.previousElementSibling?.focus?.());
    await page.keyboard.press('Tab');
    let focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
    for (let i = 0; i < 12 && focused !== 'Layer-pair similarity heatmap'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label'));
    }
    assert.equal(focused, 'Layer-pair similarity heatmap', 'the heatmap must be reachable with Tab');
    assert.match(
      await page.locator('.redundancy .map:first-child > .grid-chart .readout').textContent(),
      /^layer 0 × layer 0/,
      'keyboard focus puts the cursor on a cell and reads it',
    );
    const before = decodePng(await page.locator(layerCanvas).screenshot());
    await page.keyboard.press('ArrowRight');
    assert.match(await page.locator('.redundancy .map:first-child > .grid-chart .readout').textContent(), /^layer 0 × layer 1/);
    const after = decodePng(await page.locator(layerCanvas).screenshot());
    const grid = parseGrid(await page.locator(layerCanvas).getAttribute('data-grid'));
    // The focus mark: a ring of the focus colour, three pixels wide, around cell (0, 1).
    const ringY = Math.round(grid.top + grid.cell / 2);
    const ringX = Math.round(grid.left + grid.cell + 1);
    const px = (img, x, y) => Array.from(img.data.slice((y * img.width + x) * 4, (y * img.width + x) * 4 + 3));
    const focusRgb = [0, 120, 212]; // the dark theme's focusBorder, #0078d4
    assert.ok(
      Math.hypot(...px(after, ringX, ringY).map((v, k) => v - focusRgb[k])) < 60,
      `no focus ring at cell (0, 1): ${px(after, ringX, ringY)} (before ${px(before, ringX, ringY)})`,
    );
    // The Pareto plot: focusable, the arrow keys select the next candidate by cost.
    const pareto = page.locator('.pareto-canvas');
    await pareto.focus();
    const cfg = await page.locator('[data-ratio="config"]').textContent();
    await page.keyboard.press('ArrowLeft');
    const moved = await page.locator('[data-ratio="config"]').textContent();
    assert.notEqual(moved, cfg, 'ArrowLeft on the Pareto plot must select another candidate');
    assert.match(await page.locator('.pareto .readout').textContent(), /^Selected: partial P=\d K=\d: FLOPs ratio/);
    await page.keyboard.press('Home');
    assert.match(await page.locator('.pareto .readout').textContent(), /FLOPs ratio 0\.9[0-9]+/);
    // Every button says what it does: no export button reads only its format.
    const names = await page.evaluate(() =>
      [...document.querySelectorAll('vscode-button, button')]
        .filter((b) => !b.closest('[hidden]'))
        .map((b) => (b.getAttribute('aria-label') || b.textContent).trim()),
    );
    assert.ok(names.length > 15, `only ${names.length} buttons found`);
    const bare = names.filter((n) => /^(PNG|CSV|SVG)$/.test(n) || n === '');
    assert.deepEqual(bare, [], `buttons named only by a format or not at all: ${bare}`);
    assert.ok(
      names.includes('Export layer-pair heatmap as PNG') &&
        names.includes('Export Pareto plot as PNG') &&
        names.includes('Export head map as SVG'),
      names.join(' | '),
    );
  });
});

test('the loss chart is read by keyboard: arrow keys walk the points and the curves', async () => {
  await withPanel({}, async (page) => {
    await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
    await send(page, metricsMessage('/r/run-a', 0, 20, true));
    await send(page, metricsMessage('/r/run-b', 0, 10, true, { offset: 1 }));
    await page.waitForSelector('.training:not([hidden])');
    const canvas = page.locator('.loss-box canvas');
    await canvas.focus();
    const readout = page.locator('.loss-box + .readout');
    await page.keyboard.press('End');
    const loss19 = 7 * Math.exp(-19 / 60) + 1.2 + 0.05 * Math.sin(19);
    assert.match(
      await readout.textContent(),
      new RegExp(`step 19: ${loss19.toPrecision(4).replace('.', '\\.')} \\(point 20 of 20; curve 1 of \\d\\)`),
    );
    await page.keyboard.press('ArrowLeft');
    assert.match(await readout.textContent(), /step 18: .*point 19 of 20/);
    await page.keyboard.press('ArrowDown');
    assert.match(
      await readout.textContent(),
      /^run-b.*step 9: .*point 10 of 10; curve 2 of/,
      'ArrowDown moves to the next run, clamped to its last point',
    );
  });
});

test('a narrow side bar: colour-bar labels inside the canvas, no ResizeObserver errors while the view is dragged', async () => {
  await withPanel({ width: 300 }, async (page) => {
    await send(page, { type: 'settings', theme: 'dark', host: 'sidebar' });
    await send(page, analysisMessage([stack]));
    await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, layerCanvas);
    const svg = await exported(page, '.redundancy', 'svg');
    const width = Number(/<svg [^>]*width="([\d.]+)"/.exec(svg)[1]);
    const fits = width;
    const label = /<text x="([\d.]+)" [^>]*text-anchor="start"[^>]*>1\.00<\/text>/.exec(svg);
    assert.ok(label, 'the legend has a 1.00 label');
    assert.ok(Number(label[1]) + 30 <= fits, `the 1.00 label starts at ${label[1]} of a ${fits} px canvas: it is cut off`);
    const box = await page.locator(layerCanvas).boundingBox();
    const wrap = await page.locator('.redundancy .map:first-child > .grid-chart').boundingBox();
    assert.ok(
      box.x + box.width <= wrap.x + wrap.width + 0.5,
      `the canvas (${box.width} px) is wider than its box (${wrap.width} px): the legend scrolls out of view`,
    );
    for (const w of [280, 340, 260, 320, 300]) {
      await page.setViewportSize({ width: w, height: 900 });
      await page.waitForTimeout(60);
    }
    const errors = (await posted(page)).filter((m) => m.type === 'log' && m.level === 'error');
    assert.deepEqual(errors, [], 'resizing the view logged errors');
  });
});

test('axe-core finds no serious or critical violations; screenshots of the heatmaps and the planner in dark, light and high contrast', async () => {
  for (const theme of ['dark', 'light', 'high-contrast']) {
    await withPanel({ theme, width: 1200 }, async (page) => {
      await show(page, theme);
      await send(page, planMessage(6, 4));
      await page.waitForSelector('.planner-body:not([hidden])');
      const { x, y } = await cellCentre(page, layerCanvas, 1, 3);
      await page.mouse.click(x, y);
      await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, headCanvas);
      await page.mouse.move(0, 0);
      await page.evaluate(axeSource);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      const words = bad.map(
        (v) =>
          `${v.id} (${v.impact}): ${v.help} — ${v.nodes
            .map((n) => n.target.join(' '))
            .slice(0, 4)
            .join('; ')}`,
      );
      assert.deepEqual(words, [], `axe-core, ${theme}: serious or critical violations`);
      console.log(
        `axe-core ${theme}: ${result.violations.length} violations, none serious or critical (${result.violations.map((v) => `${v.id}/${v.impact}`).join(', ') || 'none'})`,
      );
      await page.locator('.redundancy').screenshot({ path: join(shots, `heatmap-${theme}.png`) });
      await page.locator('.planner').screenshot({ path: join(shots, `planner-${theme}.png`) });
    });
  }
});
