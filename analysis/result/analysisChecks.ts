/**
 * What the analysis file's JSON Schema cannot say: every number in its range, every mean
 * equal to the sums behind it, and shards that come from one run. Plan, emit and merge read
 * nothing else, so a file edited by hand or corrupted is refused here, naming the file and
 * the field, instead of yielding a "similarity kept" of 2.21.
 */
import { InputError } from '../errors';
import { SimilarityAccumulator } from '../similarity/accumulator';
import type { AnalysisFile, AnalysisStack } from './analysisFile';

/**
 * Similarities may leave [0, 1] by this much: rows of float32 attention sum to 1 within
 * 1e-3 (ROW_SUM_TOLERANCE), so the total variation of two rows can reach 1.001.
 */
const rangeSlack = 2e-3;
/** Means are the sums divided by the examples, computed the same way: equal to rounding. */
const meanTolerance = 1e-9;

const index = (path: number[]) => path.map((i) => `[${i}]`).join('');

/** Calls `visit` with every number of a nested array and its index path. */
function eachNumber(v: unknown, visit: (x: number, path: number[]) => void, path: number[] = []): void {
  if (Array.isArray(v)) v.forEach((x, i) => eachNumber(x, visit, [...path, i]));
  else if (typeof v === 'number') visit(v, path);
}

/** Every number of `v` finite and in [lo, hi], give or take `slack`. */
function inRange(label: string, field: string, v: unknown, lo: number, hi: number, slack = 0): void {
  eachNumber(v, (x, path) => {
    if (!Number.isFinite(x) || x < lo - slack || x > hi + slack) {
      throw new InputError(`${label}: ${field}${index(path)} is ${x}, outside [${lo}, ${hi === Infinity ? '∞' : hi}]`);
    }
  });
}

function sameAs(label: string, field: string, v: unknown, expected: unknown, from: string): void {
  eachNumber(v, (x, path) => {
    let e: unknown = expected;
    for (const i of path) e = (e as unknown[])[i];
    if (!(Math.abs(x - (e as number)) <= meanTolerance)) {
      throw new InputError(`${label}: ${field}${index(path)} is ${x}, but ${from} gives ${e}: the file was edited or is corrupt`);
    }
  });
}

/**
 * `v` equal to `expected` everywhere: the same shape, the same keys, numbers within rounding.
 * For the optional groups (errors, sinks, lengths), which `checkAnalysis` does not walk itself.
 */
function sameTree(label: string, field: string, v: unknown, expected: unknown, from: string): void {
  const unlike = (what: string) =>
    new InputError(
      `${label}: ${field} ${what}, but ${from} gives ${JSON.stringify(expected)?.slice(0, 60)}: the file was edited or is corrupt`,
    );
  if (typeof expected === 'number') {
    if (typeof v !== 'number' || !(Math.abs(v - expected) <= meanTolerance)) throw unlike(`is ${JSON.stringify(v)?.slice(0, 40)}`);
  } else if (Array.isArray(expected)) {
    if (!Array.isArray(v) || v.length !== expected.length) throw unlike(Array.isArray(v) ? `has ${v.length} entries` : 'is not an array');
    expected.forEach((e, i) => sameTree(label, `${field}[${i}]`, v[i], e, from));
  } else if (typeof expected === 'object' && expected !== null) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw unlike('is not an object');
    const keys = new Set([...Object.keys(expected), ...Object.keys(v)]);
    for (const key of keys)
      sameTree(label, `${field}.${key}`, (v as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], from);
  } else if (v !== expected) {
    throw unlike(`is ${JSON.stringify(v)?.slice(0, 40)}`);
  }
}

/** Ranges and internal consistency of one file (its schema and grid shapes already checked). */
export function checkAnalysisNumbers(file: AnalysisFile, label: string): void {
  file.stacks.forEach((s, i) => checkStack(file, s, `stacks[${i}]`, label));
  const first = file.stacks[0].sums;
  if (file.run.tokens !== first.tokens)
    throw new InputError(`${label}: run.tokens is ${file.run.tokens}, but stacks[0].sums.tokens is ${first.tokens}`);
  const shards = first.shards;
  const complete = shards.indices.length === shards.count;
  if (
    file.run.shard === undefined
      ? !complete
      : file.run.shard.count !== shards.count || file.run.shard.indices.join() !== shards.indices.join()
  ) {
    const listed = file.run.shard ? `shards ${file.run.shard.indices.join(', ')} of ${file.run.shard.count}` : 'a complete run';
    throw new InputError(
      `${label}: run.shard says ${listed}, but stacks[0].sums.shards holds ${shards.indices.join(', ')} of ${shards.count}`,
    );
  }
}

