// Protects the one owner of the "last analysis" state: what it hands back was checked, and a file that is gone is forgotten.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AnalysisStore, lastAnalysisKey } from '../../extension/analysisStore';

/** globalState as a Map, with the Memento's get and update. */
function memento(initial?: unknown) {
  const values = new Map<string, unknown>(initial === undefined ? [] : [[lastAnalysisKey, initial]]);
  return {
    values,
    get: <T>(key: string) => values.get(key) as T | undefined,
    update: async (key: string, value: unknown) => void values.set(key, value),
  };
}

describe('AnalysisStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'analysis-store-'));
  const file = join(dir, 'a.analysis.json');
  writeFileSync(file, '{}');

  it('remembers an analysis under attentionReuse.lastAnalysis and hands it back', async () => {
    const state = memento();
    const store = new AnalysisStore(state);
    assert.equal(store.last(), undefined);
    const remembered = { path: file, label: 'a', source: { kind: 'text' as const, path: '/s.txt', tokenizer: '/t.json' } };
    await store.remember(remembered);
    assert.deepEqual(
      state.values.get('attentionReuse.lastAnalysis'),
      remembered,
      'the state key is part of the contract with earlier versions',
    );
    assert.deepEqual(new AnalysisStore(state).last(), remembered, 'a new window reads what the last one wrote');
  });

  it('forgets an analysis whose file is gone, and ignores what it cannot read', () => {
    assert.equal(
      new AnalysisStore(memento({ path: join(dir, 'gone.json'), label: 'x' })).last(),
      undefined,
      'a deleted file is not reopened',
    );
    for (const junk of [null, 'a path', 42, { label: 'no path' }, { path: 7 }, { path: '' }]) {
      assert.equal(new AnalysisStore(memento(junk)).last(), undefined, `accepted ${JSON.stringify(junk)}`);
    }
  });

  it('keeps the path when the label or the source is malformed', () => {
    assert.deepEqual(new AnalysisStore(memento({ path: file, label: 3, source: { kind: 'text', path: '/s.txt' } })).last(), {
      path: file,
      label: file,
      source: undefined,
    });
    assert.deepEqual(new AnalysisStore(memento({ path: file, label: 'b', source: { kind: 'jsonl', path: '/e.jsonl', extra: 1 } })).last(), {
      path: file,
      label: 'b',
      source: { kind: 'jsonl', path: '/e.jsonl' },
    });
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
