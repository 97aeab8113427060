// `npm run mutation`: StrykerJS over the code whose checks decide whether a number is right
// (issue 18). Each mutant runs only the unit test files that reach it (the tap runner starts
// every file alone, node:test from the TypeScript sources through tsx, and records which
// files cover which mutant). Outside CI: about N minutes on 2 cores (see README).
// The scope is the list below; re-run after the finder or the runner changes.
export const scope = [
  'analysis/onnx/attentionFinder.ts',
  'analysis/runtime/runner.ts',
  'analysis/similarity/views.ts',
  'analysis/planner/headMap.ts',
  'analysis/planner/modes.ts',
  'analysis/planner/cost.ts',
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: {
    testFiles: ['test/unit/*.test.ts', '!test/unit/boundaries.test.ts'],
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
