// Loads the real panel page (extension/panelHtml.ts, the same CSP) with dist/webview.js in
// headless Chromium. A small acquireVsCodeApi shim records what the webview posts, which
// is the webview's only API; messages from the "host" are window.postMessage calls.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { after, before } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { launchChromium } from '../helpers/chromium.mjs';
import { root } from '../helpers/paths.mjs';
import { themeCss, themes } from './themes.mjs';

const origin = 'http://webview.test';
const require = createRequire(import.meta.url);

function built(path) {
  const p = join(root, path);
  if (!existsSync(p)) throw new Error(`${path} is missing: run \`npm run build\` before the webview tests`);
  return p;
}

/** Chromium with the flags that work on these machines and a throw-away profile. */
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'attention-reuse-webview-'));
  const context = await launchChromium(profile, { deviceScaleFactor: 1 });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where the browser suites put their screenshots. */
export const shots = join(root, '.artifacts', 'webview');

/**
 * One Chromium for the test file that calls this (node:test before/after hooks), and `withPanel`,
 * which opens the panel page in it and checks it (withCheckedPage).
 */
export function panelBrowser() {
  mkdirSync(shots, { recursive: true });
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  return { withPanel: (options, body) => withCheckedPage(browser.context, openPanel, options, body) };
}

// Runs before the bundle, by nonce like it: the VS Code API stand-in, and a reviver for
// the typed arrays that page.evaluate cannot carry.
const shim = (themeClass) => `
window.__posted = [];
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
let acquired = false;
window.acquireVsCodeApi = () => {
  if (acquired) throw new Error('acquireVsCodeApi may be called only once');
  acquired = true;
  return {
    postMessage: (m) => window.__posted.push(JSON.parse(JSON.stringify(m))),
    getState: () => window.__state,
    setState: (s) => (window.__state = JSON.parse(JSON.stringify(s))),
  };
};
window.__revive = function revive(v) {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === 'object') {
    if (typeof v.__typed === 'string') return new globalThis[v.__typed](v.values);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  }
  return v;
};
document.addEventListener('DOMContentLoaded', () => document.body.classList.add(${JSON.stringify(themeClass)}));
`;

/**
 * Opens the panel page (or, with `script`, another page the host loads the same way, such as
 * dist/modelEditor.js). `state` seeds getState (a reload); the page is ready when the
 * webview has posted its first message.
 */
export async function openPanel(context, { theme = 'dark', width = 1200, height = 900, state, script = 'dist/webview.js' } = {}) {
  const { panelHtml } = require(built('out/extension/panelHtml.js'));
  const nonce = 'dGVzdC1ub25jZS0xMjM0NTY=';
  let html = panelHtml({
    cspSource: origin,
    nonce,
    scriptUri: `${origin}/${script}`,
    styleUri: `${origin}/media/panel.css`,
    title: 'Attention Reuse',
  });
  // The theme variables come as a stylesheet from the resource origin (VS Code sets them on <html>).
  html = html
    .replace('<link rel="stylesheet"', `<link rel="stylesheet" href="${origin}/theme.css">\n<link rel="stylesheet"`)
    .replace(
      `<script nonce="${nonce}" src=`,
      `<script nonce="${nonce}">${shim(themes[theme].bodyClass)}</script>\n<script nonce="${nonce}" src=`,
    );
  const page = await context.newPage();
  await page.setViewportSize({ width, height });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => {
    errors.push(`dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  const files = {
    '/index.html': ['text/html', html],
    '/theme.css': ['text/css', themeCss(theme)],
    [`/${script}`]: ['text/javascript', () => readFileSync(built(script))],
    '/media/panel.css': ['text/css', () => readFileSync(join(root, 'media/panel.css'))],
  };
  await serve(page, files);
  if (state !== undefined) await page.addInitScript((s) => (window.__state = s), state);
  await page.goto(`${origin}/index.html`);
  await page.waitForFunction(() => window.__posted.length > 0, null, { timeout: 10_000 });
  return { page, errors };
}

/** Answers the page's requests to the resource origin from `files` (path → [type, body or () => body]). */
async function serve(page, files) {
  await page.route(`${origin}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = files[path];
    if (!file) return route.fulfill({ status: 404, body: 'not found' });
    const body = typeof file[1] === 'function' ? file[1]() : file[1];
    return route.fulfill({ status: 200, contentType: file[0], body });
  });
}

