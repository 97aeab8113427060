// Bundles the programs separately: extension host (cjs, vscode external), webview (browser
// iife), the CLI (node, with a shebang) and the similarity kernel's worker thread, which the
// CLI and the extension both start from dist/ (analysis/similarity/kernelPool.ts).
import * as esbuild from 'esbuild';
import { existsSync } from 'node:fs';

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
  builds.push({
    ...common,
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview.js',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  });
}
await Promise.all(builds.map((b) => esbuild.build(b)));
