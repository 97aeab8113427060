// Protects the reuse config file (attention-reuse/config@1) and the token file: schema, semantic checks with field names, emit/plan CLIs, tokenization.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ModelDims } from '../../analysis/onnx/dims';
import { analysisWith } from './analysisFixture';
import { checkConfigAgainstAnalysis, checkReuseConfig, configSchema, configSchemaId, formatReuseConfig } from '../../analysis/config/reuseConfig';
import type { ReuseConfig } from '../../analysis/config/reuseConfig';
import { decodeTokenFile, encodeTokenFile, tokenizeTextFile } from '../../analysis/config/tokenFile';
import { presetHeadMap, reuseModeNames } from '../../analysis/planner/modes';
import { readTokenizer as loadTokenizer } from '../../analysis/app/readers';
import { readLines } from '../../analysis/app/storage';

const root = join(__dirname, '..', '..', '..');
const cli = join(root, 'dist', 'cli.js');
const sha = 'a'.repeat(64);

function config(over: Partial<ReuseConfig> = {}): ReuseConfig {
  return {
    schema: configSchemaId,
    source: { analysisSha256: sha, modelSha256: sha },
    stack: 'encoder',
    dims: { layers: 4, heads: 2, hidden: 8, ffn: 16, vocab: 20, maxPositions: 12 },
    mode: 'partial',
    P: 2,
    K: 1,
    heads: presetHeadMap('partial', 4, 2, 2, 1),
    ...over,
  };
}

/** JSON round trip, so that the checks see what a file would hold. */
const copy = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

function rejects(c: unknown, pattern: RegExp, why: string) {
  assert.throws(() => checkReuseConfig(copy(c), 'x.reuse.json'), pattern, why);
}

