// Protects the plan and emit commands as a user runs them: the plan table and JSON, configs that are valid, never silently overwritten, and one-line errors naming the field.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkReuseConfig, configSchema } from '../../analysis/config/reuseConfig';
import type { ModelDims } from '../../analysis/onnx/dims';
import { analysisWith } from '../helpers/analysisFixture';
import { runCli } from '../helpers/cli';
import { root } from '../helpers/paths.mjs';

/** A small analysis file: head h of layer l computes pattern (h + l) mod H. */
function analysisJson(L: number, H: number, dims: ModelDims) {
  const pattern = (l: number, h: number) => (h + l) % H;
  const headPairs = Array.from({ length: L }, (_, l) =>
    Array.from({ length: H }, (_, h) =>
      Array.from({ length: L }, (_, i) =>
        Array.from({ length: H }, (_, j) => (l === i && h === j ? 1 : pattern(l, h) === pattern(i, j) ? 0.9 : 0.3)),
      ),
    ),
  );
  return analysisWith(
    headPairs,
    Array.from({ length: L }, () => new Array<number>(H).fill(0.4)),
    dims,
  );
}

const run = (...args: string[]) => runCli(args);

describe('plan and emit commands', () => {
  it('the build ships the schema the CLI validates with', () => {
    const shipped = join(root, 'media', 'schemas', 'reuseConfig.schema.json');
    assert.ok(existsSync(shipped), 'media/schemas/reuseConfig.schema.json is written by the build: run npm run build');
    assert.deepEqual(JSON.parse(readFileSync(shipped, 'utf8')), configSchema(), 'the build wrote a schema other than configSchema()');
  });

  const dir = mkdtempSync(join(tmpdir(), 'reuse-config-'));
  const analysis = join(dir, 'analysis.json');
  writeFileSync(analysis, JSON.stringify(analysisJson(5, 4, { hidden: 32, ffn: 64, vocab: 40, maxPositions: 16 })));

  it('plan prints a table with a recommendation and JSON with the front', () => {
    const r = run('plan', analysis, '--target-flops', '0.95');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^>\*? +\w/m, 'no recommended row marked');
    assert.match(r.stdout, /recommended for FLOPs ≤ 0\.95/);
    const j = run('plan', analysis, '--json', '--seq-len', '8');
    const plan = JSON.parse(j.stdout) as { seqLen: number; pareto: number[]; candidates: { similarityKept: number | null }[] };
    assert.equal(plan.seqLen, 8);
    assert.ok(plan.pareto.length > 0);
    assert.ok(
      plan.candidates.some((c) => Math.abs((c.similarityKept ?? 0) - 0.9) < 1e-12),
      'the permuted heads were not found',
    );
  });

  it('emit writes a valid config, never silently overwrites, and checks the stack', () => {
    const out = join(dir, 'm.reuse.json');
    const r = run('emit', analysis, '--reuse-layers', '3', '--reuse-heads', '4', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const c = checkReuseConfig(JSON.parse(readFileSync(out, 'utf8')), out);
    assert.equal(c.mode, 'full');
    assert.ok(Math.abs(c.estimates!.similarityKept! - 0.9) < 1e-12, 'preset heads were not placed by assignment');
    assert.equal(c.source.modelSha256, 'b'.repeat(64));
    assert.match(c.source.analysisSha256, /^[0-9a-f]{64}$/);
    const again = run('emit', analysis, '--reuse-layers', '3', '--reuse-heads', '4', '--out', out);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists \(pass --force/);
    assert.equal(run('emit', analysis, '--mode', 'guided', '--reuse-heads', '2', '--out', out, '--force').code, 0);
    assert.equal(checkReuseConfig(JSON.parse(readFileSync(out, 'utf8')), out).P, 3, 'guided defaults to P = L-2');
    const canonical = join(dir, 'c.reuse.json');
    assert.equal(run('emit', analysis, '--mode', 'full', '--reuse-layers', '1', '--canonical', '--out', canonical).code, 0);
    assert.deepEqual(JSON.parse(readFileSync(canonical, 'utf8')).heads[1][3], { reuse: { layer: 0, head: 3 } });
    const missing = run('emit', analysis, '--stack', 'decoder', '--reuse-heads', '1', '--out', join(dir, 'd.reuse.json'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /has no stack "decoder" \(it has "encoder"\)/);
    const bad = run('emit', analysis, '--reuse-layers', '5', '--reuse-heads', '1', '--out', join(dir, 'e.reuse.json'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /P \(reuse layers\) is 5, but mode "partial" with 5 layers allows 0\.\.4/);
  });

  it('asks for sizes the analysis could not read', () => {
    const partial = join(dir, 'nodims.json');
    writeFileSync(partial, JSON.stringify(analysisJson(3, 2, { hidden: null, ffn: null, vocab: 40, maxPositions: null })));
    const r = run('plan', partial);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /does not know the hidden size.*--hidden/);
    assert.equal(run('plan', partial, '--hidden', '8', '--ffn', '16').code, 0);
    const broken = join(dir, 'broken.json');
    const a = analysisJson(3, 2, { hidden: 8, ffn: 8, vocab: 8, maxPositions: 8 });
    (a.stacks[0].headPairs[1][0] as unknown[]).pop();
    writeFileSync(broken, JSON.stringify(a));
    assert.match(run('plan', broken).stderr, /stacks\[0\]\.headPairs\[1\]\[0\] must be an array of 3 entries/);
  });
});
