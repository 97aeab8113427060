// Protects `attention-reuse whatif` as a user runs it: KL and top-1 equal an independent numpy forward pass, the documented JSON, configs of another model refused naming the field, exit codes and cancel.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readTokenizer } from '../../analysis/app/readers';
import { decodeModel } from '../../analysis/onnx/model';

import { cliBundle as cli, root } from '../helpers/paths.mjs';
import { needPython, python } from '../helpers/python';
import { writeConfigVariant } from '../helpers/reuseConfigFixture';

const sample = join(root, 'media', 'sample');
const model = join(sample, 'model.onnx');
const env = { ...process.env, ORT_DISABLE_TELEMETRY: '1', OMP_NUM_THREADS: '1' };

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function refused(args: string[], pattern: RegExp): void {
  const r = run(...args);
  assert.equal(r.code, 2, `exit code for ${args.join(' ')}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[lines.length - 1], pattern);
  assert.equal(r.stdout, '', 'nothing on stdout when refused');
}

describe('attention-reuse whatif', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-whatif-'));
  const ids = join(dir, 'ids.jsonl');
  const configs: Record<string, string> = {};

  before(async () => {
    // 40 sentences tokenized as the CLI tokenizes them, for the reference and --inputs.
    const tok = await readTokenizer(join(sample, 'tokenizer.json'));
    const lines = readFileSync(join(sample, 'sentences.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .slice(0, 40);
    writeFileSync(ids, lines.map((l) => JSON.stringify({ input_ids: tok.tokenizer.encode(l).ids.map(Number) })).join('\n') + '\n');
    const analysis = join(dir, 'analysis.json');
    const a = run('analyze', model, '--inputs', ids, '--out', analysis, '-q');
    assert.equal(a.code, 0, a.stderr);
    for (const [name, extra] of [
      ['partial', ['--reuse-heads', '2']],
      ['guided', ['--mode', 'guided', '--reuse-heads', '2']],
      ['skip', ['--mode', 'skip', '--reuse-layers', '1']],
    ] as const) {
      configs[name] = join(dir, `${name}.reuse.json`);
      const e = run('emit', analysis, ...extra, '--out', configs[name]);
      assert.equal(e.code, 0, e.stderr);
    }
  });

  for (const name of ['partial', 'guided']) {
    it(`${name}: KL and top-1 equal an independent numpy forward pass with the same head map`, (t) => {
      if (!needPython(t, ['numpy', 'onnx'])) return;
      const r = run('whatif', model, configs[name], '--inputs', ids, '--json', '-q');
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(r.stdout);
      const ref = spawnSync(python, [join(root, 'scripts', 'reference', 'reuseForward.py'), model, configs[name], ids], {
        encoding: 'utf8',
        env,
      });
      assert.equal(ref.status, 0, ref.stderr);
      const want = JSON.parse(ref.stdout);
      assert.equal(got.drift.positions, want.tokens, 'the KL is over every real token of every example');
      assert.ok(Math.abs(got.drift.kl - want.kl) <= 1e-3 * want.kl, `KL ${got.drift.kl} vs numpy ${want.kl}`);
      assert.equal(got.drift.top1, want.top1, 'top-1 agreement');
      assert.ok(want.kl > 1e-4, 'the config must move the output, or the comparison proves nothing');
      assert.ok(
        got.rewrite.layers.filter((l: { kind: string }) => l.kind === 'reuse').every((l: { method: string }) => l.method === 'sliced'),
      );
    });
  }

  it('--json prints only the documented JSON; --mlm adds both accuracies; --write-model writes a model with the same outputs', () => {
    const out = join(dir, 'rewritten.onnx');
    // The masked-token run on 30 sample sentences; run twice below with another batch size.
    const mlm = (...more: string[]) =>
      run(
        'whatif',
        model,
        configs.skip,
        '--text',
        join(sample, 'sentences.txt'),
        '--tokenizer',
        join(sample, 'tokenizer.json'),
        '--examples',
        '30',
        '--mlm',
        '--json',
        ...more,
      );
    const r = mlm('--write-model', out);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(j.drift.outputs[0]).sort(), ['cosine', 'maxAbs', 'name']);
    assert.equal(j.drift.outputs[0].name, 'logits');
    for (const v of [
      j.drift.kl,
      j.drift.top1,
      j.mlm.accuracy.original,
      j.mlm.accuracy.rewritten,
      j.speed.original,
      j.speed.rewritten,
      j.speed.ratio,
    ])
      assert.equal(typeof v, 'number');
    assert.equal(j.speed.measured, true, 'a skip layer is removed: its speed is measured');
    assert.ok(j.mlm.maskedTokens >= 30, 'at least one masked token per example');
    assert.ok(
      Math.abs(j.mlm.accuracy.original - 0.25) < 0.12,
      `the trained sample model's accuracy is near 0.247 (got ${j.mlm.accuracy.original})`,
    );
    assert.ok(j.memory.peakRssMiB > 0);
    assert.ok(existsSync(out), '--write-model');
    const outputs = (path: string) => decodeModel(readFileSync(path), path).graph.output.map((o) => o.name);
    assert.deepEqual(outputs(out), outputs(model), 'the rewritten model keeps the output names');
    const again = run('whatif', model, configs.skip, '--inputs', ids, '--examples', '2', '--write-model', out);
    assert.equal(again.code, 2, 'an existing --write-model is not replaced without --force');
    assert.match(again.stderr, /--force/);
    // The same --mlm run twice masks the same tokens.
    const twice = JSON.parse(mlm('-q', '--batch', '3').stdout);
    assert.deepEqual(twice.mlm, j.mlm, 'masking must not depend on the run or the batch size');
  });

  it('refuses a config made for another model, naming the field; a defaulted size is a note', () => {
    const base = JSON.parse(readFileSync(configs.partial, 'utf8'));
    const variant = (name: string, edit: (c: typeof base) => void) => writeConfigVariant(base, dir, name, edit);
    const args = (config: string) => ['whatif', model, config, '--inputs', ids, '--examples', '2'];
    refused(
      args(variant('sha', (c) => (c.source.modelSha256 = '0'.repeat(64)))),
      /source\.modelSha256 is 000000000000…, but .*model\.onnx has sha256 [0-9a-f]{12}…/,
    );
    refused(args(variant('stack', (c) => (c.stack = 'decoder'))), /stack "decoder" is not a stack of .*model\.onnx \(it has "encoder"\)/);
    const fewer = (c: typeof base) => {
      c.dims.layers = 3;
      c.heads = c.heads.slice(0, 3);
      c.mode = 'custom';
      c.P = 2;
    };
    refused(args(variant('layers', fewer)), /dims\.layers is 3, but stack "encoder" of .* has 4 layers/);
    const twoHeads = (c: typeof base) => {
      c.dims.heads = 2;
      c.heads = c.heads.map((_row: unknown[], l: number) => (l === 1 ? [{ reuse: { layer: 0, head: 0 } }, 'exact'] : ['exact', 'exact']));
      c.mode = 'custom';
      c.P = 1;
      c.K = 1;
    };
    refused(args(variant('heads', twoHeads)), /dims\.heads is 2, but stack "encoder" of .* has 4 heads/);
    refused(
      args(variant('hidden', (c) => (c.dims.hidden = 64))),
      /dims\.hidden is 64, but stack "encoder" of .* has 128 as its hidden size/,
    );
    const ok = run(...args(variant('positions', (c) => (c.dims.maxPositions = 512))));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      ok.stderr.split('\n').filter((l) => /using the model's maxPositions 128 \(the config has 512\)/.test(l)).length,
      1,
      `one note line:\n${ok.stderr}`,
    );
  });

  it('exit codes: bad flags and inputs 2, --mlm without a mask token 2, Ctrl-C 130 with nothing written', async () => {
    refused(['whatif', model], /whatif takes a model and a reuse config/);
    refused(
      ['whatif', model, join(dir, 'none.reuse.json'), '--inputs', ids],
      /cannot read reuse config .*none\.reuse\.json: it does not exist/,
    );
    refused(['whatif', model, configs.partial, '--inputs', ids, '--mlm'], /--mlm with --inputs needs --mask-id/);
    refused(['whatif', model, configs.partial, '--inputs', ids, '--mask-id', '4'], /--mask-id goes with --mlm/);
    refused(['whatif', model, configs.partial, '--inputs', ids, '--batch', '0'], /--batch must be a whole number ≥ 1/);
    const out = join(dir, 'cancelled.onnx');
    const child = spawn(
      process.execPath,
      [
        cli,
        'whatif',
        model,
        configs.partial,
        '--text',
        join(sample, 'sentences.txt'),
        '--tokenizer',
        join(sample, 'tokenizer.json'),
        '--batch',
        '1',
        '--write-model',
        out,
        '--json',
      ],
      { env },
    );
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /execution provider/.test(stderr)) sent = child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    assert.equal(code, 130, `Ctrl-C: ${stderr}`);
    assert.equal(stdout, '', 'no partial output on stdout');
    assert.ok(!existsSync(out), 'no model written after Ctrl-C');
  });
});
