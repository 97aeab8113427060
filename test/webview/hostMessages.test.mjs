// Protects the host boundary of the panel: every message from the webview is checked and
// copied field by field (extension/panelMessages.ts), and analyses are flattened into
// typed arrays in the layout webview/stackData.ts indexes (extension/panelPayloads.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './page.mjs';

const load = (path) => {
  if (!existsSync(join(root, path))) throw new Error(`${path} is missing: run \`npm run build\` first`);
  return createRequire(import.meta.url)(join(root, path));
};
const { checkWebviewMessage, maxExportBytes } = load('out/extension/panelMessages.js');
const { analysisMessage } = load('out/extension/panelPayloads.js');

const valid = [
  { type: 'ready' },
  { type: 'openDetail' },
  { type: 'requestAttentionMap', messageId: 7, example: 3, stack: 'encoder', layer: 2, head: 1 },
  { type: 'selectLayerPair', stack: 'decoder.cross', layer: 0, otherLayer: 5 },
  { type: 'emitConfig', stack: 'encoder', candidate: 12 },
  { type: 'exportChart', chart: 'layer-pairs-encoder', format: 'csv', data: 'layer,a\n0,1\n' },
  { type: 'exportChart', chart: 'x', format: 'png', data: 'data:image/png;base64,iVBORw0KGgo=' },
  { type: 'exportChart', chart: 'x', format: 'svg', data: '<svg xmlns="http://www.w3.org/2000/svg"></svg>' },
  { type: 'runCommand', command: 'analyzeSample' },
  { type: 'log', level: 'warn', message: 'hello' },
];

test('accepts every well-formed message and keeps only protocol fields', () => {
  for (const m of valid) {
    const r = checkWebviewMessage({ ...m, extra: { evil: true } });
    assert.ok(r.ok, `refused a valid ${m.type}: ${r.reason}`);
    assert.deepEqual(r.message, m, `${m.type}: fields outside the protocol must be dropped`);
  }
});

test('refuses malformed messages with a reason', () => {
  const bad = [
    null,
    'ready',
    [{ type: 'ready' }],
    { type: 'nope' },
    { type: 'requestAttentionMap', messageId: 1, example: -1, stack: 'encoder', layer: 0, head: 0 },
    { type: 'requestAttentionMap', messageId: 1, example: 0.5, stack: 'encoder', layer: 0, head: 0 },
    { type: 'requestAttentionMap', messageId: 1, example: 0, stack: 'encoder', layer: 1e9, head: 0 },
    { type: 'requestAttentionMap', messageId: 1, example: 0, stack: 'enc oder<script>', layer: 0, head: 0 },
    { type: 'requestAttentionMap', messageId: '1', example: 0, stack: 'encoder', layer: 0, head: 0 },
    { type: 'selectLayerPair', stack: 'encoder', layer: 0 },
    { type: 'emitConfig', stack: '', candidate: 0 },
    { type: 'exportChart', chart: '../../.bashrc', format: 'csv', data: 'x' },
    { type: 'exportChart', chart: 'a', format: 'exe', data: 'x' },
    { type: 'exportChart', chart: 'a', format: 'png', data: 'data:text/html;base64,PGI+' },
    { type: 'exportChart', chart: 'a', format: 'png', data: 'data:image/png;base64,<script>' },
    { type: 'exportChart', chart: 'a', format: 'svg', data: '<html><script>alert(1)</script>' },
    { type: 'exportChart', chart: 'a', format: 'csv', data: 'x'.repeat(maxExportBytes + 1) },
    { type: 'runCommand', command: 'workbench.action.terminal.new' },
    { type: 'log', level: 'debug', message: 'x' },
    { type: 'log', level: 'info', message: 'x'.repeat(5000) },
  ];
  for (const m of bad) {
    const r = checkWebviewMessage(m);
    assert.equal(r.ok, false, `accepted ${JSON.stringify(m)?.slice(0, 80)}`);
    assert.ok(r.reason.length > 0, 'a refusal needs a reason for the log');
  }
});

test('analysisMessage flattens the nested arrays row-major into typed arrays', () => {
  const L = 3;
  const H = 2;
  const val = (...ix) => ix.reduce((a, b) => a * 10 + b, 0) / 1000;
  const nest = (shape, f, prefix = []) =>
    shape.length === 0 ? f(...prefix) : Array.from({ length: shape[0] }, (_, i) => nest(shape.slice(1), f, [...prefix, i]));
  const stack = {
    name: 'encoder',
    kind: 'self',
    layerCount: L,
    headCount: H,
    tensors: ['a', 'b', 'c'],
    dims: { hidden: 8, ffn: 16, vocab: 10, maxPositions: 32 },
    headPairs: nest([L, H, L, H], val),
    c: nest([L, H, L], val),
    cArgmax: nest([L, H, L], (l, h, l2) => (l + h + l2) % H),
    layerPairs: nest([L, L], val),
    sequential: nest([L - 1, H], (l, r) => ({ head: H - 1 - r, value: val(l, r) })),
    uniform: nest([L, H], val),
    entropy: nest([L, H], (l, h) => l + h),
  };
  const file = { schema: 'attention-reuse/analysis@1', model: { path: '/m.onnx', sha256: 'ab' }, run: { examples: 4, tokens: 40, executionProvider: 'cpu', precision: 'float32', seconds: 1 }, stacks: [stack] };
  const msg = analysisMessage(file, 'label', true);
  const s = msg.stacks[0];
  assert.ok(s.headPairs.data instanceof Float64Array, 'headPairs must travel as a Float64Array');
  assert.ok(s.cArgmax.data instanceof Int32Array, 'cArgmax must travel as an Int32Array');
  assert.deepEqual(s.headPairs.shape, [L, H, L, H]);
  assert.equal(s.headPairs.data[((2 * H + 1) * L + 0) * H + 1], val(2, 1, 0, 1), 'headPairs is not row-major [l][h][l2][h2]');
  assert.equal(s.c.data[(1 * H + 0) * L + 2], val(1, 0, 2), 'c is not row-major [l][h][l2]');
  assert.equal(s.layerPairs.data[2 * L + 1], val(2, 1));
  assert.deepEqual(Array.from(s.sequentialHeads.data), [1, 0, 1, 0]);
  assert.equal(s.sequentialValues.data[1 * H + 1], val(1, 1));
  assert.equal(msg.info.canShowAttention, true);
  assert.deepEqual(analysisMessage(null, '', false), { type: 'analysis', info: null, stacks: [] });
  stack.c[1].pop();
  assert.throws(() => analysisMessage(file, 'label', true), /c does not have shape/, 'a ragged array must be refused, not flattened into garbage');
});
