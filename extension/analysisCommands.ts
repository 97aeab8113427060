/**
 * "Analyze the Sample Model" and "Analyze Attention" (any .onnx): run the analysis in a
 * cancellable notification with the settings' examples, batch size and provider, write the
 * analysis file to the extension's global storage and hand it to the panel.
 */
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { analyzeModel } from '../analysis/app/analyze';
import type { AnalyzeOptions } from '../analysis/app/analyze';
import { writeFileAtomic } from '../analysis/app/storage';
import { CancelledError } from '../analysis/errors';
import type { ExampleSource } from '../analysis/runtime/exampleSource';
import type { Deps } from './deps';
import { userMessage } from './errorWording';
import type { ShownAnalysis } from './panelHub';

export class AnalysisCommands {
  static register(context: vscode.ExtensionContext, { output, settings, panel }: Deps): vscode.Disposable {
    const sample = (name: string) => vscode.Uri.joinPath(context.extensionUri, 'media', 'sample', name).fsPath;
    const run = async (model: string, source: ExampleSource, label: string, outName: string): Promise<ShownAnalysis | undefined> => {
      const { examples, batchSize, executionProvider } = settings.read();
      const options: AnalyzeOptions = { model, source, examples, batch: batchSize, ep: executionProvider };
      const out = join(context.globalStorageUri.fsPath, 'analyses', outName);
      try {
        const file = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Attention Reuse: analyzing ${label}`, cancellable: true },
          async (progress, token) => {
            const abort = new AbortController();
            const cancel = token.onCancellationRequested(() => abort.abort());
            let reported = 0;
            try {
              return await analyzeModel(options, {
                signal: abort.signal,
                onProgress: (done, total) => {
                  const pct = total > 0 ? (100 * done) / total : 0;
                  progress.report({ message: `${done}/${total} examples`, increment: pct - reported });
                  reported = pct;
                },
                onNote: (line) => output.info(`analyze ${model}: ${line}`),
              });
            } finally {
              cancel.dispose();
            }
          },
        );
        await writeFileAtomic(out, JSON.stringify(file), { overwrite: true });
        output.info(`analyze ${model}: ${file.run.examples} examples, ${file.run.executionProvider}, ${file.run.seconds.toFixed(1)} s → ${out}`);
        const shown: ShownAnalysis = { file, path: out, label, source };
        await panel.show(shown, { reveal: true });
        return shown;
      } catch (err) {
        if (err instanceof CancelledError) {
          output.info(`analyze ${model}: cancelled`);
          return undefined;
        }
        const message = userMessage(err);
        output.error(`analyze ${model}: ${message}`);
        void vscode.window.showErrorMessage(`Attention Reuse: ${message}`);
        return undefined;
      }
    };

    return vscode.Disposable.from(
      vscode.commands.registerCommand('attentionReuse.analyzeSample', async () => {
        const model = sample('model.onnx');
        const missing = ['model.onnx', 'sentences.txt', 'tokenizer.json'].filter((f) => !existsSync(sample(f)));
        if (missing.length > 0) {
          void vscode.window.showErrorMessage(`Attention Reuse: the sample model is incomplete (media/sample/${missing.join(', ')} missing).`);
          return undefined;
        }
        return run(model, { kind: 'text', path: sample('sentences.txt'), tokenizer: sample('tokenizer.json') }, 'the sample model', 'sample.analysis.json');
      }),
      vscode.commands.registerCommand('attentionReuse.analyzeModel', async (uri?: vscode.Uri) => {
        const model = uri ?? (await vscode.window.showOpenDialog({ filters: { 'ONNX model': ['onnx'] }, canSelectMany: false }))?.[0];
        if (!model) return undefined;
        const source = await pickSource(model.fsPath, sample);
        if (!source) return undefined;
        const stem = basename(model.fsPath).replace(/\.onnx$/i, '');
        return run(model.fsPath, source, `${stem} — ${basename(source.path)}`, `${stem}.analysis.json`);
      }),
    );
  }
}

/** Asks which examples to run: the bundled sentences, a text file, or a JSONL of model inputs. */
async function pickSource(modelPath: string, sample: (name: string) => string): Promise<ExampleSource | undefined> {
  const beside = join(dirname(modelPath), 'tokenizer.json');
  type Item = vscode.QuickPickItem & { kind2: 'sample' | 'text' | 'jsonl' };
  const items: Item[] = [
    { label: 'Sample sentences', description: 'bundled English sentences, with the model’s tokenizer.json', kind2: 'sample' },
    { label: 'A text file…', description: 'one example per line, with the model’s tokenizer.json', kind2: 'text' },
    { label: 'A JSONL file…', description: 'one example of named input tensors per line', kind2: 'jsonl' },
  ];
  const choice = await vscode.window.showQuickPick(items, { title: 'Analyze Attention: which examples?' });
  if (!choice) return undefined;
  const open = async (title: string, filters: Record<string, string[]>, near = dirname(modelPath)) =>
    (await vscode.window.showOpenDialog({ title, filters, canSelectMany: false, defaultUri: vscode.Uri.file(near) }))?.[0]?.fsPath;
  if (choice.kind2 === 'jsonl') {
    const path = await open('Examples (JSONL)', { JSONL: ['jsonl'] });
    return path ? { kind: 'jsonl', path } : undefined;
  }
  const path = choice.kind2 === 'sample' ? sample('sentences.txt') : await open('Examples (one per line)', { Text: ['txt'], 'All files': ['*'] });
  if (!path) return undefined;
  const tokenizer = existsSync(beside) ? beside : await open('The model’s tokenizer.json', { 'tokenizer.json': ['json'] });
  return tokenizer ? { kind: 'text', path, tokenizer } : undefined;
}
