// Protects every reader of a user's file against hostile bytes: fast-check mutates the project's fixtures (models, JSONL, tokenizers, analyses, configs, token files; and the webview's messages) and each run may only end normally or with an InputError; no crash, no hang, no uncaught error. Seeds that once failed are replayed first.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { describe, it } from 'node:test';
import { root } from '../helpers/paths.mjs';
import { runFuzz } from './harness';

const targetModule = join(__dirname, `targets${extname(__filename)}`);
const seeds = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'bad', 'fuzz', 'seeds.json'), 'utf8')) as {
  target: string;
  seed: number;
  path: string;
  found: string;
}[];
/**
 * Seconds per target (each stops earlier at 20,000 runs): the suite stays near 30 s on two
 * cores. FUZZ_SCALE=10 searches ten times longer.
 */
const seconds: Record<string, number> = {
  onnxBytes: 5,
  onnxFields: 8,
  onnxGraphs: 8,
  jsonl: 3,
  jsonlFamilies: 2,
  lines: 2,
  tokenizer: 3,
  analysis: 5,
  config: 2,
  tokenFile: 2,
  numpy: 2,
  image: 2,
  webviewMessage: 2,
  metrics: 1,
};
const scale = Number(process.env.FUZZ_SCALE ?? 1);

describe('fuzzing the readers', () => {
  for (const seed of seeds) {
    it(`replays ${seed.target} seed ${seed.seed} (${seed.found})`, async () => {
      const r = await runFuzz(
        { module: targetModule, name: seed.target },
        { numRuns: 1, timeLimitMs: 10_000, seed: seed.seed, path: seed.path },
      );
      assert.ok(!r.failed, `a fixed fuzz failure is back: ${r.error}\ninput: ${r.counterexample}`);
    });
  }
  for (const [name, s] of Object.entries(seconds)) {
    it(`${name}: only InputError, no crash, no hang`, async () => {
      const r = await runFuzz({ module: targetModule, name }, { numRuns: 20_000 * scale, timeLimitMs: s * scale * 1000 });
      console.log(`fuzz ${name}: ${r.runs} runs in ${(r.ms / 1000).toFixed(1)} s (seed ${r.seed})`);
      assert.ok(
        !r.failed,
        `${name} failed after ${r.runs} runs (seed ${r.seed}, path ${r.path}): ${r.error}\ninput: ${r.counterexample}\nkeep it in test/fixtures/bad/fuzz/seeds.json once fixed`,
      );
      assert.ok(r.runs >= 1000, `${name}: only ${r.runs} runs in the time limit: the target got slower`);
    });
  }
});
