// Protects a first-time user's day in the real extension host: a .onnx file opens in the model summary editor (an
// analysis file still opens as JSON unless asked), Inspect shows its result there, a model the tool cannot read is
// refused in words before any input is asked for, analyses are saved in the output folder under a name of model and
// time without replacing an earlier one, and a second analysis while one runs is refused.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import type { AttentionReuseApi } from '../../../extension/api';

const extensionId = 'attention-reuse.attention-reuse';

/** The view type of the active editor tab, or "text" for a text editor. */
function activeTab(): string {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputCustom) return input.viewType;
  if (input instanceof vscode.TabInputText) return 'text';
  return String(input);
}

/** Resolves with the command's result, or "asked" when it still waits (for a quick pick or dialog) after `ms`. */
async function unlessItAsks<T>(work: Thenable<T>, ms: number): Promise<T | 'asked'> {
  const result = await Promise.race([Promise.resolve(work), new Promise<'asked'>((resolve) => setTimeout(() => resolve('asked'), ms))]);
  if (result === 'asked') await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
  return result;
}

suite("A first-time user's day", () => {
  let api: AttentionReuseApi;
  let models: vscode.Uri;
  const out = mkdtempSync(join(tmpdir(), 'first-day-'));
  const settings = () => vscode.workspace.getConfiguration('attentionReuse');

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension<AttentionReuseApi>(extensionId);
    assert.ok(extension, `${extensionId} is not loaded`);
    api = await extension.activate();
    models = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'models');
    // Restricted Mode reads this setting from the user level only: the Global target works in both suites.
    await settings().update('outputFolder', out, vscode.ConfigurationTarget.Global);
  });

  suiteTeardown(async () => {
    await settings().update('outputFolder', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('a .onnx file opens in the model summary editor; an analysis file opens as JSON unless asked', async () => {
    await vscode.commands.executeCommand('vscode.open', vscode.Uri.joinPath(models, 'bert_opset17.onnx'));
    assert.equal(activeTab(), 'attentionReuse.model', 'the summary editor should be the default for *.onnx');
    const analysis = vscode.Uri.file(join(out, 'opened.analysis.json'));
    await vscode.workspace.fs.writeFile(analysis, new TextEncoder().encode('{}'));
    await vscode.commands.executeCommand('vscode.open', analysis);
    assert.equal(activeTab(), 'text', 'an analysis file must still open in the JSON editor by default');
    await vscode.commands.executeCommand('vscode.openWith', analysis, 'attentionReuse.analysis');
    assert.equal(activeTab(), 'attentionReuse.analysis', '"Open With… › Attention Reuse Panel" should be offered');
    const status = api.runStatus();
    assert.equal(status?.state, 'failed', 'a file that is not an analysis should be said to be one in the panel');
    assert.match(status.message ?? '', /opened\.analysis\.json is not a valid attention-reuse\/analysis@1 file/);
  });

  test('Inspect Attention Tensors shows its result in the summary editor', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const result = await vscode.commands.executeCommand<{ stacks: unknown[] } | undefined>(
      'attentionReuse.inspectModel',
      vscode.Uri.joinPath(models, 'no_attention.onnx'),
    );
    assert.equal(result, undefined, 'a model without attention has no result to return');
    assert.equal(activeTab(), 'attentionReuse.model', 'the result (here: why there is none) must be visible, not only in the log');
  });

  test('Analyze Attention refuses a fused-attention model before asking for inputs, and the panel holds the whole message', async function () {
    this.timeout(30_000);
    const result = await unlessItAsks(
      vscode.commands.executeCommand('attentionReuse.analyzeModel', vscode.Uri.joinPath(models, 'fused_attention.onnx')),
      10_000,
    );
    assert.notEqual(result, 'asked', 'the model should be checked before the examples are asked for');
    assert.equal(result, undefined);
    const status = api.runStatus();
    assert.equal(status?.state, 'failed');
    assert.match(
      status.message ?? '',
      /^Attention is fused into one op\. .*fused_attention\.onnx uses fused attention \(com\.microsoft\.Attention ×1\).*attn_implementation="eager"/,
    );
    assert.ok((status.hints ?? []).length >= 2, 'the panel should say what to do next');
  });

  test('analyses are saved in the output folder, named after model and time, never over an earlier one', async function () {
    this.timeout(120_000);
    const first = await vscode.commands.executeCommand<{ path?: string } | undefined>('attentionReuse.analyzeSample');
    assert.ok(first?.path, 'analyzeSample failed: see the "Attention Reuse" log');
    assert.equal(first.path, join(out, 'analyses', basename(first.path)), 'analyses go to analyses/ of attentionReuse.outputFolder');
    assert.match(basename(first.path), /^sample-model-\d{8}-\d{6}(-\d+)?\.analysis\.json$/);
    const firstBytes = readFileSync(first.path, 'utf8');
    const firstTime = statSync(first.path).mtimeMs;
    const second = await vscode.commands.executeCommand<{ path?: string } | undefined>('attentionReuse.analyzeSample');
    assert.ok(second?.path && second.path !== first.path, 'a second analysis must get its own file');
    assert.equal(readFileSync(first.path, 'utf8'), firstBytes, 'the earlier analysis must stay as it was');
    assert.equal(statSync(first.path).mtimeMs, firstTime);
    assert.equal(api.runStatus(), null, 'a finished analysis clears the status');
  });

  test('a second analysis while one runs is refused, and the first finishes', async function () {
    this.timeout(120_000);
    const running = vscode.commands.executeCommand<{ path?: string } | undefined>('attentionReuse.analyzeSample');
    // The model is checked first; the run starts after that.
    for (let i = 0; i < 100 && api.runStatus()?.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(api.runStatus()?.state, 'running', 'the first analysis should be running');
    const refused = await vscode.commands.executeCommand('attentionReuse.analyzeSample');
    assert.equal(refused, undefined, 'the second analysis must not run beside the first');
    assert.ok((await running)?.path, 'the first analysis should finish undisturbed');
  });
});
