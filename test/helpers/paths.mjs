// Where the suites find the repository, whether they run from .ts, .mjs or compiled code.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The ONNX test models written by scripts/fixtures/makeFixtures.py. */
export const fixtureModels = join(root, 'test', 'fixtures', 'models');
/** The CLI bundle (`npm run build`); only the integration suites use it. */
export const cliBundle = join(root, 'dist', 'cli.js');