function checkStack(file: AnalysisFile, s: AnalysisStack, at: string, label: string): void {
  const sums = s.sums;
  for (const key of ['name', 'kind', 'layerCount', 'headCount'] as const) {
    if (sums[key] !== s[key])
      throw new InputError(`${label}: ${at}.sums.${key} is ${JSON.stringify(sums[key])}, but ${at}.${key} is ${JSON.stringify(s[key])}`);
  }
  // Files written before causal was recorded have it in neither place: both read as false.
  if ((sums.causal === true) !== (s.causal === true))
    throw new InputError(`${label}: ${at}.sums.causal is ${sums.causal ?? false}, but ${at}.causal is ${s.causal ?? false}`);
  if (s.kvHeadCount !== undefined && (s.kvHeadCount > s.headCount || s.headCount % s.kvHeadCount !== 0))
    throw new InputError(
      `${label}: ${at}.kvHeadCount is ${s.kvHeadCount}, which does not divide the ${s.headCount} query heads into groups`,
    );
  if ((s.entropyNormalized === undefined) !== (sums.entropyNormalizedSums === undefined))
    throw new InputError(
      `${label}: ${at} has ${s.entropyNormalized === undefined ? 'entropyNormalizedSums but no entropyNormalized' : 'entropyNormalized but no sums.entropyNormalizedSums'}`,
    );
  const T = sums.examples;
  if (T !== file.run.examples)
    throw new InputError(
      `${label}: ${at}.sums.examples is ${T}, but run.examples is ${file.run.examples} (every stack sees every example)`,
    );
  if (sums.tokens < T)
    throw new InputError(`${label}: ${at}.sums.tokens is ${sums.tokens}, fewer than its ${T} examples (each has at least one token)`);
  if (file.stacks.indexOf(s) > 0 && sums.shards.indices.join() !== file.stacks[0].sums.shards.indices.join()) {
    throw new InputError(`${label}: ${at}.sums.shards differ from stacks[0].sums.shards`);
  }
  inRange(label, `${at}.sums.pairSums`, sums.pairSums, 0, T, rangeSlack * T);
  inRange(label, `${at}.sums.uniformSums`, sums.uniformSums, 0, T, rangeSlack * T);
  inRange(label, `${at}.sums.entropySums`, sums.entropySums, 0, Infinity, rangeSlack * T);
  if (sums.entropyNormalizedSums) inRange(label, `${at}.sums.entropyNormalizedSums`, sums.entropyNormalizedSums, 0, T, rangeSlack * T);
  for (const key of ['headPairs', 'c', 'layerPairs', 'uniform'] as const) inRange(label, `${at}.${key}`, s[key], 0, 1, rangeSlack);
  inRange(label, `${at}.entropy`, s.entropy, 0, Infinity, rangeSlack);
  if (s.entropyNormalized) inRange(label, `${at}.entropyNormalized`, s.entropyNormalized, 0, 1, rangeSlack);
  inRange(label, `${at}.cArgmax`, s.cArgmax, 0, s.headCount - 1);
  for (const key of ['pairSquares', 'uniformSquares', 'entropyNormalizedSquares'] as const)
    inRange(label, `${at}.sums.${key}`, sums[key], 0, T, rangeSlack * T);
  inRange(label, `${at}.sums.entropySquares`, sums.entropySquares, 0, Infinity);
  inRange(label, `${at}.sums.rows.varianceSums`, sums.rows?.varianceSums, 0, T);
  for (const key of ['massSums', 'massSquares', 'firstSums', 'firstSquares'] as const)
    inRange(label, `${at}.sums.sinks.${key}`, sums.sinks?.[key], 0, T, rangeSlack * T);
  const views = SimilarityAccumulator.fromJSON(sums).finalize();
  const bySums = 'sums / examples';
  if (s.baseline) {
    const b = s.baseline;
    let base;
    try {
      base = SimilarityAccumulator.fromJSON(b.sums);
    } catch (err) {
      throw new InputError(`${label}: ${at}.baseline.sums: ${(err as Error).message}`);
    }
    const { layerCount, headCount } = base.shape;
    if (layerCount !== s.layerCount || headCount !== s.headCount || b.sums.name !== s.name)
      throw new InputError(
        `${label}: ${at}.baseline.sums describe ${layerCount} layers × ${headCount} heads of "${b.sums.name}", not the stack's`,
      );
    if (b.sums.examples !== T)
      throw new InputError(
        `${label}: ${at}.baseline.sums.examples is ${b.sums.examples}, but the stack has ${T} (the baseline sees the same examples)`,
      );
    inRange(label, `${at}.baseline.sums.pairSums`, b.sums.pairSums, 0, T, rangeSlack * T);
    sameTree(label, `${at}.baseline.layerPairs`, b.layerPairs, base.finalize().layerPairs, 'baseline.sums');
  }
  for (const key of ['headPairs', 'c', 'layerPairs', 'uniform', 'entropy', 'entropyNormalized'] as const)
    if (s[key] !== undefined) sameAs(label, `${at}.${key}`, s[key], views[key], bySums);
  // Groups added after the first version: present exactly when the sums give them, and equal to what they give.
  for (const key of ['errors', 'sinks', 'lengths'] as const) {
    if ((s[key] === undefined) !== (views[key] === undefined)) {
      const why = key === 'errors' ? ' (they need sums.pairSquares and at least two examples)' : '';
      throw new InputError(
        `${label}: ${at}.${key} is ${s[key] === undefined ? 'missing' : 'present'}, but the sums ${views[key] === undefined ? 'give none' : 'give it'}${why}`,
      );
    }
    if (s[key] !== undefined) sameTree(label, `${at}.${key}`, s[key], views[key], 'the sums');
  }
  // The arg-max must point at the maximum; which of several equal heads it names is not checked.
  eachNumber(s.cArgmax, (h, [l, hh, l2]) => {
    if (!Number.isInteger(h) || Math.abs(views.headPairs[l][hh][l2][h] - views.c[l][hh][l2]) > meanTolerance) {
      throw new InputError(`${label}: ${at}.cArgmax[${l}][${hh}][${l2}] is ${h}, which is not the head of the maximum c`);
    }
  });
  s.sequential.forEach((entries, k) => {
    const heads = entries.map((e) => e.head).sort((a, b) => a - b);
    if (heads.some((h, j) => h !== j))
      throw new InputError(`${label}: ${at}.sequential[${k}] does not list each of the ${s.headCount} heads once`);
    entries.forEach((e, j) => {
      sameAs(label, `${at}.sequential[${k}][${j}].value`, e.value, views.c[k + 1][e.head][k], 'c');
      if (j > 0 && e.value < entries[j - 1].value) throw new InputError(`${label}: ${at}.sequential[${k}] is not sorted ascending`);
    });
  });
}

