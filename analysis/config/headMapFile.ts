import { InputError } from '../errors';
import type { HeadMap } from '../planner/headMap';
import { checkHeadMap } from './reuseConfig';

/**
 * A custom head map from parsed JSON: a reuse config (its `heads`) or a bare array
 * heads[l][h]. Checks the shape against L × H, every entry's form, and the reuse rules;
 * `path` names the file in messages.
 */
export function checkHeadMapJson(json: unknown, path: string, L: number, H: number): HeadMap {
  const heads = Array.isArray(json) ? json : (json as { heads?: unknown } | null)?.heads;
  if (!Array.isArray(heads)) throw new InputError(`${path} holds neither a reuse config nor an array heads[l][h]`);
  if (heads.length !== L || heads.some((row) => !Array.isArray(row) || row.length !== H)) {
    throw new InputError(`the head map in ${path} is not ${L} layers × ${H} heads`);
  }
  (heads as unknown[][]).forEach((row, l) =>
    row.forEach((e, h) => {
      const reuse = typeof e === 'object' && e !== null ? (e as { reuse?: { layer?: unknown; head?: unknown } }).reuse : undefined;
      const ok = e === 'exact' || e === 'skip' || (typeof reuse?.layer === 'number' && typeof reuse.head === 'number');
      if (!ok) throw new InputError(`${path}: heads[${l}][${h}] must be "exact", "skip" or {"reuse": {"layer": i, "head": j}}`);
    }),
  );
  try {
    checkHeadMap(heads as HeadMap, H);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${path}: ${err.message}`);
    throw err;
  }
  return heads as HeadMap;
}
