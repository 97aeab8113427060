// Protects the reuse config file (attention-reuse/config@1) and the token file: schema, semantic checks with field names, extra layers, the tokens@1 bytes.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  appendExactLayers,
  checkConfigAgainstAnalysis,
  checkReuseConfig,
  configSchema,
  estimatesOf,
  formatReuseConfig,
} from '../../analysis/config/reuseConfig';
import { InputError } from '../../analysis/errors';
import { costOf } from '../../analysis/planner/cost';
import { decodeTokenFile, encodeTokenFile } from '../../analysis/config/tokenFile';
import { presetHeadMap, reuseModeNames } from '../../analysis/planner/modes';
import { reuseConfigWith } from '../helpers/reuseConfigFixture';
import { smallTokenHeader } from '../helpers/tokenizers';

const config = reuseConfigWith;

/** JSON round trip, so that the checks see what a file would hold. */
const copy = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

function rejects(c: unknown, pattern: RegExp, why: string) {
  assert.throws(() => checkReuseConfig(copy(c), 'x.reuse.json'), pattern, why);
}

describe('reuse config', () => {
  it('the schema lists the modes of the mode table', () => {
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
    rejects(
      config({ P: 3 }),
      /heads\[3\] computes every head, but mode "partial" with P = 3, K = 1 reuses 1 heads in each of layers 1\.\.3/,
      'P that disagrees with the map',
    );
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
    assert.throws(
      () => checkConfigAgainstAnalysis(config({ stack: 'decoder' }), stacks, 'a.json'),
      /stack "decoder" is not in a\.json \(it has "encoder"\)/,
    );
    assert.throws(
      () => checkConfigAgainstAnalysis(config(), [{ name: 'encoder', layerCount: 6, headCount: 2 }], 'a.json'),
      /do not match stack "encoder"/,
    );
  });

  it('extraLayers: optional (configs without it stay valid), counted in dims.layers, compared without them', () => {
    const deeper = config({ dims: { ...config().dims, layers: 5 }, extraLayers: 1, heads: presetHeadMap('partial', 5, 2, 2, 1) });
    assert.deepEqual(checkReuseConfig(copy(deeper), 'x'), deeper);
    checkConfigAgainstAnalysis(deeper, [{ name: 'encoder', layerCount: 4, headCount: 2 }], 'a.json');
    assert.throws(
      () => checkConfigAgainstAnalysis(deeper, [{ name: 'encoder', layerCount: 5, headCount: 2 }], 'a.json'),
      /4 analysed layers \+ 1 extra/,
    );
    rejects({ ...deeper, extraLayers: 5 }, /extraLayers \(5\) must be less than dims\.layers \(5\)/, 'more extra layers than layers');
    rejects({ ...deeper, extraLayers: -1 }, /extraLayers must be >= 0/, 'negative');
  });

  it('train --extra-layers appends exact layers: a 12-layer full P = 6 config + 1 is the Reuse 13L map emit writes', () => {
    const dims = { layers: 12, heads: 12, hidden: 768, ffn: 3072, vocab: 30522, maxPositions: 512 };
    const base = config({ dims, mode: 'full', P: 6, K: 12, heads: presetHeadMap('full', 12, 12, 6, 12) });
    base.estimates = estimatesOf(costOf(dims, base.heads, 512), 0.7, 0.4);
    const deeper = appendExactLayers(base, 1);
    assert.deepEqual(deeper.heads, presetHeadMap('full', 13, 12, 6, 12));
    assert.equal(deeper.dims.layers, 13);
    assert.equal(deeper.extraLayers, 1);
    assert.equal(deeper.estimates!.params, 109_514_298, 'estimates stay against the analysed 12 layers');
    assert.equal(deeper.estimates!.flopsRatio.toFixed(2), '0.98');
    assert.equal(deeper.estimates!.similarityKept, 0.7, 'the reuse heads did not change');
    assert.equal(appendExactLayers(deeper, 1).extraLayers, 2);
    const allEnd = config({ mode: 'all-end', P: 2, K: 2, heads: presetHeadMap('all-end', 4, 2, 2, 2) });
    assert.throws(
      () => appendExactLayers(allEnd, 1),
      (err: Error) => err instanceof InputError && err.field === 'extraLayers' && /emit --extra-layers/.test(err.message),
    );
  });
});

describe('token file', () => {
  it('round-trips examples and its header', () => {
    const bytes = encodeTokenFile([[2, 5, 3], [], [2, 4000000000, 3, 7]], smallTokenHeader);
    const f = decodeTokenFile(bytes, 'tokens');
    assert.equal(f.header.examples, 3);
    assert.equal(f.header.tokens, 7);
    assert.deepEqual([...f.offsets].map(Number), [0, 3, 3, 7]);
    assert.deepEqual([...f.ids], [2, 5, 3, 2, 4000000000, 3, 7]);
    assert.equal((12 + new DataView(bytes.buffer).getUint32(8, true)) % 8, 0, 'offsets not 8-byte aligned');
  });
});
