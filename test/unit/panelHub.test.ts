// Protects the host end of the panel protocol outside VS Code: nothing is posted before `ready`, a view that says
// `ready` catches up at once, requests are answered with their messageId, and the panel's choices reach features as typed events.
import { fake, vscodeStandIn } from '../helpers/vscodeStandIn';
import { standInHub } from '../helpers/panelHubFixture';
import { strict as assert } from 'node:assert';
import { beforeEach, describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { planStack } from '../../analysis/planner/plan';
import type { ChosenCandidate } from '../../extension/panelHub';
import type { ToWebview, TrainingRun } from '../../protocol/messages';
import { StepSeries } from '../../protocol/metricSeries';
import { analysisWith } from '../helpers/analysisFixture';

/** Three layers of two heads; heads further apart are less alike. */
const L = 3;
const H = 2;
const similarity = (a: number, b: number) => (a === b ? 1 : 0.9 - 0.1 * Math.abs(a - b));
const file = analysisWith(
  Array.from({ length: L }, (_, l) =>
    Array.from({ length: H }, (_, h) =>
      Array.from({ length: L }, (_, l2) => Array.from({ length: H }, (_, h2) => similarity(l * H + h, l2 * H + h2))),
    ),
  ),
  Array.from({ length: L }, () => new Array<number>(H).fill(0.3)),
  { hidden: 8, ffn: 16, vocab: 20, maxPositions: 8 },
);
const flush = () => new Promise((resolve) => setImmediate(resolve));

function setUp() {
  const { hub, log, state } = standInHub();
  /** `delivery`: postMessage resolves a timer later, as the real one does after a round trip (other work runs meanwhile). */
  const view = (host: 'sidebar' | 'editor' = 'editor', delivery = false) => {
    const posted: ToWebview[] = [];
    const incoming = new vscodeStandIn.EventEmitter<unknown>();
    const postMessage = async (m: ToWebview) => {
      posted.push(m);
      if (delivery) await new Promise((resolve) => setTimeout(resolve, 1));
    };
    const webview = { postMessage, onDidReceiveMessage: incoming.event };
    const connection = hub.connect(webview as unknown as vscode.Webview, host);
    return {
      posted,
      connection,
      send: async (m: unknown) => {
        incoming.fire(m);
        await flush();
      },
    };
  };
  return { hub, view, log, state };
}

describe('PanelHub', () => {
  beforeEach(() => fake.reset());

  it('posts nothing before ready, then settings and the analysis at once', async () => {
    const { hub, view, state } = setUp();
    const v = view('sidebar');
    await hub.show({ file, path: '/tmp/a.analysis.json', label: 'sample' });
    hub.appendMetrics('run', [{ step: 1, loss: 3 }]);
    assert.equal(v.posted.length, 0, 'the protocol says the host never posts before ready');
    assert.equal(
      (state.get('attentionReuse.lastAnalysis') as { label?: string }).label,
      'sample',
      'a shown analysis is remembered for the next window',
    );
    await v.send({ type: 'ready' });
    assert.deepEqual(
      v.posted.map((m) => m.type),
      ['settings', 'analysis', 'metrics'],
      'a view that says ready must catch up with everything shown so far',
    );
    assert.deepEqual(v.posted[0], { type: 'settings', theme: 'dark', host: 'sidebar' });
  });

  it('answers a request with its messageId, as requestFailed when the inputs are unknown', async () => {
    const { hub, view } = setUp();
    const v = view();
    await v.send({ type: 'ready' });
    await hub.show({ file, label: 'no inputs' });
    v.posted.length = 0;
    await v.send({ type: 'requestAttentionMap', messageId: 41, example: 0, stack: 'encoder', layer: 1, head: 0 });
    assert.equal(v.posted.length, 1);
    const reply = v.posted[0];
    assert.equal(reply.type, 'requestFailed');
    assert.equal(reply.type === 'requestFailed' && reply.inReplyTo, 41, 'the reply must name the request it answers');
  });

  it('drops malformed messages with a warning', async () => {
    const { view, log } = setUp();
    const v = view();
    await v.send({ type: 'ready' });
    v.posted.length = 0;
    await v.send({ type: 'runCommand', command: 'workbench.action.terminal.new' });
    assert.equal(v.posted.length, 0);
    assert.equal(fake.executed.length, 0, 'an unchecked command must never run');
    assert.ok(
      log.lines.some((l) => l.startsWith('warn panel: ignored a message')),
      log.lines.join('\n'),
    );
  });

  it('hands "Emit config" to the planner feature as the typed candidate of the plan it showed', async () => {
    const { hub, view, log } = setUp();
    const v = view();
    await v.send({ type: 'ready' });
    await hub.show({ file, path: '/tmp/a.analysis.json', label: 'a' });
    const plan = planStack(file.stacks[0]);
    hub.showPlan(plan);
    assert.equal(v.posted.at(-1)?.type, 'planCandidates');
    const chosen: ChosenCandidate[] = [];
    hub.onDidChooseCandidate((c) => chosen.push(c));
    await v.send({ type: 'emitConfig', stack: 'encoder', candidate: 1 });
    assert.equal(chosen.length, 1);
    assert.equal(chosen[0].candidate, plan.candidates[1], 'the candidate must be the planner object, not a copy from the webview');
    assert.equal(chosen[0].analysis.path, '/tmp/a.analysis.json');
    await v.send({ type: 'emitConfig', stack: 'encoder', candidate: 999 });
    assert.equal(chosen.length, 1, 'a candidate the panel was never sent is not written');
    assert.ok(log.lines.some((l) => l.includes('which the panel was never sent')));
  });

  it("passes a layer-pair selection to the other views only, and restarts a run's curve when another run starts", async () => {
    const { hub, view } = setUp();
    const a = view('sidebar');
    const b = view('editor');
    await a.send({ type: 'ready' });
    await b.send({ type: 'ready' });
    a.posted.length = 0;
    b.posted.length = 0;
    await a.send({ type: 'selectLayerPair', stack: 'encoder', layer: 0, otherLayer: 1 });
    assert.equal(a.posted.length, 0, 'the view that selected the pair knows it already');
    assert.deepEqual(b.posted, [{ type: 'focusLayerPair', stack: 'encoder', layer: 0, otherLayer: 1 }]);
    hub.appendMetrics('one', [{ step: 1, loss: 2 }]);
    hub.appendMetrics('two', [{ step: 1, loss: 5 }]);
    const late = view();
    await late.send({ type: 'ready' });
    const runs = late.posted.filter((m) => m.type === 'metrics').map((m) => m.type === 'metrics' && m.run);
    assert.deepEqual(runs, ['one', 'two'], 'a view opened later gets every run, to overlay them');
    hub.dispose();
  });

  it('a view opened mid-run gets each run whole before any live line, and draws each step once', async () => {
    const { hub, view } = setUp();
    let step = 0;
    const log = (n: number) =>
      hub.appendMetrics(
        '/runs/r1',
        Array.from({ length: n }, () => ({ step: ++step, loss: 5 - step / 100 })),
        step === 0,
      );
    log(120);
    const v = view('editor', true);
    // The trainer keeps logging while the view says ready and the host catches it up.
    const live = setInterval(() => log(1), 0);
    await v.send({ type: 'ready' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    clearInterval(live);
    log(20);
    const replayAt = v.posted.findIndex((m) => m.type === 'metrics' && m.reset);
    assert.equal(
      v.posted.slice(0, replayAt).some((m) => m.type === 'metrics'),
      false,
      "a live line reached the view ahead of its run's replay (a run seen first through it would be listed out of order)",
    );
    assert.ok(
      v.posted.slice(replayAt + 1).some((m) => m.type === 'metrics' && !m.reset),
      'no live line followed the replay: the trainer logging during the handshake was not exercised',
    );
    const chart = new StepSeries();
    for (const m of v.posted) if (m.type === 'metrics') chart.merge(m.points, m.reset);
    assert.deepEqual(
      chart.points.map((p) => p.step),
      Array.from({ length: step }, (_, i) => i + 1),
      'the chart must hold every step once, in order, whatever arrived during the handshake',
    );
    hub.dispose();
  });

  it('tells the views how a training run stands, replays it, and hands Cancel and Resume to the training feature', async () => {
    const { hub, view } = setUp();
    const status: TrainingRun = {
      run: '/runs/r1',
      state: 'running',
      step: null,
      steps: 10,
      checkpointStep: null,
      exitCode: null,
      message: 'Training',
      logTail: [],
      canResume: false,
      at: 1,
    };
    hub.setTrainingRun(status);
    const v = view();
    await v.send({ type: 'ready' });
    assert.deepEqual(
      v.posted.filter((m) => m.type === 'trainingRun'),
      [{ type: 'trainingRun', status }],
      'a view opened during a run must learn its state',
    );
    const asked: { action: string; run: string }[] = [];
    hub.onDidAskTrainingAction((a) => asked.push(a));
    await v.send({ type: 'cancelTraining', run: '/runs/r1' });
    await v.send({ type: 'resumeTraining', run: '/runs/r1' });
    assert.deepEqual(asked, [
      { action: 'cancel', run: '/runs/r1' },
      { action: 'resume', run: '/runs/r1' },
    ]);
    hub.dispose();
  });
});
