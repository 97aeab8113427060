// Protects the commands as a user runs them, without arguments: Plan Reuse's candidate list and save dialog
// (recommended candidate first, <model>.reuse.json in the output folder), then Train Reuse Model on the config in the active editor.
// The quick inputs (the web workbench's save dialog is one too) are answered with the workbench's own accept commands.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';

const extensionId = 'attention-reuse.attention-reuse';
const untrusted = process.env.VSCODE_TEST_UNTRUSTED === '1';
const python = process.env.ATTENTION_REUSE_TEST_PYTHON ?? '/usr/bin/python3';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Presses Enter in each quick input as it appears, until `work` settles (then closes whatever is left open). */
async function answerWithDefaults<T>(work: Thenable<T>, limitMs: number): Promise<T> {
  let settled = false;
  const result = Promise.resolve(work).finally(() => (settled = true));
  const end = Date.now() + limitMs;
  while (!settled && Date.now() < end) {
    await pause(700);
    if (!settled) await vscode.commands.executeCommand('quickInput.accept');
  }
  if (!settled) {
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    assert.fail(`the command still waited for input after ${limitMs / 1000} s`);
  }
  return result;
}

(untrusted ? suite.skip : suite)('Plan and train as a user does, with the defaults', () => {
  const out = mkdtempSync(join(tmpdir(), 'interactive-'));
  const settings = () => vscode.workspace.getConfiguration('attentionReuse');

  suiteSetup(async function () {
    this.timeout(120_000);
    await vscode.extensions.getExtension(extensionId)?.activate();
    await settings().update('outputFolder', out, vscode.ConfigurationTarget.Global);
    await settings().update('pythonPath', python, vscode.ConfigurationTarget.Global);
    await settings().update('training.steps', 2, vscode.ConfigurationTarget.Global);
    // The shown analysis is what Plan Reuse plans when it is given nothing.
    assert.ok(await vscode.commands.executeCommand('attentionReuse.analyzeSample'), 'analyzeSample failed');
  });

  suiteTeardown(async () => {
    for (const key of ['outputFolder', 'pythonPath', 'training.steps'])
      await settings().update(key, undefined, vscode.ConfigurationTarget.Global);
  });

  test('Plan Reuse → the recommended candidate → model.reuse.json in the output folder, opened', async function () {
    this.timeout(60_000);
    const result = await answerWithDefaults(
      vscode.commands.executeCommand<{
        plans: { recommended: number | null; pareto: number[]; candidates: { mode: string; P: number; K: number }[] }[];
      }>('attentionReuse.planReuse'),
      30_000,
    );
    const target = join(out, 'model.reuse.json');
    assert.ok(existsSync(target), `accepting the defaults should write ${target}`);
    const plan = result.plans[0] as { recommended: number | null; pareto: number[]; candidates: { mode: string; P: number; K: number }[] };
    // The list starts with the recommendation, or the Pareto front where none reaches the FLOPs target.
    const recommended = plan.candidates[plan.recommended ?? [...plan.pareto].sort((a, b) => a - b)[0]];
    const config = JSON.parse(readFileSync(target, 'utf8')) as { mode: string; P: number; K: number };
    assert.deepEqual(
      [config.mode, config.P, config.K],
      [recommended.mode, recommended.P, recommended.K],
      'the first item of the list should be the recommended candidate',
    );
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, target, 'the written config should be open');
  });

  test('Train Reuse Model trains the config in the active editor on the sample, with the step setting', async function () {
    this.timeout(180_000);
    const config = join(out, 'model.reuse.json');
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, config, 'the previous test should leave the config open');
    const result = await answerWithDefaults(
      vscode.commands.executeCommand<{ runDir: string; exitCode: number | undefined; metricsForwarded: number }>('attentionReuse.train'),
      150_000,
    );
    assert.ok(result && 'runDir' in result, `train did not run: ${JSON.stringify(result)}`);
    assert.ok(
      result.runDir.startsWith(join(out, 'runs', 'model-')),
      `the run should go under runs/ of the output folder, not ${result.runDir}`,
    );
    assert.equal(result.exitCode, 0, `training exited with ${result.exitCode}`);
    assert.equal(result.metricsForwarded, 2, 'attentionReuse.training.steps = 2 should give two metrics lines');
  });
});
