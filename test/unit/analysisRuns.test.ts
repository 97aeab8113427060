// Protects the extension's analysis runs (extension/analysisRuns.ts) outside VS Code: one run at a time (a second is
// refused, never interleaved), a failed or cancelled run leaves the analysis on screen as it was and the panel says
// what happened in full, and each analysis gets a new file in the output folder named after model and time.
import { fake, fakeContext, recordingLog, vscodeStandIn } from '../helpers/vscodeStandIn';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { analyzeModel } from '../../analysis/app/analyze';
import type { AnalyzeOptions } from '../../analysis/app/analyze';
import { CancelledError, InputError } from '../../analysis/errors';
import { AnalysisRuns, analysisFileFor } from '../../extension/analysisRuns';
import type { AnalyzeService } from '../../extension/analysisRuns';
import { AnalysisStore } from '../../extension/analysisStore';
import type { Deps } from '../../extension/deps';
import { PanelHub } from '../../extension/panelHub';
import { SettingsReader } from '../../extension/settings';
import type { AnalysisMessage, RunStatusMessage, ToWebview } from '../../protocol/messages';
import { analysisWith } from '../helpers/analysisFixture';
import { fixtureModels } from '../helpers/paths.mjs';

/** Two layers of one head. */
const file = analysisWith([[[[1], [0.5]]], [[[0.5], [1]]]], [[0.3], [0.3]], { hidden: 2, ffn: 4, vocab: 10, maxPositions: 8 });
const root = mkdtempSync(join(tmpdir(), 'analysis-runs-'));
const flush = () => new Promise((resolve) => setImmediate(resolve));
const model = join(fixtureModels, 'tiny_single_head.onnx');
const source = { kind: 'jsonl' as const, path: join(fixtureModels, 'tiny_single_head.inputs.jsonl') };

async function setUp(analyze: AnalyzeService) {
  const output = join(mkdtempSync(join(root, 'ws-')), 'out');
  fake.workspaceValues.set('attentionReuse.outputFolder', output);
  const log = recordingLog();
  const state = new Map<string, unknown>();
  const analyses = new AnalysisStore({
    get: <T>(k: string) => state.get(k) as T,
    update: async (k: string, v: unknown) => void state.set(k, v),
  });
  const channel = log as unknown as vscode.LogOutputChannel;
  const settings = new SettingsReader(fakeContext(join(root, 'global')) as unknown as vscode.ExtensionContext, channel);
  const panel = new PanelHub(channel, settings, analyses);
  const deps: Deps = { output: channel, settings, analyses, panel };
  const posted: ToWebview[] = [];
  const incoming = new vscodeStandIn.EventEmitter<unknown>();
  panel.connect(
    { postMessage: async (m: ToWebview) => void posted.push(m), onDidReceiveMessage: incoming.event } as unknown as vscode.Webview,
    'editor',
  );
  incoming.fire({ type: 'ready' });
  await flush();
  const statuses = () => posted.filter((m): m is RunStatusMessage => m.type === 'runStatus').map((m) => m.status);
  const shownAnalyses = () => posted.filter((m): m is AnalysisMessage => m.type === 'analysis' && m.info !== null);
  return { runs: new AnalysisRuns(deps, analyze), output, log, analyses, panel, posted, statuses, shownAnalyses };
}

/** An analyze service that writes its `out` as analyzeModel does, after `gate` resolves. */
function writingService(gate: Promise<void> = Promise.resolve(), calls: AnalyzeOptions[] = []): AnalyzeService {
  return async (options) => {
    calls.push(options);
    await gate;
    mkdirSync(dirname(options.out!), { recursive: true });
    writeFileSync(options.out!, JSON.stringify(file));
    return file;
  };
}

