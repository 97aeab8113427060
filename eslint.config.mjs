// Lint: typescript-eslint's recommended rules (syntax only, no type information, so it stays
// fast) and the house boundaries of STYLE.md as import rules (typescript-eslint's
// no-restricted-imports, which can let `import type` through). test/unit/boundaries.test.ts
// lints a deliberate violation of each boundary.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const fsModules = ['fs', 'node:fs', 'fs/promises', 'node:fs/promises'];
const fsMessage = 'analysis/ does no file I/O of its own: read and write files through analysis/app/storage.ts.';
const vscodeMessage = 'Only extension/ imports vscode (STYLE.md "Boundaries").';

/** The modules a folder may not load (names, gitignore-style patterns or a regex), and why; `allowTypes`: `import type` is fine. */
const vscode = { names: ['vscode'], message: vscodeMessage };
const fs = { names: fsModules, message: fsMessage };
const hostFolders = {
  patterns: ['**/extension', '**/extension/**', '**/webview', '**/webview/**'],
  message: 'analysis/ is pure: it imports nothing from extension/ or webview/.',
};
const cli = {
  patterns: ['**/analysis/cli', '**/analysis/cli/**'],
  message: 'extension/ calls the services in analysis/app, not the CLI (analysis/cli only parses flags and prints).',
};
const outsideWebview = {
  // webview/ is one flat folder, so every `../` leaves it; protocol/ is shared with the host.
  regex: '^\\.\\./(?!protocol/)',
  allowTypes: true,
  message: 'webview/ renders what the host sends: it imports types, not host code, from outside webview/ (protocol/ aside).',
};
const webviewFolder = {
  patterns: ['**/webview', '**/webview/**'],
  message: 'extension/ reaches the webview only through protocol/: shared types belong there.',
};
const outsideProtocol = {
  // Both the extension host and the webview load protocol/: it may not load anything else.
  regex: '^(?!\\./)',
  message: 'protocol/ imports nothing but its own files: the host and the webview both load it.',
};

/**
 * The rules that enforce `bans` in one group of files. The same module is also refused as
 * `require('m')` and `import('m')`, which no-restricted-imports does not see. Flat config
 * replaces a rule's options rather than merging them, so each group lists all of its bans.
 */
function boundaries(...bans) {
  const paths = bans.flatMap((b) => (b.names ?? []).map((name) => ({ name, message: b.message, allowTypeImports: !!b.allowTypes })));
  const patterns = bans.flatMap((b) => [
    ...(b.patterns ? [{ group: b.patterns, message: b.message, allowTypeImports: !!b.allowTypes }] : []),
    ...(b.regex ? [{ regex: b.regex, message: b.message, allowTypeImports: !!b.allowTypes }] : []),
  ]);
  const syntax = bans.flatMap((b) =>
    (b.names ?? []).flatMap((name) => {
      const literal = JSON.stringify(name).replaceAll('"', "'");
      return [
        { selector: `CallExpression[callee.name='require'][arguments.0.value=${literal}]`, message: b.message },
        { selector: `ImportExpression[source.value=${literal}]`, message: b.message },
      ];
    }),
  );
  return {
    '@typescript-eslint/no-restricted-imports': bans.length > 0 ? ['error', { paths, patterns }] : 'off',
    'no-restricted-syntax': syntax.length > 0 ? ['error', ...syntax] : 'off',
  };
}

export default defineConfig(
  {
    ignores: [
      'dist/**',
      'out/**',
      'node_modules/**',
      '.cache/**',
      '.artifacts/**',
      '.attention-reuse/**',
      '.stryker-tmp/**',
      'test/fixtures/**',
      'media/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_name` marks a parameter or destructured field that is there on purpose (tsconfig's
      // noUnusedParameters uses the same convention).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // The .cjs scripts are CommonJS: require() is how they load modules.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['webview/**/*.ts'], languageOptions: { globals: { ...globals.browser } } },
  // Browser-driving tests: the callbacks they hand to page.evaluate() run in the page.
  {
    files: ['test/webview/**/*.mjs', 'test/ui/**/*.mjs', 'test/vscode/*.mjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },

  // The house boundaries (STYLE.md). Later groups replace earlier ones for the files they match.
  { files: ['analysis/**/*.ts'], rules: boundaries(vscode, hostFolders, fs) },
  { files: ['analysis/app/storage.ts', 'analysis/cli/**/*.ts'], rules: boundaries(vscode, hostFolders) },
  { files: ['webview/**/*.ts'], rules: boundaries(vscode, outsideWebview) },
  { files: ['extension/**/*.ts'], rules: boundaries(cli, webviewFolder) },
  { files: ['protocol/**/*.ts'], rules: boundaries(outsideProtocol) },
);
