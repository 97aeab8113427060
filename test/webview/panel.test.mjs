// Protects the panel webview in a real browser: the ready handshake, the heatmaps and their
// values and pixels against their legend, exports, untrusted token text, the planner and the
// loss chart, under the real CSP.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analysisMessage, attentionMapMessage, imageAttentionMessage, makeStack, metricsMessage, planMessage } from './fixtures.mjs';
import { checkHeatmapPixels } from '../helpers/heatmapPixels.mjs';
import { cellCentre, lastPosted, panelBrowser, posted, send, shots } from './page.mjs';

const { withPanel } = panelBrowser();

const layerCanvas = '.redundancy .map:first-child > .grid-chart canvas';
const headCanvas = '.pair-detail .grid-chart canvas';

async function readoutAfterHover(page, canvas, r, c) {
  const { x, y } = await cellCentre(page, canvas, r, c);
  await page.mouse.move(x, y);
  return page.locator(canvas).locator('xpath=following-sibling::div[contains(@class,"readout")]').textContent();
}

/** Checks a heatmap's screenshot against its legend (test/helpers/heatmapPixels.mjs) and logs what it measured. */
async function checkPixels(page, selector, value, where, options) {
  const canvas = page.locator(selector);
  await canvas.scrollIntoViewIfNeeded();
  const png = await canvas.screenshot();
  const scale = await canvas.evaluate((el) => el.width / el.clientWidth);
  const m = checkHeatmapPixels(png, await canvas.getAttribute('data-grid'), scale, value, where, options);
  console.log(
    `${where}: ${m.cells} cells on the ${m.legendPx} px legend ${m.low} → ${m.high}, worst ${m.worstMiss.toFixed(3)} off the line`,
  );
}

/** Sends an analysis and waits until the heatmap is drawn. */
async function showAnalysis(page, stacks, canShowAttention = true) {
  await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
  await send(page, analysisMessage(stacks, canShowAttention));
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, layerCanvas);
}

async function clickExport(page, sectionSelector, format, index = 0) {
  const before = (await posted(page)).length;
  await page.locator(`${sectionSelector} [data-export="${format}"]`).nth(index).click();
  await page.waitForFunction((n) => window.__posted.length > n, before);
  const msg = await lastPosted(page, 'exportChart');
  assert.equal(msg.format, format, `the ${format.toUpperCase()} button posted another format`);
  return msg;
}