describe('AnalysisRuns', () => {
  beforeEach(() => fake.reset());
  after(() => rmSync(root, { recursive: true, force: true }));

  it('writes each analysis as a new STEM-DATE-TIME file in the output folder and shows it with its file name', async () => {
    const calls: AnalyzeOptions[] = [];
    const t = await setUp(writingService(undefined, calls));
    const shown = await t.runs.run({ model, source, label: 'tiny — inputs', stem: 'tiny_single_head' });
    assert.ok(shown, `the run failed: ${t.log.lines.join('\n')}`);
    assert.equal(calls[0].force, false, 'an analysis never replaces a file');
    assert.match(basename(calls[0].out!), /^tiny_single_head-\d{8}-\d{6}\.analysis\.json$/, 'the name says model and time');
    assert.equal(
      calls[0].out,
      join(t.output, 'analyses', basename(calls[0].out!)),
      'analyses go to the output folder setting, under analyses/',
    );
    assert.equal(calls[0].examples, 200, 'a model of the user is read up to the examples setting');
    const again = await t.runs.run({ model, source, label: 'tiny — inputs', stem: 'tiny_single_head', allExamples: true });
    assert.equal(calls[1].examples, undefined, 'the sample is read whole, so the panel counts what the walkthrough says (300 sentences)');
    assert.notEqual(again?.path, shown.path, 'a second analysis in the same second gets its own file');
    assert.equal(readdirSync(join(t.output, 'analyses')).length, 2);
    const info = t.shownAnalyses().at(-1)!.info!;
    assert.equal(info.file?.name, basename(again!.path!), 'the panel says which file it shows');
    assert.ok(info.file!.savedAt > Date.now() - 60_000, 'and since when');
    assert.deepEqual(t.statuses().at(-1), null, 'a finished run clears the running state');
    assert.equal(t.analyses.recent().length, 2, 'both are in the recent list');
  });

  it('refuses a second analysis while one runs, and the first finishes undisturbed', async () => {
    let open!: () => void;
    const calls: AnalyzeOptions[] = [];
    const t = await setUp(writingService(new Promise<void>((r) => (open = r)), calls));
    const first = t.runs.run({ model, source, label: 'first model', stem: 'first' });
    await flush();
    assert.equal(t.runs.current, 'first model');
    const second = await t.runs.run({ model, source, label: 'second model', stem: 'second' });
    assert.equal(second, undefined, 'the second analysis must not start');
    assert.equal(calls.length, 1, 'the service ran twice at once');
    assert.match(fake.messages.at(-1)!.text, /first model is still being analyzed.*then analyze second model/);
    open();
    assert.equal((await first)?.label, 'first model');
    assert.equal(t.runs.current, undefined);
  });

  it('keeps the previous analysis on screen after a failure, and shows the whole message with what to do', async () => {
    const t = await setUp(async () => {
      throw new InputError('{field} must be at most 64 for this model\nsecond line of the explanation', 'batch');
    });
    const previous = join(root, 'previous.analysis.json');
    writeFileSync(previous, JSON.stringify(file));
    await t.panel.show({ file, path: previous, label: 'previous' });
    const before = t.shownAnalyses().length;
    fake.answer = 'Show Log';
    assert.equal(await t.runs.run({ model, source, label: 'broken', stem: 'broken' }), undefined);
    await flush();
    assert.equal(t.shownAnalyses().length, before, 'a failed run must not replace what the panel shows');
    assert.equal(t.analyses.last()?.path, previous, 'nor what the next window reopens');
    const status = t.statuses().at(-1)!;
    assert.equal(status.state, 'failed');
    assert.equal(
      status.message,
      'the attentionReuse.batchSize setting must be at most 64 for this model\nsecond line of the explanation',
      'the panel gets every line, the field worded as the setting',
    );
    assert.ok(
      status.hints?.some((h) => h.includes('attentionReuse.batchSize')),
      `no hint names the setting: ${status.hints}`,
    );
    const toast = fake.messages.find((m) => m.level === 'error')!;
    assert.deepEqual(toast.items, ['Show in Panel', 'Show Log'], 'the notification offers the panel and the log');
    assert.ok(!toast.text.includes('second line'), 'the notification carries one line');
    assert.ok(t.log.lines.includes('show'), '"Show Log" opens the log');
    assert.equal(
      existsSync(join(t.output, 'analyses')) ? readdirSync(join(t.output, 'analyses')).length : 0,
      0,
      'a failed run leaves no file',
    );
  });

  it('keeps the previous analysis after a cancellation, says "cancelled" and shows no error', async () => {
    const t = await setUp(
      (_options, { signal }) =>
        new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(new CancelledError()));
        }),
    );
    await t.panel.show({ file, label: 'previous' });
    const before = t.shownAnalyses().length;
    const run = t.runs.run({ model, source, label: 'long run', stem: 'long' });
    await flush();
    assert.equal(t.statuses().at(-1)?.state, 'running', 'the panel says an analysis runs');
    for (const cancel of fake.cancelProgress) cancel();
    assert.equal(await run, undefined);
    assert.equal(t.statuses().at(-1)?.state, 'cancelled');
    assert.equal(t.shownAnalyses().length, before, 'a cancelled run must not replace what the panel shows');
    assert.equal(fake.messages.filter((m) => m.level === 'error').length, 0, 'cancelling is not an error');
  });

  it('refuses a model the summary found unusable before any input is asked, in words', async () => {
    const t = await setUp(writingService());
    t.runs.refuseModel('fused', {
      path: '/m/fused.onnx',
      name: 'fused.onnx',
      bytes: 1,
      opset: 17,
      producer: null,
      inputs: [],
      stacks: [],
      dims: null,
      problem: {
        kind: 'fusedAttention',
        title: 'Attention is fused into one op',
        message: '/m/fused.onnx uses fused attention',
        hints: ['Export it again.'],
      },
    });
    const status = t.statuses().at(-1)!;
    assert.equal(status.state, 'failed');
    assert.match(status.message!, /^Attention is fused into one op\. \/m\/fused\.onnx uses fused attention$/);
    assert.equal(status.hints?.[0], 'Export it again.');
  });

  it('runs the real service end to end into the output folder', async () => {
    const t = await setUp((options, callbacks) => analyzeModel({ ...options, ep: 'cpu' }, callbacks));
    const shown = await t.runs.run({ model, source, label: 'tiny', stem: 'tiny_single_head' });
    assert.ok(shown?.path && existsSync(shown.path), `no analysis file: ${t.log.lines.join('\n')}`);
    assert.equal(shown.file.run.examples, 2);
  });
});

describe('analysisFileFor', () => {
  it('names model and time, numbers a taken name, and keeps a strange stem inside the folder', () => {
    const when = new Date(2026, 10, 30, 9, 5, 7);
    assert.equal(
      analysisFileFor('/o', 'bert', when, () => false),
      '/o/bert-20261130-090507.analysis.json',
    );
    const taken = new Set(['/o/bert-20261130-090507.analysis.json', '/o/bert-20261130-090507-2.analysis.json']);
    assert.equal(
      analysisFileFor('/o', 'bert', when, (p) => taken.has(p)),
      '/o/bert-20261130-090507-3.analysis.json',
    );
    assert.equal(
      analysisFileFor('/o', '../../etc/x y', when, () => false),
      '/o/etc-x-y-20261130-090507.analysis.json',
    );
  });
});
