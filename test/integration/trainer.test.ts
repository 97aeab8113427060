// Protects the reference trainer as the CLI drives it: the Python suite passes, its parameter count is the cost model's (extra layers too), tokenize → train and emit → train run end to end (python and torchrun, the paper's options), shards of another tokenizer and resumes with other settings are refused naming the flag, and a missing interpreter or torch is one clear error.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configSchemaId, formatReuseConfig } from '../../analysis/config/reuseConfig';
import type { ReuseConfig } from '../../analysis/config/reuseConfig';
import { decodeShard } from '../../analysis/config/tokenShards';
import { costOf } from '../../analysis/planner/cost';
import type { HeadMap } from '../../analysis/planner/headMap';
import { presetHeadMap } from '../../analysis/planner/modes';
import type { ReuseMode } from '../../analysis/planner/modes';
import { analysisWith } from '../helpers/analysisFixture';
import { runCli } from '../helpers/cli';
import { root } from '../helpers/paths.mjs';
import { needPython, python } from '../helpers/python';
import { smallWordPieceTokenizer } from '../helpers/tokenizers';

const env = { ...process.env, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' };
const run = (...args: string[]) => runCli(args, { env, timeout: 180_000 });

function configOf(mode: ReuseMode, P: number, K: number, heads: HeadMap, layers: number, H: number): ReuseConfig {
  return {
    schema: configSchemaId,
    source: { analysisSha256: '0'.repeat(64), modelSha256: '0'.repeat(64) },
    stack: 'encoder',
    dims: { layers, heads: H, hidden: 24, ffn: 40, vocab: 30, maxPositions: 20 },
    mode,
    P,
    K,
    heads,
  };
}

const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'dog', 'cat', 'runs', 'sleeps', 'far', 'home'];

function writeTokenizer(path: string) {
  writeFileSync(path, JSON.stringify(smallWordPieceTokenizer(vocab)));
}

/** An analysis file whose dims fit the tiny tokenizer above. */
function writeAnalysis(path: string, L: number, H: number) {
  const headPairs = Array.from({ length: L }, (_, l) =>
    Array.from({ length: H }, (_, h) =>
      Array.from({ length: L }, (_, i) =>
        Array.from({ length: H }, (_, j) => (l === i && h === j ? 1 : 0.5 + 0.1 * ((h + j + l + i) % 3))),
      ),
    ),
  );
  const file = analysisWith(
    headPairs,
    headPairs.map((r) => r.map(() => 0.3)),
    { hidden: 16, ffn: 32, vocab: vocab.length, maxPositions: 12 },
  );
  writeFileSync(path, JSON.stringify({ ...file, model: { path: '/m.onnx', sha256: 'c'.repeat(64) } }));
}

