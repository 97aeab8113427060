// Protects the host boundary of the panel: every message from the webview is checked by its type's validator
// and copied field by field (extension/panelMessages.ts); anything else is refused with a reason.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { FromWebview } from '../../protocol/messages';
import type { FromModelEditor } from '../../protocol/modelMessages';
import { checkModelEditorMessage, checkWebviewMessage, maxExportBytes } from '../../extension/panelMessages';

/** One well-formed message of every type the webview posts; the `satisfies` below fails to compile when a type is missing. */
const valid = {
  ready: { type: 'ready' },
  openDetail: { type: 'openDetail' },
  requestAttentionMap: { type: 'requestAttentionMap', messageId: 7, example: 3, stack: 'encoder', layer: 2, head: 1 },
  selectLayerPair: { type: 'selectLayerPair', stack: 'decoder.cross', layer: 0, otherLayer: 5 },
  emitConfig: { type: 'emitConfig', stack: 'encoder', candidate: 12 },
  exportChart: { type: 'exportChart', chart: 'layer-pairs-encoder', format: 'csv', data: 'layer,a\n0,1\n' },
  runCommand: { type: 'runCommand', command: 'analyzeSample' },
  modelAction: { type: 'modelAction', action: 'analyze' },
  cancelTraining: { type: 'cancelTraining', run: '/work/.attention-reuse/runs/partial-20261130-101500' },
  resumeTraining: { type: 'resumeTraining', run: 'C:\\runs\\partial run' },
  tryOnModel: { type: 'tryOnModel', stack: 'encoder', candidates: [3, 0, 12] },
  cancelTryOnModel: { type: 'cancelTryOnModel' },
  log: { type: 'log', level: 'warn', message: 'hello' },
} satisfies { [T in FromWebview['type']]: Extract<FromWebview, { type: T }> };

const alsoValid: FromWebview[] = [
  { type: 'exportChart', chart: 'x', format: 'png', data: 'data:image/png;base64,iVBORw0KGgo=' },
  { type: 'exportChart', chart: 'x', format: 'svg', data: '<svg xmlns="http://www.w3.org/2000/svg"></svg>' },
  { type: 'runCommand', command: 'showLog' },
  { type: 'requestAttentionMap', messageId: 8, example: 0, stack: 'encoder', layer: 3, head: 0, matchLayer: 1 },
];

describe('checkWebviewMessage', () => {
  it('accepts every well-formed message and keeps only protocol fields', () => {
    for (const m of [...Object.values(valid), ...alsoValid]) {
      const r = checkWebviewMessage({ ...m, extra: { evil: true } });
      assert.ok(r.ok, `refused a valid ${m.type}: ${r.ok ? '' : r.reason}`);
      assert.deepEqual(r.message, m, `${m.type}: fields outside the protocol must be dropped`);
    }
  });

  it('refuses malformed messages with a reason', () => {
    const bad: unknown[] = [
      null,
      'ready',
      [{ type: 'ready' }],
      { type: 'nope' },
      { type: 'toString' },
      { type: '__proto__' },
      { type: 'requestAttentionMap', messageId: 1, example: -1, stack: 'encoder', layer: 0, head: 0 },
      { type: 'requestAttentionMap', messageId: 1, example: 0.5, stack: 'encoder', layer: 0, head: 0 },
      { type: 'requestAttentionMap', messageId: 1, example: 0, stack: 'encoder', layer: 1e9, head: 0 },
      { type: 'requestAttentionMap', messageId: 1, example: 0, stack: 'enc oder<script>', layer: 0, head: 0 },
      { type: 'requestAttentionMap', messageId: '1', example: 0, stack: 'encoder', layer: 0, head: 0 },
      { type: 'requestAttentionMap', example: 0, stack: 'encoder', layer: 0, head: 0 },
      { type: 'selectLayerPair', stack: 'encoder', layer: 0 },
      { type: 'emitConfig', stack: '', candidate: 0 },
      { type: 'tryOnModel', stack: 'encoder', candidates: [] },
      { type: 'tryOnModel', stack: 'encoder', candidates: [0, 1, 2, 3, 4, 5, 6, 7, 8] },
      { type: 'tryOnModel', stack: 'encoder', candidates: [1, -1] },
      { type: 'tryOnModel', stack: 'encoder', candidates: '0' },
      { type: 'exportChart', chart: '../../.bashrc', format: 'csv', data: 'x' },
      { type: 'exportChart', chart: 'a', format: 'exe', data: 'x' },
      { type: 'exportChart', chart: 'a', format: 'png', data: 'data:text/html;base64,PGI+' },
      { type: 'exportChart', chart: 'a', format: 'png', data: 'data:image/png;base64,<script>' },
      { type: 'exportChart', chart: 'a', format: 'svg', data: '<html><script>alert(1)</script>' },
      { type: 'exportChart', chart: 'a', format: 'csv', data: 'x'.repeat(maxExportBytes + 1) },
      { type: 'runCommand', command: 'workbench.action.terminal.new' },
      { type: 'log', level: 'debug', message: 'x' },
      { type: 'requestAttentionMap', messageId: 1, example: 0, stack: 'encoder', layer: 0, head: 0, matchLayer: -1 },
      { type: 'requestAttentionMap', messageId: 1, example: 0, stack: 'encoder', layer: 0, head: 0, matchLayer: '2' },
      { type: 'cancelTraining', run: '' },
      { type: 'cancelTraining', run: 'a\nb' },
      { type: 'cancelTraining', run: 7 },
      { type: 'resumeTraining', run: 'x'.repeat(5000) },
      { type: 'log', level: 'info', message: 'x'.repeat(5000) },
      { type: 'modelAction', action: 'deleteModel' },
      { type: 'modelAction' },
    ];
    for (const m of bad) {
      const r = checkWebviewMessage(m);
      assert.equal(r.ok, false, `accepted ${JSON.stringify(m)?.slice(0, 80)}`);
      assert.ok(!r.ok && r.reason.length > 0, 'a refusal needs a reason for the log');
    }
  });
});

describe('checkModelEditorMessage', () => {
  it('accepts what the .onnx summary page posts, and nothing the panel alone may post', () => {
    const ok: FromModelEditor[] = [
      { type: 'ready' },
      ...(['analyze', 'inspectInPanel', 'showLog'] as const).map((action) => ({ type: 'modelAction' as const, action })),
    ];
    for (const m of ok)
      assert.deepEqual(checkModelEditorMessage({ ...m, path: '/etc/passwd' }), { ok: true, message: m }, `refused ${JSON.stringify(m)}`);
    for (const m of [
      { type: 'runCommand', command: 'analyzeSample' },
      { type: 'exportChart', chart: 'a', format: 'csv', data: 'x' },
      { type: 'modelAction', action: 'x' },
      null,
    ]) {
      assert.equal(checkModelEditorMessage(m).ok, false, `the model page may not post ${JSON.stringify(m)}`);
    }
  });
});
