// Protects what the panel shows of an analysis's statistics in a real browser: 95% intervals in the hover readouts and tables, sink heads flagged in the tables and heatmaps, the similarity-against-length chart, and the shuffled-weights baseline map beside the real one, from a real analysis of the sample model (CLI → the host's own stackPayload → the page).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { analysisMessage, planMessage } from './fixtures.mjs';
import { root } from '../helpers/paths.mjs';
import { cellCentre, launchBrowser, openPanel, send, withCheckedPage } from './page.mjs';

const shots = join(root, '.artifacts', 'webview');
mkdirSync(shots, { recursive: true });
const layerCanvas = '.redundancy .map:first-child > .grid-chart canvas';
const baselineCanvas = '.redundancy .map.baseline > .grid-chart canvas';
const headCanvas = '.pair-detail .grid-chart canvas';

let browser;
let file;
let stackPayload;
before(async () => {
  browser = await launchBrowser();
  // A real analysis of the sample model, with the shuffled baseline, written by the CLI bundle.
  const out = join(mkdtempSync(join(tmpdir(), 'trust-')), 'sample.analysis.json');
  const sample = join(root, 'media', 'sample');
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'dist', 'cli.js'),
      'analyze',
      join(sample, 'model.onnx'),
      '--text',
      join(sample, 'sentences.txt'),
      '--tokenizer',
      join(sample, 'tokenizer.json'),
      '--baseline',
      'shuffled',
      '--out',
      out,
      '--quiet',
    ],
    { encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } },
  );
  assert.equal(r.status, 0, `the CLI could not analyse the sample (run npm run build first): ${r.stderr}`);
  file = JSON.parse(readFileSync(out, 'utf8'));
  // The host's converter itself, bundled for this process.
  const bundled = await build({
    entryPoints: [join(root, 'protocol', 'stackPayload.ts')],
    bundle: true,
    format: 'esm',
    write: false,
    platform: 'node',
  });
  ({ stackPayload } = await import(`data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString('base64')}`));
});
after(async () => {
  await browser?.close();
});

/** A payload as page.evaluate can carry it: typed arrays as {__typed, values} (page.mjs revives them). */
function transportable(v) {
  if (ArrayBuffer.isView(v)) return { __typed: v.constructor.name, values: Array.from(v) };
  if (Array.isArray(v)) return v.map(transportable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, transportable(x)]));
  return v;
}

async function show(page, stack) {
  await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
  await send(page, analysisMessage([{ payload: transportable(stack) }]));
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, layerCanvas);
}

async function readoutAfterHover(page, canvas, r, c) {
  const { x, y } = await cellCentre(page, canvas, r, c);
  await page.mouse.move(x, y);
  return page.locator(canvas).locator('xpath=following-sibling::div[contains(@class,"readout")]').textContent();
}

