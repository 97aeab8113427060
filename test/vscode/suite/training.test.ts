// Protects "Train Reuse Model" as a VS Code task: the CLI runs under the extension host's Node from an argument array,
// finishes with exit code 0, its metrics reach the panel hook while it runs, and stopping the task ends the trainer too.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';

const extensionId = 'attention-reuse.attention-reuse';
const untrusted = process.env.VSCODE_TEST_UNTRUSTED === '1';
/** Debian's interpreter with python3-torch (TOOLING.md); the pyenv python3 on PATH has no torch. */
const python = process.env.ATTENTION_REUSE_TEST_PYTHON ?? '/usr/bin/python3';

type TrainResult = { runDir: string; exitCode: number | undefined; metricsForwarded: number } | { refused: string } | { error: string } | undefined;

function finished(result: TrainResult): { runDir: string; exitCode: number | undefined; metricsForwarded: number } {
  assert.ok(result, 'train returned nothing: it asked for something although it was given every argument');
  assert.ok(!('refused' in result), `train was refused: ${'refused' in result ? result.refused : ''} (is the workspace trusted?)`);
  assert.ok(!('error' in result), `train failed before the task started: ${'error' in result ? result.error : ''}`);
  return result;
}

function metricsLines(runDir: string): { step: number; loss: number }[] {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { step: number; loss: number });
}

/** Processes whose command line mentions `text` (Linux /proc). */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) found.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | false): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > end) assert.fail(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

(untrusted ? suite.skip : suite)('Training as a task', () => {
  const out = mkdtempSync(join(tmpdir(), 'reuse-runs-'));
  let config = '';
  const settings = () => vscode.workspace.getConfiguration('attentionReuse');

  suiteSetup(async function () {
    this.timeout(120_000);
    assert.ok(existsSync(python), `${python} is missing: apt-get install -y python3-torch libopenblas0-pthread`);
    await vscode.extensions.getExtension(extensionId)?.activate();
    await settings().update('pythonPath', python, vscode.ConfigurationTarget.Global);
    await settings().update('outputFolder', out, vscode.ConfigurationTarget.Global);
    const shown = await vscode.commands.executeCommand<{ path?: string } | undefined>('attentionReuse.analyzeSample');
    assert.ok(shown?.path, 'analyzeSample wrote no analysis file');
    const result = await vscode.commands.executeCommand<{ path: string } | { error: string } | undefined>('attentionReuse.emitConfig', {
      analysisPath: shown.path,
      mode: 'partial',
      K: 2,
      out: join(out, 'partial.reuse.json'),
      open: false,
    });
    assert.ok(result && 'path' in result, `could not write the config to train: ${JSON.stringify(result)}`);
    config = result.path;
  });

  suiteTeardown(async () => {
    await settings().update('pythonPath', undefined, vscode.ConfigurationTarget.Global);
    await settings().update('outputFolder', undefined, vscode.ConfigurationTarget.Global);
  });

  test('the train task runs 3 steps on the sample, exits 0 and feeds every metrics line to the panel', async function () {
    this.timeout(180_000);
    const runDir = join(out, 'run-3-steps');
    const result = finished(await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', { config, steps: 3, out: runDir }));
    assert.equal(result.runDir, runDir);
    assert.equal(result.exitCode, 0, `the task exited with ${result.exitCode}: see the task terminal and ${runDir}`);
    const lines = metricsLines(runDir);
    assert.deepEqual(
      lines.map((l) => l.step),
      [1, 2, 3],
      'metrics.jsonl should hold steps 1..3 (did the trainer run with the sample tokens?)',
    );
    assert.ok(lines.every((l) => Number.isFinite(l.loss)), 'a loss in metrics.jsonl is not a number');
    assert.equal(result.metricsForwarded, 3, 'the metrics watcher did not hand every line to the panel (PanelHub.appendMetrics)');
    assert.ok(existsSync(join(runDir, 'model.pt')), 'the trainer wrote no model.pt');
  });

  test('stopping the task ends the CLI and the Python trainer', async function () {
    this.timeout(180_000);
    const runDir = join(out, 'run-stopped');
    const pending = vscode.commands.executeCommand<TrainResult>('attentionReuse.train', { config, steps: 1_000_000, out: runDir });
    await until('the first metrics line', 120_000, () => metricsLines(runDir).length > 0);
    assert.ok(processesMentioning(runDir).length > 0, 'no process mentions the run folder while it trains');
    const execution = vscode.tasks.taskExecutions.find((e) => e.task.definition.type === 'attentionReuse.train');
    assert.ok(execution, 'the running training is not among vscode.tasks.taskExecutions');
    const stopped = Date.now();
    execution.terminate();
    const result = finished(await pending);
    assert.ok(Date.now() - stopped < 15_000, `the task took ${(Date.now() - stopped) / 1000} s to stop`);
    assert.notEqual(result.exitCode, 0, 'a stopped run should not report success');
    assert.ok(result.metricsForwarded >= 1, 'the lines written before the stop did not reach the panel');
    await until('every process of the run to end', 10_000, () => processesMentioning(runDir).length === 0);
  });

  test('the task provider offers workspace reuse configs as argument-array tasks under the host Node', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no workspace folder: the runner opens test/fixtures');
    const name = `provided-${process.pid}.reuse.json`;
    const file = join(folder.uri.fsPath, name);
    writeFileSync(file, readFileSync(config));
    try {
      const tasks = await vscode.tasks.fetchTasks({ type: 'attentionReuse.train' });
      const task = tasks.find((t) => t.definition.config === name);
      assert.ok(task, `no attentionReuse.train task for ${name} (found: ${tasks.map((t) => t.definition.config).join(', ') || 'none'})`);
      const execution = task.execution as vscode.ProcessExecution;
      assert.ok(execution instanceof vscode.ProcessExecution, 'the task should be a ProcessExecution (an argument array), not a shell line');
      assert.equal(execution.process, process.execPath, 'the CLI should run under the extension host\'s Node');
      assert.equal(execution.options?.env?.ELECTRON_RUN_AS_NODE, '1');
      const args = execution.args;
      assert.ok(args[0].endsWith(join('dist', 'cli.js')) && args[1] === 'train' && args[2] === file, `unexpected arguments: ${args.join(' ')}`);
      assert.equal(args[args.indexOf('--python') + 1], python, 'the task ignores attentionReuse.pythonPath');
      assert.equal(args[args.indexOf('--steps') + 1], '1000', 'the default step count should come from attentionReuse.training.steps');
      assert.ok(args[args.indexOf('--out') + 1].startsWith(join(out, 'runs')), 'runs should go under the output folder');
    } finally {
      rmSync(file, { force: true });
    }
  });

  test('train reports a broken config before any task starts', async () => {
    const broken = join(out, 'broken.reuse.json');
    writeFileSync(broken, '{"schema": "attention-reuse/config@1"}');
    const before = vscode.tasks.taskExecutions.length;
    const result = await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', { config: broken, steps: 1, out: join(out, 'never') });
    assert.ok(result && 'error' in result, 'a config without its fields should be refused before training');
    assert.equal(vscode.tasks.taskExecutions.length, before, 'a task was started for a broken config');
    assert.equal(existsSync(join(out, 'never')), false, 'a run folder was created for a broken config');
  });
});
