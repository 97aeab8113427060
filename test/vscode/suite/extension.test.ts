// Protects the extension inside a real VS Code: activation, command registration, and the
// ONNX parsing path running in the extension host on the sample model and a workspace file.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

const extensionId = 'attention-reuse.attention-reuse';

/** The parts of analysis/onnx/inspect.ts's InspectResult these tests read. */
interface InspectedModel {
  stacks: { name: string; kind: string; layers: { layer: number; tensor: string; heads: number | null }[] }[];
}

/** What test/fixtures/models/*.expected.json says about a model's attention. */
interface FixtureExpectation {
  stacks: { name: string; kind: string; layers: number; heads: number }[];
}

function shape(result: InspectedModel) {
  return result.stacks.map((s) => ({
    name: s.name,
    kind: s.kind,
    layers: s.layers.map((l) => l.layer),
    heads: s.layers.map((l) => l.heads),
  }));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

suite('Attention Reuse in the extension host', () => {
  suiteSetup(async () => {
    await vscode.extensions.getExtension(extensionId)?.activate();
  });

  test('activates and registers every contributed command', async () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is not loaded: extensionDevelopmentPath must be the repository root`);
    await extension.activate();
    assert.equal(extension.isActive, true, 'activate() resolved but the extension is not active');

    const registered = new Set(await vscode.commands.getCommands(true));
    const contributed: { command: string }[] = extension.packageJSON.contributes.commands;
    assert.ok(contributed.length > 0, 'package.json contributes no commands');
    for (const { command } of contributed) {
      assert.ok(registered.has(command), `${command} is in package.json but activate() did not register it`);
    }
  });

  test('inspectSample finds 4 layers x 4 heads of self-attention in the sample model', async () => {
    const result = await vscode.commands.executeCommand<InspectedModel | undefined>('attentionReuse.inspectSample');
    assert.ok(result, 'inspectSample returned nothing: see the "Attention Reuse" log (media/sample/model.onnx missing or unreadable?)');
    assert.deepEqual(
      shape(result),
      [{ name: 'encoder', kind: 'self', layers: range(4), heads: [4, 4, 4, 4] }],
      'the sample model is one 4-layer, 4-head encoder: stacks, layer order or head counts differ',
    );
    for (const layer of result.stacks[0].layers) {
      assert.ok(layer.tensor.length > 0, `layer ${layer.layer} has no attention tensor name`);
    }
  });

  test('inspectModel reads a workspace .onnx file through its Uri', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no workspace folder: the runner opens test/fixtures');
    const models = vscode.Uri.joinPath(folder.uri, 'models');
    const expected: FixtureExpectation = JSON.parse(
      new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(models, 'bert_opset13.expected.json'))),
    );
    const result = await vscode.commands.executeCommand<InspectedModel | undefined>(
      'attentionReuse.inspectModel',
      vscode.Uri.joinPath(models, 'bert_opset13.onnx'),
    );
    assert.ok(result, 'inspectModel returned nothing for bert_opset13.onnx: see the "Attention Reuse" log');
    assert.deepEqual(
      shape(result),
      expected.stacks.map((s) => ({ name: s.name, kind: s.kind, layers: range(s.layers), heads: range(s.layers).map(() => s.heads) })),
      'inspectModel disagrees with bert_opset13.expected.json (the fixture script wrote both)',
    );
  });

  test('inspectModel reports a file that is not ONNX instead of throwing', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'no workspace folder: the runner opens test/fixtures');
    const result = await vscode.commands.executeCommand<InspectedModel | undefined>(
      'attentionReuse.inspectModel',
      vscode.Uri.joinPath(folder.uri, 'models', 'not_onnx.onnx'),
    );
    assert.equal(result, undefined, 'a broken model should end in an error message, not a result');
  });
});
