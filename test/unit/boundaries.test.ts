// Protects the house's walls (STYLE.md) as eslint.config.mjs writes them: each boundary refuses a deliberate violation, the files exempt from one accept the same code, and today's tree keeps them.
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import { root } from '../helpers/paths.mjs';

const eslint = new ESLint({ cwd: root });
const boundaryRules = new Set(['@typescript-eslint/no-restricted-imports', 'no-restricted-syntax']);

/** The boundary messages ESLint gives `code` as if it were the file `path` (from the repository root). */
async function boundaryMessages(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  const fatal = result.messages.find((m) => m.fatal);
  assert.equal(fatal, undefined, `${path} did not parse: ${fatal?.message}`);
  return result.messages.filter((m) => m.ruleId !== null && boundaryRules.has(m.ruleId)).map((m) => m.message);
}

async function refused(path: string, code: string, pattern: RegExp): Promise<void> {
  const messages = await boundaryMessages(path, code);
  assert.equal(
    messages.length,
    1,
    `${path}: expected one boundary error for ${JSON.stringify(code)}, got ${JSON.stringify(messages)}; is the rule for this folder in eslint.config.mjs?`,
  );
  assert.match(messages[0], pattern);
}

async function allowed(path: string, code: string): Promise<void> {
  const messages = await boundaryMessages(path, code);
  assert.deepEqual(messages, [], `${path} should be allowed ${JSON.stringify(code)}; is it exempt in eslint.config.mjs?`);
}

const fsLoads = ['fs', 'node:fs', 'fs/promises', 'node:fs/promises'].flatMap((m) => [
  `import { readFileSync } from '${m}';\nexport const f = readFileSync;\n`,
  `import * as files from '${m}';\nexport const f = files;\n`,
  `export const f = require('${m}');\n`,
  `export const f = () => import('${m}');\n`,
]);

describe('module boundaries (lint rules)', () => {
  it('vscode is refused in analysis/ and webview/, however it is loaded', async () => {
    for (const path of ['analysis/planner/probe.ts', 'analysis/cli/probe.ts', 'analysis/app/storage.ts', 'webview/probe.ts']) {
      await refused(path, `import * as vscode from 'vscode';\nexport const v = vscode;\n`, /Only extension\/ imports vscode/);
      await refused(path, `export const v = require('vscode');\n`, /Only extension\/ imports vscode/);
      await refused(path, `export const v = () => import('vscode');\n`, /Only extension\/ imports vscode/);
    }
    await allowed('extension/probe.ts', `import * as vscode from 'vscode';\nexport const v = vscode;\n`);
  });

  it('analysis/ imports nothing from extension/ or webview/', async () => {
    await refused(
      'analysis/planner/probe.ts',
      `import { panelHtml } from '../../extension/panelHtml';\nexport const p = panelHtml;\n`,
      /analysis\/ is pure/,
    );
    await refused(
      'analysis/probe.ts',
      `import type { ToWebview } from '../webview/main';\nexport type T = ToWebview;\n`,
      /analysis\/ is pure/,
    );
  });

  it('webview/ imports types, never code, from outside webview/', async () => {
    await refused(
      'webview/probe.ts',
      `import { panelHtml } from '../extension/panelHtml';\nexport const p = panelHtml;\n`,
      /imports types, not host code/,
    );
    await refused(
      'webview/probe.ts',
      `import { presetHeadMap } from '../analysis/planner/headMap';\nexport const p = presetHeadMap;\n`,
      /imports types, not host code/,
    );
    await allowed('webview/probe.ts', `import type { HeadMap } from '../analysis/planner/headMap';\nexport type M = HeadMap;\n`);
    await allowed('webview/probe.ts', `import { assertNever } from './assertNever';\nexport const a = assertNever;\n`);
  });

  it('extension/ does not import analysis/cli/', async () => {
    await refused('extension/probe.ts', `import { parseArgs } from '../analysis/cli/args';\nexport const p = parseArgs;\n`, /not the CLI/);
    await refused(
      'extension/probe.ts',
      `import type { SourceFlags } from '../analysis/cli/sourceFlags';\nexport type S = SourceFlags;\n`,
      /not the CLI/,
    );
    await allowed('extension/probe.ts', `import { presetHeadMap } from '../analysis/planner/headMap';\nexport const p = presetHeadMap;\n`);
  });

  it('fs is refused under analysis/ as import, require() and import(), except in analysis/app/storage.ts and analysis/cli/', async () => {
    for (const code of fsLoads) {
      await refused('analysis/planner/probe.ts', code, /through analysis\/app\/storage\.ts/);
      await refused('analysis/app/probe.ts', code, /through analysis\/app\/storage\.ts/);
      await allowed('analysis/app/storage.ts', code);
      await allowed('analysis/cli/probe.ts', code);
      await allowed('analysis/cli/nested/probe.ts', code);
      await allowed('extension/probe.ts', code);
    }
    await allowed('analysis/planner/probe.ts', `import { join } from 'node:path';\nexport const j = join;\n`);
  });

  it('protocol/ loads nothing but its own files; the host and the webview share it; extension/ reaches the webview only through it', async () => {
    await allowed('protocol/probe.ts', `import type { ToWebview } from './messages';\nexport type T = ToWebview;\n`);
    await refused(
      'protocol/probe.ts',
      `import { h } from '../webview/dom';\nexport const x = h;\n`,
      /protocol\/ imports nothing but its own files/,
    );
    await refused(
      'protocol/probe.ts',
      `import { join } from 'node:path';\nexport const x = join;\n`,
      /protocol\/ imports nothing but its own files/,
    );
    await refused(
      'protocol/probe.ts',
      `import * as v from 'vscode';\nexport const x = v;\n`,
      /protocol\/ imports nothing but its own files/,
    );
    await allowed('webview/probe.ts', `import { RequestClient } from '../protocol/requests';\nexport const r = RequestClient;\n`);
    await allowed('extension/probe.ts', `import { replyTo } from '../protocol/requests';\nexport const r = replyTo;\n`);
    await refused('extension/probe.ts', `import { h } from '../webview/dom';\nexport const x = h;\n`, /only through protocol/);
  });

  it('the sources keep every boundary', async () => {
    const results = await eslint.lintFiles(['analysis', 'extension', 'webview', 'protocol']);
    const broken = results.flatMap((r) =>
      r.messages.filter((m) => m.ruleId !== null && boundaryRules.has(m.ruleId)).map((m) => `${r.filePath}:${m.line} ${m.message}`),
    );
    assert.deepEqual(broken, [], 'run `npm run lint` for the details');
  });
});
