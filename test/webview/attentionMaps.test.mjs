// Protects the attention-map viewer in a real browser: the keyboard walks the cells and the read-out names query
// token, key token and probability (token ids for JSONL inputs); the map and its best match share one colour scale
// unless asked otherwise; zoom and fit-to-width; export buttons that say what they export; table rows that open
// their map with the best match from the layer pair they belong to.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analysisMessage, attentionMapMessage, makeStack } from './fixtures.mjs';
import { cellCentre, lastPosted, panelBrowser, send, shots } from './page.mjs';

const { withPanel } = panelBrowser();
const mainCanvas = '.attention-figure:first-child canvas';
const matchCanvas = '.attention-figure:nth-child(2) canvas';
const tokens = ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '[SEP]'];

async function showMap(page, reply = {}) {
  await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
  await send(page, analysisMessage([makeStack({ L: 6, H: 4 })]));
  await page.locator('[data-action="show-attention"]').click();
  const req = await lastPosted(page, 'requestAttentionMap');
  await send(page, attentionMapMessage(req.messageId, { tokens, ...reply }));
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, mainCanvas);
  return req;
}

const readout = (page, n = 1) => page.locator(`.attention-figure:nth-child(${n}) .readout`).textContent();

describe('attention maps', () => {
  test('the keyboard walks the cells; the read-out says query token, key token and probability', async () => {
    await withPanel({}, async (page) => {
      await showMap(page);
      await page.locator(mainCanvas).focus();
      await page.keyboard.press('ArrowRight');
      assert.match(
        await readout(page),
        /^query 0 “\[CLS\]” → key 0 “\[CLS\]”: probability 0\.\d{4}$/,
        'the first key press must land on the first cell',
      );
      for (const key of ['ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowDown', 'ArrowDown']) await page.keyboard.press(key);
      const text = await readout(page);
      assert.match(text, /^query 2 “cat” → key 3 “sat”: probability 0\.\d{4}$/);
      await page.keyboard.press('End');
      assert.match(await readout(page), /^query 2 “cat” → key 7 “\[SEP\]”/, 'End goes to the last key');
      await page.keyboard.press('PageDown');
      assert.match(await readout(page), /^query 7 /, 'PageDown stops at the last query');
      assert.equal(
        await page.locator('.attention-figure:first-child .readout').getAttribute('aria-live'),
        'polite',
        'screen readers must hear the read-out',
      );
      await page.locator('.attention').screenshot({ path: join(shots, 'attention-keyboard.png') });
    });
  });

  test('JSONL inputs: the read-out gives token ids', async () => {
    await withPanel({}, async (page) => {
      await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
      await showMap(page, { tokens: ['101', '2023', '2003', '102'], labels: 'ids' });
      await page.locator(mainCanvas).focus();
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowRight');
      assert.match(await readout(page), /^query 1 \(token id 2023\) → key 1 \(token id 2023\): probability/);
    });
  });

  test('the map and its best match share one colour scale, with a legend; own or 0–1 on demand', async () => {
    await withPanel({}, async (page) => {
      await showMap(page, { matchPeak: 0.2 });
      const scale = (sel) => page.locator(sel).getAttribute('data-scale-max').then(Number);
      const [a, b] = [await scale(mainCanvas), await scale(matchCanvas)];
      assert.equal(a, b, 'comparing two maps needs one scale: each was scaled to its own maximum');
      assert.ok(a > 0.2, `the shared top ${a} must be the larger of the two maxima`);
      await page.locator('[data-control="attention-scale"]').evaluate((el) => {
        el.value = 'own';
        el.dispatchEvent(new Event('change'));
      });
      assert.ok(Math.abs((await scale(matchCanvas)) - 0.2) < 1e-6, 'with "each map’s own maximum" the match is scaled to its own 0.2');
      await page.locator('[data-control="attention-scale"]').evaluate((el) => {
        el.value = 'full';
        el.dispatchEvent(new Event('change'));
      });
      assert.equal(await scale(mainCanvas), 1);
      // The legend is drawn into the canvas (so into the PNG) below the key labels: the canvas is taller than its cells.
      const [, top, cell, rows] = (await page.locator(mainCanvas).getAttribute('data-grid')).split(',').map(Number);
      const height = await page.locator(mainCanvas).evaluate((c) => c.getBoundingClientRect().height);
      assert.ok(height > top + cell * rows + 30, 'no room below the map for its colour legend');
    });
  });

  test('zoom in, out and fit to width; export buttons say which map they export', async () => {
    await withPanel({ width: 900 }, async (page) => {
      await showMap(page, { tokens: Array.from({ length: 128 }, (_, i) => `t${i}`) });
      const cell = async () => Number((await page.locator(mainCanvas).getAttribute('data-grid')).split(',')[2]);
      const fitted = await cell();
      assert.ok(fitted < 4, `128 tokens fit into ${fitted}px cells`);
      await page.locator('[data-action="zoom-in"]').click();
      await page.locator('[data-action="zoom-in"]').click();
      const zoomed = await cell();
      assert.ok(zoomed > fitted, 'Zoom in did not enlarge the cells');
      assert.match(await page.locator('.attention-zoom .zoom-level').textContent(), /^zoomed: cells \d/);
      await page.locator('[data-action="zoom-fit"]').click();
      assert.equal(await cell(), fitted, 'Fit to width must return to the fitted size');
      const labels = await page.locator('.attention [data-export]').allTextContents();
      assert.deepEqual(
        labels.map((l) => l.trim()),
        ['Export attention map as PNG', 'Export attention map as CSV', 'Export best match as PNG', 'Export best match as CSV'],
      );
    });
  });

  test('table rows open their map, matched in the layer of the pair they belong to', async () => {
    await withPanel({}, async (page) => {
      await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
      await send(page, analysisMessage([makeStack({ L: 6, H: 4 })]));
      await page.waitForFunction(() => document.querySelector('.redundancy .map:first-child > .grid-chart canvas')?.dataset.grid);
      const { x, y } = await cellCentre(page, '.redundancy .map:first-child > .grid-chart canvas', 2, 4);
      await page.mouse.click(x, y);
      const tableRow = page.locator('.pair-detail table.action-rows tbody tr').nth(1);
      assert.match(await tableRow.getAttribute('aria-label'), /^Show the attention of head \(2,1\) beside its best match in layer 4/);
      await tableRow.focus();
      await page.keyboard.press('Enter');
      const req = await lastPosted(page, 'requestAttentionMap');
      assert.deepEqual(
        { layer: req.layer, head: req.head, matchLayer: req.matchLayer },
        { layer: 2, head: 1, matchLayer: 4 },
        'the best match must come from layer 4, the pair the row belongs to',
      );
      await send(page, attentionMapMessage(req.messageId, { tokens, layer: 2, head: 1, matchLayer: 4 }));
      assert.match((await page.locator('.attention-figure h3').allTextContents())[1], /^Best match in layer 4: head \(4,2\)/);
      // The sequential table: a row opens its head, matched in the previous layer (the default, so not sent).
      await page.locator('.sequential table.action-rows tbody tr').first().click();
      const seq = await lastPosted(page, 'requestAttentionMap');
      assert.equal(seq.matchLayer, undefined);
      assert.notEqual(seq.messageId, req.messageId);
    });
  });
});
