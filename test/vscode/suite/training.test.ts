// Protects "Train Reuse Model" as a VS Code task: the CLI runs under the extension host's Node from an argument array
// with the task's trainer options, finishes with exit code 0, its metrics reach the panel while it runs; "Terminate Task"
// and "Cancel Training" (the status bar's command) let the trainer save a checkpoint and end as "cancelled" (exit 130);
// a --max-minutes stop says it left no model.pt; a refusal by the trainer and a batch that cannot be split are worded.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AttentionReuseApi } from '../../../extension/api';

const extensionId = 'attention-reuse.attention-reuse';
const untrusted = process.env.VSCODE_TEST_UNTRUSTED === '1';
/** Debian's interpreter with python3-torch (TOOLING.md); the pyenv python3 on PATH has no torch. */
const python = process.env.ATTENTION_REUSE_TEST_PYTHON ?? '/usr/bin/python3';

type Finished = { runDir: string; exitCode: number | undefined; metricsForwarded: number; state: string; message: string };
type TrainResult = Finished | { refused: string } | { error: string } | undefined;

function finished(result: TrainResult): Finished {
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

const api = () => vscode.extensions.getExtension<AttentionReuseApi>(extensionId)!.exports;

/** The training task that runs now. */
function running(): vscode.TaskExecution {
  const execution = vscode.tasks.taskExecutions.find((e) => e.task.definition.type === 'attentionReuse.train');
  assert.ok(execution, 'the running training is not among vscode.tasks.taskExecutions');
  return execution;
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
    assert.equal(result.exitCode, 0, `the task exited with ${result.exitCode}: ${result.message}`);
    assert.equal(result.state, 'finished');
    assert.equal(result.message, `Training finished; the model is in ${runDir}.`);
    const lines = metricsLines(runDir);
    assert.deepEqual(
      lines.map((l) => l.step),
      [1, 2, 3],
      'metrics.jsonl should hold steps 1..3 (did the trainer run with the sample tokens?)',
    );
    assert.ok(
      lines.every((l) => Number.isFinite(l.loss)),
      'a loss in metrics.jsonl is not a number',
    );
    assert.equal(result.metricsForwarded, 3, 'the metrics watcher did not hand every line to the panel (PanelHub.appendMetrics)');
    assert.ok(existsSync(join(runDir, 'model.pt')), 'the trainer wrote no model.pt');
    assert.equal(api().trainingRun(runDir)?.state, 'finished', 'the panel was not told how the run ended');
  });

  for (const [how, stop] of [
    ['Terminate Task', () => running().terminate()],
    ['the status bar’s "Cancel Training"', () => vscode.commands.executeCommand('attentionReuse.cancelTraining')],
  ] as const) {
    test(`${how} lets the trainer save a checkpoint: the run ends "cancelled" with exit code 130 and no process left`, async function () {
      this.timeout(180_000);
      const runDir = join(out, `run-stopped-${how.length}`);
      const pending = vscode.commands.executeCommand<TrainResult>('attentionReuse.train', { config, steps: 1_000_000, out: runDir });
      await until('the first metrics line', 120_000, () => metricsLines(runDir).length > 0);
      assert.ok(processesMentioning(runDir).length > 0, 'no process mentions the run folder while it trains');
      assert.equal(api().trainingRun(runDir)?.state, 'running');
      const stopped = Date.now();
      await stop();
      const result = finished(await pending);
      assert.ok(Date.now() - stopped < 15_000, `the task took ${(Date.now() - stopped) / 1000} s to stop`);
      assert.equal(result.exitCode, 130, `a cancelled trainer exits 130 after its checkpoint; got ${result.exitCode}: ${result.message}`);
      assert.equal(result.state, 'cancelled');
      assert.match(result.message, /^Training cancelled after step \d+ of 1000000; its checkpoint at step \d+ is saved/);
      assert.ok(!/none/.test(result.message), 'the message must not read "exit code none"');
      const status = JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8')) as { state: string };
      assert.equal(status.state, 'interrupted', 'the trainer did not stop through its SIGTERM handler');
      assert.ok(existsSync(join(runDir, 'checkpoint.pt')), 'no checkpoint after a cancel');
      assert.ok(result.metricsForwarded >= 1, 'the lines written before the stop did not reach the panel');
      assert.equal(api().trainingRun(runDir)?.state, 'cancelled');
      assert.equal(api().trainingRun(runDir)?.canResume, true, 'a cancelled run with a checkpoint can be resumed from the panel');
      await until('every process of the run to end', 10_000, () => processesMentioning(runDir).length === 0);
    });
  }

  test('a cancelled run resumes from its checkpoint with "resume": true, and its metrics keep one line per step', async function () {
    this.timeout(180_000);
    const runDir = join(out, `run-stopped-${'Terminate Task'.length}`);
    const before = metricsLines(runDir).length;
    assert.ok(before > 0 && existsSync(join(runDir, 'checkpoint.pt')), 'the Terminate Task test left no run to resume');
    const steps = before + 2;
    const result = finished(
      await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', { config, steps, resume: true, out: runDir }),
    );
    assert.equal(result.state, 'finished', result.message);
    assert.deepEqual(
      metricsLines(runDir).map((l) => l.step),
      Array.from({ length: steps }, (_, i) => i + 1),
      'a resumed run continues after its checkpoint: each step once',
    );
  });

  test('a --max-minutes stop exits 0 without model.pt, and the message says so', async function () {
    this.timeout(180_000);
    const runDir = join(out, 'run-time-limit');
    const result = finished(
      await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', {
        config,
        steps: 100_000,
        maxMinutes: 0.0001,
        out: runDir,
      }),
    );
    assert.equal(result.exitCode, 0);
    assert.equal(result.state, 'time-limit', `status.json was not read: ${result.message}`);
    assert.match(
      result.message,
      /^Training stopped at its time limit \(0\.0001 min\) after step \d+ of 100000, without model\.pt; its checkpoint at step \d+ is saved/,
    );
    assert.equal(existsSync(join(runDir, 'model.pt')), false);
  });

  test('a run the trainer refuses ends "failed" with its reason and last lines', async function () {
    this.timeout(180_000);
    const runDir = join(out, 'run-fp16');
    const result = finished(
      await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', { config, steps: 2, precision: 'fp16', out: runDir }),
    );
    assert.equal(result.exitCode, 2);
    assert.equal(result.state, 'failed');
    assert.match(result.message, /^Training was refused \(exit code 2\): .*fp16 needs CUDA/);
    assert.ok((api().trainingRun(runDir)?.logTail.length ?? 0) > 0, 'the panel must get the last lines of the output');
  });

  test('a batch that does not split over processes × micro-batches is refused before a task starts, naming the settings', async () => {
    const before = vscode.tasks.taskExecutions.length;
    const result = await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', {
      config,
      batchSize: 30,
      accumulate: 4,
      out: join(out, 'never-split'),
    });
    assert.ok(result && 'error' in result, 'a batch of 30 over 4 micro-batches should be refused');
    assert.match(result.error, /attentionReuse\.training\.accumulate/);
    assert.equal(vscode.tasks.taskExecutions.length, before, 'a task was started anyway');
  });

  test('the task provider offers workspace reuse configs, run by the host Node from an argument array with the settings', async function () {
    this.timeout(120_000);
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no workspace folder: the runner opens test/fixtures');
    const name = `provided-${process.pid}.reuse.json`;
    const file = join(folder.uri.fsPath, name);
    writeFileSync(file, readFileSync(config));
    await settings().update('training.batchSize', 16, vscode.ConfigurationTarget.Global);
    try {
      const tasks = await vscode.tasks.fetchTasks({ type: 'attentionReuse.train' });
      const task = tasks.find((t) => t.definition.config === name);
      assert.ok(task, `no attentionReuse.train task for ${name} (found: ${tasks.map((t) => t.definition.config).join(', ') || 'none'})`);
      assert.ok(
        task.execution instanceof vscode.CustomExecution,
        'the task runs in a terminal the extension drives (a stop must reach the trainer as SIGTERM)',
      );
      const execution = await vscode.tasks.executeTask(task);
      // The CLI's own command line, as the kernel has it: an argument array, not a shell line.
      const pid = await until('the CLI process', 30_000, () =>
        processesMentioning(file).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('cli.js')),
      );
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      execution.terminate();
      assert.equal(args[0], process.execPath, "the CLI should run under the extension host's Node");
      assert.ok(env.includes('ELECTRON_RUN_AS_NODE=1'));
      assert.ok(
        args[1].endsWith(join('dist', 'cli.js')) && args[2] === 'train' && args[3] === file,
        `unexpected arguments: ${args.join(' ')}`,
      );
      const flag = (f: string) => args[args.indexOf(f) + 1];
      assert.equal(flag('--python'), python, 'the task ignores attentionReuse.pythonPath');
      assert.equal(flag('--steps'), '1000', 'the default step count should come from attentionReuse.training.steps');
      assert.equal(flag('--batch-size'), '16', 'the batch should come from attentionReuse.training.batchSize');
      assert.ok(flag('--out').startsWith(join(out, 'runs')), 'runs should go under the output folder');
      await until('the provided run to end', 30_000, () => processesMentioning(file).length === 0);
    } finally {
      await settings().update('training.batchSize', undefined, vscode.ConfigurationTarget.Global);
      rmSync(file, { force: true });
    }
  });

  test('train reports a broken config before any task starts', async () => {
    const broken = join(out, 'broken.reuse.json');
    writeFileSync(broken, '{"schema": "attention-reuse/config@1"}');
    const before = vscode.tasks.taskExecutions.length;
    const result = await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', {
      config: broken,
      steps: 1,
      out: join(out, 'never'),
    });
    assert.ok(result && 'error' in result, 'a config without its fields should be refused before training');
    assert.equal(vscode.tasks.taskExecutions.length, before, 'a task was started for a broken config');
    assert.equal(existsSync(join(out, 'never')), false, 'a run folder was created for a broken config');
  });
});
