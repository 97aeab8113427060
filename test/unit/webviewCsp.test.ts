// Protects what every webview of the extension may load and run: the panel, the .onnx summary page and the analysis
// editor all get panelHtml's policy (nothing by default, scripts only by nonce, styles, images and fonts only from the
// webview's own origin, no eval, no remote origin) and resources only from dist/ and media/; and no webview source
// ever parses a string as HTML, so untrusted names and tokens cannot become markup.
import { fakeContext, FakeUri, recordingLog } from '../helpers/vscodeStandIn';
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { AnalysisStore } from '../../extension/analysisStore';
import { panelCsp, panelHtml } from '../../extension/panelHtml';
import { PanelHub } from '../../extension/panelHub';
import { loadPage, loadPanelPage } from '../../extension/panelView';
import { SettingsReader } from '../../extension/settings';
import { root } from '../helpers/paths.mjs';

const cspSource = 'https://abc.vscode-cdn.net';

/** The directives of a policy, by name. */
function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name, values]),
  );
}

function checkPolicy(html: string, nonce: string, what: string): void {
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1]?.replace(/&#39;/g, "'");
  assert.ok(csp, `${what} has no Content-Security-Policy meta tag`);
  const d = directives(csp);
  assert.deepEqual(d.get('default-src'), ["'none'"], `${what}: default-src must be 'none'`);
  assert.deepEqual(d.get('script-src'), [`'nonce-${nonce}'`], `${what}: scripts only by this page's nonce`);
  for (const name of ['style-src', 'img-src', 'font-src'])
    assert.deepEqual(d.get(name), [cspSource], `${what}: ${name} only from the webview's origin`);
  assert.deepEqual(
    [...d.keys()].sort(),
    ['default-src', 'font-src', 'img-src', 'script-src', 'style-src'],
    `${what}: no other directive loosens the policy`,
  );
  assert.ok(
    !/unsafe-|https?:\/\/(?!abc\.vscode-cdn\.net)|\*/.test(csp),
    `${what}: no unsafe-inline/eval, wildcard or remote origin: ${csp}`,
  );
  const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
  assert.ok(scripts.length > 0 && scripts.every((attrs) => attrs.includes(`nonce="${nonce}"`)), `${what}: every script carries the nonce`);
}

/** A webview as the host sees it: it records the options and HTML it is given. */
function fakeWebview() {
  return {
    cspSource,
    options: {} as vscode.WebviewOptions,
    html: '',
    asWebviewUri: (uri: { fsPath: string }) => FakeUri.file(`/webview${uri.fsPath}`),
    onDidReceiveMessage: () => ({ dispose: () => undefined }),
    postMessage: async () => true,
  };
}

const context = { extensionUri: FakeUri.file('/ext') } as unknown as vscode.ExtensionContext;

describe('webview content security', () => {
  it('panelHtml: the policy, and a title with markup escaped', () => {
    const html = panelHtml({
      cspSource,
      nonce: 'n0nce',
      scriptUri: `${cspSource}/dist/webview.js`,
      styleUri: `${cspSource}/media/panel.css`,
      title: '<img src=x onerror=alert(1)>',
    });
    checkPolicy(html, 'n0nce', 'panelHtml');
    assert.equal(panelCsp(cspSource, 'n0nce').includes("'unsafe"), false);
    assert.ok(!html.includes('<img'), 'the title must be escaped');
  });

  it('the panel, the .onnx summary editor and the analysis editor load their bundle under that policy, from dist/ and media/ only', () => {
    const log = recordingLog() as unknown as vscode.LogOutputChannel;
    const hub = new PanelHub(
      log,
      new SettingsReader(fakeContext() as unknown as vscode.ExtensionContext, log),
      new AnalysisStore({ get: () => undefined, update: async () => undefined }),
    );
    const pages: [string, ReturnType<typeof fakeWebview>][] = [];
    const panel = fakeWebview();
    loadPanelPage(context, hub, panel as unknown as vscode.Webview, 'editor').dispose();
    pages.push(['dist/webview.js', panel]);
    const model = fakeWebview();
    loadPage(context, model as unknown as vscode.Webview, 'modelEditor.js', 'model <b>.onnx');
    pages.push(['dist/modelEditor.js', model]);
    for (const [script, webview] of pages) {
      const nonce = /nonce="([^"]+)"/.exec(webview.html)?.[1];
      assert.ok(nonce && nonce.length >= 16, `${script}: a random nonce per page`);
      checkPolicy(webview.html, nonce, script);
      assert.ok(webview.html.includes(`src="file:///webview/ext/${script}"`), `${script} is not the page's script`);
      assert.equal(webview.options.enableScripts, true);
      assert.deepEqual(
        webview.options.localResourceRoots?.map((u) => u.fsPath),
        ['/ext/dist', '/ext/media'],
        `${script}: resources only from the bundle and media/`,
      );
    }
    assert.notEqual(/nonce="([^"]+)"/.exec(panel.html)?.[1], /nonce="([^"]+)"/.exec(model.html)?.[1], 'nonces are not reused');
    hub.dispose();
  });

  it('no webview source parses a string as HTML', () => {
    const dir = join(root, 'webview');
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(dir, name), 'utf8');
      assert.ok(
        !/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(|DOMParser/.test(text),
        `webview/${name} builds markup from a string: use dom.ts's h() and text nodes`,
      );
    }
  });
});
