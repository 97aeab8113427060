/** The repository root. */
export const root: string;
/** The ONNX test models written by scripts/fixtures/makeFixtures.py. */
export const fixtureModels: string;
/** The CLI bundle (`npm run build`); only the integration suites use it. */
export const cliBundle: string;