describe('panel: error bars, sinks, length and the shuffled baseline', () => {
  test('hovering a layer pair or a head pair shows its 95% interval from the file', async () => {
    const s = file.stacks[0];
    const L = s.layerCount;
    await withCheckedPage(browser.context, openPanel, {}, async (page) => {
      await show(page, stackPayload(s));
      for (const [l, l2] of [
        [0, 1],
        [2, 3],
        [3, 0],
      ]) {
        const text = await readoutAfterHover(page, layerCanvas, l, l2);
        const want = `${s.layerPairs[l][l2].toFixed(3)} (95% ${s.errors.layerPairs.low[l][l2].toFixed(3)}–${s.errors.layerPairs.high[l][l2].toFixed(3)})`;
        assert.ok(text.includes(want), `hover on (${l},${l2}) says "${text}", expected "${want}"`);
      }
      const { x, y } = await cellCentre(page, layerCanvas, 1, 2);
      await page.mouse.click(x, y);
      await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, headCanvas);
      const text = await readoutAfterHover(page, headCanvas, 0, 3);
      const want = `S = ${s.headPairs[1][0][2][3].toFixed(3)} (95% ${s.errors.headPairs.low[1][0][2][3].toFixed(3)}–${s.errors.headPairs.high[1][0][2][3].toFixed(3)})`;
      assert.ok(text.includes(want), `head hover says "${text}", expected "${want}"`);
      const intervals = await page.locator('.pair-detail table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.children[3].textContent));
      assert.deepEqual(
        intervals,
        s.c[1].map((_, h) => `${s.errors.c.low[1][h][2].toFixed(3)}–${s.errors.c.high[1][h][2].toFixed(3)}`),
        'the best-match table does not show c’s intervals',
      );
      assert.ok(L === 4, 'the sample has 4 layers');
    });
  });

  test('sink heads are flagged in the tables and the heatmaps; files without sinks show none', async () => {
    const s = structuredClone(file.stacks[0]);
    // Make head (1,0) a sink whatever the sample learned: the flag follows the file's numbers.
    s.sinks.mass[1][0] = 0.9;
    s.sinks.mass[1][1] = 0.1;
    await withCheckedPage(browser.context, openPanel, {}, async (page) => {
      await show(page, stackPayload(s));
      const { x, y } = await cellCentre(page, layerCanvas, 1, 2);
      await page.mouse.click(x, y);
      await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, headCanvas);
      const rows = await page.locator('.pair-detail table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.textContent));
      assert.match(rows[0], /sink/, 'head (1,0) with mass 0.9 is not flagged in the best-match table');
      const text = await readoutAfterHover(page, headCanvas, 0, 1);
      assert.match(text, /sink \(1,0\)/, `the head-pair readout does not name the sink: "${text}"`);
      // The flag is a shape of the chart: the SVG export has it for every cell of row 0.
      await page.locator('.pair-detail [data-export="svg"]').click();
      await page.waitForFunction(() => window.__posted.some((m) => m.type === 'exportChart' && m.format === 'svg'));
      const svg = (await page.evaluate(() => window.__posted.filter((m) => m.type === 'exportChart').at(-1))).data;
      const flagged = (svg.match(/\(flagged\)<\/title>/g) ?? []).length;
      const sinkCols = s.sinks.mass[2].filter((m) => m >= s.sinks.threshold).length;
      assert.equal(flagged, 4 + (4 - 1) * sinkCols, 'the head-pair heatmap should flag the cells of the sink row and of sink columns');
      await page.locator('.redundancy').screenshot({ path: join(shots, 'sink-flags.png') });
    });
    delete s.sinks;
    await withCheckedPage(browser.context, openPanel, {}, async (page) => {
      await show(page, stackPayload(s));
      const { x, y } = await cellCentre(page, layerCanvas, 1, 2);
      await page.mouse.click(x, y);
      await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.grid, headCanvas);
      assert.equal(await page.locator('.pair-detail .badge.sink').count(), 0, 'a file without sinks shows sink badges');
    });
  });

  test('the length chart draws one point per bucket with its interval', async () => {
    const s = file.stacks[0];
    await withCheckedPage(browser.context, openPanel, {}, async (page) => {
      await show(page, stackPayload(s));
      const rows = await page
        .locator('.lengths table tbody tr')
        .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
      assert.equal(rows.length, s.lengths.length, 'one table row per length bucket');
      s.lengths.forEach((b, i) => {
        assert.equal(rows[i][0], `${b.min}–${b.max}`);
        assert.equal(rows[i][3], b.similarity.toFixed(3), `bucket ${b.min}–${b.max}: similarity`);
        if (b.similaritySe !== null) {
          const z = s.errors.z;
          assert.equal(
            rows[i][4],
            `${Math.max(0, b.similarity - z * b.similaritySe).toFixed(3)}–${Math.min(1, b.similarity + z * b.similaritySe).toFixed(3)}`,
          );
        }
      });
      assert.ok(s.lengths.length >= 2, 'the sample should fill at least two length buckets');
      assert.ok(await page.locator('.lengths canvas').isVisible(), 'the length chart is not drawn');
      await page.locator('.lengths').screenshot({ path: join(shots, 'length-chart.png') });
    });
  });

  test("the planner gives each candidate's 95% interval of similarity kept and marks those within noise of the recommendation", async () => {
    const plan = planMessage(6, 4);
    const r = plan.recommended;
    // As the host sends them (extension/panelPayloads.ts planMessage, tested in planNoise.test.ts).
    plan.candidates.forEach((c) => (c.keptInterval = [c.similarityKept - 0.02, c.similarityKept + 0.02]));
    const near = plan.candidates.findIndex(
      (c, i) => i !== r && Math.abs(c.similarityKept - plan.candidates[r].similarityKept) < 0.04 && c.pareto,
    );
    assert.ok(near >= 0, 'the fixture needs a Pareto candidate near the recommended one');
    plan.candidates[near].withinNoise = true;
    await withCheckedPage(browser.context, openPanel, {}, async (page) => {
      await show(page, stackPayload(file.stacks[0]));
      await send(page, plan);
      await page.waitForSelector('.planner-body:not([hidden])');
      const c = plan.candidates[r];
      assert.match(
        await page.locator('[data-ratio="kept"]').textContent(),
        new RegExp(`^${c.similarityKept.toFixed(3)} \\(95% ${c.keptInterval[0].toFixed(3)}–${c.keptInterval[1].toFixed(3)}\\)`),
      );
      const row = page.locator(`table.candidates tr[data-candidate="${near}"]`);
      assert.match(
        await row.textContent(),
        /\[\d\.\d{3}–\d\.\d{3}\].*within noise/,
        'the table row of a candidate within noise must show its interval and say so',
      );
      assert.doesNotMatch(await page.locator(`table.candidates tr[data-candidate="${r}"]`).textContent(), /within noise/);
    });
  });

  test('the shuffled-weights baseline of the sample model is drawn beside the real map', async () => {
    const s = file.stacks[0];
    const L = s.layerCount;
    assert.ok(s.baseline, 'the CLI wrote no baseline');
    await withCheckedPage(browser.context, openPanel, {}, async (page) => {
      await show(page, stackPayload(s));
      assert.ok(await page.locator('.redundancy .map.baseline').isVisible(), 'the baseline map is hidden');
      const real = await page.locator(layerCanvas).boundingBox();
      const base = await page.locator(baselineCanvas).boundingBox();
      assert.ok(base.x > real.x + real.width - 1 && Math.abs(base.y - real.y) < 40, 'the baseline map is not beside the real one');
      for (const [l, l2] of [
        [0, 1],
        [2, 3],
      ]) {
        const text = await readoutAfterHover(page, baselineCanvas, l, l2);
        assert.ok(
          text.includes(
            `layer ${l} × layer ${l2}: ${s.baseline.layerPairs[l][l2].toFixed(3)}; this model ${s.layerPairs[l][l2].toFixed(3)}`,
          ),
          `baseline hover says "${text}"`,
        );
      }
      const { rows, cols } = await cellCentre(page, baselineCanvas, 0, 0);
      assert.deepEqual([rows, cols], [L, L]);
      const file = join(shots, 'baseline-shuffled.png');
      await page.locator('.redundancy').screenshot({ path: file });
      console.log(`screenshot: ${file}`);
    });
    const { baseline: _dropped, ...without } = s;
    await withCheckedPage(browser.context, openPanel, {}, async (page) => {
      await show(page, stackPayload(without));
      assert.equal(
        await page.locator('.redundancy .map.baseline').isVisible(),
        false,
        'a file without a baseline shows an empty baseline map',
      );
    });
  });
});
