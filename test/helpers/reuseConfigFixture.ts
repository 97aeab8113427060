// Test helper: a valid reuse config (partial, 4 layers × 2 heads, P = 2, K = 1) with fields replaced as a test needs.
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
