/**
 * "Compare Analyses": picks two analysis files (before and after: the original model and the
 * model a training run exported, or two checkpoints), compares them with the service of
 * `attention-reuse compare` and shows them side by side in the panel's compare view.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { compareAnalyses } from '../analysis/app/compare';
import type { ComparedFile, CompareResult } from '../analysis/app/compare';
import type { StackComparison } from '../analysis/result/compare';
import type { ComparisonMessage, ComparisonSide, ComparisonStackPayload, Tensor } from '../protocol/messages';
import type { Deps } from './deps';
import { userMessage } from './errorWording';

const tensor = (shape: number[], values: number[]): Tensor<Float64Array> => ({ shape, data: Float64Array.from(values) });

function stackPayload(s: StackComparison): ComparisonStackPayload {
  const L = s.layers;
  const perHead = (pick: (c: StackComparison['headChanges'][number]) => [number, number]) =>
    tensor([L, s.heads, 2], s.headChanges.flatMap(pick));
  return {
    index: s.index,
    label: s.a.name === s.b.name ? s.a.name : `${s.a.name} ↔ ${s.b.name}`,
    layers: L,
    heads: s.heads,
    a: tensor([L, L], s.layerPairs.a.flat()),
    b: tensor([L, L], s.layerPairs.b.flat()),
    diff: tensor([L, L], s.layerPairs.diff.flat()),
    uniform: perHead((c) => [c.uniform[0], c.uniform[1]]),
    entropy: perHead((c) => [c.entropy[0], c.entropy[1]]),
    earlier: perHead((c) => (c.earlier ? [c.earlier[0], c.earlier[1]] : [NaN, NaN])),
  };
}

function side(f: ComparedFile): ComparisonSide {
  const m = f.metrics;
  const point = (e: NonNullable<NonNullable<typeof m>['first']>) => ({ step: e.step, loss: e.evalLoss, accuracy: e.evalAccuracy });
  return {
    label: basename(f.path),
    path: f.path,
    model: f.model.path,
    examples: f.examples,
    evaluations: m?.first && m.last ? { first: point(m.first), last: point(m.last) } : null,
  };
}

/** The comparison as the panel receives it: matrices as typed arrays. */
export function comparisonMessage(r: CompareResult): ComparisonMessage {
  return { type: 'comparison', comparison: { a: side(r.a), b: side(r.b), stacks: r.stacks.map(stackPayload), mismatches: r.mismatches } };
}

type FileArg = vscode.Uri | string | undefined;

export class CompareCommands {
  static register(_context: vscode.ExtensionContext, { output, panel }: Deps): vscode.Disposable {
    const pick = async (given: FileArg, title: string, near?: vscode.Uri): Promise<string | undefined> => {
      if (given) return typeof given === 'string' ? given : given.fsPath;
      const uri = await vscode.window.showOpenDialog({
        title,
        filters: { 'Analysis (JSON)': ['json'] },
        canSelectMany: false,
        defaultUri: near,
      });
      return uri?.[0]?.fsPath;
    };
    return vscode.commands.registerCommand('attentionReuse.compareAnalyses', async (first?: FileArg, second?: FileArg) => {
      const a = await pick(first, 'Compare Analyses: A, before (e.g. the original model)');
      if (!a) return undefined;
      const b = await pick(second, 'Compare Analyses: B, after (e.g. the trained reuse model)', vscode.Uri.file(a));
      if (!b) return undefined;
      try {
        const result = await compareAnalyses({ a, b }, { onNote: (line) => output.info(`compare: ${line}`) });
        output.info(
          `compare ${a} → ${b}: ${result.stacks.map((s) => `stack ${s.index} |B − A| mean ${s.meanAbsDiff.toFixed(3)}`).join('; ')}`,
        );
        panel.showComparison(comparisonMessage(result));
        return result;
      } catch (err) {
        const message = userMessage(err);
        output.error(`compare: ${message}`);
        void vscode.window.showErrorMessage(`Attention Reuse: ${message}`);
        return undefined;
      }
    });
  }
}
