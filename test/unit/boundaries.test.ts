// Protects the house's walls (STYLE.md): only extension/ imports vscode; the webview imports no host code;
// protocol/, which both sides import, imports nothing from outside itself.
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Every static import and require of a file: [specifier, whether it is type-only]. */
function imports(file: string): [string, boolean][] {
  const text = readFileSync(file, 'utf8');
  const found: [string, boolean][] = [];
  for (const m of text.matchAll(/^\s*import\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) found.push([m[2], !!m[1]]);
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) found.push([m[1], false]);
  for (const m of text.matchAll(/require\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push([m[1], false]);
  return found;
}

describe('module boundaries', () => {
  it('analysis/ imports nothing from vscode, extension/ or webview/', () => {
    for (const file of sources(join(root, 'analysis'))) {
      for (const [spec] of imports(file)) {
        assert.ok(spec !== 'vscode' && !/(^|\/)(extension|webview)\//.test(spec), `${relative(root, file)} imports ${spec}: analysis/ must stay pure`);
      }
    }
  });

  it('webview/ imports no vscode, and at run time nothing from outside webview/ but protocol/', () => {
    for (const file of sources(join(root, 'webview'))) {
      for (const [spec, typeOnly] of imports(file)) {
        assert.notEqual(spec, 'vscode', `${relative(root, file)} imports vscode`);
        if (spec.startsWith('../') && !spec.startsWith('../protocol/')) {
          assert.ok(typeOnly, `${relative(root, file)} imports host code (${spec}) at run time; import types only`);
        }
      }
    }
  });

  it('protocol/ imports nothing but its own files (no vscode, no DOM helpers, no Node modules)', () => {
    for (const file of sources(join(root, 'protocol'))) {
      for (const [spec] of imports(file)) assert.ok(spec.startsWith('./'), `${relative(root, file)} imports ${spec}: both the host and the webview load protocol/`);
    }
  });

  it('extension/ reaches the webview only through protocol/', () => {
    for (const file of sources(join(root, 'extension'))) {
      for (const [spec] of imports(file)) assert.ok(!/(^|\/)webview\//.test(spec), `${relative(root, file)} imports ${spec}; shared types belong in protocol/`);
    }
  });
});
