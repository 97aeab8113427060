// Protects Plan Reuse, Emit Reuse Config and the panel's config writer (the API's writeCandidate) in the extension host:
// planning the sample analysis in-process, writing configs that validate, refusing contradictory ones and never replacing a file unasked.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AttentionReuseApi } from '../../../extension/api';
import type { ReuseConfig } from '../../../analysis/config/reuseConfig';
import type { Plan } from '../../../analysis/planner/plan';
import type { WriteResult } from '../../../extension/planCommands';

const extensionId = 'attention-reuse.attention-reuse';
const untrusted = process.env.VSCODE_TEST_UNTRUSTED === '1';

type HeadRole = 'exact' | 'skip' | { reuse: { layer: number; head: number } };

/** analysis/config/reuseConfig.ts as tsc built it into out/ (the same checks the trainer's reader runs). */
interface ReuseConfigModule {
  checkReuseConfig(json: unknown, label: string): ReuseConfig;
}

function written(result: WriteResult, what: string): { path: string; config: ReuseConfig } {
  assert.ok(result, `${what}: the command returned nothing (cancelled? it should not ask anything when given "out")`);
  assert.ok(!('error' in result), `${what}: ${'error' in result ? result.error : ''}`);
  return result;
}

function refused(result: WriteResult, pattern: RegExp, what: string): void {
  assert.ok(result && 'error' in result, `${what} was written, but it should have been refused`);
  assert.match(result.error, pattern, `${what} was refused for another reason than expected`);
}

