// Test helper: a valid reuse config (partial, 4 layers × 2 heads, P = 2, K = 1) with fields replaced as a test needs, variants of a config written to files, and a mixed head map.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchemaId } from '../../analysis/config/reuseConfig';
import type { ReuseConfig } from '../../analysis/config/reuseConfig';
import type { HeadMap } from '../../analysis/planner/headMap';
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

/** A custom map that mixes chains, a full-reuse layer and reuse from two layers back (L ≥ 3, H = 4). */
export function mixedMap(L: number): HeadMap {
  const map: HeadMap = Array.from({ length: L }, () => ['exact', 'exact', 'exact', 'exact']);
  map[1] = [{ reuse: { layer: 0, head: 2 } }, 'exact', { reuse: { layer: 0, head: 0 } }, 'exact'];
  map[2] = [
    { reuse: { layer: 1, head: 3 } },
    { reuse: { layer: 0, head: 1 } },
    { reuse: { layer: 1, head: 1 } },
    { reuse: { layer: 0, head: 3 } },
  ];
  return map;
}
