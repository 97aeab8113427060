// Protects issue 15's fused attention: a model with each fused op (com.microsoft Attention, MultiHeadAttention, GroupQueryAttention, ONNX Attention) gives the analysis of its unfused twin, whose attention scripts/fixtures/makeFusedModels.mjs wrote out in primitive ops.
import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readAnalysis } from '../../analysis/app/readers';
import { analyzeFixture, runCli } from '../helpers/cli';
import { maxDiff } from '../helpers/compare';
import { fixtureModels as models } from '../helpers/paths.mjs';

const fused = {
  fused_contrib: 'com.microsoft.Attention ×2',
  fused_mha: 'com.microsoft.MultiHeadAttention ×6',
  fused_gqa: 'com.microsoft.GroupQueryAttention ×2',
  fused_attention23: 'ai.onnx.Attention ×2',
};

describe('fused attention ops analyse like their unfused twins', () => {
  for (const [name, ops] of Object.entries(fused)) {
    it(`${name} (${ops}): inspect says what it rewrote, and analyze equals the twin's to 1e-5`, async () => {
      const r = runCli(['inspect', join(models, `${name}.onnx`)]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`fused attention rewritten into visible steps: ${ops}`));
      const dir = mkdtempSync(join(tmpdir(), `ar-${name}-`));
      analyzeFixture(name, name, join(dir, 'fused.json'));
      analyzeFixture(`${name}.twin`, name, join(dir, 'twin.json'));
      const [a, b] = [await readAnalysis(join(dir, 'fused.json')), await readAnalysis(join(dir, 'twin.json'))];
      assert.deepEqual(
        a.stacks.map((s) => [s.name, s.kind, s.causal, s.layerCount, s.headCount, s.kvHeadCount]),
        b.stacks.map((s) => [s.name, s.kind, s.causal, s.layerCount, s.headCount, s.kvHeadCount]),
        `${name}: stacks`,
      );
      assert.equal(a.run.tokens, b.run.tokens, `${name}: tokens`);
      a.stacks.forEach((stack, i) => {
        for (const key of ['headPairs', 'c', 'layerPairs', 'uniform', 'entropy', 'entropyNormalized'] as const) {
          const [d, at] = maxDiff(stack[key], b.stacks[i][key]);
          assert.ok(d <= 1e-5, `${name} ${stack.name}.${key}${at}: off the twin's by ${d}: the rewrite computes another attention`);
        }
      });
    });
  }
});