/**
 * A notebook output webview stand-in: dist/notebookRenderer.js loaded as the ES module VS Code
 * loads, under a CSP with no inline script or style and no other origin, its `activate()`
 * result at `window.__renderer` and an output element `#output`.
 */
export async function openRenderer(context, { theme = 'dark', width = 900, height = 700 } = {}) {
  const nonce = 'cmVuZGVyZXItbm9uY2UtMTIz';
  const csp = `default-src 'none'; script-src 'nonce-${nonce}' ${origin}; style-src ${origin}; img-src ${origin}`;
  const html = `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="stylesheet" href="${origin}/theme.css"></head>
<body class="${themes[theme].bodyClass}"><div id="output"></div>
<script type="module" nonce="${nonce}">
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
const { activate } = await import('${origin}/dist/notebookRenderer.js');
window.__renderer = activate();
</script></body></html>`;
  const page = await context.newPage();
  await page.setViewportSize({ width, height });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await serve(page, {
    '/index.html': ['text/html', html],
    '/theme.css': ['text/css', themeCss(theme)],
    '/dist/notebookRenderer.js': ['text/javascript', () => readFileSync(built('dist/notebookRenderer.js'))],
  });
  await page.goto(`${origin}/index.html`);
  await page.waitForFunction(() => window.__renderer, null, { timeout: 10_000 });
  return { page, errors };
}

/**
 * Posts a host message to the webview and resolves once the page has handled it: a listener
 * added after the panel's runs after the panel's handler and the promise reactions it started
 * (a reply settles a promise), so no test reads the page before the message has arrived.
 */
export async function send(page, message) {
  await page.evaluate(
    (m) =>
      new Promise((resolve) => {
        window.addEventListener('message', () => resolve(), { once: true });
        window.postMessage(window.__revive(m), '*');
      }),
    message,
  );
}

/**
 * Opens a page with `open` (openPanel, openRenderer), runs `body` on it, then checks that the
 * CSP blocked nothing and that the page neither threw nor opened a dialog; closes it either way.
 */
export async function withCheckedPage(context, open, options, body) {
  const { page, errors } = await open(context, options);
  try {
    await body(page);
    const violations = await page.evaluate(() => window.__violations);
    assert.deepEqual(violations, [], 'the CSP blocked something: the page needs an inline style or script, eval or another origin');
    assert.deepEqual(errors, [], 'the page threw or opened a dialog');
  } finally {
    await page.close();
  }
}

export async function posted(page) {
  return page.evaluate(() => window.__posted);
}

export async function lastPosted(page, type) {
  const all = await posted(page);
  return all.filter((m) => m.type === type).at(-1);
}

/** Centre of cell (r, c) of a grid canvas, from the geometry it publishes in data-grid. */
export async function cellCentre(page, canvasSelector, r, c) {
  const grid = await page.$eval(canvasSelector, (el) => el.dataset.grid);
  if (!grid) throw new Error(`${canvasSelector} has no data-grid: was it drawn?`);
  const [left, top, cell, rows, cols] = grid.split(',').map(Number);
  if (r >= rows || c >= cols) throw new Error(`cell ${r},${c} outside a ${rows}×${cols} grid`);
  const canvas = page.locator(canvasSelector);
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  return { x: box.x + left + (c + 0.5) * cell, y: box.y + top + (r + 0.5) * cell, rows, cols };
}
