// `npm run mutation`: StrykerJS over the code whose checks decide whether a number is right
// (issue 18). Each mutant runs only the unit test files that reach it: the tap runner starts
// every file alone (node:test from the TypeScript sources through tsx) and records which files
// cover which mutant. Outside CI; its wall time, score and survivors are in the README.
// The scope is the list below. Re-run after the finder or the runner changes; a function that
// is no longer there stops the run with its name, so the list cannot go stale unnoticed.
import { readFileSync } from 'node:fs';

/**
 * Whole files, and for the runner only its checks: which inputs govern a stack's rows, when a
 * batch may be padded, the feeds (slicing.ts, feeds.ts) and the cuts and row checks (the session
 * start and the batch pipeline are left out). The finder's head counts live in heads.ts.
 */
const scope = [
  'analysis/onnx/attentionFinder.ts',
  'analysis/onnx/heads.ts',
  ...functions('analysis/runtime/runner.ts', ['padded', 'runBatch', 'governing', 'stackAxes']),
  'analysis/runtime/slicing.ts',
  'analysis/runtime/feeds.ts',
  'analysis/similarity/views.ts',
  'analysis/planner/headMap.ts',
  'analysis/planner/modes.ts',
  'analysis/planner/cost.ts',
];

const scopeTests = [
  ...['attentionFinder', 'heads', 'guards', 'dims', 'extraction', 'expose', 'unfuse', 'bfloat16', 'anatomy'],
  ...['runnerChecks', 'feeds', 'similarityGolden', 'similarityRandom', 'causalBaselines', 'errorBars'],
  ...['cost', 'costRefusals', 'config', 'modes', 'modeRows', 'planner', 'planCandidates'],
  ...['plannerAssignment', 'planNoise', 'measuredPlan', 'reuseRewrite', 'warmStartWeights'],
];

/**
 * With MUTATION_SURVIVORS_OF=REPORT.json, only the mutants that report left undetected (their
 * exact ranges, and any mutant inside one): a re-run after new tests, merged with the full run by
 * scripts/mutationReport.mjs. Its own score means nothing, so it breaks no threshold.
 */
const survivorsOf = process.env.MUTATION_SURVIVORS_OF;
function survivors(report) {
  const { files } = JSON.parse(readFileSync(report, 'utf8'));
  return Object.entries(files).flatMap(([file, { mutants }]) =>
    mutants
      .filter((m) => m.status === 'Survived' || m.status === 'NoCoverage')
      // The report counts columns from 1, the mutate ranges from 0.
      .map(({ location: { start, end } }) => `${file}:${start.line}:${start.column - 1}-${end.line}:${end.column - 1}`),
  );
}

/** `file:first-last` line ranges of the named functions or methods (found by their declaration, ended by brace depth). */
function functions(file, names) {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8').split('\n');
  return names.map((name) => {
    const start = lines.findIndex((l) => new RegExp(`^\\s*(export )?(private )?(async )?(get )?(function\\*? )?${name}\\b.*\\(`).test(l));
    if (start < 0) throw new Error(`stryker.config.mjs: no function ${name} in ${file}; update the mutation scope`);
    let depth = 0;
    for (let i = start; i < lines.length; i++) {
      for (const ch of lines[i]) depth += ch === '{' ? 1 : ch === '}' ? -1 : 0;
      if (depth === 0 && lines[i].includes('}')) return `${file}:${start + 1}-${i + 1}`;
    }
    throw new Error(`stryker.config.mjs: the end of ${name} in ${file} was not found`);
  });
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: {
    // The unit tests written for the scope: those of the finder and its head counts, the runner's
    // feeds, cuts and checks, the similarity views, head maps, modes, costs and the planner. The
    // others (the panel's, the extension's, the trainer's, the lint wall, and the 12 s of row
    // sampling and shuffled baselines) reach the finder only because they read a model: run
    // against every finder mutant, they took 40 s a mutant.
    // MUTATION_TESTS=a,b narrows them further (the finder's own tests for a run over the finder).
    testFiles: [`test/unit/@(${(process.env.MUTATION_TESTS?.split(',') ?? scopeTests).join('|')}).test.ts`],
    nodeArgs: ['--require', 'tsx/cjs', '--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
  },
  mutate: survivorsOf ? survivors(survivorsOf) : scope,
  coverageAnalysis: 'perTest',
  concurrency: 2,
  timeoutMS: 30_000,
  tempDirName: '.stryker-tmp',
  // The sandbox is a copy of the checkout: leave out caches, builds and reports.
  ignorePatterns: ['.cache', '.artifacts', 'dist', 'out', '*.vsix', '.attention-reuse'],
  cleanTempDir: 'always',
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: `.artifacts/mutation/${survivorsOf ? 'survivors' : 'mutation'}.json` },
  htmlReporter: { fileName: `.artifacts/mutation/${survivorsOf ? 'survivors' : 'index'}.html` },
  thresholds: { high: 90, low: 80, break: survivorsOf ? null : 80 },
};
