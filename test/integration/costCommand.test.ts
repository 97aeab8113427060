// Protects `attention-reuse cost` as a user runs it: the paper's Table 1 ratios (Reuse 13L included) in the table and in --json, and one-line errors naming the bound.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli';

function close(actual: number, expected: number, what: string) {
  assert.ok(
    Math.abs(actual - expected) <= 1e-6,
    `${what}: ${actual} vs ${expected}; re-read DESIGN.md's accounting (tied decoder, no pooler, 2 type rows)`,
  );
}

describe('attention-reuse cost', () => {
  const run = (...args: string[]) => runCli(['cost', ...args]);
  const bert = ['--layers', '12', '--heads', '12', '--hidden', '768', '--ffn', '3072', '--vocab', '30522', '--seq-len', '512'];

  it('--json prints the totals and ratios', () => {
    const r = run(...bert, '--reuse-heads', '6', '--reuse-layers', '10', '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, number>;
    for (const k of ['params', 'paramsReuse', 'paramsRatio', 'flops', 'flopsReuse', 'flopsRatio', 'scoreMemoryRatio'])
      assert.ok(k in j, `--json lacks ${k}`);
    assert.equal(j.params, 109_514_298);
    close(j.paramsRatio, 0.946072, 'CLI params ratio');
    close(j.flopsRatio, 0.916667, 'CLI FLOPs ratio');
  });

  it('prints a table with the ratios to six places', () => {
    const r = run(...bert, '--reuse-heads', '12', '--reuse-layers', '6');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /params\s+109,514,298\s+102,427,194\s+0\.935286/);
    assert.match(r.stdout, /FLOPs .* 0\.900000/);
  });

  it("--extra-layers 1 reproduces the paper's Reuse 13L row (K = 12, P = 6: params 1.00, FLOPs 0.98)", () => {
    const r = run('--extra-layers', '1', ...bert, '--mode', 'full', '--reuse-heads', '12', '--reuse-layers', '6');
    assert.equal(r.code, 0, r.stderr);
    const ratio = (row: string) => Number(new RegExp(`^${row}\\s.*\\s(\\d\\.\\d{6})\\b`, 'm').exec(r.stdout)?.[1]);
    assert.equal(ratio('params').toFixed(2), '1.00', r.stdout);
    assert.equal(ratio('FLOPs').toFixed(2), '0.98', r.stdout);
    assert.match(r.stdout, /13 layers \(1 extra, appended\); ratios against the 12-layer model/);
    const j = JSON.parse(
      run('--extra-layers', '1', ...bert, '--mode', 'full', '--reuse-heads', '12', '--reuse-layers', '6', '--json').stdout,
    ) as Record<string, number>;
    assert.equal(j.params, 109_514_298, 'the baseline is the model as analysed');
    assert.equal(j.extraLayers, 1);
    for (const k of ['scoreMemoryRatio', 'trainingMemoryRatio']) assert.equal(typeof j[k], 'number', `--json lacks ${k}`);
    assert.ok(j.trainingMemoryRatio > j.scoreMemoryRatio, 'reuse heads still keep dropout masks in training');
  });

  it('skip and alternate take K = H without --reuse-heads', () => {
    const r = run(...bert, '--mode', 'skip', '--reuse-layers', '6', '--json');
    assert.equal(r.code, 0, r.stderr);
    close((JSON.parse(r.stdout) as { paramsRatio: number }).paramsRatio, 0.870572, 'skip via CLI');
    const alternate = JSON.parse(run(...bert, '--mode', 'alternate', '--reuse-layers', '6', '--json').stdout) as {
      K: number;
      flopsRatio: number;
    };
    assert.equal(alternate.K, 12, 'alternate is a whole-layer variant: K defaults to H');
    close(alternate.flopsRatio, 0.9, 'alternate 6 layers costs what full P = 6 costs');
  });

  it('bad P or K exits 2 with one line naming the bound', () => {
    for (const [args, pattern] of [
      [['--reuse-heads', '13', '--reuse-layers', '10'], /K \(reuse heads\) is 13.*0\.\.12/],
      [['--reuse-heads', '6', '--reuse-layers', '12'], /P \(reuse layers\) is 12.*0\.\.11/],
      [['--mode', 'full', '--reuse-heads', '6', '--reuse-layers', '3'], /K \(reuse heads\) is 6.*allows 12/],
      [['--reuse-heads', 'x', '--reuse-layers', '3'], /--reuse-heads must be a whole number/],
      [['--mode', 'sideways', '--reuse-heads', '1', '--reuse-layers', '1'], /--mode must be one of/],
    ] as [string[], RegExp][]) {
      const r = run(...bert, ...args);
      assert.equal(r.code, 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    }
  });
});
