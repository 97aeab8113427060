// Runs the CLI bundle (dist/cli.js) as a user would, for the integration suites.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cliBundle, fixtureModels } from './paths.mjs';

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

/** `analyze` of a fixture model (fixtures/models/MODEL.onnx) on fixtures/models/INPUTS.inputs.jsonl on the CPU in batches of 3; asserts it succeeds and returns `out`. */
export function analyzeFixture(model: string, inputs: string, out: string, ...extra: string[]): string {
  const r = runCli(
    [
      'analyze',
      join(fixtureModels, `${model}.onnx`),
      '--inputs',
      join(fixtureModels, `${inputs}.inputs.jsonl`),
      '--out',
      out,
      '--batch',
      '3',
      '--ep',
      'cpu',
      '--quiet',
      ...extra,
    ],
    { env: { ...process.env, OMP_NUM_THREADS: '1' } },
  );
  assert.equal(r.code, 0, `${model}: analyze failed: ${r.stderr}`);
  return out;
}
