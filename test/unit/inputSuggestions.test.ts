// Protects what "Analyze Attention" offers as examples for your own model: files beside it first (its own
// NAME.inputs.jsonl before any other), text only for a model that takes token ids and has its tokenizer.json there,
// and the bundled sample sentences only where they can be tokenized for that model.
import '../helpers/vscodeStandIn';
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { suggestSources } from '../../extension/inputSuggestions';
import { recentEntries } from '../../extension/recentAnalyses';

const root = mkdtempSync(join(tmpdir(), 'input-suggestions-'));
const sample = { sentences: '/ext/media/sample/sentences.txt', tokenizer: '/ext/media/sample/tokenizer.json', vocabSize: 1000 };
const bert = { tokenInput: 'input_ids', dims: { hidden: 8, ffn: 16, vocab: 30522, maxPositions: 512 } };

function folder(name: string, files: string[]): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f), '');
  return join(dir, 'model.onnx');
}

describe('suggestSources', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  it("puts the model's own inputs first, then other JSONL, text with the tokenizer beside it, the sample, then the dialogs", () => {
    const model = folder('full', ['model.onnx', 'a.jsonl', 'model.inputs.jsonl', 'tokenizer.json', 'notes.txt', 'readme.md']);
    const s = suggestSources(model, bert, sample);
    assert.deepEqual(
      s.map((x) => x.label),
      ['model.inputs.jsonl', 'a.jsonl', 'notes.txt', 'Sample sentences', 'A text file…', 'A JSONL file…', 'A NumPy file…'],
    );
    assert.deepEqual(
      s[0].source,
      { kind: 'jsonl', path: join(root, 'full', 'model.inputs.jsonl') },
      'the preselected choice is a ready source',
    );
    assert.deepEqual(s[2].source, { kind: 'text', path: join(root, 'full', 'notes.txt'), tokenizer: join(root, 'full', 'tokenizer.json') });
    assert.equal(
      s[3].source?.kind === 'text' && s[3].source.tokenizer,
      join(root, 'full', 'tokenizer.json'),
      "the sample sentences go through the model's own tokenizer",
    );
  });

  it('offers the sample sentences without a tokenizer beside the model only when its vocabulary is the sample tokenizer’s', () => {
    const model = folder('bare', ['model.onnx']);
    assert.ok(!suggestSources(model, bert, sample).some((x) => x.label === 'Sample sentences'), 'the sample does not fit a 30522-id model');
    const fits = suggestSources(model, { tokenInput: 'input_ids', dims: { ...bert.dims, vocab: 1000 } }, sample);
    assert.deepEqual(fits.find((x) => x.label === 'Sample sentences')?.source, {
      kind: 'text',
      path: sample.sentences,
      tokenizer: sample.tokenizer,
    });
    const unknown = suggestSources(model, { tokenInput: 'input_ids', dims: null }, sample);
    assert.ok(!unknown.some((x) => x.label === 'Sample sentences'), 'an unknown vocabulary is not a fit');
  });

  it('offers only JSONL for a model that takes no token ids', () => {
    const model = folder('floats', ['model.onnx', 'tokenizer.json', 'text.txt', 'model.inputs.jsonl']);
    assert.deepEqual(
      suggestSources(model, { tokenInput: null, dims: null }, sample).map((x) => x.label),
      ['model.inputs.jsonl', 'A JSONL file…', 'A NumPy file…'],
    );
  });

  it('offers NumPy files beside any model, and folders of images (the model’s own and its subfolders) to a vision model', () => {
    const model = folder('vision', ['model.onnx', 'feats.npz', 'preprocessor_config.json', 'cat.png']);
    folder('vision/photos', ['a.jpg', 'b.jpeg', 'c.txt']);
    folder('vision/empty', ['c.txt']);
    const vit = { tokenInput: null, dims: null, inputs: [{ name: 'pixel_values', type: 'float32', shape: ['batch', 3, 16, 16] }] };
    const s = suggestSources(model, vit, sample);
    assert.deepEqual(
      s.map((x) => x.label),
      ['feats.npz', "vision/ (the model's folder)", 'photos/', 'A folder of images…', 'A JSONL file…', 'A NumPy file…'],
    );
    assert.deepEqual(s[0].source, { kind: 'arrays', path: join(root, 'vision', 'feats.npz') });
    assert.deepEqual(s[2].source, { kind: 'images', path: join(root, 'vision', 'photos') });
    assert.match(s[2].description, /^2 images \(PNG, JPEG\), prepared as its preprocessor_config\.json says$/);
    const text = { ...bert, inputs: [{ name: 'input_ids', type: 'int64', shape: ['batch', 'sequence'] }] };
    assert.ok(
      !suggestSources(model, text, sample).some((x) => x.source?.kind === 'images' || x.ask === 'images'),
      'images offered to a text model',
    );
  });
});

describe('recentEntries', () => {
  it('lists remembered analyses and the other files of the analyses folder, newest first', () => {
    const dir = join(root, 'analyses');
    mkdirSync(dir, { recursive: true });
    for (const f of ['a.analysis.json', 'b.analysis.json', 'notes.json']) writeFileSync(join(dir, f), '{}');
    const entries = recentEntries([{ path: join(dir, 'a.analysis.json'), label: 'model a', at: 5 }], dir);
    assert.deepEqual(
      entries.map((e) => e.label),
      ['b', 'model a'],
      'b was written now, a remembered as written at t = 5; notes.json is not an analysis',
    );
    assert.deepEqual(recentEntries([], join(root, 'missing')), [], 'a folder not made yet lists nothing');
  });
});
