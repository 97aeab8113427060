// Protects `plan --model` as a user runs it: its KL is whatif's, its search writes a config whatif accepts, and it refuses another model.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliBundle as cli, root } from '../helpers/paths.mjs';

const sample = join(root, 'media', 'sample');
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1' };

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('attention-reuse plan --model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-mplan-'));
  const analysis = join(dir, 'analysis.json');
  const text = ['--text', join(sample, 'sentences.txt'), '--tokenizer', join(sample, 'tokenizer.json')];

  before(() => {
    const a = run('analyze', join(sample, 'model.onnx'), ...text, '--examples', '60', '--out', analysis, '-q');
    assert.equal(a.code, 0, a.stderr);
  });

  it('measures every candidate, ranks by KL, prints the rank correlation, and its search writes a custom config whatif accepts', () => {
    const out = join(dir, 'search.reuse.json');
    const r = run(
      'plan',
      analysis,
      '--model',
      join(sample, 'model.onnx'),
      ...text,
      '--calibration',
      '16',
      '--search',
      '--search-width',
      '2',
      '--out',
      out,
      '--json',
      '-q',
    );
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    assert.equal(plan.measured.criterion, 'kl');
    assert.equal(plan.measured.examples, 16);
    assert.ok(plan.candidates.every((c: { measured: { kl: number; top1: number } }) => c.measured.kl >= 0 && c.measured.top1 <= 1));
    assert.ok(plan.measured.rankCorrelation === null || Math.abs(plan.measured.rankCorrelation) <= 1);
    assert.equal(
      plan.measured.rankCorrelationOver,
      plan.candidates.filter((c: { similarityKept: number | null }) => c.similarityKept !== null).length,
    );
    assert.ok('recommendedBySimilarity' in plan && 'pareto' in plan && 'recommended' in plan, 'the plan keeps its fields');
    const rec = plan.candidates[plan.recommended];
    assert.ok(
      rec.cost.flopsRatio <= 0.9 &&
        plan.candidates.every(
          (c: { cost: { flopsRatio: number }; measured: { drift: number } }) =>
            c.cost.flopsRatio > 0.9 || c.measured.drift >= rec.measured.drift,
        ),
    );
    assert.equal(plan.search.mode, 'custom');
    assert.ok(plan.search.cost.flopsRatio <= 0.9 && plan.search.reached);
    const config = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(config.heads, plan.search.heads);
    // The same KL as whatif on the same 16 examples.
    const w = run('whatif', join(sample, 'model.onnx'), out, ...text, '--examples', '16', '--json', '-q');
    assert.equal(w.code, 0, w.stderr);
    assert.ok(Math.abs(JSON.parse(w.stdout).drift.kl - plan.search.measured.kl) <= 1e-9, 'plan and whatif measure the same KL');
    const human = run('plan', analysis, '--model', join(sample, 'model.onnx'), ...text, '--calibration', '8', '-q');
    assert.match(human.stdout, /rank correlation \(Spearman\) between similarity kept and measured drift over \d+ candidates/);
    assert.match(human.stdout, /recommended for FLOPs ≤ 0\.9 by measured drift \(criterion: kl\)/);
  });

  it('refuses another model, and measuring flags without --model', () => {
    const r = run(
      'plan',
      analysis,
      '--model',
      join(root, 'test', 'fixtures', 'models', 'bert_opset13.onnx'),
      '--inputs',
      join(root, 'test', 'fixtures', 'models', 'bert_opset13.inputs.jsonl'),
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /was made from another model .*not --model .*bert_opset13\.onnx/);
    const s = run('plan', analysis, '--search');
    assert.equal(s.code, 2);
    assert.match(s.stderr, /--search goes with --model/);
  });
});
