// Protects the path from the analysed model to its trained reuse model as a user runs it: train --init-from --steps 0 exports a model.onnx whose logits are the original's (all-exact config; the sample model and an untied-Linear-head, ε 1e-5, tanh-GELU fixture) or the what-if rewrite's (reuse config), which analyses cleanly and compares with the original; configs of another model are refused naming the field; distillation logs its KL; a trainer that dies is reported and its checkpoint resumes.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { readTokenizer } from '../../analysis/app/readers';
import { decodeModel } from '../../analysis/onnx/model';
import { runCli } from '../helpers/cli';
import { root } from '../helpers/paths.mjs';
import { needPython, python } from '../helpers/python';
import { writeConfigVariant } from '../helpers/reuseConfigFixture';

const sample = join(root, 'media', 'sample');
const sampleModel = join(sample, 'model.onnx');
const fixture = join(root, 'test', 'fixtures', 'models', 'linear_head_tanh');
const env = { ...process.env, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1', ATTENTION_REUSE_PYTHON: python };
const run = (...args: string[]) => runCli(args, { env, timeout: 300_000 });

function ok(r: ReturnType<typeof run>, what: string) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-2000)}`);
  return r;
}

/** Rows of token ids as JSONL (the inputs --inputs reads). */
function readRows(path: string): number[][] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).input_ids as number[]);
}

/** The first output of a model on these rows as one right-padded batch: its values at the real tokens, per row. */
async function logits(model: string, rows: number[][]): Promise<{ values: Float32Array[]; dims: number[] }> {
  const n = Math.max(...rows.map((r) => r.length));
  const ids = new BigInt64Array(rows.length * n);
  const mask = new BigInt64Array(rows.length * n);
  rows.forEach((r, i) => r.forEach((t, j) => ((ids[i * n + j] = BigInt(t)), (mask[i * n + j] = 1n))));
  const session = await ort.InferenceSession.create(model);
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, [rows.length, n]),
    attention_mask: new ort.Tensor('int64', mask, [rows.length, n]),
  });
  const first = out[session.outputNames[0]];
  await session.release();
  const V = Number(first.dims[2]);
  const data = first.data as Float32Array;
  return { values: rows.map((r, i) => data.subarray(i * n * V, (i * n + r.length) * V)), dims: first.dims.map(Number) };
}

async function maxDifference(a: string, b: string, rows: number[][]): Promise<number> {
  const [x, y] = [await logits(a, rows), await logits(b, rows)];
  assert.deepEqual(x.dims, y.dims, 'the same logits shape [batch, sequence, vocab]');
  let worst = 0;
  x.values.forEach((v, i) => v.forEach((value, k) => (worst = Math.max(worst, Math.abs(value - y.values[i][k])))));
  return worst;
}

describe('warm start: from the analysed model to a trained reuse model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-warm-'));
  const ids = join(dir, 'heldout.jsonl');
  const analysis = join(dir, 'sample.analysis.json');
  const exact = join(dir, 'exact.reuse.json');
  const guided = join(dir, 'guided.reuse.json');
  const text = join(dir, 'train.txt');
  const tokenizer = join(sample, 'tokenizer.json');
  // Text of the sample sentences in rows of 64 tokens: the sample model was trained on sentences of at most 64.
  const sampleData = ['--data', text, '--tokenizer', tokenizer, '--max-length', '64'];
  const warmTrain = (config: string, out: string, ...more: string[]) =>
    run('train', config, '--init-from', sampleModel, '--out', out, ...more);

  before(async () => {
    // Held-out inputs: the last 40 sample sentences; the analysis and training use the first ones.
    const tok = await readTokenizer(tokenizer);
    const lines = readFileSync(join(sample, 'sentences.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    writeFileSync(
      ids,
      lines
        .slice(-40)
        .map((l) => JSON.stringify({ input_ids: tok.tokenizer.encode(l).ids.map(Number) }))
        .join('\n') + '\n',
    );
    writeFileSync(text, lines.slice(0, 200).join('\n') + '\n');
    ok(run('analyze', sampleModel, '--text', text, '--tokenizer', tokenizer, '--examples', '80', '--out', analysis, '-q'), 'analyze');
    ok(run('emit', analysis, '--reuse-layers', '0', '--reuse-heads', '0', '--out', exact), 'emit all-exact');
    ok(run('emit', analysis, '--mode', 'guided', '--reuse-heads', '2', '--out', guided), 'emit guided');
  });

  it("all-exact, --steps 0: model.onnx gives the sample model's logits (1e-4), eager, logits first; step 0 evaluated", async (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const out = join(dir, 'exact-run');
    const r = ok(
      warmTrain(exact, out, '--steps', '0', ...sampleData, '--held-out', '0.1', '--batch-size', '8', '--eval-batches', '2'),
      'train --steps 0',
    );
    assert.match(
      r.stdout,
      /warm start from .*model\.onnx: 4 layers × 4 heads, post-LN, ε 1e-12, gelu-erf, no token types, mlm head \(tied\), 128 positions/,
    );
    const exported = join(out, 'model.onnx');
    const worst = await maxDifference(sampleModel, exported, readRows(ids));
    assert.ok(worst <= 1e-4, `max |logits − original| = ${worst}`);
    const g = decodeModel(readFileSync(exported), exported);
    assert.deepEqual(
      g.graph.input.map((i) => i.name),
      ['input_ids', 'attention_mask'],
    );
    assert.equal(g.graph.output[0].name, 'logits');
    assert.ok(g.opset <= 17, `opset ${g.opset}`);
    assert.equal(g.graph.node.filter((n) => n.opType === 'Softmax').length, 4, 'eager attention: a Softmax per layer');
    const status = JSON.parse(readFileSync(join(out, 'status.json'), 'utf8'));
    assert.deepEqual([status.state, status.step, status.checkpointStep, status.exitCode], ['finished', 0, 0, 0]);
    const first = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]);
    assert.equal(first.step, 0);
    assert.ok(first.evalLoss > 0 && first.evalLoss < 6, `the trained sample model's held-out loss at step 0: ${first.evalLoss}`);
  });

  it("all-exact, --steps 0 on an untied single Linear head, ε 1e-5, tanh GELU, no token types: the original's logits (1e-4)", async (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const model = `${fixture}.onnx`;
    const fixtureAnalysis = join(dir, 'linear.analysis.json');
    ok(run('analyze', model, '--inputs', `${fixture}.inputs.jsonl`, '--out', fixtureAnalysis, '-q'), 'analyze fixture');
    const config = join(dir, 'linear.reuse.json');
    ok(run('emit', fixtureAnalysis, '--reuse-layers', '0', '--reuse-heads', '0', '--out', config), 'emit');
    const out = join(dir, 'linear-run');
    const r = ok(run('train', config, '--init-from', model, '--steps', '0', '--out', out), 'train --steps 0 without data');
    assert.match(r.stdout, /post-LN, ε 0\.00001, gelu-tanh, no token types, linear head, 40 positions/);
    const worst = await maxDifference(model, join(out, 'model.onnx'), readRows(`${fixture}.inputs.jsonl`));
    assert.ok(worst <= 1e-4, `max |logits − original| = ${worst}`);
  });

  it("a reuse config, --steps 0: the what-if rewrite's logits (1e-4); it analyses with every head and compares with the original", async (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const out = join(dir, 'guided-run');
    ok(warmTrain(guided, out, '--steps', '0', ...sampleData, '--batch-size', '8', '--eval-batches', '2'), 'train');
    const rewritten = join(dir, 'guided.whatif.onnx');
    ok(run('whatif', sampleModel, guided, '--inputs', ids, '--examples', '2', '--write-model', rewritten, '-q'), 'whatif --write-model');
    const rows = readRows(ids);
    const worst = await maxDifference(rewritten, join(out, 'model.onnx'), rows);
    assert.ok(worst <= 1e-4, `max |exported − rewritten| = ${worst}`);
    assert.ok(
      (await maxDifference(sampleModel, join(out, 'model.onnx'), rows)) > 1e-2,
      'the reuse config must move the logits, or this proves nothing',
    );

    const after = join(dir, 'guided.analysis.json');
    ok(
      run('analyze', join(out, 'model.onnx'), '--text', text, '--tokenizer', tokenizer, '--examples', '80', '--out', after, '-q'),
      'analyze the exported model',
    );
    const stack = JSON.parse(readFileSync(after, 'utf8')).stacks[0];
    assert.deepEqual([stack.layerCount, stack.headCount], [4, 4], 'every layer with all its heads, reuse layers included');
    const heads = JSON.parse(readFileSync(guided, 'utf8')).heads as ('exact' | { reuse: { layer: number; head: number } })[][];
    heads.forEach((row, l) =>
      row.forEach((e, h) => {
        if (typeof e === 'object')
          assert.ok(
            Math.abs(stack.headPairs[l][h][e.reuse.layer][e.reuse.head] - 1) < 1e-6,
            `head (${l},${h}) is its source (${e.reuse.layer},${e.reuse.head})`,
          );
      }),
    );

    const text2 = ok(run('compare', analysis, after), 'compare').stdout;
    assert.match(text2, /stack 0 encoder: 4 layers × 4 heads compared; layer pairs \|B − A\| mean [\d.]+, max [\d.]+/);
    assert.match(text2, /B − A +l'=0/);
    assert.match(text2, /A: no training metrics/);
    assert.match(
      text2,
      /B: held-out step 0: loss [\d.]+, accuracy [\d.]+ \(.*metrics\.jsonl\)/,
      "the run's metrics sit beside the exported model",
    );
    const json = JSON.parse(ok(run('compare', analysis, after, '--json'), 'compare --json').stdout);
    assert.deepEqual(json.mismatches, []);
    assert.equal(json.stacks[0].layerPairs.diff.length, 4);
    assert.equal(json.stacks[0].headChanges.length, 16);
    const reused = json.stacks[0].headChanges.find(
      (c: { layer: number; head: number }) => c.layer === 1 && typeof heads[1][c.head] === 'object',
    );
    assert.ok(Math.abs(reused.earlier[1] - 1) < 1e-6, 'a reuse head matches an earlier head exactly in B');
  });

  it('refuses a config made for another model naming the field, before Python; a defaulted size is one note', (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const base = JSON.parse(readFileSync(exact, 'utf8'));
    const variant = (name: string, edit: (c: typeof base) => void) => writeConfigVariant(base, dir, name, edit);
    const train = (config: string, out: string) =>
      run('train', config, '--init-from', sampleModel, '--steps', '0', '--out', join(dir, out), '--python', join(dir, 'no-python-here'));
    const refused = (config: string, pattern: RegExp) => {
      const r = train(config, 'refused');
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr.trim().split('\n').pop()!, pattern);
    };
    refused(
      variant('sha', (c) => (c.source.modelSha256 = '0'.repeat(64))),
      /source\.modelSha256 is 000000000000…, but .*model\.onnx has sha256/,
    );
    refused(
      variant('hidden', (c) => (c.dims.hidden = 64)),
      /dims\.hidden is 64, but stack "encoder" of .* has 128 as its hidden size/,
    );
    refused(
      variant('layers', (c) => ((c.dims.layers = 3), (c.heads = c.heads.slice(0, 3)))),
      /dims\.layers is 3, but stack "encoder" of .* has 4 layers/,
    );
    refused(exact, /Python interpreter ".*no-python-here" was not found/);
    const defaulted = variant('positions', (c) => (c.dims.maxPositions = 512));
    const r = ok(
      run('train', defaulted, '--init-from', sampleModel, '--steps', '0', '--out', join(dir, 'positions-run')),
      'defaulted maxPositions',
    );
    assert.equal(
      r.stdout.split('\n').filter((l) => /using the model's maxPositions 128 \(the config has 512\)/.test(l)).length,
      1,
      r.stdout,
    );
    assert.equal(
      JSON.parse(readFileSync(join(dir, 'positions-run', 'config.reuse.json'), 'utf8')).dims.maxPositions,
      128,
      "the model's size is trained",
    );
    const mixed = run('train', exact, '--distill-weight', '0.3', '--steps', '0', '--out', join(dir, 'x'));
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /--distill-weight learns from the model given to --init-from/);
  });

  it('--distill logs its KL; a trainer killed mid-run is reported with its last lines, status.json says so, and --resume finishes', (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const out = join(dir, 'distill-run');
    const args = [
      'train',
      guided,
      '--init-from',
      sampleModel,
      '--out',
      out,
      '--distill',
      ...sampleData,
      '--steps',
      '4',
      '--batch-size',
      '4',
      '--checkpoint-every',
      '1',
      '--eval-every',
      '0',
    ];
    const killed = runCli(args, { env: { ...env, ATTENTION_REUSE_KILL_AT_STEP: '3' }, timeout: 300_000 });
    assert.equal(killed.code, 137, `SIGKILL is 128 + 9: ${killed.stderr}`);
    const lines = killed.stderr.trim().split('\n');
    const report = lines.findIndex((l) => l.startsWith('attention-reuse: the trainer died'));
    assert.match(
      lines[report],
      /the trainer died after step 3 of 4 — killed by SIGKILL \(out of memory, or killed from outside\); its last checkpoint \(step 2, .*checkpoint\.pt\) is intact: continue with --resume/,
    );
    assert.match(lines[report + 1], /^last \d+ lines of its output:$/);
    assert.match(lines.slice(report + 2).join('\n'), /\| step 3\/4 {2}loss [\d.]+ {2}distill KL [\d.]+/);
    const status = JSON.parse(readFileSync(join(out, 'status.json'), 'utf8'));
    assert.deepEqual([status.state, status.step, status.checkpointStep, status.exitCode, status.signal], ['failed', 3, 2, 137, 'SIGKILL']);
    assert.ok(status.logTail.length > 0 && status.reason.includes('SIGKILL'));
    const resumed = ok(runCli([...args, '--resume'], { env, timeout: 300_000 }), 'resume');
    assert.match(resumed.stdout, /step 4\/4 {2}loss/);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      metrics.map((m) => m.step),
      [1, 2, 3, 4],
      'step 3 is logged once, by the resumed run',
    );
    for (const m of metrics) assert.ok(m.distillKl >= 0 && Number.isFinite(m.objective), JSON.stringify(m));
    assert.equal(JSON.parse(readFileSync(join(out, 'status.json'), 'utf8')).state, 'finished');
    assert.ok(existsSync(join(out, 'model.onnx')));
  });
});
