// Protects the planner's "Try on model" at the host: a candidate measured through the panel protocol on the sample
// model (real onnxruntime-node) gets the KL and top-1 that `whatif` measures for its config on the same examples,
// with progress and what it measured on; a cancel ends it as cancelled; a second run while one measures is refused.
import { fake, vscodeStandIn } from '../helpers/vscodeStandIn';
import { standInHub } from '../helpers/panelHubFixture';
import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { analyzeModel } from '../../analysis/app/analyze';
import { buildReuseConfig, writeReuseConfig } from '../../analysis/app/emit';
import { whatIf } from '../../analysis/app/whatif';
import { planStack } from '../../analysis/planner/plan';
import type { Plan } from '../../analysis/planner/plan';
import type { AnalysisFile } from '../../analysis/result/analysisFile';
import { trialExamples } from '../../extension/panelTrials';
import type { ToWebview, TryOnModelStatusMessage } from '../../protocol/messages';
import { root } from '../helpers/paths.mjs';

process.env.ORT_DISABLE_TELEMETRY = '1';
const sample = join(root, 'media', 'sample');
const model = join(sample, 'model.onnx');
const source = { kind: 'text' as const, path: join(sample, 'sentences.txt'), tokenizer: join(sample, 'tokenizer.json') };

function setUp() {
  const { hub, log } = standInHub();
  const posted: ToWebview[] = [];
  const incoming = new vscodeStandIn.EventEmitter<unknown>();
  hub.connect(
    { postMessage: async (m: ToWebview) => void posted.push(m), onDidReceiveMessage: incoming.event } as unknown as vscode.Webview,
    'editor',
  );
  const statuses = () => posted.filter((m): m is TryOnModelStatusMessage => m.type === 'tryOnModelStatus');
  const until = async (done: () => boolean, what: string) => {
    for (let i = 0; i < 1200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(
      done(),
      `timed out waiting for ${what}; the hub posted ${JSON.stringify(statuses().map((s) => [s.state, s.done, s.message]))}`,
    );
  };
  return { hub, send: (m: unknown) => incoming.fire(m), statuses, until, log };
}

describe('Try on model (PanelHub and CandidateTrials)', () => {
  let file: AnalysisFile;
  let plan: Plan;
  before(async () => {
    fake.reset();
    file = await analyzeModel({ model, source, examples: 24 });
    plan = planStack(file.stacks[0]);
  });

  it("measures the asked candidates with progress, and each KL and top-1 is whatif's on the same examples", async () => {
    const { hub, send, statuses, until } = setUp();
    send({ type: 'ready' });
    await hub.show({ file, label: 'sample', source });
    hub.showPlan(plan);
    const picks = [plan.recommended ?? 0, plan.candidates.findIndex((c) => c.mode === 'full')].filter(
      (i, k, a) => i >= 0 && a.indexOf(i) === k,
    );
    send({ type: 'tryOnModel', stack: plan.stack, candidates: picks });
    await until(() => statuses().some((s) => s.state !== 'running'), 'the trial to end');
    const all = statuses();
    const last = all.at(-1)!;
    assert.equal(last.state, 'done', `the trial ended ${last.state}: ${last.message}`);
    assert.equal(all[0].state, 'running', 'the view must hear that the measurement started');
    assert.ok(
      all.some((s) => s.state === 'running' && s.done === 1 && s.results.length === 1),
      'each result must reach the view as it is measured',
    );
    assert.deepEqual(last.candidates, picks);
    assert.equal(last.on?.examples, trialExamples, `it must say it measured on ${trialExamples} examples`);
    assert.equal(last.on?.model, model);
    assert.ok(last.on!.tokens > last.on!.examples, 'tokens are counted over the real tokens of every example');
    assert.deepEqual(
      last.results.map((r) => r.candidate),
      picks,
    );
    const dir = mkdtempSync(join(tmpdir(), 'ar-trial-'));
    for (const r of last.results) {
      const c = plan.candidates[r.candidate];
      const config = join(dir, `c${r.candidate}.reuse.json`);
      const built = buildReuseConfig(
        file.stacks[0],
        { mode: c.mode, P: c.P, K: c.K, headMap: c.heads },
        { analysisSha256: '0'.repeat(64), modelSha256: file.model.sha256 },
      );
      await writeReuseConfig(built, config, { overwrite: false, inputs: [] });
      const w = await whatIf({ model, config, source, examples: trialExamples });
      assert.ok(
        r.kl !== null && Math.abs(r.kl - w.drift.kl!) <= 1e-9,
        `candidate ${r.candidate}: KL ${r.kl} where whatif measures ${w.drift.kl}`,
      );
      assert.equal(r.top1, w.drift.top1, `candidate ${r.candidate}: top-1 differs from whatif's`);
      assert.ok(r.speedRatio > 0, 'a speed-up is a positive ratio');
    }
  });

  it('showing another analysis stops the run, and nothing more of it reaches the views', async () => {
    const { hub, send, statuses, until } = setUp();
    send({ type: 'ready' });
    await hub.show({ file, label: 'sample', source });
    hub.showPlan(plan);
    send({ type: 'tryOnModel', stack: plan.stack, candidates: [0, 1, 2] });
    await until(() => statuses().length > 0, 'the trial to start');
    await hub.show({ file, label: 'the same file again', source });
    const after = statuses().length;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(
      statuses().length,
      after,
      `the old run still posted ${JSON.stringify(
        statuses()
          .slice(after)
          .map((s) => s.state),
      )}`,
    );
  });

  it('a cancel ends the run as cancelled; a second run while one measures is refused; an unknown candidate is not measured', async () => {
    const { hub, send, statuses, until, log } = setUp();
    send({ type: 'ready' });
    await hub.show({ file, label: 'sample', source });
    hub.showPlan(plan);
    send({ type: 'tryOnModel', stack: plan.stack, candidates: [0, 1, 2] });
    await until(() => statuses().length > 0, 'the trial to start');
    send({ type: 'tryOnModel', stack: plan.stack, candidates: [3] });
    await until(() => statuses().some((s) => s.state === 'failed'), 'the second run to be refused');
    assert.match(statuses().find((s) => s.state === 'failed')!.message ?? '', /another "Try on model" is measuring/);
    send({ type: 'cancelTryOnModel' });
    await until(() => statuses().some((s) => s.state === 'cancelled'), 'the cancel');
    assert.ok(statuses().at(-1)!.results.length < 3, 'a cancelled run stops before measuring every candidate');
    const before = statuses().length;
    send({ type: 'tryOnModel', stack: plan.stack, candidates: [plan.candidates.length + 5] });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(statuses().length, before, 'a candidate the panel was never sent is not measured');
    assert.ok(log.lines.some((l) => l.includes('which the panel was never sent')));
  });
});
