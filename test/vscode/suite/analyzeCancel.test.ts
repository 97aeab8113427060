// Protects cancellation of an analysis inside the extension host: an aborted run stops within a batch or two,
// rejects with CancelledError (which the analyze commands treat as "say nothing") and leaves no file, whole or partial.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';

const extensionId = 'attention-reuse.attention-reuse';

/** analysis/app/analyze.ts as tsc built it into out/: the service analysisCommands.ts calls. */
interface AnalyzeService {
  analyzeModel(
    options: {
      model: string;
      source: { kind: 'text'; path: string; tokenizer: string };
      examples: number;
      batch: number;
      ep: string;
      threads: number;
    },
    callbacks: { signal: AbortSignal; onProgress?: (done: number, total: number) => void },
  ): Promise<unknown>;
}

/** analysis/cli/analyzeCommand.ts as tsc built it into out/: the CLI's analyze. */
interface AnalyzeCommandModule {
  analyzeCommand(argv: string[], signal: AbortSignal): Promise<number>;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  return assert.fail('the analysis finished although it was cancelled');
}

suite('Cancelling an analysis', () => {
  let service: AnalyzeService;
  let command: AnalyzeCommandModule;
  let sample: (name: string) => string;
  const out = mkdtempSync(join(tmpdir(), 'cancelled-analysis-'));

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is not loaded`);
    await extension.activate();
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled modules inside the loaded extension, found at run time
    service = require(join(extension.extensionPath, 'out/analysis/app/analyze.js')) as AnalyzeService;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- as above
    command = require(join(extension.extensionPath, 'out/analysis/cli/analyzeCommand.js')) as AnalyzeCommandModule;
    sample = (name) => join(extension.extensionPath, 'media', 'sample', name);
  });

  test('an abort during the run stops it promptly with CancelledError', async function () {
    this.timeout(60_000);
    const abort = new AbortController();
    let abortedAt = 0;
    let doneAtAbort = 0;
    let total = 0;
    const run = service.analyzeModel(
      {
        model: sample('model.onnx'),
        source: { kind: 'text', path: sample('sentences.txt'), tokenizer: sample('tokenizer.json') },
        examples: 300,
        batch: 4,
        ep: 'cpu',
        threads: availableParallelism(),
      },
      {
        signal: abort.signal,
        onProgress: (done, all) => {
          total = all;
          if (done > 0 && !abort.signal.aborted) {
            doneAtAbort = done;
            abortedAt = Date.now();
            abort.abort();
          }
        },
      },
    );
    const err = await rejection(run);
    const stopMs = Date.now() - abortedAt;
    assert.equal(err.name, 'CancelledError', `cancelling should reject with CancelledError, got ${err.name}: ${err.message}`);
    assert.ok(doneAtAbort < total, 'the abort came after the last example, so nothing was cancelled');
    assert.ok(stopMs < 2000, `the analysis took ${stopMs} ms to stop after the abort`);
  });

  test('the analyze command cancelled before its write leaves no analysis file and no temporary file', async function () {
    this.timeout(60_000);
    const target = join(out, 'cancelled.analysis.json');
    const abort = new AbortController();
    const run = command.analyzeCommand(
      [
        sample('model.onnx'),
        '--text',
        sample('sentences.txt'),
        '--tokenizer',
        sample('tokenizer.json'),
        '--batch',
        '2',
        '--ep',
        'cpu',
        '--quiet',
        '--out',
        target,
      ],
      abort.signal,
    );
    setTimeout(() => abort.abort(), 50);
    const err = await rejection(run);
    assert.equal(err.name, 'CancelledError', `got ${err.name}: ${err.message}`);
    assert.equal(existsSync(target), false, 'a cancelled analysis wrote its output file');
    assert.deepEqual(readdirSync(out), [], 'a cancelled analysis left files behind');
  });
});
