// Test helper: a valid reuse config (partial, 4 layers × 2 heads, P = 2, K = 1) with fields replaced as a test needs, and variants of a config written to files.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchemaId } from '../../analysis/config/reuseConfig';
import type { ReuseConfig } from '../../analysis/config/reuseConfig';
import { presetHeadMap } from '../../analysis/planner/modes';

const sha = 'a'.repeat(64);

export function reuseConfigWith(over: Partial<ReuseConfig> = {}): ReuseConfig {
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

/** Writes `dir/NAME.reuse.json`: a copy of `base` (a parsed config) edited, e.g. into a config made for another model. */
export function writeConfigVariant<T>(base: T, dir: string, name: string, edit: (c: T) => void): string {
  const c = structuredClone(base);
  edit(c);
  const path = join(dir, `${name}.reuse.json`);
  writeFileSync(path, JSON.stringify(c));
  return path;
}
