/**
 * "Analyze the Sample Model" and "Analyze Attention" (any .onnx): check the model first, so
 * that one the tool cannot read is said at once and no input is asked for; then offer the
 * examples that lie beside it, and run the analysis through AnalysisRuns.
 */
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { summarizeModel } from '../analysis/app/model';
import type { ModelSummary } from '../analysis/app/model';
import { readTokenizer } from '../analysis/app/readers';
import type { ExampleSource } from '../analysis/runtime/exampleSource';
import { AnalysisRuns } from './analysisRuns';
import type { Deps } from './deps';
import { failureHints, fullMessage, userMessage } from './errorWording';
import { suggestSources } from './inputSuggestions';
import type { SampleInputs, SourceSuggestion } from './inputSuggestions';
import type { ShownAnalysis } from './panelHub';
import { modelSummaryPayload } from './panelPayloads';

const modelFilters = { 'ONNX model': ['onnx'] };

export class AnalysisCommands {
  static register(context: vscode.ExtensionContext, deps: Deps): vscode.Disposable {
    const runs = new AnalysisRuns(deps);
    const sample = (name: string) => vscode.Uri.joinPath(context.extensionUri, 'media', 'sample', name).fsPath;
    let sampleInputs: Promise<SampleInputs> | undefined;
    const samples = () =>
      (sampleInputs ??= readTokenizer(sample('tokenizer.json')).then((tok) => ({
        sentences: sample('sentences.txt'),
        tokenizer: sample('tokenizer.json'),
        vocabSize: tok.maxId + 1,
      })));

    /** The model's summary, or undefined after saying why it cannot be analyzed. */
    const checkModel = async (model: string, label: string): Promise<ModelSummary | undefined> => {
      let summary: ModelSummary;
      try {
        summary = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Window, title: `Attention Reuse: reading ${basename(model)}` },
          () => summarizeModel(model),
        );
      } catch (err) {
        runs.fail(label, model, fullMessage(err), failureHints(err), userMessage(err));
        return undefined;
      }
      if (!summary.problem) return summary;
      runs.refuseModel(label, modelSummaryPayload(summary));
      return undefined;
    };

    const analyzeSample = async (): Promise<ShownAnalysis | undefined> => {
      const missing = ['model.onnx', 'sentences.txt', 'tokenizer.json'].filter((f) => !existsSync(sample(f)));
      if (missing.length > 0) {
        void vscode.window.showErrorMessage(
          `Attention Reuse: the sample model is incomplete (media/sample/${missing.join(', ')} missing).`,
        );
        return undefined;
      }
      const label = 'the sample model';
      if (!(await checkModel(sample('model.onnx'), label))) return undefined;
      return runs.run({
        model: sample('model.onnx'),
        source: { kind: 'text', path: sample('sentences.txt'), tokenizer: sample('tokenizer.json') },
        label,
        stem: 'sample-model',
        allExamples: true,
      });
    };

    const analyzeModel = async (uri?: vscode.Uri): Promise<ShownAnalysis | undefined> => {
      const model =
        uri ??
        (
          await vscode.window.showOpenDialog({
            title: 'Analyze Attention: the ONNX model',
            openLabel: 'Analyze',
            filters: modelFilters,
            canSelectMany: false,
          })
        )?.[0];
      if (!model) return undefined;
      const stem = basename(model.fsPath).replace(/\.onnx$/i, '');
      const summary = await checkModel(model.fsPath, stem);
      if (!summary) return undefined;
      const source = await pickSource(model.fsPath, suggestSources(model.fsPath, summary, await samples()));
      if (!source) return undefined;
      return runs.run({ model: model.fsPath, source, label: `${stem} — ${basename(source.path)}`, stem });
    };

    return vscode.Disposable.from(
      runs,
      vscode.commands.registerCommand('attentionReuse.analyzeSample', analyzeSample),
      vscode.commands.registerCommand('attentionReuse.analyzeModel', analyzeModel),
      deps.panel.onDidAskToAnalyze((path) => void analyzeModel(vscode.Uri.file(path))),
    );
  }
}

/** Asks which examples to run, the best suggestion first; then any file still to pick, in titled dialogs. */
async function pickSource(modelPath: string, suggestions: SourceSuggestion[]): Promise<ExampleSource | undefined> {
  const name = basename(modelPath);
  const choice = await vscode.window.showQuickPick(suggestions, {
    title: `Analyze Attention: which examples for ${name}?`,
    placeHolder: 'Examples beside the model come first',
  });
  if (!choice) return undefined;
  if (choice.source) return choice.source;
  const open = async (title: string, openLabel: string, filters: Record<string, string[]>) =>
    (
      await vscode.window.showOpenDialog({
        title,
        openLabel,
        filters,
        canSelectMany: false,
        defaultUri: vscode.Uri.file(dirname(modelPath)),
      })
    )?.[0]?.fsPath;
  if (choice.ask === 'images') {
    const folder = (
      await vscode.window.showOpenDialog({
        title: `Analyze Attention: a folder of images for ${name} (PNG, JPEG)`,
        openLabel: 'Use These Images',
        canSelectFiles: false,
        canSelectFolders: true,
        canSelectMany: false,
        defaultUri: vscode.Uri.file(dirname(modelPath)),
      })
    )?.[0]?.fsPath;
    return folder ? { kind: 'images', path: folder } : undefined;
  }
  if (choice.ask === 'arrays') {
    const path = await open(`Analyze Attention: NumPy arrays for ${name} (the first axis counts the examples)`, 'Use These Arrays', {
      NumPy: ['npz', 'npy'],
    });
    return path ? { kind: 'arrays', path } : undefined;
  }
  if (choice.ask === 'jsonl') {
    const path = await open(`Analyze Attention: examples for ${name} (JSONL, one example per line)`, 'Use These Examples', {
      JSONL: ['jsonl'],
    });
    return path ? { kind: 'jsonl', path } : undefined;
  }
  const path = await open(`Analyze Attention: text for ${name} (one example per line)`, 'Use This Text', {
    Text: ['txt'],
    'All files': ['*'],
  });
  if (!path) return undefined;
  // suggestSources says "with the tokenizer.json beside the model" where there is one.
  const beside = join(dirname(modelPath), 'tokenizer.json');
  const tokenizer = existsSync(beside)
    ? beside
    : await open(`Analyze Attention: the tokenizer.json of ${name}`, 'Use This Tokenizer', { 'tokenizer.json': ['json'] });
  return tokenizer ? { kind: 'text', path, tokenizer } : undefined;
}