describe('reference trainer', () => {
  it('the Python test suite passes (test/trainer)', (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const r = spawnSync(python, ['-m', 'unittest', 'discover', '-s', join(root, 'test', 'trainer')], {
      encoding: 'utf8',
      env,
      timeout: 300_000,
    });
    assert.equal(r.status, 0, `python unittest failed:\n${(r.stderr ?? '').slice(-4000)}`);
  });

  it('counts exactly the parameters of the cost model', (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const dir = mkdtempSync(join(tmpdir(), 'trainer-params-'));
    const custom = presetHeadMap('partial', 4, 4, 0, 0);
    custom[2] = [{ reuse: { layer: 0, head: 3 } }, 'exact', { reuse: { layer: 1, head: 0 } }, 'exact'];
    custom[3] = ['skip', 'skip', 'skip', 'skip'];
    const deeper = presetHeadMap('full', 5, 4, 2, 4); // 4 analysed layers + 1 extra
    const cases: [ReuseMode, number, number, HeadMap][] = [
      ['partial', 2, 0, presetHeadMap('partial', 4, 4, 2, 0)],
      ['partial', 2, 3, presetHeadMap('partial', 4, 4, 2, 3)],
      ['full', 3, 4, presetHeadMap('full', 4, 4, 3, 4)],
      ['alternate', 2, 2, presetHeadMap('alternate', 4, 4, 2, 2)],
      ['skip', 2, 4, presetHeadMap('skip', 4, 4, 2, 4)],
      ['custom', 2, 4, custom],
      ['full', 2, 4, deeper],
    ];
    const files = cases.map(([mode, P, K, heads], i) => {
      const file = join(dir, `c${i}.reuse.json`);
      const extra = heads.length - 4;
      writeFileSync(file, formatReuseConfig({ ...configOf(mode, P, K, heads, heads.length, 4), ...(extra ? { extraLayers: extra } : {}) }));
      return file;
    });
    const code =
      'import json, sys; sys.path.insert(0, sys.argv[1]); from reuse_model import *; print(json.dumps([count_parameters(ReuseBertForMaskedLM(load_config(p))) for p in sys.argv[2:]]))';
    const r = spawnSync(python, ['-c', code, join(root, 'media', 'trainer'), ...files], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    const counts = JSON.parse(r.stdout) as number[];
    cases.forEach(([mode, P, K, heads], i) => {
      const expected = costOf(
        { layers: 4, heads: 4, hidden: 24, ffn: 40, vocab: 30, maxPositions: 20 },
        heads,
        8,
        heads.length - 4,
      ).paramsReuse;
      assert.equal(counts[i], expected, `${mode} P=${P} K=${K}: trainer ${counts[i]} vs cost model ${expected}`);
    });
  });

  it('emit → train runs end to end with python and with torchrun', (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const dir = mkdtempSync(join(tmpdir(), 'trainer-e2e-'));
    writeAnalysis(join(dir, 'analysis.json'), 3, 2);
    writeTokenizer(join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'text.txt'), 'the dog runs far\nthe cat sleeps home\n\nthe dog sleeps\nthe cat runs home far\n');
    const config = join(dir, 'tiny.reuse.json');
    assert.equal(run('emit', join(dir, 'analysis.json'), '--mode', 'partial', '--reuse-heads', '1', '--out', config).code, 0);
    const common = [
      config,
      '--data',
      join(dir, 'text.txt'),
      '--tokenizer',
      join(dir, 'tokenizer.json'),
      '--steps',
      '3',
      '--batch-size',
      '4',
      '--python',
      python,
    ];
    const one = run('train', ...common, '--out', join(dir, 'run'));
    assert.equal(one.code, 0, `train failed:\n${one.stdout}\n${one.stderr}`);
    assert.match(one.stdout, /step 3\/3 {2}loss \d/);
    const lines = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.deepEqual(
      lines.map((l) => l.step),
      [1, 2, 3],
    );
    for (const key of ['loss', 'lr', 'tokensPerSecond', 'elapsedSeconds'])
      assert.equal(typeof lines[0][key], 'number', `metrics lack ${key}`);
    assert.ok(
      existsSync(join(dir, 'run', 'model.pt')) && existsSync(join(dir, 'run', 'data', 'index.json')),
      'text is packed into shards in the run folder',
    );
    const again = run('train', ...common, '--out', join(dir, 'run'));
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already holds a run.*--resume/);
    const more = run('train', ...common.map((a) => (a === '3' ? '5' : a)), '--out', join(dir, 'run'), '--resume');
    assert.equal(more.code, 0, more.stderr);
    assert.match(more.stdout, /step 5\/5/);
    const ddp = run('train', ...common, '--out', join(dir, 'ddp'), '--launcher', 'torchrun', '--nproc', '2');
    assert.equal(ddp.code, 0, `torchrun failed:\n${ddp.stdout}\n${ddp.stderr}`);
    assert.match(readFileSync(join(dir, 'ddp', 'metrics.jsonl'), 'utf8'), /"step": 3/);
  });

  it('tokenize → train with the paper options: Reuse 13L, pre-LN, relative bias, bf16, accumulation, evaluation', (t) => {
    if (!needPython(t, ['torch', 'numpy'])) return;
    const dir = mkdtempSync(join(tmpdir(), 'trainer-shards-'));
    writeAnalysis(join(dir, 'analysis.json'), 3, 2);
    writeTokenizer(join(dir, 'tokenizer.json'));
    const lines = ['the dog runs far', 'the cat sleeps home', 'the dog sleeps', 'the cat runs home far'];
    writeFileSync(join(dir, 'text.txt'), Array.from({ length: 40 }, (_, i) => lines[i % 4]).join('\n'));
    const shards = join(dir, 'shards');
    const tok = run(
      'tokenize',
      '--text',
      join(dir, 'text.txt'),
      '--tokenizer',
      join(dir, 'tokenizer.json'),
      '--out',
      shards,
      '--max-length',
      '12',
      '--held-out',
      '0.25',
    );
    assert.equal(tok.code, 0, tok.stderr);
    assert.match(tok.stdout, /training and \d+ held-out rows of 12 tokens/);
    const first = decodeShard(readFileSync(join(shards, 'train-00000.bin')), 'train-00000.bin');
    // [CLS] the dog runs far [SEP] the cat sleeps home [SEP]: the post-processor's frame, lines joined by [SEP];
    // the twelfth slot could hold only another [SEP], so the next line starts the next row.
    assert.deepEqual(first.rows[0], [2, 5, 6, 8, 10, 3, 5, 7, 9, 11, 3]);
    assert.deepEqual(first.rows[1].slice(0, 5), [2, 5, 6, 9, 3]);

    const config = join(dir, 'full.reuse.json');
    assert.equal(run('emit', join(dir, 'analysis.json'), '--mode', 'full', '--reuse-layers', '1', '--out', config).code, 0);
    const common = [
      config,
      '--data',
      shards,
      '--tokenizer',
      join(dir, 'tokenizer.json'),
      '--steps',
      '4',
      '--batch-size',
      '4',
      '--python',
      python,
    ];
    const paper = [
      '--extra-layers',
      '1',
      '--norm',
      'pre',
      '--position',
      'relative',
      '--precision',
      'bf16',
      '--accumulate',
      '2',
      '--eval-every',
      '2',
    ];
    const r = run('train', ...common, ...paper, '--out', join(dir, 'run'));
    assert.equal(r.code, 0, `train failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /4 layers \(1 extra\)/);
    const deeper = JSON.parse(readFileSync(join(dir, 'run', 'config.reuse.json'), 'utf8')) as ReuseConfig;
    assert.equal(deeper.dims.layers, 4);
    assert.equal(deeper.extraLayers, 1);
    const metrics = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.deepEqual(
      metrics.filter((m) => 'evalLoss' in m).map((m) => m.step),
      [2, 4],
      'evaluation every 2 steps on the held-out shards',
    );
    const settings = (JSON.parse(readFileSync(join(dir, 'run', 'run.json'), 'utf8')) as { settings: { model: { norm: string } } }).settings;
    assert.equal(settings.model.norm, 'pre');

    const other = run('train', ...common, ...paper.map((a) => (a === 'pre' ? 'post' : a)), '--out', join(dir, 'run'), '--resume');
    assert.equal(other.code, 2);
    assert.match(other.stderr, /--norm is "post" here, but the run in .* was started with "pre"/);

    writeFileSync(
      join(dir, 'other-tokenizer.json'),
      readFileSync(join(dir, 'tokenizer.json'), 'utf8').replace('"lowercase":true', '"lowercase":false'),
    );
    const foreign = run(
      'train',
      config,
      '--data',
      shards,
      '--tokenizer',
      join(dir, 'other-tokenizer.json'),
      '--out',
      join(dir, 'foreign'),
      '--python',
      python,
    );
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /written with another tokenizer .*--tokenizer has/);
  });

  it('a missing interpreter or torch is one clear line, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trainer-python-'));
    const config = join(dir, 'c.reuse.json');
    writeFileSync(config, formatReuseConfig(configOf('partial', 1, 1, presetHeadMap('partial', 2, 2, 1, 1), 2, 2)));
    writeFileSync(join(dir, 'text.txt'), 'the dog\n');
    // Data and tokenizer are checked before the interpreter, so they must be good here.
    const args = [
      'train',
      config,
      '--data',
      join(dir, 'text.txt'),
      '--tokenizer',
      join(root, 'media', 'sample', 'tokenizer.json'),
      '--out',
      join(dir, 'run'),
    ];
    const missing = run(...args, '--python', join(dir, 'no-such-python'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr.trim(), /^attention-reuse: Python interpreter ".*no-such-python" was not found; pass --python PATH/);
    const fake = join(dir, 'python-without-torch');
    writeFileSync(fake, '#!/bin/sh\necho "ModuleNotFoundError: No module named \'torch\'" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const noTorch = run(...args, '--python', fake);
    assert.equal(noTorch.code, 2);
    assert.equal(noTorch.stderr.trim().split('\n').length, 1, noTorch.stderr);
    assert.match(noTorch.stderr, /cannot import torch \(ModuleNotFoundError: No module named 'torch'\); install PyTorch/);
    const bad = run('train', config, '--data', join(dir, 'text.txt'), '--out', join(dir, 'run'), '--launcher', 'mpi');
    assert.match(bad.stderr, /--launcher must be python or torchrun/);
  });
});
