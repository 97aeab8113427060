// Protects issue 12 on one fixture per model family: inspect names the stacks PyTorch built (kind, causal, layers, heads, key/value heads), and analyze equals eq. 2/3 and the baselines computed by PyTorch from its own attention (scripts/reference/familySimilarity.py).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readAnalysis } from '../../analysis/app/readers';
import type { AnalysisStack } from '../../analysis/result/analysisFile';
import { analyzeFixture, runCli } from '../helpers/cli';
import { maxDiff } from '../helpers/compare';
import { families } from '../helpers/families.mjs';
import { fixtureModels as models, root } from '../helpers/paths.mjs';
import { needPython, python } from '../helpers/python';

interface ExpectedStack {
  name: string;
  kind: string;
  layers: number;
  heads: number;
  causal: boolean;
  kvHeads?: number;
}

const env = { ...process.env, OMP_NUM_THREADS: '1' };
const run = (...args: string[]) => runCli([...args, '--quiet'], { env });
const expectedOf = (name: string) => JSON.parse(readFileSync(join(models, `${name}.expected.json`), 'utf8')) as { stacks: ExpectedStack[] };

function analyze(name: string, dir: string, ...extra: string[]): string {
  return analyzeFixture(name, name, join(dir, `${name}.analysis.json`), ...extra);
}

describe('model families', () => {
  for (const name of families) {
    it(`${name}: inspect names the stacks, layers and heads PyTorch built`, () => {
      const r = runCli(['inspect', join(models, `${name}.onnx`), '--json'], { env });
      assert.equal(r.code, 0, r.stderr);
      const stacks = (
        JSON.parse(r.stdout) as { stacks: { name: string; kind: string; causal: boolean; kvHeads?: number; layers: { heads: number }[] }[] }
      ).stacks;
      const listed = stacks.map((s) => ({
        name: s.name,
        kind: s.kind,
        causal: s.causal,
        layers: s.layers.length,
        heads: s.layers.map((l) => l.heads),
        kvHeads: s.kvHeads,
      }));
      const want = expectedOf(name).stacks.map((s) => ({ ...s, heads: new Array(s.layers).fill(s.heads), kvHeads: s.kvHeads }));
      // A merged decoder lists both branches; its inputs take the then branch.
      if (name === 'gpt2_merged') want.push({ ...want[0], name: 'decoder@else' });
      assert.deepEqual(listed, want, `${name}: stacks (grouping by dataflow, causal masks, head counts)`);
    });

    it(`${name}: analyze equals eq. 2/3 and the baselines computed by PyTorch from its own attention, to 1e-5`, async (t) => {
      if (!needPython(t, ['torch'])) return;
      const dir = mkdtempSync(join(tmpdir(), `ar-family-${name}-`));
      const file = await readAnalysis(analyze(name, dir));
      const ref = join(dir, 'torch.json');
      const r = spawnSync(python, [join(root, 'scripts', 'reference', 'familySimilarity.py'), join(models, `${name}.expected.json`), ref], {
        encoding: 'utf8',
        env,
      });
      assert.equal(r.status, 0, r.stderr);
      const torch = JSON.parse(readFileSync(ref, 'utf8')) as { examples: number; stacks: Record<string, Record<string, unknown>> };
      assert.equal(file.run.examples, torch.examples);
      assert.deepEqual(
        file.stacks.map((s) => s.name),
        Object.keys(torch.stacks),
        `${name}: analyze's stacks`,
      );
      for (const stack of file.stacks) {
        const want = expectedOf(name).stacks.find((s) => s.name === stack.name)!;
        assert.equal(stack.causal, want.causal, `${name} ${stack.name}: causal`);
        assert.equal(stack.kvHeadCount, want.kvHeads, `${name} ${stack.name}: kvHeadCount`);
        for (const key of ['headPairs', 'c', 'layerPairs', 'uniform', 'entropy', 'entropyNormalized'] as const) {
          const [d, at] = maxDiff(stack[key], torch.stacks[stack.name][key]);
          assert.ok(d <= 1e-5, `${name} ${stack.name}.${key}${at}: off PyTorch's by ${d}`);
        }
      }
    });
  }

  it('causal attention uniform over the keys each row sees scores 1.0 against its uniform reference, normalised entropy 1.0', async () => {
    const file = await readAnalysis(analyze('causal_uniform', mkdtempSync(join(tmpdir(), 'ar-uniform-'))));
    const [stack] = file.stacks as [AnalysisStack];
    assert.equal(stack.causal, true);
    for (const key of ['uniform', 'entropyNormalized'] as const) {
      for (const v of stack[key]!.flat())
        assert.ok(Math.abs(v - 1) <= 1e-6, `${key} is ${v}, not 1 (uniform over all keys instead of the visible ones?)`);
    }
  });

  it("--branches all runs both branches of a merged decoder: without past they give the plain decoder's numbers", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ar-branches-'));
    const rows = readFileSync(join(models, 'gpt2.inputs.jsonl'), 'utf8').trim().split('\n');
    const inputs = join(dir, 'rows.jsonl');
    writeFileSync(inputs, rows.map((l) => JSON.stringify({ ...JSON.parse(l), use_cache_branch: [false] })).join('\n') + '\n');
    const out = join(dir, 'all.json');
    const r = run('analyze', join(models, 'gpt2_merged.onnx'), '--inputs', inputs, '--out', out, '--branches', 'all', '--ep', 'cpu');
    assert.equal(r.code, 0, r.stderr);
    const all = await readAnalysis(out);
    const plain = await readAnalysis(analyze('gpt2', dir));
    assert.deepEqual(
      all.stacks.map((s) => s.name),
      ['decoder@then', 'decoder@else'],
    );
    for (const s of all.stacks) {
      const [d] = maxDiff(s.headPairs, plain.stacks[0].headPairs);
      assert.ok(d <= 1e-6, `${s.name}: an empty past must change nothing (off by ${d})`);
    }
  });
});
