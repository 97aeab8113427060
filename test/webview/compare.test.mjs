// Protects the compare view in a real browser under the real CSP: A, B and B − A heatmaps of the values the host sent, the named mismatches, the heads that changed most, each side's evaluations, and the CSV export.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../helpers/paths.mjs';
import { pseudoRandom } from '../helpers/random.mjs';
import { cellCentre, lastPosted, launchBrowser, openPanel, posted, send } from './page.mjs';

const shots = join(root, '.artifacts', 'webview');
mkdirSync(shots, { recursive: true });

const typed = (values) => ({ __typed: 'Float64Array', values: Array.from(values) });

/** A comparison of two 4-layer, 4-head stacks: B reuses layer 0 in layers 1 and 2 (similarity 1 there). */
function comparisonMessage(L = 4, H = 4) {
  const rand = pseudoRandom(5);
  const a = [];
  for (let l = 0; l < L; l++) for (let m = 0; m < L; m++) a.push(l === m ? 1 : 0.4 + 0.3 * rand());
  for (let l = 0; l < L; l++) for (let m = 0; m < l; m++) a[l * L + m] = a[m * L + l];
  const b = a.map((v, i) => (Math.floor(i / L) < 3 && i % L < 3 ? 1 : v));
  const perHead = (f) => ({
    shape: [L, H, 2],
    data: typed(Array.from({ length: L * H * 2 }, (_, i) => f(Math.floor(i / (H * 2)), Math.floor(i / 2) % H, i % 2))),
  });
  const side = (label, evaluations) => ({ label, path: `/runs/${label}`, model: `/runs/${label}.onnx`, examples: 300, evaluations });
  const stack = {
    index: 0,
    label: 'encoder',
    layers: L,
    heads: H,
    a: { shape: [L, L], data: typed(a) },
    b: { shape: [L, L], data: typed(b) },
    diff: { shape: [L, L], data: typed(b.map((v, i) => v - a[i])) },
    uniform: perHead((l, h, s) => 0.5 + 0.05 * h + (s && l === 1 ? 0.2 : 0)),
    entropy: perHead((l, h) => 2 + 0.1 * h),
    earlier: perHead((l, h, s) => (l === 0 ? NaN : s && l < 3 ? 1 : 0.5)),
  };
  return {
    type: 'comparison',
    comparison: {
      a: side('original.analysis.json', null),
      b: side('reuse.analysis.json', { first: { step: 0, loss: 3.9, accuracy: 0.21 }, last: { step: 300, loss: 3.2, accuracy: 0.27 } }),
      stacks: [stack],
      mismatches: ['A was analysed on 300 examples, B on 200'],
    },
    plain: { a, b },
  };
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe('compare view', () => {
  test('draws A, B and B − A with the host values; names mismatches; lists heads and evaluations; exports CSV', async () => {
    const { page, errors } = await openPanel(browser.context, { width: 1300, height: 1000 });
    try {
      const { plain, ...message } = comparisonMessage();
      await send(page, { type: 'settings', theme: 'dark', host: 'editor' });
      assert.equal(await page.locator('.compare').isHidden(), true, 'hidden until a comparison arrives');
      await send(page, message);
      await page.waitForFunction(() => document.querySelectorAll('.compare canvas[data-grid]').length === 3);
      const canvases = '.compare .compare-column canvas';
      for (const [i, values] of [
        [0, plain.a],
        [1, plain.b],
      ]) {
        const { x, y } = await cellCentre(page, `.compare .compare-column:nth-child(${i + 1}) canvas`, 1, 0);
        await page.mouse.move(x, y);
        const text = await page
          .locator(`${canvases}`)
          .nth(i)
          .locator('xpath=following-sibling::div[contains(@class,"readout")]')
          .textContent();
        assert.match(
          text,
          new RegExp(`^layer 1 × layer 0: A ${plain.a[4].toFixed(3)}, B ${plain.b[4].toFixed(3)}, B − A [+−]`),
          `chart ${i} readout: ${text}`,
        );
        assert.ok(values.length === 16);
      }
      const note = await page.locator('.compare .mismatches').textContent();
      assert.match(note, /A was analysed on 300 examples, B on 200/);
      const evals = await page.locator('.compare .status').textContent();
      assert.match(evals, /original\.analysis\.json: no training metrics/);
      assert.match(
        evals,
        /reuse\.analysis\.json: held-out step 0: loss 3\.9000, accuracy 0\.210 → step 300: loss 3\.2000, accuracy 0\.270/,
      );
      const rows = await page.locator('.compare table tbody tr').allTextContents();
      assert.equal(rows.length, 8, 'the eight heads that changed most');
      assert.match(rows[0], /^\(1,\d\)/, 'layer 1 moved most (uniform +0.2, best earlier match 0.5 → 1)');
      const tops = await page.$$eval('.compare .compare-column', (cols) => cols.map((c) => Math.round(c.getBoundingClientRect().top)));
      assert.equal(
        new Set(tops).size,
        1,
        `A, B and B − A side by side at 1300 px (column tops ${tops}): the compare view's styles are not applied`,
      );
      await page.locator('.compare').screenshot({ path: join(shots, 'compare-dark.png') });
      const before = (await posted(page)).length;
      await page.locator('.compare [data-export="csv"]').click();
      await page.waitForFunction((n) => window.__posted.length > n, before);
      const csv = (await lastPosted(page, 'exportChart')).data.trim().split('\n');
      assert.equal(csv[0], 'layer,other_layer,a,b,b_minus_a');
      assert.equal(csv.length, 17);
      await send(page, { type: 'comparison', comparison: null });
      assert.equal(await page.locator('.compare').isHidden(), true, 'null clears the view');
      assert.deepEqual(await page.evaluate(() => window.__violations), [], 'the CSP blocked something');
      assert.deepEqual(errors, [], 'the page threw');
    } finally {
      await page.close();
    }
  });
});
