// Protects the settings contract (defaults, enums and bounds as package.json declares them, read through one helper),
// the trust capability and the getting-started walkthrough's files and command links.
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AttentionReuseApi } from '../../../extension/api';

const extensionId = 'attention-reuse.attention-reuse';
const untrusted = process.env.VSCODE_TEST_UNTRUSTED === '1';

interface Property {
  type: string;
  default: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
}

/** The settings as the extension applies them, through the API activate() returns. */
const effective = async () => {
  const api = await vscode.extensions.getExtension<AttentionReuseApi>(extensionId)?.activate();
  assert.ok(api?.effectiveSettings, 'activate() returned no API with effectiveSettings (extension/api.ts)');
  return api.effectiveSettings();
};

/** Each setting as package.json must declare it; the extension applies the defaults when nothing is set. */
const expected: Record<string, Partial<Property>> = {
  'attentionReuse.executionProvider': { type: 'string', default: 'auto' },
  'attentionReuse.batchSize': { type: 'integer', default: 8, minimum: 1, maximum: 256 },
  'attentionReuse.examples': { type: 'integer', default: 200, minimum: 1, maximum: 1_000_000 },
  'attentionReuse.pythonPath': { type: 'string', default: '' },
  'attentionReuse.training.launcher': { type: 'string', default: 'python', enum: ['python', 'torchrun'] },
  'attentionReuse.training.processes': { type: 'integer', default: 2, minimum: 1, maximum: 64 },
  'attentionReuse.training.steps': { type: 'integer', default: 1000, minimum: 1, maximum: 1_000_000 },
  'attentionReuse.training.batchSize': { type: 'integer', default: 32, minimum: 1 },
  'attentionReuse.training.accumulate': { type: 'integer', default: 1, minimum: 1 },
  'attentionReuse.training.precision': { type: 'string', default: 'fp32', enum: ['fp32', 'bf16', 'fp16'] },
  'attentionReuse.training.norm': { type: 'string', default: 'post', enum: ['post', 'pre'] },
  'attentionReuse.training.position': { type: 'string', default: 'absolute', enum: ['absolute', 'relative'] },
  'attentionReuse.training.evalEvery': { type: 'integer', default: 200, minimum: 0 },
  'attentionReuse.training.evalBatches': { type: 'integer', default: 20, minimum: 1 },
  'attentionReuse.training.maxMinutes': { type: 'number', default: 0, minimum: 0 },
  'attentionReuse.training.heldOut': { type: 'number', default: 0.01, minimum: 0, maximum: 0.5 },
  'attentionReuse.outputFolder': { type: 'string', default: '' },
};

/** The field of `Settings` a key is read into: its last part, but training.batchSize is trainBatchSize. */
const field = (key: string) => (key === 'attentionReuse.training.batchSize' ? 'trainBatchSize' : key.split('.').pop()!);

(untrusted ? suite.skip : suite)('Settings, trust capability and walkthrough', () => {
  let pkg: {
    contributes: {
      configuration: { properties: Record<string, Property> };
      walkthroughs: { id: string; steps: { id: string; title: string; description: string; media: { markdown?: string } }[] }[];
    };
    capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
  };
  let root = '';
  const config = () => vscode.workspace.getConfiguration('attentionReuse');

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is not loaded`);
    await extension.activate();
    pkg = extension.packageJSON;
    root = extension.extensionPath;
  });

  test('every setting is declared with a default, and numbers and choices with their bounds', () => {
    const props = pkg.contributes.configuration.properties;
    for (const [key, want] of Object.entries(expected)) {
      assert.ok(props[key], `${key} is not declared in package.json`);
      for (const [field, value] of Object.entries(want)) assert.deepEqual(props[key][field as keyof Property], value, `${key}.${field}`);
    }
  });

  test('the helper reads the defaults; an empty python path falls back to python3 without the Python extension', async () => {
    const e = await effective();
    assert.deepEqual(e.settings, Object.fromEntries(Object.entries(expected).map(([key, p]) => [field(key), p.default])));
    if (!vscode.extensions.getExtension('ms-python.python')) assert.deepEqual(e.python, { path: 'python3', from: 'default' });
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no workspace folder: the runner opens test/fixtures');
    assert.equal(
      e.outputFolder,
      join(folder.uri.fsPath, '.attention-reuse'),
      'the default output folder is .attention-reuse/ in the workspace',
    );
  });

  test('values outside their bounds or enums are clamped or replaced by the default', async () => {
    const set = (key: string, value: unknown) => config().update(key, value, vscode.ConfigurationTarget.Global);
    const changes: [string, unknown][] = [
      ['training.processes', 100],
      ['training.steps', 0],
      ['training.launcher', 'mpirun'],
      ['batchSize', 1000],
      ['examples', 12.6],
      ['executionProvider', 'tpu'],
      ['pythonPath', '  /opt/py/bin/python  '],
      ['outputFolder', 'runs-here'],
    ];
    try {
      for (const [key, value] of changes) await set(key, value);
      const e = await effective();
      assert.equal(e.settings.processes, 64, 'training.processes should be clamped to its maximum');
      assert.equal(e.settings.steps, 1, 'training.steps should be clamped to its minimum');
      assert.equal(e.settings.launcher, 'python', 'an unknown launcher should fall back to the default');
      assert.equal(e.settings.batchSize, 256);
      assert.equal(e.settings.examples, 13, 'an integer setting should be rounded');
      assert.equal(e.settings.executionProvider, 'auto');
      assert.deepEqual(e.python, { path: '/opt/py/bin/python', from: 'setting' });
      assert.equal(
        e.outputFolder,
        join(vscode.workspace.workspaceFolders![0].uri.fsPath, 'runs-here'),
        'a relative output folder is taken from the workspace folder',
      );
    } finally {
      for (const [key] of changes) await set(key, undefined);
    }
  });

  test('package.json declares limited support for untrusted workspaces and restricts the interpreter setting', () => {
    const trust = pkg.capabilities.untrustedWorkspaces;
    assert.equal(trust.supported, 'limited');
    for (const key of ['attentionReuse.pythonPath', 'attentionReuse.training.launcher', 'attentionReuse.outputFolder']) {
      assert.ok(trust.restrictedConfigurations.includes(key), `${key} should not take workspace values in Restricted Mode`);
    }
    assert.equal(vscode.workspace.isTrusted, true, 'this suite runs with workspace trust disabled (the untrusted run has its own suite)');
  });

  test('the walkthrough has its four steps, their markdown, and buttons that run registered commands', async () => {
    const walkthrough = pkg.contributes.walkthroughs[0];
    assert.ok(walkthrough, 'package.json contributes no walkthrough');
    const titles = walkthrough.steps.map((s) => s.title);
    for (const title of ['Analyze the sample model', 'Read the heatmap', 'Plan reuse', 'Train']) {
      assert.ok(titles.includes(title), `the walkthrough has no step "${title}" (has: ${titles.join(', ')})`);
    }
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const step of walkthrough.steps) {
      assert.ok(step.media.markdown && existsSync(join(root, step.media.markdown)), `step ${step.id}: ${step.media.markdown} is missing`);
      const links = [...step.description.matchAll(/\(command:([\w.]+)\)/g)].map((m) => m[1]);
      assert.ok(links.length > 0, `step ${step.id} has no button`);
      for (const command of links) assert.ok(registered.has(command), `step ${step.id} links to ${command}, which is not registered`);
    }
    assert.equal(
      walkthrough.steps[0].description.includes('command:attentionReuse.analyzeSample'),
      true,
      'the first step should analyze the sample',
    );
    await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${extensionId}#${walkthrough.id}`, false);
  });
});
