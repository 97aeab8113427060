// Runs the CLI bundle (dist/cli.js) as a user would, for the integration suites.
import { spawnSync } from 'node:child_process';
import { cliBundle } from './paths.mjs';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/cli.js ...args` (or another copy of the bundle) with ONNX Runtime's telemetry off; `env` (default: this process's) and `timeout` as for spawnSync. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeout?: number; bundle?: string } = {}): CliResult {
  const env = { ...(options.env ?? process.env), ORT_DISABLE_TELEMETRY: '1' };
  const r = spawnSync(process.execPath, [options.bundle ?? cliBundle, ...args], { encoding: 'utf8', env, timeout: options.timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
