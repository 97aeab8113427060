// Protects Restricted Mode (run with `npm run test:vscode:untrusted`, which starts code-server with workspace trust on):
// analysis and planning of the bundled sample work, training is refused with a message and offers no tasks.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

const extensionId = 'attention-reuse.attention-reuse';
const untrusted = process.env.VSCODE_TEST_UNTRUSTED === '1';

type TrainResult = { refused: string } | { error: string } | { exitCode: number | undefined } | undefined;

/**
 * What the extension asks of vscode.tasks (and which commands it registers) while it activates. VS Code holds
 * vscode.tasks.fetchTasks in Restricted Mode until the user answers a trust prompt (which the
 * test driver never shows), so "no tasks are offered" is observed where it is decided: the
 * extension must not register a task provider. This file loads before any suite activates the
 * extension, and the extension's tests share its vscode API object.
 */
const taskCalls: string[] = [];
if (untrusted) {
  // registerCommand is the witness that the extension's activation goes through this API object.
  const watch = (namespace: object, name: string) => {
    const api = namespace as Record<string, (...args: unknown[]) => unknown>;
    const original = api[name];
    api[name] = (...args: unknown[]) => {
      taskCalls.push(`${name}(${typeof args[0] === 'string' ? args[0] : ''})`);
      return original.apply(namespace, args);
    };
  };
  watch(vscode.tasks, 'registerTaskProvider');
  watch(vscode.commands, 'registerCommand');
}

(untrusted ? suite : suite.skip)('Restricted Mode (untrusted workspace)', () => {
  suiteSetup(async () => {
    await vscode.extensions.getExtension(extensionId)?.activate();
  });

  test('the workspace is untrusted and the extension is active in limited mode', () => {
    assert.equal(vscode.workspace.isTrusted, false, 'the runner should start code-server without --disable-workspace-trust for this suite');
    assert.equal(
      vscode.extensions.getExtension(extensionId)?.isActive,
      true,
      'the extension should activate in Restricted Mode (capabilities.untrustedWorkspaces.supported = limited)',
    );
  });

  test('train is refused with a message that says why and what to do', async () => {
    const result = await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', {
      config: '/nonexistent/x.reuse.json',
      steps: 1,
    });
    assert.ok(result && 'refused' in result, `train should be refused before it looks at its arguments, got ${JSON.stringify(result)}`);
    assert.match(result.refused, /Restricted Mode/, 'the message should name Restricted Mode');
    assert.match(result.refused, /[Tt]rust this workspace/, 'the message should say how to allow training');
    assert.ok(
      !vscode.tasks.taskExecutions.some((e) => e.task.definition.type === 'attentionReuse.train'),
      'a training task started anyway',
    );
  });

  test('no training tasks are offered: the extension registers no task provider', () => {
    assert.ok(
      taskCalls.includes('registerCommand(attentionReuse.train)'),
      `the extension's activation never went through this API object (${taskCalls.length} calls seen, none registering attentionReuse.train): the check below would prove nothing`,
    );
    assert.deepEqual(
      taskCalls.filter((c) => c.startsWith('registerTaskProvider')),
      [],
      'Restricted Mode registered a task provider (TrainTasks must wait for onDidGrantWorkspaceTrust)',
    );
  });

  test('the sample model is analyzed and planned in Restricted Mode', async function () {
    this.timeout(120_000);
    const shown = await vscode.commands.executeCommand<{ path?: string } | undefined>('attentionReuse.analyzeSample');
    assert.ok(shown?.path, 'analyzeSample should work in Restricted Mode: see the "Attention Reuse" log');
    const planned = await vscode.commands.executeCommand<{ plans: { pareto: number[] }[] } | undefined>('attentionReuse.planReuse', {
      analysisPath: shown.path,
    });
    assert.ok(planned && planned.plans[0].pareto.length > 0, 'planning should work in Restricted Mode');
  });
});
