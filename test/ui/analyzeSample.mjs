// Protects the packaged extension as a user meets it: the linux-x64 .vsix installs into
// code-server, "Analyze the Sample Model" from the command palette shows its progress and
// then a 4×4 layer-pair heatmap whose cells hold the analysis file's values and whose pixels
// follow its legend in the light, dark and high-contrast themes, and "Plan Reuse"
// writes the recommended reuse config through the save dialog; its notification's Train button
// runs 5 training steps as a task, the panel's loss chart shows a point per step, and the planner's
// "Try these on model" measures its shortlist on the sample model; a longer run from tasks.json,
// the panel opened mid-run (one point per step), Cancel in the panel ("cancelled", a checkpoint) and both runs
// overlaid (trainingSteps.mjs). Then a first-time
// user's day (firstDaySteps.mjs): a model double-clicked in the Explorer shows its summary and is analyzed
// from it, a fused-attention model's refusal is shown whole in the panel, a ViT is analyzed on the folder of
// images beside it and a patch's attention is laid over an image, and a stored notebook's analysis
// output is drawn by the notebook renderer. Before that day, the planned config is warm-started from the sample model
// (CLI: train --init-from --steps 0), its exported model.onnx analysed, and "Compare Analyses" shows it beside
// the original in the panel's compare view (A, B and B − A heatmaps). Then the analysis of each model-family fixture
// (test/helpers/families.mjs) opens through "Open Analysis File", and its heatmap is checked and screenshot.
// Screenshots of every step go to .artifacts/ui/. Run: npm run test:ui
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { chromiumPath } from '../helpers/chromium.mjs';
import { families } from '../helpers/families.mjs';
import { checkHeatmapPixels } from '../helpers/heatmapPixels.mjs';
import { cliBundle, fixtureModels, root } from '../helpers/paths.mjs';
import { tail } from '../helpers/servers.mjs';
import { firstDaySteps } from './firstDaySteps.mjs';
import { trainingSteps, writeTasks } from './trainingSteps.mjs';
import { installVsix, openWorkbench, profile, runCommand, startCodeServer, webviewFrame } from './workbench.mjs';

const { PNG } = pngjs;

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const extensionId = `${manifest.publisher}.${manifest.name}`;
const vsix = process.env.UI_TEST_VSIX ?? join(root, `.artifacts/vsix/${manifest.name}-linux-x64-${manifest.version}.vsix`);
const shots = join(root, '.artifacts/ui');
const scratch = join(shots, 'scratch');
const serverLog = join(shots, 'code-server.log');
const totalTimeoutS = Number(process.env.UI_TEST_TIMEOUT_S ?? 600);
const trainPython = process.env.UI_TEST_PYTHON ?? '/usr/bin/python3';
const trainSteps = 5;

let started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
let lastStep = '(none)';
const step = (m) => {
  lastStep = m.split('\n')[0].slice(0, 160);
  console.log(`[ui ${elapsed()}] ${m}`);
};
let server;
let browser;
let page;
let shotCount = 0;

async function shoot(name) {
  const file = join(shots, `${String(++shotCount).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  console.log(`  screenshot: ${file}`);
}

function check(ok, message) {
  if (!ok) throw new Error(message);
}

function prepare() {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install -y chromium`);
  const setup = spawnSync('bash', [join(root, 'scripts/setupCodeServer.sh')], { stdio: 'inherit' });
  if (setup.status !== 0) throw new Error('scripts/setupCodeServer.sh failed');
  if (process.env.UI_TEST_VSIX) {
    if (!existsSync(vsix)) throw new Error(`UI_TEST_VSIX=${vsix} does not exist`);
    return;
  }
  // A .vsix older than the sources would test yesterday's extension.
  const stale = existsSync(vsix) && newestSource() > statSync(vsix).mtimeMs;
  if (!existsSync(vsix) || stale) {
    console.log(`${vsix} is ${stale ? 'older than the sources' : 'missing'}: packaging linux-x64 first`);
    const pack = spawnSync(process.execPath, [join(root, 'scripts/package.mjs'), '--target', 'linux-x64'], { stdio: 'inherit' });
    if (pack.status !== 0) throw new Error('scripts/package.mjs --target linux-x64 failed');
  }
}

