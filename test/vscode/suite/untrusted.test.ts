// Protects Restricted Mode (run with `npm run test:vscode:untrusted`, which starts code-server with workspace trust on):
// analysis and planning of the bundled sample work, training is refused with a message and offers no tasks.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

const extensionId = 'attention-reuse.attention-reuse';
const untrusted = process.env.VSCODE_TEST_UNTRUSTED === '1';

type TrainResult = { refused: string } | { error: string } | { exitCode: number | undefined } | undefined;

(untrusted ? suite : suite.skip)('Restricted Mode (untrusted workspace)', () => {
  suiteSetup(async () => {
    await vscode.extensions.getExtension(extensionId)?.activate();
  });

  test('the workspace is untrusted and the extension is active in limited mode', () => {
    assert.equal(vscode.workspace.isTrusted, false, 'the runner should start code-server without --disable-workspace-trust for this suite');
    assert.equal(vscode.extensions.getExtension(extensionId)?.isActive, true, 'the extension should activate in Restricted Mode (capabilities.untrustedWorkspaces.supported = limited)');
  });

  test('train is refused with a message that says why and what to do', async () => {
    const result = await vscode.commands.executeCommand<TrainResult>('attentionReuse.train', { config: '/nonexistent/x.reuse.json', steps: 1 });
    assert.ok(result && 'refused' in result, `train should be refused before it looks at its arguments, got ${JSON.stringify(result)}`);
    assert.match(result.refused, /Restricted Mode/, 'the message should name Restricted Mode');
    assert.match(result.refused, /[Tt]rust this workspace/, 'the message should say how to allow training');
    assert.ok(!vscode.tasks.taskExecutions.some((e) => e.task.definition.type === 'attentionReuse.train'), 'a training task started anyway');
  });

  test('no training tasks are offered', async () => {
    // The workbench holds task queries until the folder is trusted; if it answers, the answer must be empty.
    const answer = await Promise.race([
      vscode.tasks.fetchTasks({ type: 'attentionReuse.train' }).then(
        (tasks) => tasks.map((t) => t.name),
        () => [],
      ),
      new Promise<'held'>((resolve) => setTimeout(() => resolve('held'), 5000)),
    ]);
    if (answer !== 'held') assert.deepEqual(answer, [], 'Restricted Mode should offer no training tasks');
  });

  test('the sample model is analyzed and planned in Restricted Mode', async function () {
    this.timeout(120_000);
    const shown = await vscode.commands.executeCommand<{ path?: string } | undefined>('attentionReuse.analyzeSample');
    assert.ok(shown?.path, 'analyzeSample should work in Restricted Mode: see the "Attention Reuse" log');
    const planned = await vscode.commands.executeCommand<{ plans: { pareto: number[] }[] } | undefined>('attentionReuse.planReuse', { analysisPath: shown.path });
    assert.ok(planned && planned.plans[0].pareto.length > 0, 'planning should work in Restricted Mode');
  });
});
