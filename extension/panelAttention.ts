/**
 * Attention maps for the panel's viewer. The analysis keeps no example's attention
 * (DESIGN.md), so the model is re-run on the one example asked for. The session stays
 * open while the analysis is shown and the last example's attention is kept, so stepping
 * through its layers and heads does not run the model again.
 */
import { InputError } from '../analysis/errors';
import { openExamples } from '../analysis/app/examples';
import { readModel } from '../analysis/app/readers';
import { branchesOfStacks } from '../analysis/onnx/branches';
import type { AttentionModel } from '../analysis/onnx/inspect';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { ExampleSource } from '../analysis/runtime/exampleSource';
import type { ExampleInput } from '../analysis/runtime/inputs';
import type { ProviderChoice } from '../analysis/runtime/providers';
import { AttentionRunner } from '../analysis/runtime/runner';
import { frameLabels, patchGrid, patchLabels } from '../analysis/runtime/tokenLabels';
import type { ExtractedExample } from '../analysis/runtime/runner';
import type { RequestMessage } from '../protocol/messages';
import type { ReplyBody } from '../protocol/requests';

export class AttentionMaps {
  private opened: Promise<{ model: AttentionModel; runner: AttentionRunner }> | undefined;
  private last: { example: number; result: ExtractedExample; input: ExampleInput } | undefined;
  /** Requests run one at a time: a session runs one batch at once anyway. */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly analysis: AnalysisFile,
    private readonly source: ExampleSource,
    private readonly provider: ProviderChoice,
  ) {}

  get(request: RequestMessage<'requestAttentionMap'>): Promise<ReplyBody<'requestAttentionMap'>> {
    const run = this.queue.then(() => this.build(request));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async build({ example, stack: stackName, layer, head }: RequestMessage<'requestAttentionMap'>): Promise<ReplyBody<'requestAttentionMap'>> {
    const stack = this.analysis.stacks.find((s) => s.name === stackName);
    if (!stack) throw new InputError(`the analysis has no stack "${stackName}"`);
    if (layer >= stack.layerCount || head >= stack.headCount) {
      throw new InputError(`stack "${stackName}" has ${stack.layerCount} layers × ${stack.headCount} heads; (${layer},${head}) is outside it`);
    }
    if (example >= this.analysis.run.examples) throw new InputError(`the analysis used ${this.analysis.run.examples} examples; there is no example ${example}`);
    const { result: ex, input } = await this.example(example);
    const s = ex.stacks.find((x) => x.name === stackName);
    if (!s) throw new InputError(`the model gave no "${stackName}" attention for example ${example}`);
    const size = s.queries * s.keys;
    // slice(), not subarray(): only this head's block should travel to the webview.
    const block = (l: number, h: number) => ({ shape: [s.queries, s.keys], data: s.layers[l].slice(h * size, (h + 1) * size) });
    const grid = input.image && s.kind === 'self' ? patchGrid(s.keys, input.image.width, input.image.height) : null;
    const tokens = (n: number) => {
      if (ex.tokens && ex.tokens.length === n) return ex.tokens;
      if (grid && n === s.keys) return patchLabels(grid);
      // Audio frames are the encoder's tokens: its own queries and keys, and the keys of cross-attention.
      if (input.audio && !s.causal) return frameLabels(n, input.audio);
      return Array.from({ length: n }, (_, i) => String(i));
    };
    const match =
      layer === 0
        ? null
        : { layer: layer - 1, head: stack.cArgmax[layer][head][layer - 1], similarity: stack.c[layer][head][layer - 1], map: block(layer - 1, stack.cArgmax[layer][head][layer - 1]) };
    return {
      type: 'attentionMap',
      example,
      stack: stackName,
      layer,
      head,
      // Cross-attention queries are decoder positions, which the text tokens do not name.
      queryTokens: s.kind === 'cross' ? Array.from({ length: s.queries }, (_, i) => String(i)) : tokens(s.queries),
      keyTokens: tokens(s.keys),
      map: block(layer, head),
      match,
      ...(grid && input.image ? { image: { width: input.image.width, height: input.image.height, rgb: input.image.rgb, ...grid } } : {}),
    };
  }

  private async example(index: number): Promise<{ result: ExtractedExample; input: ExampleInput }> {
    if (this.last?.example === index) return this.last;
    this.opened ??= (async () => {
      const model = await readModel(this.analysis.model.path);
      // A merged decoder runs the branches the analysis ran.
      const runner = await AttentionRunner.start(branchesOfStacks(model, this.analysis.stacks.map((st) => st.name)), this.provider);
      return { model, runner };
    })();
    const { model, runner } = await this.opened;
    if (this.disposed) throw new InputError('the analysis was closed');
    const opened = await openExamples(model, this.source, index + 1);
    let input: ExampleInput | undefined;
    async function* only(): AsyncGenerator<ExampleInput> {
      for await (const ex of opened.examples) {
        if (ex.index === index) {
          input = ex;
          yield ex;
          return;
        }
      }
    }
    for await (const result of runner.run(only(), { batchSize: 1 })) {
      this.last = { example: index, result, input: input! };
      return this.last;
    }
    throw new InputError(`the inputs hold fewer than ${index + 1} examples`);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.last = undefined;
    const opened = this.opened;
    this.opened = undefined;
    if (opened) await (await opened.catch(() => undefined))?.runner.dispose();
  }
}