(untrusted ? suite.skip : suite)('Plan and emit reuse configs', () => {
  let root = '';
  let analysisPath = '';
  let plan: Plan;
  let api: AttentionReuseApi;
  const out = mkdtempSync(join(tmpdir(), 'reuse-configs-'));

  suiteSetup(async function () {
    this.timeout(120_000);
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is not loaded`);
    api = await extension.activate();
    root = extension.extensionPath;
    const shown = await vscode.commands.executeCommand<{ path?: string } | undefined>('attentionReuse.analyzeSample');
    assert.ok(shown?.path && existsSync(shown.path), 'analyzeSample wrote no analysis file: see the "Attention Reuse" log');
    analysisPath = shown.path;
  });

  test('planReuse plans the sample analysis in-process and marks a Pareto front', async () => {
    // At the sample's own mean length (about 17 tokens) attention is too small a share of the
    // FLOPs for any configuration to reach 0.9; at 128 tokens reuse pays.
    const atMean = await vscode.commands.executeCommand<{ plans: Plan[] } | undefined>('attentionReuse.planReuse', { analysisPath });
    assert.equal(atMean?.plans[0].seqLenFrom, 'analysis', 'without seqLen the plan should cost at the analysed mean length');
    const result = await vscode.commands.executeCommand<{ analysisPath: string; plans: Plan[] } | undefined>('attentionReuse.planReuse', {
      analysisPath,
      seqLen: 128,
    });
    assert.ok(result, 'planReuse returned nothing: see the "Attention Reuse" log');
    assert.equal(result.analysisPath, analysisPath);
    assert.equal(result.plans.length, 1, 'the sample model has one stack, so one plan');
    plan = result.plans[0];
    assert.equal(plan.stack, 'encoder');
    // 4 layers, 4 heads: partial K=1..3, full P=1..2, alternate P=1..2, all-end P=1..2, skip P=1..2, guided K=1..3.
    assert.equal(plan.candidates.length, 14, 'candidateGrid(4, 4) should list 14 configurations');
    assert.ok(plan.pareto.length > 0, 'the Pareto front is empty');
    const scored = plan.candidates.map((c, i) => ({ i, s: c.similarityKept, f: c.cost.flopsRatio }));
    for (const i of plan.pareto) {
      const a = scored[i];
      assert.notEqual(a.s, null, `Pareto candidate ${i} (${plan.candidates[i].mode}) has no similarity kept`);
      const dominated = scored.some((b) => b.s !== null && b.s >= a.s! && b.f <= a.f && (b.s > a.s! + 1e-12 || b.f < a.f - 1e-12));
      assert.equal(dominated, false, `candidate ${i} is on the front but another keeps as much similarity for fewer FLOPs`);
    }
    assert.notEqual(plan.recommended, null, 'no recommendation at the default FLOPs target 0.9');
    assert.ok(
      plan.candidates[plan.recommended!].cost.flopsRatio <= plan.targetFlops + 1e-12,
      'the recommended candidate exceeds the FLOPs target',
    );
  });

  test('the panel commands and the API panel calls run without a dialog when given their arguments', async () => {
    await vscode.commands.executeCommand('attentionReuse.openAnalysis', vscode.Uri.file(analysisPath));
    await vscode.commands.executeCommand('attentionReuse.openPanel');
    assert.ok(plan, 'the plan test must run first');
    api.showPlan(plan);
    api.showPlan({ ...plan, candidates: [], pareto: [], recommended: null });
    api.appendMetrics('headless', [{ step: 1, loss: 2.5 }], true);
  });

  test('planReuse refuses a stack the analysis does not have, without throwing', async () => {
    const result = await vscode.commands.executeCommand('attentionReuse.planReuse', { analysisPath, stack: 'decoder' });
    assert.equal(result, undefined, 'an unknown stack should end in an error message, not a plan');
  });

  test('emitConfig writes a config that validates and opens it', async () => {
    const target = join(out, 'guided.reuse.json');
    const result = written(
      await vscode.commands.executeCommand<WriteResult>('attentionReuse.emitConfig', { analysisPath, mode: 'guided', K: 2, out: target }),
      'emitConfig guided K = 2',
    );
    assert.equal(result.path, target);
    const json: unknown = JSON.parse(readFileSync(target, 'utf8'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled module, found at run time
    const { checkReuseConfig } = require(join(root, 'out/analysis/config/reuseConfig.js')) as ReuseConfigModule;
    const config = checkReuseConfig(json, target);
    assert.equal(config.schema, 'attention-reuse/config@1');
    assert.deepEqual([config.mode, config.P, config.K], ['guided', 2, 2], 'guided with K = 2 should default to P = L-2 = 2');
    assert.deepEqual([config.dims.layers, config.dims.heads], [4, 4]);
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, target, 'the written config is not open in the active editor');
    assert.deepEqual(
      readdirSync(out).filter((f) => f.endsWith('.tmp')),
      [],
      'a temporary file was left beside the config (the atomic write should rename it)',
    );
  });

  test('emitConfig never replaces an existing file unless asked', async () => {
    const target = join(out, 'guided.reuse.json');
    assert.ok(existsSync(target), 'the previous test should have written guided.reuse.json');
    const before = readFileSync(target, 'utf8');
    const mtime = statSync(target).mtimeMs;
    refused(
      await vscode.commands.executeCommand<WriteResult>('attentionReuse.emitConfig', {
        analysisPath,
        mode: 'full',
        P: 1,
        out: target,
        open: false,
      }),
      /already exists/,
      'a second config to the same path',
    );
    assert.equal(readFileSync(target, 'utf8'), before, 'the existing config was changed');
    assert.equal(statSync(target).mtimeMs, mtime, 'the existing config was rewritten');
    const replaced = written(
      await vscode.commands.executeCommand<WriteResult>('attentionReuse.emitConfig', {
        analysisPath,
        mode: 'full',
        P: 1,
        out: target,
        overwrite: true,
        open: false,
      }),
      'emitConfig with overwrite',
    );
    assert.equal(replaced.config.mode, 'full');
  });

  test('writeCandidate writes the panel candidate as planned', async () => {
    assert.ok(plan, 'the plan test must run first');
    const index = plan.recommended!;
    const candidate = plan.candidates[index];
    const target = join(out, 'recommended.reuse.json');
    const result = written(
      await api.writeCandidate({ analysisPath, stack: plan.stack, seqLen: plan.seqLen, candidate, out: target, open: false }),
      'writeCandidate of the recommended candidate',
    );
    assert.deepEqual(result.config.heads, candidate.heads, 'the written head map differs from the planned one');
    assert.deepEqual([result.config.mode, result.config.P, result.config.K], [candidate.mode, candidate.P, candidate.K]);
    assert.ok(Math.abs(result.config.estimates!.flopsRatio - candidate.cost.flopsRatio) < 1e-12, 'the estimates disagree with the plan');
  });

  test('writeCandidate refuses contradictory candidates and writes nothing', async () => {
    const exact = (): HeadRole[] => ['exact', 'exact', 'exact', 'exact'];
    // Full reuse in layers 1 and 2: every head borrows the layer-0 head that computed the tensor.
    const fullReuse = (): HeadRole[] => [0, 1, 2, 3].map((h) => ({ reuse: { layer: 0, head: h } }));
    const cases: { what: string; candidate: { mode: string; P: number; K: number; heads: HeadRole[][] }; pattern: RegExp }[] = [
      {
        what: 'a full map labelled partial K = 1',
        candidate: { mode: 'partial', P: 2, K: 1, heads: [exact(), fullReuse(), fullReuse(), exact()] },
        pattern: /heads\[1\]/,
      },
      {
        what: 'a head reusing a later layer',
        candidate: {
          mode: 'custom',
          P: 1,
          K: 1,
          heads: [exact(), [{ reuse: { layer: 2, head: 0 } }, 'exact', 'exact', 'exact'], exact(), exact()],
        },
        pattern: /earlier layer/,
      },
      { what: 'a map of the wrong shape', candidate: { mode: 'partial', P: 0, K: 0, heads: [exact(), exact()] }, pattern: /layers/ },
    ];
    for (const { what, candidate, pattern } of cases) {
      const target = join(out, 'contradictory.reuse.json');
      refused(await api.writeCandidate({ analysisPath, stack: 'encoder', candidate, out: target, open: false }), pattern, what);
      assert.equal(existsSync(target), false, `${what}: a file was written although the config was refused`);
    }
    refused(
      await vscode.commands.executeCommand<WriteResult>('attentionReuse.emitConfig', {
        analysisPath,
        mode: 'partial',
        K: 9,
        out: join(out, 'k9.reuse.json'),
        open: false,
      }),
      /K|heads/,
      'K = 9 on 4 heads',
    );
  });
});
