// Mocha entry that VS Code's extension host loads through extensionTestsPath, both in
// code-server (runInCodeServer.mjs) and in a downloaded VS Code (runInElectron.mjs).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import Mocha from 'mocha';

/** Reporters print through this hook; its type is missing from @types/mocha. */
type ReporterBase = { consoleLog: (...args: unknown[]) => void };

export async function run(): Promise<void> {
  // The host forwards console output to the runner, which has no terminal: no colours.
  const mocha = new Mocha({ ui: 'tdd', reporter: 'spec', color: false, timeout: 120_000 });
  // In code-server the reporter's lines arrive mixed with the workbench's own log; a tag
  // set by the runner lets it print only ours.
  const tag = process.env.EXTENSION_TESTS_LOG_TAG;
  if (tag) {
    (Mocha.reporters.Base as unknown as ReporterBase).consoleLog = (...args) => console.log(tag + format(...args));
  }
  for (const name of readdirSync(__dirname).sort()) {
    if (name.endsWith('.test.js')) mocha.addFile(join(__dirname, name));
  }
  const failures = await new Promise<number>((resolve) => mocha.run(resolve));
  if (failures > 0) throw new Error(`${failures} extension test(s) failed`);
}
