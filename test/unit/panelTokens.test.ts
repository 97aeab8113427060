// Protects the host end of untrusted token text: a tokenizer whose vocabulary holds markup (`<img … onerror>`) gets
// its token strings to the panel verbatim, as data in the attentionMap reply, never escaped or interpreted on the way
// (test/webview/panel.test.mjs then shows the page draws them as text).
import { fake, fakeContext, recordingLog, vscodeStandIn } from '../helpers/vscodeStandIn';
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { analyzeModel } from '../../analysis/app/analyze';
import { AnalysisStore } from '../../extension/analysisStore';
import { PanelHub } from '../../extension/panelHub';
import { SettingsReader } from '../../extension/settings';
import type { ToWebview } from '../../protocol/messages';
import { root } from '../helpers/paths.mjs';

const evil = '<img src=x onerror=alert(1)>';
const dir = mkdtempSync(join(tmpdir(), 'panel-tokens-'));
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The sample tokenizer with one word of its vocabulary renamed to markup, matched as a whole in the text. */
function hostileTokenizer(): string {
  const tok = JSON.parse(readFileSync(join(root, 'media/sample/tokenizer.json'), 'utf8'));
  const id = tok.model.vocab.before as number;
  delete tok.model.vocab.before;
  tok.model.vocab[evil] = id;
  tok.added_tokens.push({ id, content: evil, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false });
  const path = join(dir, 'tokenizer.json');
  writeFileSync(path, JSON.stringify(tok));
  return path;
}

describe('token strings on their way to the panel', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reach the webview verbatim in the attention map reply', async () => {
    fake.reset();
    const text = join(dir, 'text.txt');
    writeFileSync(text, `the cat sat ${evil} the mat\n`);
    const source = { kind: 'text' as const, path: text, tokenizer: hostileTokenizer() };
    const model = join(root, 'media/sample/model.onnx');
    const file = await analyzeModel({ model, source, ep: 'cpu' });
    const log = recordingLog() as unknown as vscode.LogOutputChannel;
    const hub = new PanelHub(
      log,
      new SettingsReader(fakeContext() as unknown as vscode.ExtensionContext, log),
      new AnalysisStore({ get: () => undefined, update: async () => undefined }),
    );
    const posted: ToWebview[] = [];
    const incoming = new vscodeStandIn.EventEmitter<unknown>();
    hub.connect(
      { postMessage: async (m: ToWebview) => void posted.push(m), onDidReceiveMessage: incoming.event } as unknown as vscode.Webview,
      'editor',
    );
    await hub.show({ file, label: `label ${evil}`, source }, { remember: false });
    incoming.fire({ type: 'ready' });
    await flush();
    const shown = posted.find((m) => m.type === 'analysis');
    assert.equal(shown?.type === 'analysis' && shown.info?.label, `label ${evil}`, 'a label travels as it is: the page draws it as text');
    incoming.fire({ type: 'requestAttentionMap', messageId: 5, example: 0, stack: 'encoder', layer: 1, head: 0 });
    for (let i = 0; i < 200 && !posted.some((m) => m.type === 'attentionMap' || m.type === 'requestFailed'); i++)
      await new Promise((r) => setTimeout(r, 25));
    const reply = posted.find((m) => m.type === 'attentionMap' || m.type === 'requestFailed');
    assert.equal(reply?.type, 'attentionMap', `no attention map: ${reply?.type === 'requestFailed' ? reply.message : 'no reply'}`);
    assert.ok(
      reply.type === 'attentionMap' && reply.queryTokens.includes(evil),
      `the markup token did not arrive verbatim: ${reply.type === 'attentionMap' && reply.queryTokens.join(' ')}`,
    );
    hub.dispose();
  });
});