/** A small analysis file: head h of layer l computes pattern (h + l) mod H. */
function analysisJson(L: number, H: number, dims: ModelDims) {
  const pattern = (l: number, h: number) => (h + l) % H;
  const headPairs = Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => Array.from({ length: L }, (_, i) => Array.from({ length: H }, (_, j) => (l === i && h === j ? 1 : pattern(l, h) === pattern(i, j) ? 0.9 : 0.3)))));
  return analysisWith(headPairs, Array.from({ length: L }, () => new Array<number>(H).fill(0.4)), dims);
}

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('reuse config', () => {
  it('the shipped schema is the one the CLI validates with', () => {
    const shipped = join(root, 'media', 'schemas', 'reuseConfig.schema.json');
    assert.ok(existsSync(shipped), 'media/schemas/reuseConfig.schema.json is written by the build: run npm run build');
    assert.deepEqual(JSON.parse(readFileSync(shipped, 'utf8')), configSchema(), 'the build wrote a schema other than configSchema()');
    assert.deepEqual((configSchema() as { properties: { mode: { enum: string[] } } }).properties.mode.enum, reuseModeNames());
  });

  it('accepts preset maps and survives its own formatting', () => {
    const c = config();
    assert.deepEqual(checkReuseConfig(JSON.parse(formatReuseConfig(c)), 'x'), c);
    assert.match(formatReuseConfig(c), /\n {4}\["exact",\{"reuse":\{"layer":0,"head":0\}\}\],\n/);
    checkReuseConfig(copy(config({ mode: 'full', P: 3, K: 2, heads: presetHeadMap('full', 4, 2, 3, 2) })), 'x');
    checkReuseConfig(copy(config({ mode: 'skip', P: 2, K: 2, heads: presetHeadMap('skip', 4, 2, 2, 2) })), 'x');
    checkReuseConfig(copy(config({ mode: 'partial', P: 2, K: 0, heads: presetHeadMap('partial', 4, 2, 2, 0) })), 'x');
  });

  it('names the field for every semantic mistake', () => {
    const c = config();
    c.heads[2][1] = { reuse: { layer: 2, head: 0 } };
    rejects(c, /heads\[2\]\[1\]\.reuse\.layer is 2.*earlier layer, 0\.\.1/, 'reuse from the same layer');
    c.heads[2][1] = { reuse: { layer: 3, head: 0 } };
    rejects(c, /heads\[2\]\[1\]\.reuse\.layer is 3/, 'reuse from a later layer');
    c.heads[2][1] = { reuse: { layer: 0, head: 5 } };
    rejects(c, /heads\[2\]\[1\]\.reuse\.head 5 is out of range 0\.\.1/, 'head out of range');
    c.heads[2][1] = { reuse: { layer: 1, head: 1 } };
    rejects(c, /heads\[2\]\[1\] reuses heads\[1\]\[1\], which itself reuses heads\[0\]\[0\]/, 'source that was itself reused');
    const s = config({ mode: 'custom', P: 2, K: 2 });
    s.heads[1] = ['skip', 'skip'];
    s.heads[2][1] = { reuse: { layer: 1, head: 0 } };
    rejects(s, /heads\[2\]\[1\] reuses heads\[1\]\[0\], which is skipped/, 'source that was skipped');
    rejects(config({ P: 4 }), /P \(reuse layers\) is 4.*0\.\.3/, 'P out of bounds');
    rejects(config({ K: 3 }), /K \(reuse heads\) is 3.*0\.\.2/, 'K out of bounds');
    rejects(config({ mode: 'full', K: 1 }), /K \(reuse heads\) is 1.*allows 2/, 'full with K < H');
    rejects(config({ P: 3 }), /heads\[3\] computes every head, but mode "partial" with P = 3, K = 1 reuses 1 heads in each of layers 1\.\.3/, 'P that disagrees with the map');
    rejects(config({ mode: 'custom', P: 1 }), /P is 1, but the custom map reuses or skips in 2 layers/, 'custom P');
    const mixed = config({ mode: 'custom', P: 2, K: 2 });
    mixed.heads[3] = ['skip', 'exact'];
    rejects(mixed, /heads\[3\] mixes "skip"/, 'partial skip layer');
    rejects(config({ heads: config().heads.slice(0, 3) }), /heads has 3 layers, but dims\.layers is 4/, 'layer count');
    rejects(config({ dims: { ...config().dims, hidden: 9 } }), /dims\.hidden \(9\) must be a multiple/, 'hidden vs heads');
  });

  it('schema errors name the field', () => {
    const c = copy(config()) as unknown as { heads: unknown[][] };
    c.heads[1][0] = 'reused';
    rejects(c, /heads\[1\]\[0\] must be "exact", "skip" or \{"reuse"/, 'bad head entry');
    rejects({ ...config(), schema: 'attention-reuse/config@2' }, /schema must be equal to constant/, 'schema id');
    rejects({ ...config(), mode: 'random' }, /mode must be equal to one of the allowed values/, 'mode');
    rejects({ ...config(), dims: { ...config().dims, vocab: 0 } }, /dims\.vocab must be >= 1/, 'dims');
    const { source: _source, ...noSource } = config();
    rejects(noSource, /must have required property 'source'/, 'source');
  });

  it('refuses a stack the analysis does not have, or of another shape', () => {
    const stacks = [{ name: 'encoder', layerCount: 4, headCount: 2 }];
    checkConfigAgainstAnalysis(config(), stacks, 'a.json');
    assert.throws(() => checkConfigAgainstAnalysis(config({ stack: 'decoder' }), stacks, 'a.json'), /stack "decoder" is not in a\.json \(it has "encoder"\)/);
    assert.throws(() => checkConfigAgainstAnalysis(config(), [{ name: 'encoder', layerCount: 6, headCount: 2 }], 'a.json'), /do not match stack "encoder"/);
  });
});

describe('plan and emit commands', () => {
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
    assert.ok(plan.candidates.some((c) => Math.abs((c.similarityKept ?? 0) - 0.9) < 1e-12), 'the permuted heads were not found');
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

describe('token file', () => {
  it('round-trips examples and its header', () => {
    const bytes = encodeTokenFile([[2, 5, 3], [], [2, 4000000000, 3, 7]], { vocabSize: 9, padId: 0, maskId: 4, specialIds: [0, 2, 3], maxLength: 8, tokenizer: 't', text: 'x' });
    const f = decodeTokenFile(bytes, 'tokens');
    assert.equal(f.header.examples, 3);
    assert.equal(f.header.tokens, 7);
    assert.deepEqual([...f.offsets].map(Number), [0, 3, 3, 7]);
    assert.deepEqual([...f.ids], [2, 5, 3, 2, 4000000000, 3, 7]);
    assert.equal((12 + new DataView(bytes.buffer).getUint32(8, true)) % 8, 0, 'offsets not 8-byte aligned');
  });

  it('tokenizes text with the model tokenizer, truncating but keeping [SEP]', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reuse-tokens-'));
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'dog', 'runs', 'far'];
    const special = (t: string) => ({ SpecialToken: { id: t, type_id: 0 } });
    writeFileSync(
      join(dir, 'tokenizer.json'),
      JSON.stringify({
        version: '1.0',
        added_tokens: vocab.slice(0, 5).map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        post_processor: {
          type: 'TemplateProcessing',
          single: [special('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]')],
          pair: [special('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]')],
          special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
        },
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
        model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
      }),
    );
    writeFileSync(join(dir, 'text.txt'), 'The dog runs\n\nthe dog runs far far far\n');
    const tok = await loadTokenizer(join(dir, 'tokenizer.json'));
    const f = decodeTokenFile(await tokenizeTextFile(readLines(join(dir, 'text.txt'), 'text'), join(dir, 'text.txt'), tok, 5, 9), 'tokens');
    assert.equal(f.header.examples, 2, 'empty lines are not examples');
    assert.deepEqual([...f.ids.subarray(0, 5)], [2, 5, 6, 7, 3]);
    assert.deepEqual([...f.ids.subarray(5)], [2, 5, 6, 7, 3], 'truncation must keep the final [SEP]');
    assert.equal(f.header.maskId, 4);
    assert.deepEqual(f.header.specialIds, [0, 1, 2, 3, 4]);
    await assert.rejects(tokenizeTextFile(readLines(join(dir, 'text.txt'), 'text'), join(dir, 'text.txt'), tok, 5, 6), /token id 6 does not fit the model's vocabulary of 6/);
  });
});
