// Bundles the programs separately: extension host (cjs, vscode external), the webview pages
// (browser iife) and the notebook renderer (browser esm), the CLI (node, with a shebang) and the similarity kernel's worker thread, which the
// CLI and the extension both start from dist/ (analysis/similarity/kernelPool.ts).
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const production = process.argv.includes('--production');
const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning' };
const native = ['onnxruntime-node', 'vscode'];

const builds = [
  {
    ...common,
    entryPoints: ['analysis/cli/main.ts'],
    outfile: 'dist/cli.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: native,
    banner: { js: "#!/usr/bin/env node\nprocess.env.ORT_DISABLE_TELEMETRY ??= '1';" },
  },
  {
    ...common,
    entryPoints: ['extension/extension.ts'],
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: native,
  },
  {
    ...common,
    entryPoints: ['analysis/similarity/kernelWorker.ts'],
    outfile: 'dist/kernelWorker.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
  },
];
if (existsSync('webview/main.ts')) {
  const page = { ...common, platform: 'browser', format: 'iife', target: 'es2022' };
  builds.push(
    { ...page, entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js' },
    // The .onnx summary editor's page (extension/modelEditor.ts).
    { ...page, entryPoints: ['webview/modelEditor.ts'], outfile: 'dist/modelEditor.js' },
    // VS Code loads a notebook renderer as an ES module and calls its exported activate().
    { ...page, entryPoints: ['webview/notebookRenderer.ts'], outfile: 'dist/notebookRenderer.js', format: 'esm' },
  );
}
await Promise.all(builds.map((b) => esbuild.build(b)));

// The editor's schema for *.reuse.json (package.json jsonValidation) is the one the CLI
// validates with, modes filled in from the mode table: written from tsc's output.
const compiled = new URL('../out/analysis/config/reuseConfig.js', import.meta.url);
if (!existsSync(compiled)) throw new Error('out/analysis/config/reuseConfig.js is missing: run tsc -b first (npm run build does both)');
const { configSchema } = createRequire(import.meta.url)(compiled.pathname);
mkdirSync(new URL('../media/schemas/', import.meta.url), { recursive: true });
writeFileSync(new URL('../media/schemas/reuseConfig.schema.json', import.meta.url), `${JSON.stringify(configSchema(), null, 2)}\n`);
