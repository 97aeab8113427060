// Protects SettingsReader outside VS Code: defaults, enums and bounds as package.json declares them, Restricted Mode and the resolved paths.
import { fake, fakeContext, FakeUri, recordingLog } from '../helpers/vscodeStandIn';
import { strict as assert } from 'node:assert';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { SettingsReader } from '../../extension/settings';

function reader(log = recordingLog()): SettingsReader {
  return new SettingsReader(
    fakeContext('/global-storage') as unknown as vscode.ExtensionContext,
    log as unknown as vscode.LogOutputChannel,
  );
}

describe('SettingsReader', () => {
  beforeEach(() => fake.reset());

  it('reads the declared defaults', () => {
    assert.deepEqual(reader().read(), {
      executionProvider: 'auto',
      batchSize: 8,
      examples: 200,
      pythonPath: '',
      launcher: 'python',
      processes: 2,
      steps: 1000,
      trainBatchSize: 32,
      accumulate: 1,
      precision: 'fp32',
      norm: 'post',
      position: 'absolute',
      evalEvery: 200,
      evalBatches: 20,
      maxMinutes: 0,
      heldOut: 0.01,
      outputFolder: '',
    });
  });

  it('clamps numbers to their bounds, rounds integers and replaces values outside an enum by the default, warning once each', () => {
    const log = recordingLog();
    const settings = reader(log);
    fake.workspaceValues.set('attentionReuse.batchSize', 1000);
    fake.workspaceValues.set('attentionReuse.examples', 12.6);
    fake.workspaceValues.set('attentionReuse.training.steps', 0);
    fake.workspaceValues.set('attentionReuse.executionProvider', 'tpu');
    fake.workspaceValues.set('attentionReuse.training.launcher', 'mpirun');
    fake.workspaceValues.set('attentionReuse.training.processes', '4');
    const s = settings.read();
    assert.equal(s.batchSize, 256, 'batchSize should be clamped to its maximum');
    assert.equal(s.examples, 13, 'an integer setting should be rounded');
    assert.equal(s.steps, 1, 'training.steps should be clamped to its minimum');
    assert.equal(s.executionProvider, 'auto', 'an unknown provider should fall back to the default');
    assert.equal(s.launcher, 'python');
    assert.equal(s.processes, 2, 'a string where a number belongs should fall back to the default');
    settings.read();
    const warnings = log.lines.filter((l) => l.startsWith('warn settings: '));
    assert.equal(warnings.length, 6, `each bad value should be reported once, not on every read:\n${log.lines.join('\n')}`);
    assert.ok(
      warnings.some((w) => w.includes('attentionReuse.executionProvider must be one of auto, cpu')),
      'the warning should name the setting and its choices',
    );
  });

  it('refuses to read a setting package.json does not declare', () => {
    assert.throws(() => reader().value('notASetting'), /attentionReuse\.notASetting is not declared in package\.json/);
  });

  it('in Restricted Mode takes the interpreter, launcher and output folder from user settings only', () => {
    fake.trusted = false;
    fake.workspaceValues.set('attentionReuse.pythonPath', '/workspace/evil/python');
    fake.workspaceValues.set('attentionReuse.training.launcher', 'torchrun');
    fake.globalValues.set('attentionReuse.outputFolder', '/users/choice');
    fake.workspaceValues.set('attentionReuse.outputFolder', '/workspace/choice');
    fake.workspaceValues.set('attentionReuse.batchSize', 4);
    const s = reader().read();
    assert.equal(s.pythonPath, '', 'a workspace must not choose the interpreter in Restricted Mode');
    assert.equal(s.launcher, 'python');
    assert.equal(s.outputFolder, '/users/choice', "the user's own value still counts");
    assert.equal(s.batchSize, 4, 'settings outside restrictedConfigurations keep their workspace value');
  });

  it('resolves the output folder: absolute, relative to the workspace folder, the default there, or global storage', () => {
    const settings = reader();
    assert.equal(settings.outputFolder(), '/global-storage', 'without a folder, configs go to the extension storage');
    fake.folders = [{ uri: FakeUri.file('/ws'), name: 'ws', index: 0 }];
    assert.equal(settings.outputFolder(), join('/ws', '.attention-reuse'));
    fake.workspaceValues.set('attentionReuse.outputFolder', '  runs-here ');
    assert.equal(settings.outputFolder(), join('/ws', 'runs-here'), 'a relative folder is taken from the workspace folder (and trimmed)');
    fake.workspaceValues.set('attentionReuse.outputFolder', '~/reuse');
    assert.equal(settings.outputFolder(), join(homedir(), 'reuse'), '~ is the home folder');
  });

  it('resolves the interpreter from the setting, else python3 without the Python extension', async () => {
    const settings = reader();
    assert.deepEqual(await settings.resolvePython(), { path: 'python3', from: 'default' });
    fake.globalValues.set('attentionReuse.pythonPath', '  /opt/py/bin/python  ');
    const effective = await settings.effective();
    assert.deepEqual(effective.python, { path: '/opt/py/bin/python', from: 'setting' });
    assert.equal(effective.settings.pythonPath, '/opt/py/bin/python');
  });
});