function pngSize(dataUrl) {
  assert.match(dataUrl, /^data:image\/png;base64,/, 'PNG export is not a PNG data URL');
  const bytes = Buffer.from(dataUrl.slice('data:image/png;base64,'.length), 'base64');
  assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], 'PNG export does not start with the PNG signature');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('panel webview', () => {
  test('posts ready first and nothing else before the host answers', async () => {
    await withPanel({}, async (page) => {
      await page.waitForTimeout(200);
      const all = await posted(page);
      assert.equal(all[0]?.type, 'ready', 'the first message must be the ready handshake');
      assert.equal(all.length, 1, `the webview posted ${JSON.stringify(all.slice(1))} before receiving anything`);
    });
  });

  test('layer-pair heatmap: L×L cells whose hover values are the analysis values', async () => {
    const stack = makeStack({ L: 6, H: 4 });
    const { L, layerPairs } = stack.plain;
    await withPanel({}, async (page) => {
      await showAnalysis(page, [stack]);
      const { rows, cols } = await cellCentre(page, layerCanvas, 0, 0);
      assert.equal(rows, L, 'heatmap rows are not the layer count');
      assert.equal(cols, L, 'heatmap columns are not the layer count');
      for (let l = 0; l < L; l++) {
        for (let l2 = 0; l2 < L; l2++) {
          const text = await readoutAfterHover(page, layerCanvas, l, l2);
          const want = `layer ${l} × layer ${l2}: ${layerPairs[l * L + l2].toFixed(3)}`;
          assert.ok(
            text.startsWith(want),
            `hover on (${l},${l2}) says "${text}", expected it to start with "${want}" (row/column swapped or wrong index?)`,
          );
          if (l !== l2)
            assert.match(text, /uniform \d\.\d{3} \/ \d\.\d{3}; entropy/, 'the readout must show the uniform and entropy baselines');
        }
      }
      await page.screenshot({ path: join(shots, 'heatmap-hover-dark.png') });
    });
  });

  test('clicking a cell shows the head-pair block, best matches and tells the host', async () => {
    const stack = makeStack({ L: 6, H: 4 });
    const { L, H, headPairs, cArgmax } = stack.plain;
    await withPanel({}, async (page) => {
      await showAnalysis(page, [stack]);
      assert.equal(await page.locator('.pair-detail').isVisible(), false, 'head detail shown before any click');
      const { x, y } = await cellCentre(page, layerCanvas, 1, 3);
      await page.mouse.click(x, y);
      await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, headCanvas);
      assert.equal(await page.locator('.pair-detail h3').textContent(), 'Heads of layer 1 × layer 3');
      const sel = await lastPosted(page, 'selectLayerPair');
      assert.deepEqual(
        sel,
        { type: 'selectLayerPair', stack: 'encoder', layer: 1, otherLayer: 3 },
        'selectLayerPair carries the wrong cell',
      );
      const { rows, cols } = await cellCentre(page, headCanvas, 0, 0);
      assert.deepEqual([rows, cols], [H, H], 'the head block is not H×H');
      const hp = (l, h, l2, h2) => headPairs[((l * H + h) * L + l2) * H + h2];
      for (const [a, b] of [
        [0, 0],
        [2, 1],
        [3, 3],
      ]) {
        const text = await readoutAfterHover(page, headCanvas, a, b);
        assert.ok(
          text.startsWith(`head (1,${a}) × head (3,${b}): S = ${hp(1, a, 3, b).toFixed(3)}`),
          `head hover (${a},${b}) says "${text}"`,
        );
      }
      const matches = await page.locator('.pair-detail table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.children[1].textContent));
      assert.deepEqual(
        matches,
        Array.from({ length: H }, (_, h) => `(3,${cArgmax[(1 * H + h) * L + 3]})`),
        'best-match column disagrees with cArgmax',
      );
      const state = await page.evaluate(() => window.__state);
      assert.equal(state.version, 1, 'view state must be versioned');
      assert.deepEqual(state.pair, [1, 3], 'the selected pair is not persisted in view state');
      await page.screenshot({ path: join(shots, 'panel-dark.png'), fullPage: true });
    });
  });

  test('exports: CSV holds the exact values, PNG is a PNG, SVG has one rect per cell', async () => {
    const stack = makeStack({ L: 5, H: 3 });
    const { L, layerPairs } = stack.plain;
    await withPanel({}, async (page) => {
      await showAnalysis(page, [stack]);
      const csv = await clickExport(page, '.redundancy', 'csv');
      assert.equal(csv.chart, 'layer-pairs-encoder');
      const lines = csv.data.trim().split('\n');
      assert.equal(lines[0], ['layer', ...Array.from({ length: L }, (_, j) => `l'=${j}`)].join(','));
      for (let l = 0; l < L; l++) {
        assert.deepEqual(
          lines[l + 1].split(',').map(Number),
          [l, ...layerPairs.slice(l * L, (l + 1) * L)],
          `CSV row ${l} differs from layerPairs`,
        );
      }
      const png = await clickExport(page, '.redundancy', 'png');
      const size = pngSize(png.data);
      assert.ok(size.width > 100 && size.height > 100, `the PNG is only ${size.width}×${size.height}`);
      const svg = await clickExport(page, '.redundancy', 'svg');
      assert.match(svg.data, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.equal((svg.data.match(/<rect [^>]*><title>/g) ?? []).length, L * L, 'the SVG must have one titled rect per cell');
      assert.ok(svg.data.includes(`<title>layer 0 × layer 1: ${layerPairs[1].toFixed(3)}`), 'SVG cell titles carry the values');
      // Sequential view: CSV is long-form and ascending within each layer.
      const seq = await clickExport(page, '.sequential', 'csv');
      const seqRows = seq.data
        .trim()
        .split('\n')
        .slice(1)
        .map((r) => r.split(',').map(Number));
      assert.equal(seqRows.length, (L - 1) * 3, 'sequential CSV has a row per head of layers 1..L-1');
      for (let i = 1; i < seqRows.length; i++) {
        if (seqRows[i][0] === seqRows[i - 1][0]) assert.ok(seqRows[i][3] >= seqRows[i - 1][3], 'sequential ranks are not ascending');
      }
    });
  });

  test('token strings with markup are drawn as text and create no element', async () => {
    const stack = makeStack({ L: 6, H: 4 });
    const evil = '<img src=x onerror=alert(1)>';
    const tokens = ['[CLS]', evil, 'the', '<b>bold</b>', '"quoted, with comma"', '=HYPERLINK("x")', '[SEP]'];
    await withPanel({}, async (page) => {
      await showAnalysis(page, [stack]);
      const elementsBefore = await page.evaluate(() => document.querySelectorAll('*').length);
      await page.locator('[data-action="show-attention"]').click();
      const req = await lastPosted(page, 'requestAttentionMap');
      assert.ok(req, 'Show did not post requestAttentionMap');
      assert.deepEqual(
        { ...req, messageId: 0 },
        { type: 'requestAttentionMap', messageId: 0, example: 0, stack: 'encoder', layer: 1, head: 0 },
      );
      await send(page, attentionMapMessage(req.messageId, { tokens }));
      await page.waitForFunction(() => document.querySelector('.attention-canvas')?.dataset.grid);
      assert.equal(await page.locator('img').count(), 0, 'a token became an <img> element');
      assert.equal(await page.locator('b').count(), 0, 'a token became a <b> element');
      const elementsAfter = await page.evaluate(() => document.querySelectorAll('*').length);
      assert.ok(elementsAfter - elementsBefore < 20, `showing a map added ${elementsAfter - elementsBefore} elements`);
      const canvas = '.attention-figure:first-child canvas';
      const { x, y } = await cellCentre(page, canvas, 1, 3);
      await page.mouse.move(x, y);
      const text = await page.locator('.attention-figure:first-child .readout').textContent();
      assert.ok(text.includes(`query 1 “${evil}” → key 3 “${tokens[3]}”`), `readout "${text}" does not show the raw token text`);
      const titles = await page.locator('.attention-figure h3').allTextContents();
      assert.match(titles[1], /^Best match in layer 0: head \(0,2\), c = 0\.813/, 'the previous-layer match is not shown beside the map');
      const csv = await clickExport(page, '.attention', 'csv');
      assert.ok(csv.data.split('\n')[0].includes(evil), 'the CSV header lost the token text');
      assert.ok(csv.data.includes(`"'=HYPERLINK(""x"")"`), 'a token starting with = must be defused and quoted in CSV');
      assert.ok(csv.data.includes('"""quoted, with comma"""'), 'a token with a comma and quotes must be quoted');
      pngSize((await clickExport(page, '.attention', 'png')).data);
      await page.locator('.attention').screenshot({ path: join(shots, 'attention-markup-tokens.png') });
    });
  });

  test('a 512-token map draws quickly on one canvas and stale replies are ignored', async () => {
    const stack = makeStack({ L: 6, H: 4 });
    await withPanel({}, async (page) => {
      await showAnalysis(page, [stack]);
      await page.locator('[data-action="show-attention"]').click();
      const first = await lastPosted(page, 'requestAttentionMap');
      await page.locator('[data-action="show-attention"]').click();
      const second = await lastPosted(page, 'requestAttentionMap');
      assert.notEqual(first.messageId, second.messageId, 'two requests share a messageId');
      await send(page, attentionMapMessage(first.messageId, { tokens: ['stale', 'reply'] }));
      await page.waitForTimeout(100);
      assert.equal(await page.locator('.attention-figure').first().isVisible(), false, 'a superseded reply was drawn');
      // Built here, handed to the page and delivered with dispatchEvent, which runs the handler at once; the
      // reply settles a promise, so the drawing finishes in the microtasks before the next task:
      // the time measured is the webview's alone, not the test protocol's.
      const big = attentionMapMessage(second.messageId, { tokens: Array.from({ length: 512 }, (_, i) => `tok${i}`) });
      const ms = await page.evaluate(async (message) => {
        const data = window.__revive(message);
        const t0 = performance.now();
        window.dispatchEvent(new MessageEvent('message', { data }));
        await new Promise((resolve) => setTimeout(resolve, 0));
        return performance.now() - t0;
      }, big);
      assert.equal(
        await page
          .locator('.attention-canvas')
          .first()
          .getAttribute('data-grid')
          .then((g) => g.split(',').slice(3).join()),
        '512,512',
        'the 512-token map was not drawn',
      );
      assert.ok(ms < 1000, `drawing two 512×512 maps took ${ms.toFixed(0)} ms`);
      console.log(`two 512×512 attention maps drawn in ${ms.toFixed(0)} ms`);
      assert.equal(await page.locator('canvas.attention-canvas').count(), 2, 'one canvas per map, not a node per cell');
      await page.screenshot({ path: join(shots, 'attention-512.png') });
    });
  });

  test("an image example: the chosen query's attention tints its patches, the class token's share is said, a click picks a patch", async () => {
    const stack = makeStack({ L: 6, H: 4 });
    await withPanel({}, async (page) => {
      await showAnalysis(page, [stack]);
      assert.equal(await page.locator('.image-overlay').isVisible(), false, 'the overlay shows before any image example');
      await page.locator('[data-action="show-attention"]').click();
      const req = await lastPosted(page, 'requestAttentionMap');
      await send(page, imageAttentionMessage(req.messageId));
      await page.locator('.image-overlay canvas').scrollIntoViewIfNeeded();
      const caption = () => page.locator('.image-overlay .readout').textContent();
      assert.match(
        await caption(),
        /^Query \[CLS\]: to \[CLS\] 0\.100; to the 4×4 patches 0\.900, most to \(1,1\) \(0\.200\)/,
        'the class token is not the first query, or its shares are misread',
      );
      // Tint of a patch: the canvas pixel at its centre, in CSS pixels scaled to the backing store.
      const tint = (r, c) =>
        page.$eval(
          '.image-overlay canvas',
          (el, [r, c]) => {
            const k = el.width / el.clientWidth;
            const [w, hh] = [el.clientWidth / 4, el.clientHeight / 4];
            // A quarter into the patch: off the disc's edge, on the background where the disc does not reach.
            return Array.from(el.getContext('2d').getImageData(Math.round((c + 0.25) * w * k), Math.round((r + 0.25) * hh * k), 1, 1).data);
          },
          [r, c],
        );
      const [hot, cold] = [await tint(1, 1), await tint(0, 0)];
      assert.notDeepEqual(hot, cold, 'a patch the class token attends to looks like one it ignores');
      const box = await page.locator('.image-overlay canvas').boundingBox();
      assert.ok(box.width >= 64 && Math.abs(box.width - box.height) < 1, `the square image is drawn ${box.width}×${box.height}`);
      await page.locator('.attention').screenshot({ path: join(shots, 'attention-image-overlay.png') });
      // Patch (2,1) attends to its right-hand neighbour (2,2).
      await page.locator('.image-overlay canvas').click({ position: { x: box.width * (1.5 / 4), y: box.height * (2.5 / 4) } });
      assert.match(
        await caption(),
        /^Query \(2,1\): to \[CLS\] 0\.050; .*most to \(2,2\) \(0\.900\)/,
        'a click on a patch did not make it the query',
      );
      assert.equal(
        await page.$eval('.image-overlay vscode-single-select', (el) => el.value),
        '10',
        'the query list does not follow the click',
      );
      await page.locator('.image-overlay').screenshot({ path: join(shots, 'attention-image-overlay-patch.png') });
      await page.locator('[data-action="show-attention"]').click();
      await send(page, attentionMapMessage((await lastPosted(page, 'requestAttentionMap')).messageId, { tokens: ['a', 'b'] }));
      assert.equal(await page.locator('.image-overlay').isVisible(), false, 'the overlay stays for an example without an image');
    });
  });

  test('failed requests show the host message; no attention controls without a model', async () => {
    const stack = makeStack({ L: 4, H: 2 });
    await withPanel({}, async (page) => {
      await showAnalysis(page, [stack]);
      await page.locator('[data-action="show-attention"]').click();
      const req = await lastPosted(page, 'requestAttentionMap');
      await send(page, { type: 'requestFailed', inReplyTo: req.messageId, message: 'cannot find tokenizer.json' });
      assert.equal(await page.locator('.attention .status').textContent(), 'cannot find tokenizer.json');
      await send(page, analysisMessage([stack], false));
      const n = (await posted(page)).length;
      await page.locator('[data-action="show-attention"]').click({ force: true });
      assert.equal((await posted(page)).length, n, 'Show posted a request though the host said it cannot show attention');
    });
  });

  test('planner: renders candidates, P/K pick live ratios, emitConfig names the candidate', async () => {
    const stack = makeStack({ L: 6, H: 4 });
    const plan = planMessage(6, 4);
    await withPanel({}, async (page) => {
      await showAnalysis(page, [stack]);
      assert.equal(await page.locator('.planner-body').isVisible(), false, 'planner body shown without candidates');
      await send(page, plan);
      await page.waitForSelector('.planner-body:not([hidden])');
      const rec = plan.candidates[plan.recommended];
      const families = await page.locator('[data-control="family"] vscode-option').allTextContents();
      assert.deepEqual(
        families.map((t) => t.trim()),
        plan.modes.map((m) => m.label),
        'the family menu must list the labels the host sends (the mode table), in its order',
      );
      assert.equal(
        await page.locator('[data-ratio="config"]').textContent(),
        `partial, P = ${rec.P}, K = ${rec.K} — Pareto-optimal, recommended`.replace(
          ' — Pareto-optimal,',
          rec.pareto ? ' — Pareto-optimal,' : ' —',
        ),
      );
      assert.ok((await page.locator('[data-ratio="flops"]').textContent()).startsWith(rec.flopsRatio.toFixed(3)), 'FLOPs ratio not shown');
      const none = page.locator('.planner .no-recommendation');
      assert.equal(await none.isVisible(), false, 'a plan with a recommendation says nothing is recommended');
      // A plan costed at a short analysed length where nothing reaches the target says so, and why.
      await send(page, { ...plan, recommended: null, seqLen: 17, seqLenFrom: 'analysis', targetFlops: 0.5 });
      await none.waitFor({ state: 'visible' });
      assert.match(
        await none.textContent(),
        /^Nothing is recommended: no configuration reaches a FLOPs ratio ≤ 0\.5 at 17 tokens \(the analysed mean length; .*\(the lowest is 0\.\d{3}\)\. .*--seq-len N\)\.$/,
      );
      await send(page, plan);
      await none.waitFor({ state: 'hidden' });
      // Move K down one step: the ratios follow without a host round trip.
      await page.locator('input[data-control="K"]').focus();
      await page.keyboard.press('ArrowLeft');
      const picked = plan.candidates.find((c) => c.mode === 'partial' && c.P === rec.P && c.K === rec.K - 1);
      assert.ok(
        (await page.locator('[data-ratio="flops"]').textContent()).startsWith(picked.flopsRatio.toFixed(3)),
        'K slider did not select the K-1 candidate',
      );
      const { rows, cols } = await cellCentre(page, '.planner .grid-chart canvas', 0, 0);
      assert.deepEqual([rows, cols], [6, 4], 'head map is not L×H');
      const cell = await cellCentre(page, '.planner .grid-chart canvas', 1, 3);
      await page.mouse.move(cell.x, cell.y);
      assert.match(await page.locator('.planner .grid-chart .readout').textContent(), /^layer 1 head 3: reuses head \(0,\d\)'s attention/);
      await page.locator('[data-action="emit-config"]').click();
      const emit = await lastPosted(page, 'emitConfig');
      assert.deepEqual(
        emit,
        { type: 'emitConfig', stack: 'encoder', candidate: plan.candidates.indexOf(picked) },
        'emitConfig must name the selected candidate',
      );
      const csv = await clickExport(page, '.planner', 'csv', 0);
      assert.equal(csv.data.trim().split('\n').length, plan.candidates.length + 1, 'candidates CSV misses rows');
      pngSize((await clickExport(page, '.planner', 'png', 0)).data);
      const map = await clickExport(page, '.planner', 'csv', 1);
      assert.equal(map.data.trim().split('\n').length, 6 * 4 + 1, 'head-map CSV is not one row per head');
      await page.locator('.planner').screenshot({ path: join(shots, 'planner-dark.png') });
    });
  });

  test('loss chart appends points as metrics arrive; reset starts over', async () => {
    await withPanel({}, async (page) => {
      await send(page, metricsMessage('reuse-p4-k2', 0, 50));
      await send(page, metricsMessage('reuse-p4-k2', 50, 30));
      await page.waitForSelector('.training:not([hidden])');
      assert.match(await page.locator('.training .status').textContent(), /^reuse-p4-k2: step 79 · loss \d/);
      const csv = await clickExport(page, '.training', 'csv');
      const rows = csv.data.trim().split('\n');
      assert.equal(rows.length, 81, 'the CSV must hold every point of both messages');
      assert.equal(rows[0], 'run,step,loss,lr,tokensPerSecond,elapsedSeconds,evalLoss,evalAccuracy,evalPerplexity');
      assert.equal(Number(rows[80].split(',')[1]), 79);
      pngSize((await clickExport(page, '.training', 'png')).data);
      await page.locator('.training').screenshot({ path: join(shots, 'training-dark.png') });
      await send(page, metricsMessage('reuse-p4-k2', 0, 5, true));
      const again = await clickExport(page, '.training', 'csv');
      assert.equal(again.data.trim().split('\n').length, 6, 'reset must drop the earlier points');
    });
  });

  test('restores view state after a reload; heatmap pixels follow their legend in dark, light, high-contrast and the sidebar', async () => {
    const stack = makeStack({ L: 6, H: 4 });
    const { L, H, layerPairs, headPairs } = stack.plain;
    const state = {
      version: 1,
      analysis: 'sample-1',
      stack: 'encoder',
      pair: [2, 4],
      sequentialLayer: 3,
      attention: { example: 0, layer: 1, head: 0 },
      planner: { mode: null, P: null, K: null },
    };
    for (const [theme, width, host] of [
      ['dark', 1200, 'editor'],
      ['light', 1200, 'editor'],
      ['high-contrast', 1200, 'editor'],
      ['dark', 360, 'sidebar'],
    ]) {
      await withPanel({ theme, width, state }, async (page) => {
        await send(page, { type: 'settings', theme, host });
        await send(page, analysisMessage([stack]));
        await send(page, planMessage(6, 4));
        await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, headCanvas);
        assert.equal(
          await page.locator('.pair-detail h3').textContent(),
          'Heads of layer 2 × layer 4',
          'the persisted pair was not restored',
        );
        assert.equal(
          await page.locator('[data-action="open-detail"]').isVisible(),
          host === 'sidebar',
          'Open in Editor belongs to the sidebar only',
        );
        // The layer pairs, and the restored pair's head block (no head pair there reaches 1, the domain's top).
        await page.mouse.move(0, 0);
        // Both on the shared 0–1 scale; the layer pairs' diagonal (a layer against itself) apart from it.
        await checkPixels(page, layerCanvas, (r, c) => layerPairs[r * L + c], `layer pairs, ${theme} ${host}`, {
          topIsHigh: false,
          apart: (r, c) => r === c,
          domain: [0, 1],
        });
        await checkPixels(page, headCanvas, (r, c) => headPairs[((2 * H + r) * L + 4) * H + c], `heads 2 × 4, ${theme} ${host}`, {
          topIsHigh: false,
          domain: [0, 1],
        });
        const file = join(shots, `panel-${theme}-${host}.png`);
        await page.screenshot({ path: file, fullPage: true });
        console.log(`screenshot: ${file}`);
      });
    }
    // A state written by another version is dropped, not misread.
    await withPanel({ state: { version: 99, pair: 'garbage' } }, async (page) => {
      await showAnalysis(page, [stack]);
      assert.equal(await page.locator('.pair-detail').isVisible(), false);
    });
  });
});
