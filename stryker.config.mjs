// `npm run mutation`: StrykerJS over the code whose checks decide whether a number is right
// (issue 18). Each mutant runs only the unit test files that reach it: the tap runner starts
// every file alone (node:test from the TypeScript sources through tsx) and records which files
// cover which mutant. Outside CI; its wall time, score and survivors are in the README.
// The scope is the list below. Re-run after the finder or the runner changes; a function that
// is no longer there stops the run with its name, so the list cannot go stale unnoticed.
import { readFileSync } from 'node:fs';

/** Whole files, and for the runner only its checks (the session start and the batch pipeline are left out). */
const scope = [
  'analysis/onnx/attentionFinder.ts',
  ...functions('analysis/runtime/runner.ts', [
    'runBatch',
    'hasMaskFor',
    'maskNameFor',
    'governing',
    'stackAxes',
    'padTensor',
    'realPositions',
    'sliceStack',
  ]),
  'analysis/similarity/views.ts',
  'analysis/planner/headMap.ts',
  'analysis/planner/modes.ts',
  'analysis/planner/cost.ts',
];

/** `file:first-last` line ranges of the named functions or methods (found by their declaration, ended by brace depth). */
function functions(file, names) {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8').split('\n');
  return names.map((name) => {
    const start = lines.findIndex((l) => new RegExp(`^\\s*(export )?(private )?(async )?(function\\*? )?${name}\\b.*\\(`).test(l));
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
    // Every unit test but the lint-wall test, which runs ESLint and covers none of the scope.
    testFiles: ['test/unit/!(boundaries).test.ts'],
    nodeArgs: ['--require', 'tsx/cjs', '--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
  },
  mutate: scope,
  coverageAnalysis: 'perTest',
  concurrency: 2,
  timeoutMS: 30_000,
  tempDirName: '.stryker-tmp',
  // The sandbox is a copy of the checkout: leave out caches, builds and reports.
  ignorePatterns: ['.cache', '.artifacts', 'dist', 'out', '*.vsix', '.attention-reuse'],
  cleanTempDir: 'always',
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: '.artifacts/mutation/mutation.json' },
  htmlReporter: { fileName: '.artifacts/mutation/index.html' },
  thresholds: { high: 90, low: 80, break: 80 },
};
