// Protects the editor's semantic checks of *.reuse.json files: contradictions the JSON Schema cannot express show as one error on the named field.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';

const extensionId = 'attention-reuse.attention-reuse';
const untrusted = process.env.VSCODE_TEST_UNTRUSTED === '1';
const source = 'Attention Reuse';

type HeadRole = 'exact' | 'skip' | { reuse: { layer: number; head: number } };

interface ConfigShape {
  P: number;
  heads: HeadRole[][];
  [key: string]: unknown;
}

const ours = (uri: vscode.Uri) => vscode.languages.getDiagnostics(uri).filter((d) => d.source === source);

async function diagnosticsOf(uri: vscode.Uri, timeoutMs = 10_000): Promise<vscode.Diagnostic[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = ours(uri);
    if (found.length > 0 || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

(untrusted ? suite.skip : suite)('Reuse config diagnostics', () => {
  const out = mkdtempSync(join(tmpdir(), 'reuse-diagnostics-'));
  let valid: ConfigShape;
  /** The first reuse entry of the valid map and the head it borrows from. */
  let at: { l: number; h: number; i: number; j: number };

  suiteSetup(async function () {
    this.timeout(120_000);
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is not loaded`);
    await extension.activate();
    const shown = await vscode.commands.executeCommand<{ path?: string } | undefined>('attentionReuse.analyzeSample');
    assert.ok(shown?.path && existsSync(shown.path), 'analyzeSample wrote no analysis file: see the "Attention Reuse" log');
    const target = join(out, 'valid.reuse.json');
    const result = await vscode.commands.executeCommand<{ path: string } | { error: string } | undefined>('attentionReuse.emitConfig', {
      analysisPath: shown.path,
      mode: 'guided',
      K: 2,
      out: target,
      open: false,
    });
    assert.ok(
      result && !('error' in result),
      `emitConfig could not write the valid config: ${result && 'error' in result ? result.error : 'cancelled'}`,
    );
    valid = JSON.parse(readFileSync(target, 'utf8')) as ConfigShape;
    for (const [l, row] of valid.heads.entries()) {
      const h = row.findIndex((e) => typeof e === 'object');
      if (h >= 0) {
        const { layer: i, head: j } = (row[h] as { reuse: { layer: number; head: number } }).reuse;
        at = { l, h, i, j };
        break;
      }
    }
    assert.ok(at, 'guided K = 2 should reuse at least one head');
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('a valid config gets no error from us', async () => {
    const doc = await vscode.workspace.openTextDocument(join(out, 'valid.reuse.json'));
    await vscode.window.showTextDocument(doc);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(
      ours(doc.uri).map((d) => d.message),
      [],
      'the semantic validator rejected the config emitConfig wrote (do the checks and the writer disagree?)',
    );
  });

  const variants: { what: string; file: string; edit: (c: ConfigShape) => void; message: RegExp; field: () => string }[] = [
    {
      what: 'a head reusing its own layer',
      file: 'same-layer.reuse.json',
      edit: (c) => ((c.heads[at.l][at.h] as { reuse: { layer: number } }).reuse.layer = at.l),
      message: /earlier layer|no earlier layer/,
      field: () => '"layer"',
    },
    {
      what: 'a source head out of range',
      file: 'head-range.reuse.json',
      edit: (c) => ((c.heads[at.l][at.h] as { reuse: { head: number } }).reuse.head = 9),
      message: /head 9 is out of range/,
      field: () => '"head"',
    },
    {
      what: 'P out of bounds',
      file: 'p-bounds.reuse.json',
      edit: (c) => (c.P = 9),
      message: /^P \(reuse layers\) is 9/,
      field: () => '"P"',
    },
    {
      what: 'a source head that computes nothing',
      file: 'never-computed.reuse.json',
      edit: (c) => (c.heads[at.i] = c.heads[at.i].map(() => 'skip')),
      message: /is skipped \(computes nothing\)/,
      field: () => '{',
    },
  ];

  for (const variant of variants) {
    test(`${variant.what} is flagged on the field`, async () => {
      const config = structuredClone(valid);
      variant.edit(config);
      const path = join(out, variant.file);
      writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
      const doc = await vscode.workspace.openTextDocument(path);
      await vscode.window.showTextDocument(doc);
      const found = await diagnosticsOf(doc.uri);
      assert.equal(found.length, 1, `${variant.what}: expected one "${source}" diagnostic (is ConfigDiagnostics registered in activate?)`);
      const [diagnostic] = found;
      assert.equal(diagnostic.severity, vscode.DiagnosticSeverity.Error);
      assert.match(diagnostic.message, variant.message, `${variant.what}: flagged for another reason than expected`);
      const marked = doc.getText(diagnostic.range);
      assert.ok(
        marked.startsWith(variant.field()),
        `${variant.what}: the range marks ${JSON.stringify(marked)} instead of the field (fieldOfMessage/locateField lost it)`,
      );
      assert.notEqual(diagnostic.range.start.line, 0, `${variant.what}: the range fell back to the first line`);
    });
  }

  test('a mode outside the schema is left to the JSON Schema: no second error from us', async () => {
    const path = join(out, 'bad-mode.reuse.json');
    writeFileSync(path, `${JSON.stringify({ ...valid, mode: 'sideways' }, null, 2)}\n`);
    const doc = await vscode.workspace.openTextDocument(path);
    await vscode.window.showTextDocument(doc);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(
      ours(doc.uri).map((d) => d.message),
      [],
      'a schema error (the wrong mode) was reported by ConfigDiagnostics too, beside the JSON language service',
    );
  });

  test('fixing the document clears the error', async () => {
    const path = join(out, 'p-bounds.reuse.json');
    const doc = await vscode.workspace.openTextDocument(path);
    const editor = await vscode.window.showTextDocument(doc);
    assert.equal((await diagnosticsOf(doc.uri)).length, 1, 'the P-out-of-bounds file should be flagged before the fix');
    const fixed = `${JSON.stringify(valid, null, 2)}\n`;
    await editor.edit((e) => e.replace(new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), fixed));
    const deadline = Date.now() + 10_000;
    while (ours(doc.uri).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(
      ours(doc.uri).map((d) => d.message),
      [],
      'the error stayed after the edit (is onDidChangeTextDocument wired?)',
    );
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });
});