/** When the newest file that goes into the .vsix was changed. */
function newestSource() {
  const newest = (path) => {
    const s = statSync(path);
    if (!s.isDirectory()) return s.mtimeMs;
    return Math.max(s.mtimeMs, ...readdirSync(path).map((f) => newest(join(path, f))));
  };
  return Math.max(
    ...['analysis', 'extension', 'webview', 'protocol', 'media', 'package.json', '.vscodeignore'].map((f) => newest(join(root, f))),
  );
}

async function main() {
  rmSync(shots, { recursive: true, force: true });
  // Training needs an interpreter with PyTorch (a machine-overridable setting); 5 steps keep the run short.
  const p = profile(scratch, { 'attentionReuse.training.steps': trainSteps }, { 'attentionReuse.pythonPath': trainPython });
  // A copy, so that what the extension writes into the workspace stays out of the checkout.
  const workspace = join(scratch, 'workspace');
  cpSync(join(root, 'test/fixtures/inputs'), join(workspace, 'inputs'), { recursive: true });
  for (const f of ['bert_opset17.onnx', 'bert_opset17.inputs.jsonl', 'fused_attention.onnx'])
    cpSync(join(root, 'test/fixtures/models', f), join(workspace, 'models', f));
  cpSync(join(root, 'test/fixtures/notebooks'), join(workspace, 'notebooks'), { recursive: true });
  writeVision(join(workspace, 'vision'));
  analyzeFamilies(join(workspace, 'families'));
  writeTasks(workspace);

  step(`installing ${vsix} (${(statSync(vsix).size / 1024 / 1024).toFixed(1)} MB, built ${statSync(vsix).mtime.toISOString()})`);
  const installed = installVsix(p, vsix, extensionId);
  const ortBin = join(installed, 'node_modules/onnxruntime-node/bin/napi-v6');
  check(
    existsSync(join(ortBin, 'linux/x64/onnxruntime_binding.node')),
    `the installed extension has no linux-x64 onnxruntime binding (${ortBin})`,
  );
  step(`installed into ${installed}`);

  const { origin, stop } = await startCodeServer(p, workspace, serverLog);
  server = stop;
  step(`code-server answers on ${origin} (log: ${serverLog})`);
  ({ context: browser, page } = await openWorkbench(p, `${origin}/?folder=${encodeURIComponent(workspace)}`));
  // The extension list and the file tree settle in the first seconds.
  await page.waitForSelector('.explorer-folders-view, .activitybar', { timeout: 60_000 });
  await page.waitForTimeout(2000);
  step('workbench open');
  await shoot('workbench');

  // 1. Analyze the Sample Model, as a user would start it.
  const analyzing = page.locator('.notification-toast', { hasText: 'analyzing the sample model' });
  await runCommand(page, 'Attention Reuse: Analyze the Sample Model', () => shoot('command-palette'));
  step('picked "Attention Reuse: Analyze the Sample Model"');
  await analyzing.waitFor({ state: 'visible', timeout: 30_000 }).catch(() => {
    throw new Error(
      'no "Attention Reuse: analyzing the sample model" progress notification within 30 s (did the extension activate? see the server log)',
    );
  });
  await page.waitForTimeout(400); // the toast slides in
  await shoot('progress');
  step(`progress: "${(await analyzing.innerText({ timeout: 1000 }).catch(() => '(finished meanwhile)')).replace(/\s+/g, ' ').trim()}"`);

  const panel = await webviewFrame(page, 'body.host-editor .redundancy canvas[data-grid]', 180_000);
  await analyzing.waitFor({ state: 'hidden', timeout: 30_000 });
  const title = await panel.$eval('h1.title', (e) => e.textContent);
  step(`editor panel shows "${title}"`);
  await shoot('panel');

  // 2. The heatmap against the analysis file the extension wrote into the workspace's output folder.
  const analyses = join(workspace, '.attention-reuse/analyses');
  const saved = existsSync(analyses) ? readdirSync(analyses).filter((f) => /^sample-model-\d{8}-\d{6}\.analysis\.json$/.test(f)) : [];
  check(saved.length === 1, `the extension wrote ${JSON.stringify(saved)} into ${analyses}, not one sample-model-DATE-TIME.analysis.json`);
  const analysisFile = join(analyses, saved[0]);
  const analysis = JSON.parse(readFileSync(analysisFile, 'utf8'));
  check(analysis.model.path.startsWith(installed), `the analysis ran ${analysis.model.path}, not the installed extension's sample model`);
  const layerPairs = analysis.stacks[0].layerPairs;
  const canvas = panel.locator('.redundancy canvas[data-grid]').first();
  const [left, top, cell, rows, cols] = (await canvas.getAttribute('data-grid')).split(',').map(Number);
  check(rows === 4 && cols === 4, `the sample model has 4 layers, the heatmap is ${rows}×${cols}`);
  check(layerPairs.length === 4, `the analysis file has ${layerPairs.length} layers`);
  const readout = panel.locator('.redundancy .grid-chart').first().locator('.readout');
  const seen = [];
  for (let l = 0; l < rows; l++) {
    for (let l2 = 0; l2 < cols; l2++) {
      await canvas.hover({ position: { x: left + (l2 + 0.5) * cell, y: top + (l + 0.5) * cell } });
      const text = await readout.innerText();
      const m = /^layer (\d+) × layer (\d+): ([\d.]+)/.exec(text);
      check(
        m && Number(m[1]) === l && Number(m[2]) === l2,
        `hovering cell (${l}, ${l2}) reads "${text}" (cell geometry from data-grid wrong?)`,
      );
      const want = layerPairs[l][l2].toFixed(3);
      check(m[3] === want, `cell (${l}, ${l2}) shows ${m[3]}, the analysis file has ${want}`);
      seen.push(m[3]);
    }
  }
  step(`heatmap: 4×4 cells equal the analysis file's layerPairs (${seen.join(' ')})`);
  await canvas.hover({ position: { x: left + 2.5 * cell, y: top + 0.5 * cell } });
  await shoot('heatmap-cell');

  // The heatmap's pixels against its legend in three themes, picked as a user picks them.
  const themes = [
    ['Light Modern', 'vscode-light'],
    ['Dark Modern', 'vscode-dark'],
    ['Dark High Contrast', 'vscode-high-contrast'],
  ];
  for (const [theme, bodyClass] of themes) {
    // Rows by aria-label: "Color Theme" alone also matches "Browse Color Themes in Marketplace".
    await page.keyboard.press('F1');
    await page.keyboard.type('Preferences: Color Theme', { delay: 10 });
    await page.locator('.quick-input-list .monaco-list-row[aria-label^="Preferences: Color Theme"]').first().click();
    await page.keyboard.type(theme, { delay: 10 });
    await page.locator(`.quick-input-list .monaco-list-row[aria-label^="${theme}"]`).first().click();
    await panel
      .waitForFunction((c) => document.body.classList.contains(c), bodyClass, { timeout: 20_000 })
      .catch(() => {
        throw new Error(`the panel did not switch to ${theme} within 20 s (body class ${bodyClass})`);
      });
    await page.waitForTimeout(500); // the theme's variables and the redraw follow the class
    await page.mouse.move(0, 0);
    const png = await canvas.screenshot();
    const scale = await canvas.evaluate((el) => el.width / el.clientWidth);
    // The shared 0–1 scale, the diagonal (a layer against itself) drawn apart from it.
    const m = checkHeatmapPixels(png, await canvas.getAttribute('data-grid'), scale, (r, c) => layerPairs[r][c], `layer pairs, ${theme}`, {
      topIsHigh: false,
      apart: (r, c) => r === c,
      domain: [0, 1],
    });
    step(
      `heatmap pixels, ${theme}: ${m.cells} cells on the legend's 0–1 ramp ${m.low} → ${m.high}, the diagonal apart, worst ${m.worstMiss.toFixed(3)} off the line`,
    );
    await shoot(`heatmap-${bodyClass}`);
  }

  // 3. Plan Reuse: the recommended candidate comes first; the save dialog suggests a name.
  const planned = page.locator('.quick-input-widget', { hasText: 'pick a configuration to write' });
  await runCommand(page, 'Attention Reuse: Plan Reuse');
  await planned.waitFor({ state: 'visible', timeout: 30_000 });
  const first = page.locator('.quick-input-list .monaco-list-row').first();
  const candidate = (await first.innerText()).replace(/\s+/g, ' ').trim();
  step(`plan: first candidate "${candidate}"`);
  await shoot('plan-candidates');
  await first.click();
  const save = page.locator('.quick-input-widget', { hasText: 'Write Reuse Config' });
  await save.waitFor({ state: 'visible', timeout: 20_000 });
  // The simple file dialog (code-server's, for files on the server) fills in the folder first,
  // then the suggested name.
  const input = page.locator('.quick-input-widget input');
  let suggested = '';
  for (let i = 0; i < 100 && !suggested.endsWith('.json'); i++) {
    if (i > 0) await page.waitForTimeout(100);
    suggested = await input.inputValue();
  }
  check(suggested.endsWith('.reuse.json'), `the save dialog suggests "${suggested}", not a *.reuse.json name`);
  step(`save dialog suggests ${suggested}`);
  await shoot('save-dialog');
  await page.keyboard.press('Enter');
  const written = page.locator('.notification-toast', { hasText: /wrote .*\.reuse\.json/ });
  await written.waitFor({ state: 'visible', timeout: 30_000 });
  const configPath = suggested;
  check(existsSync(configPath), `"${(await written.innerText()).trim()}" but ${configPath} does not exist`);
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  const summary = `${config.mode} P = ${config.P} K = ${config.K}`;
  check(candidate.startsWith(summary), `the config says ${summary}, the picked candidate "${candidate}"`);
  const kept = config.estimates.similarityKept.toFixed(3);
  check(candidate.includes(`similarity kept ${kept}`), `the config keeps similarity ${kept}, the picked candidate "${candidate}"`);
  step(`wrote ${configPath}: ${summary}, similarity kept ${kept}`);
  await page.locator('.tab', { hasText: basename(configPath) }).waitFor({ timeout: 20_000 });
  await shoot('reuse-config');

  // 4. Train from the notification: the training text and tokenizer default to the bundled samples.
  await written.locator('.monaco-button', { hasText: 'Train' }).click();
  for (const what of ['Training text', 'Tokenizer']) {
    const pick = page.locator('.quick-input-widget', { hasText: `Train Reuse Model: ${what}` });
    await pick.waitFor({ state: 'visible', timeout: 20_000 }).catch(() => {
      throw new Error(`Train asked no "${what}" question within 20 s (is the workspace trusted? did the config validate?)`);
    });
    const row = (await page.locator('.quick-input-list .monaco-list-row').first().innerText()).replace(/\s+/g, ' ').trim();
    step(`train: ${what} → "${row}"`);
    await page.keyboard.press('Enter');
    await pick.waitFor({ state: 'hidden', timeout: 10_000 });
  }
  const trained = page.locator('.notification-toast', { hasText: 'training finished' });
  const failed = page.locator('.notification-toast.error, .notification-toast', {
    hasText: /Attention Reuse: .*(exit|cannot|error|fail)/i,
  });
  await page.locator('.terminal-wrapper, .xterm').first().waitFor({ state: 'visible', timeout: 30_000 });
  await page.waitForTimeout(1500);
  await shoot('training-task');
  const done = await Promise.race([
    trained
      .waitFor({ state: 'visible', timeout: 180_000 })
      .then(() => 'ok')
      .catch(() => 'timed out'),
    failed
      .waitFor({ state: 'visible', timeout: 180_000 })
      .then(() => 'failed')
      .catch(() => 'timed out'),
  ]);
  const trainText = await page
    .locator('.notification-toast')
    .last()
    .innerText()
    .catch(() => '');
  check(
    done === 'ok',
    `training did not finish: "${trainText.replace(/\s+/g, ' ').trim()}" (python ${trainPython} with torch? see the task terminal in the failure screenshot)`,
  );
  const runDir = /the model is in (.+?)\.?$/m.exec((await trained.innerText()).trim())?.[1];
  check(
    runDir && existsSync(join(runDir, 'metrics.jsonl')),
    `"${(await trained.innerText()).trim()}" but its run folder has no metrics.jsonl`,
  );
  const metrics = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const losses = metrics.filter((m) => Number.isFinite(m.loss));
  check(losses.length === trainSteps, `metrics.jsonl has ${losses.length} loss lines, training.steps is ${trainSteps}`);
  step(`trained ${trainSteps} steps into ${runDir}: loss ${losses[0].loss.toFixed(3)} → ${losses[losses.length - 1].loss.toFixed(3)}`);

  // 5. The panel's loss chart holds a point per logged step.
  await page.locator('.tabs-container .tab', { hasText: 'Attention Reuse' }).first().click();
  const trainingFrame = await webviewFrame(page, '.training .loss-box[data-points]', 30_000);
  const chartBox = trainingFrame.locator('.training .loss-box[data-points]');
  let points = 0;
  for (let i = 0; i < 50 && points < losses.length; i++) {
    if (i > 0) await page.waitForTimeout(200);
    points = Number(await chartBox.getAttribute('data-points'));
  }
  check(
    points === losses.length,
    `the loss chart has ${points} points, metrics.jsonl ${losses.length} (metrics not forwarded to the panel?)`,
  );
  await chartBox.scrollIntoViewIfNeeded();
  const status = (await trainingFrame.locator('.training .status').innerText()).trim();
  step(`loss chart: ${points} points; "${status}"`);
  await page.waitForTimeout(500);
  await shoot('loss-curve');

  // 5b. Try on model: the planner's shortlist rewritten and measured on the analysed model.
  const tryAll = trainingFrame.locator('.planner [data-action="try-shortlist"]');
  await tryAll.scrollIntoViewIfNeeded();
  await tryAll.click();
  const tryLine = trainingFrame.locator('.planner .try-status');
  await trainingFrame.locator('.planner .try-status', { hasText: /^(Measured|Could not measure|Cancelled)/ }).waitFor({ timeout: 120_000 });
  const tryText = (await tryLine.innerText()).trim();
  check(/^Measured .+ on model\.onnx with \d+ examples \(\d+ tokens\), \w+: KL and top-1/.test(tryText), `Try on model ended "${tryText}"`);
  step(`try on model: "${tryText}"`);
  await tryLine.scrollIntoViewIfNeeded();
  await shoot('try-on-model');

  // 6. The planned config warm-started from the sample model and exported (the CLI, as a user
  // would run it in a terminal), its model.onnx analysed, then compared with the original.
  const cli = join(root, 'dist/cli.js');
  const cliEnv = { ...process.env, ORT_DISABLE_TELEMETRY: '1', OMP_NUM_THREADS: '1' };
  const sampleDir = join(installed, 'media/sample');
  const warmRun = join(scratch, 'warm-run');
  const reuseAnalysis = join(scratch, 'reuse.analysis.json');
  for (const args of [
    ['train', configPath, '--init-from', join(sampleDir, 'model.onnx'), '--steps', '0', '--out', warmRun, '--python', trainPython],
    // The same examples as the panel's analysis (all 300 sample sentences), so that only the model differs.
    [
      'analyze',
      join(warmRun, 'model.onnx'),
      '--text',
      join(sampleDir, 'sentences.txt'),
      '--tokenizer',
      join(sampleDir, 'tokenizer.json'),
      '--examples',
      String(analysis.run.examples),
      '--out',
      reuseAnalysis,
      '-q',
    ],
  ]) {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: cliEnv });
    check(r.status === 0, `attention-reuse ${args[0]} exited with ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  }
  step(`warm start: ${summary} exported to ${join(warmRun, 'model.onnx')} and analysed`);
  await runCommand(page, 'Attention Reuse: Compare Analyses');
  for (const [which, file] of [
    ['A, before', analysisFile],
    ['B, after', reuseAnalysis],
  ]) {
    const dialog = page.locator('.quick-input-widget', { hasText: `Compare Analyses: ${which}` });
    await dialog.waitFor({ state: 'visible', timeout: 20_000 }).catch(() => {
      throw new Error(`Compare Analyses asked for no "${which}" file within 20 s`);
    });
    // The simple file dialog fills in its folder (and a completion) a moment after it opens:
    // wait for that, then write the path until it stays as written.
    for (let i = 0; i < 50 && !(await input.inputValue()); i++) await page.waitForTimeout(100);
    for (let i = 0; i < 20 && (await input.inputValue()) !== file; i++) {
      await input.fill(file);
      await page.waitForTimeout(300);
    }
    check((await input.inputValue()) === file, `the ${which} dialog holds "${await input.inputValue()}", not ${file}`);
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
  }
  const compareFrame = await webviewFrame(page, 'body.host-editor .compare canvas[data-grid]', 30_000);
  const grids = await compareFrame.$$eval('.compare canvas[data-grid]', (els) => els.map((e) => e.getAttribute('data-grid')));
  check(
    grids.length === 3 && grids.every((g) => g.split(',').slice(3).join() === '4,4'),
    `the compare view shows ${grids.length} grids (${grids.join(' | ')}), not three 4×4 ones`,
  );
  const heads = await compareFrame.$$eval('.compare table tbody tr', (rows) => rows.map((r) => r.textContent));
  check(heads.length === 8, `the compare view lists ${heads.length} heads that changed most`);
  await compareFrame.locator('.compare').scrollIntoViewIfNeeded();
  step(`compare view: A, B and B − A (4×4); first head "${heads[0].replace(/\s+/g, ' ').trim()}"`);
  await page.waitForTimeout(500);
  await shoot('compare');

  // 7. Training runs: the panel opened mid-run, Cancel there, two runs overlaid.
  await trainingSteps({ page, shoot, step, check, runCommand, workspace, configPath, firstRunDir: runDir }).midRunCancelAndOverlay();

  // 7–9. A first-time user's day with their own models and a notebook.
  const day = firstDaySteps({ page, shoot, step, check, runCommand });
  await day.modelSummary();
  await day.failingModel();
  await day.imageModel();
  await day.notebook();

  // 9. Each model family's analysis, opened from its file.
  await openFamilies(join(workspace, 'families'));
}

/** The ViT fixture with a preprocessor config and a folder of three pictures (a disc on a gradient), two PNG and one JPEG. */
function writeVision(dir) {
  mkdirSync(join(dir, 'images'), { recursive: true });
  cpSync(join(fixtureModels, 'vit.onnx'), join(dir, 'vit.onnx'));
  const config = {
    do_resize: true,
    size: { height: 16, width: 16 },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
  };
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(config, null, 2));
  const picture = (size, cx, cy, r) => {
    const data = Buffer.alloc(size * size * 4, 255);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const disc = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
        data.set(disc ? [235, 190, 50] : [30 + (x * 120) / size, 60 + (y * 100) / size, 140], (y * size + x) * 4);
      }
    }
    return { data, width: size, height: size };
  };
  const png = (img) => {
    const p = new PNG({ width: img.width, height: img.height });
    img.data.copy(p.data);
    return PNG.sync.write(p);
  };
  writeFileSync(join(dir, 'images', 'a-disc.png'), png(picture(64, 40, 24, 14)));
  writeFileSync(join(dir, 'images', 'b-disc.jpg'), jpeg.encode(picture(96, 30, 60, 24), 90).data);
  writeFileSync(join(dir, 'images', 'c-disc.png'), png(picture(32, 16, 16, 6)));
}

/** The analysis of every family fixture, written by the CLI the .vsix was built with. */
function analyzeFamilies(dir) {
  for (const name of families) {
    const out = join(dir, `${name}.analysis.json`);
    const args = [
      cliBundle,
      'analyze',
      join(fixtureModels, `${name}.onnx`),
      '--inputs',
      join(fixtureModels, `${name}.inputs.jsonl`),
      '--out',
      out,
      '--ep',
      'cpu',
      '-q',
    ];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    if (r.status !== 0) throw new Error(`analyze ${name} failed: ${r.stderr}`);
  }
  step(`analyzed ${families.length} family fixtures into ${dir}`);
}

/** 9. Each family's analysis through Open Analysis File: the panel shows it, its heatmap holds the file's layer pairs. */
async function openFamilies(dir) {
  for (const name of families) {
    const file = join(dir, `${name}.analysis.json`);
    const analysis = JSON.parse(readFileSync(file, 'utf8'));
    await runCommand(page, 'Attention Reuse: Open Analysis File');
    const dialog = page.locator('.quick-input-widget', { hasText: 'OK' });
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 20_000 });
    // The simple file dialog (code-server's) fills in a folder (the last one used, then its own):
    // a path typed before it settles is overwritten, so type it until it stays.
    for (let i = 0; i < 100 && !(await input.inputValue()).endsWith('/'); i++) await page.waitForTimeout(100);
    for (let attempt = 0; attempt < 20; attempt++) {
      await input.fill(file);
      await page.waitForTimeout(300);
      if ((await input.inputValue()) === file) break;
    }
    // It lists the file once it has resolved the typed path; Enter then opens it.
    await page
      .locator('.quick-input-list .monaco-list-row', { hasText: basename(file) })
      .first()
      .waitFor({ state: 'visible', timeout: 10_000 })
      .catch(() => {});
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => {
      throw new Error(`the file dialog did not open ${file} (it shows "${file}" typed, then Enter)`);
    });
    const panel = await webviewFrame(page, 'body.host-editor .redundancy canvas[data-grid]', 30_000);
    let title = '';
    for (let i = 0; i < 100 && !title.includes(basename(file)); i++) {
      if (i > 0) await page.waitForTimeout(100);
      title = (await panel.$eval('h1.title', (e) => e.textContent).catch(() => '')) ?? '';
    }
    check(title.includes(basename(file)), `Open Analysis File on ${file}: the panel shows "${title}"`);
    const stack = analysis.stacks[0];
    const L = stack.layerCount;
    const canvas = panel.locator('.redundancy canvas[data-grid]').first();
    const [left, top, cell, rows, cols] = (await canvas.getAttribute('data-grid')).split(',').map(Number);
    check(rows === L && cols === L, `${name}: stack "${stack.name}" has ${L} layers, the heatmap is ${rows}×${cols}`);
    await canvas.hover({ position: { x: left + (L - 0.5) * cell, y: top + 0.5 * cell } });
    const text = await panel.locator('.redundancy .grid-chart').first().locator('.readout').innerText();
    const want = stack.layerPairs[0][L - 1].toFixed(3);
    check(text.includes(want), `${name}: cell (0, ${L - 1}) reads "${text}", the analysis file has ${want}`);
    step(
      `${name}: ${analysis.stacks.map((s) => `${s.name} ${s.layerCount}×${s.headCount}${s.causal ? ' causal' : ''}`).join(', ')}; cell (0, ${L - 1}) = ${want}`,
    );
    await shoot(`family-${name}`);
  }
}

let finished = false;
async function finish(code, message) {
  if (finished) return;
  finished = true;
  if (message) console.error(`[ui] FAILED: ${message}`);
  if (code !== 0 && page) await shoot('failure').catch(() => {});
  await browser?.close().catch(() => {});
  await server?.().catch(() => {});
  if (code === 0) step('UI test passed');
  else {
    console.error(`server log (${serverLog}):\n${tail(serverLog)}`);
    // Said again last, so that a log cut to its tail still shows why the test failed.
    console.error(`[ui ${elapsed()}] FAILED: ${message?.split('\n')[0]} (the last step done: ${lastStep})`);
  }
  process.exit(code);
}

try {
  prepare();
} catch (err) {
  console.error(`[ui] ${err.message}`);
  process.exit(1);
}
// code-server's install (about 150 s when cold) and packaging run before the clock starts.
started = Date.now();
const timer = setTimeout(() => void finish(1, `timed out after ${totalTimeoutS} s`), totalTimeoutS * 1000);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void finish(130, `interrupted (${signal})`));
main().then(
  () => {
    clearTimeout(timer);
    return finish(0);
  },
  (err) => {
    clearTimeout(timer);
    return finish(1, err.stack ?? String(err));
  },
);