/** Examples a round-robin shard set holds out of T: example e goes to shard e mod N. */
function shardExamples(T: number, indices: number[], N: number): number {
  return indices.reduce((n, i) => n + Math.ceil(Math.max(0, T - i) / N), 0);
}

/** The run sizes T for which `indices` of N shards hold `examples` examples: [lo, hi], or undefined. */
export function runSizes(examples: number, indices: number[], N: number): [number, number] | undefined {
  const first = (want: (T: number) => boolean): number => {
    let lo = 0;
    let hi = N * (examples + 1);
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (want(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const lo = first((T) => shardExamples(T, indices, N) >= examples);
  const hi = first((T) => shardExamples(T, indices, N) > examples) - 1;
  return lo <= hi && shardExamples(lo, indices, N) === examples ? [lo, hi] : undefined;
}

/**
 * Refuses shard files that do not come from one run: another model, other inputs, other
 * stacks, another shard count, or example counts that no single run splits into (another
 * --examples). Names the file that disagrees with the first.
 */
export function checkSameRun(files: { path: string; file: AnalysisFile }[]): void {
  const [first, ...rest] = files;
  const describe = (f: AnalysisFile) => {
    const sh = f.stacks[0].sums.shards;
    return `${f.run.examples} examples in shard${sh.indices.length > 1 ? 's' : ''} ${sh.indices.join(', ')} of ${sh.count}`;
  };
  const stacksOf = (f: AnalysisFile) =>
    f.stacks.map((s) => `${s.name}/${s.kind}${s.causal ? '/causal' : ''}/${s.layerCount}x${s.headCount}/${s.tensors.join(',')}`).join('; ');
  const sh0 = first.file.stacks[0].sums.shards;
  let sizes = runSizes(first.file.run.examples, sh0.indices, sh0.count);
  for (const { path, file } of rest) {
    const unlike = (what: string) => new InputError(`${path} ${what} than ${first.path}: shards of one run cannot be merged with it`);
    if (file.model.sha256 !== first.file.model.sha256)
      throw unlike(`analyzes a different model (sha256 ${file.model.sha256.slice(0, 12)}…)`);
    if (file.run.inputs !== undefined && first.file.run.inputs !== undefined && file.run.inputs !== first.file.run.inputs) {
      throw unlike(`was made from other inputs (${file.run.inputs})`);
    }
    if (stacksOf(file) !== stacksOf(first.file)) throw unlike(`has other stacks (${file.stacks.map((s) => s.name).join(', ')})`);
    const sh = file.stacks[0].sums.shards;
    if (sh.count !== sh0.count) throw unlike(`was made in ${sh.count} shards, not ${sh0.count},`);
    const mine = runSizes(file.run.examples, sh.indices, sh.count);
    const both = sizes && mine ? ([Math.max(sizes[0], mine[0]), Math.min(sizes[1], mine[1])] as [number, number]) : undefined;
    if (!both || both[0] > both[1]) {
      throw new InputError(
        `${path} holds ${describe(file)}, which no run splits into together with ${first.path} (${describe(first.file)}): ` +
          'was it made with another --examples or from other inputs?',
      );
    }
    sizes = both;
  }
}
