/**
 * Attention maps for the panel's viewer. The analysis keeps no example's attention
 * (DESIGN.md), so the model is re-run on the one example asked for. The session stays
 * open while the analysis is shown and the last example's attention is kept, so stepping
 * through its layers and heads does not run the model again. Axes are labelled with the
 * token strings of text inputs, or the token ids of JSONL inputs (which have no strings).
 */
import { InputError } from '../analysis/errors';
import { openExamples } from '../analysis/app/examples';
import { readModel } from '../analysis/app/readers';
import { branchesOfStacks } from '../analysis/onnx/branches';
import type { AttentionModel } from '../analysis/onnx/inspect';
import type { AnalysisFile } from '../analysis/result/analysisFile';
import type { ExampleSource } from '../analysis/runtime/exampleSource';
import type { ExampleInput } from '../analysis/runtime/inputs';
import { realPositions } from '../analysis/runtime/slicing';
import type { ProviderChoice } from '../analysis/runtime/providers';
import { AttentionRunner } from '../analysis/runtime/runner';
import { frameLabels, patchGrid, patchLabels } from '../analysis/runtime/tokenLabels';
import type { ExtractedExample } from '../analysis/runtime/runner';
import type { RequestMessage, TokenLabels } from '../protocol/messages';
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

  private async build({
    example,
    stack: stackName,
    layer,
    head,
    matchLayer,
  }: RequestMessage<'requestAttentionMap'>): Promise<ReplyBody<'requestAttentionMap'>> {
    const stack = this.analysis.stacks.find((s) => s.name === stackName);
    if (!stack) throw new InputError(`the analysis has no stack "${stackName}"`);
    if (layer >= stack.layerCount || head >= stack.headCount) {
      throw new InputError(
        `stack "${stackName}" has ${stack.layerCount} layers × ${stack.headCount} heads; (${layer},${head}) is outside it`,
      );
    }
    if (example >= this.analysis.run.examples)
      throw new InputError(`the analysis used ${this.analysis.run.examples} examples; there is no example ${example}`);
    const { result: ex, input, model } = await this.example(example);
    const s = ex.stacks.find((x) => x.name === stackName);
    if (!s) throw new InputError(`the model gave no "${stackName}" attention for example ${example}`);
    const size = s.queries * s.keys;
    // slice(), not subarray(): only this head's block should travel to the webview.
    const block = (l: number, h: number) => ({ shape: [s.queries, s.keys], data: s.layers[l].slice(h * size, (h + 1) * size) });
    const other = matchLayerFor(layer, matchLayer, stack.layerCount);
    const match =
      other === null
        ? null
        : {
            layer: other,
            head: stack.cArgmax[layer][head][other],
            similarity: stack.c[layer][head][other],
            map: block(other, stack.cArgmax[layer][head][other]),
          };
    const found = model.stacks.find((x) => x.name === stackName)?.layers[0];
    const grid = input.image && s.kind === 'self' ? patchGrid(s.keys, input.image.width, input.image.height) : null;
    // An image's patches, or audio frames: the encoder's own queries and keys, and the keys of cross-attention.
    const media = (n: number, side: 'query' | 'key'): { tokens: string[]; kind: TokenLabels } | undefined => {
      if (grid) return { tokens: patchLabels(grid), kind: 'patches' };
      if (input.audio && !s.causal && (side === 'key' || s.kind === 'self')) return { tokens: frameLabels(n, input.audio), kind: 'frames' };
      return undefined;
    };
    const keys = media(s.keys, 'key') ?? axisLabels(ex.tokens, input, found?.keyInputs ?? [], s.keys);
    // Cross-attention queries are decoder positions, which the text tokens do not name.
    const queries =
      media(s.queries, 'query') ??
      (s.kind === 'cross'
        ? axisLabels(undefined, input, found?.queryInputs ?? [], s.queries)
        : axisLabels(ex.tokens, input, found?.queryInputs ?? [], s.queries));
    return {
      type: 'attentionMap',
      example,
      stack: stackName,
      layer,
      head,
      queryTokens: queries.tokens,
      keyTokens: keys.tokens,
      queryLabels: queries.kind,
      keyLabels: keys.kind,
      map: block(layer, head),
      match,
      ...(grid && input.image ? { image: { width: input.image.width, height: input.image.height, rgb: input.image.rgb, ...grid } } : {}),
    };
  }

  private async example(index: number): Promise<{ result: ExtractedExample; input: ExampleInput; model: AttentionModel }> {
    const last = this.last;
    if (last?.example === index) return { ...last, model: (await this.opened!).model };
    this.opened ??= (async () => {
      const model = await readModel(this.analysis.model.path);
      // A merged decoder runs the branches the analysis ran.
      const runner = await AttentionRunner.start(
        branchesOfStacks(
          model,
          this.analysis.stacks.map((st) => st.name),
        ),
        this.provider,
      );
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
      return { result, input: input!, model };
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

/** The layer to match against: the one asked for (the layer pair the map was opened from) unless it is the map's own, else the previous layer (the next for layer 0). */
export function matchLayerFor(layer: number, asked: number | undefined, layers: number): number | null {
  if (asked !== undefined && asked !== layer && asked < layers) return asked;
  if (layers < 2) return null;
  return layer > 0 ? layer - 1 : 1;
}

/** Labels of one axis: the example's token strings, else its token ids (JSONL), else positions. */
function axisLabels(
  tokens: string[] | undefined,
  input: ExampleInput,
  inputs: string[],
  n: number,
): { tokens: string[]; kind: TokenLabels } {
  if (tokens && tokens.length === n) return { tokens, kind: 'text' };
  // The ids input first (input_ids, decoder_input_ids); masks, types and positions are no names for tokens.
  const names = [...inputs].sort((a, b) => Number(/input_ids$/.test(b)) - Number(/input_ids$/.test(a)));
  for (const name of names) {
    if (/mask|type|position/i.test(name)) continue;
    const t = input.tensors.get(name);
    if (!t || t.shape.length !== 1) continue;
    const positions = realPositions(input, name);
    if (positions.length === n) return { tokens: positions.map((i) => String(t.values[i])), kind: 'ids' };
  }
  return { tokens: Array.from({ length: n }, (_, i) => String(i)), kind: 'positions' };
}
