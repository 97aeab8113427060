/**
 * `attention-reuse whatif`: rewrites a model for a reuse config and measures, on real
 * inputs, how far its outputs move, masked-LM accuracy of both models, and how much faster
 * the rewrite runs.
 */
import { dirname, resolve } from 'node:path';
import { checkConfigAgainstModel } from '../config/configModelCheck';
import type { ModelFacts } from '../config/configModelCheck';
import { CancelledError, InputError, checkCancelled } from '../errors';
import { traceAnatomy } from '../onnx/anatomy';
import type { ModelAnatomy } from '../onnx/anatomyTypes';
import { modelDims } from '../onnx/dims';
import type { ModelDims } from '../onnx/dims';
import type { AttentionModel } from '../onnx/inspect';
import { valueShape } from '../onnx/model';
import { rewriteForReuse } from '../onnx/reuseRewrite';
import type { LayerRewrite } from '../onnx/reuseRewrite';
import { costOf } from '../planner/cost';
import type { DriftResult } from '../runtime/drift';
import type { ExampleSource } from '../runtime/exampleSource';
import { modelBatches, tokenInputOf, TimedSession } from '../runtime/modelSession';
import { describeProvider } from '../runtime/providers';
import type { Provider, ProviderChoice } from '../runtime/providers';
import { openExamples } from './examples';
import { readExternalTensors, slicedTensorNames } from './externalData';
import { compareModels } from './measure';
import type { MlmSetup } from './measure';
import { readModel, readReuseConfig, readTokenizer } from './readers';
import type { ServiceCallbacks } from './service';
import { exists, sha256File, writeFileAtomic } from './storage';

export interface WhatIfOptions {
  model: string;
  config: string;
  source: ExampleSource;
  /** Read at most this many examples (default: all). */
  examples?: number;
  /** Examples per model run (default 8). */
  batch?: number;
  ep?: ProviderChoice;
  /** Also write the rewritten model here (atomically, after the measurement). */
  writeModel?: string;
  force?: boolean;
  /** Masked-LM accuracy of both models (15% of real non-special tokens, reproducible). */
  mlm?: boolean;
  /** The mask token's id (default: the tokenizer's [MASK] or <mask>). */
  maskId?: number;
  /** Timed runs per batch and model, the fastest counting (default 1). */
  repeat?: number;
}

export interface SpeedResult {
  /** Milliseconds per example: measured for the original, measured or estimated for the rewrite. */
  original: number;
  rewritten: number;
  /** original / rewritten: above 1, the rewrite is faster. */
  ratio: number;
  /** False when the rewrite only substitutes probabilities: then `rewritten` is the original's latency × the cost model's FLOPs ratio. */
  measured: boolean;
  unit: 'ms/example';
}

export interface WhatIfResult {
  model: string;
  config: string;
  stack: string;
  executionProvider: Provider;
  examples: number;
  tokens: number;
  rewrite: { layers: LayerRewrite[]; parametersRemoved: number; written: string | null };
  drift: DriftResult;
  mlm: { maskedTokens: number; accuracy: { original: number; rewritten: number } } | null;
  speed: SpeedResult;
  memory: { peakRssMiB: number };
  notes: string[];
}

/** A model opened for rewriting: its attention, the anatomy of one stack and what it says about itself. */
export interface RewritableModel {
  model: AttentionModel;
  anatomy: ModelAnatomy;
  sha256: string;
  dims: ModelDims;
  /** The first output with a vocabulary or class last axis, or null. */
  klOutput: string | null;
}

export async function openRewritable(path: string, stack: string | undefined): Promise<RewritableModel> {
  const model = await readModel(path);
  const anatomy = traceAnatomy(model.graph, model.stacks, stack);
  const dims = modelDims(model.graph, tokenInputOf(model.inputs));
  const hidden = dims.hidden ?? anatomy.layers.find((l) => l.attention?.query)?.attention?.query?.inFeatures ?? null;
  return {
    model,
    anatomy,
    sha256: await sha256File(path, 'model'),
    dims: { ...dims, hidden },
    klOutput: klOutputOf(model, anatomy, dims.vocab),
  };
}

/** Each stack's layers and heads, as a config is checked against them (the traced stack's heads from its head split). */
export function stackFacts({ model, anatomy }: RewritableModel): ModelFacts['stacks'] {
  return model.stacks.map((s) => ({
    name: s.name,
    layers: s.layers.length,
    heads: anatomy.stack === s.name ? (anatomy.layers[0]?.attention?.heads ?? s.layers[0].heads) : s.layers[0].heads,
  }));
}

/** The output head's output, else the first output whose last axis is the vocabulary, else one named like logits. */
function klOutputOf(model: AttentionModel, anatomy: ModelAnatomy, vocab: number | null): string | null {
  const outputs = model.graph.graph.output;
  if (anatomy.head && outputs.some((o) => o.name === anatomy.head!.output)) return anatomy.head.output;
  const byVocab = outputs.find((o) => vocab !== null && valueShape(o)?.at(-1) === vocab);
  return byVocab?.name ?? outputs.find((o) => /logit/i.test(o.name ?? ''))?.name ?? null;
}

/** One line per reason the rewrite could only substitute probabilities (or kept work), naming the layers. */
export function rewriteNotes(layers: LayerRewrite[]): string[] {
  const byWhy = new Map<string, LayerRewrite[]>();
  for (const l of layers) if (l.why) byWhy.set(l.why, [...(byWhy.get(l.why) ?? []), l]);
  return [...byWhy].map(([why, ls]) => {
    const what = ls[0].method === 'substituted' ? 'probabilities substituted, weights not sliced' : 'attention kept';
    return `layer${ls.length > 1 ? 's' : ''} ${ls.map((l) => l.layer).join(', ')}: ${what}: ${why}`;
  });
}

export async function whatIf(options: WhatIfOptions, callbacks: ServiceCallbacks = {}): Promise<WhatIfResult> {
  const { signal, onProgress, onNote } = callbacks;
  const notes: string[] = [];
  const note = (line: string) => {
    notes.push(line);
    onNote?.(line);
  };
  if (options.writeModel && !options.force && (await exists(options.writeModel))) {
    throw new InputError(`${options.writeModel} already exists (pass {field} to replace it)`, 'force');
  }
  const config = await readReuseConfig(options.config);
  const opened = await openRewritable(options.model, config.stack);
  const { model, anatomy } = opened;
  const checked = checkConfigAgainstModel(config, options.config, {
    label: options.model,
    sha256: opened.sha256,
    stacks: stackFacts(opened),
    dims: opened.dims,
  });
  checked.notes.forEach(note);
  const mlm = options.mlm ? await mlmSetup(options, model, opened.klOutput) : undefined;
  const external = await readExternalTensors(options.model, model.graph, slicedTensorNames(anatomy, config.heads));
  const rewrite = rewriteForReuse(model.graph, model.bytes, anatomy, config.heads, external);
  rewriteNotes(rewrite.layers).forEach(note);
  checkCancelled(signal);

  const source = await openExamples(model, options.source, options.examples ?? Number.MAX_SAFE_INTEGER, signal);
  const folder = dirname(resolve(options.model));
  const original = await TimedSession.start(model.bytes, options.ep ?? 'auto', options.model, folder);
  let rewritten: TimedSession | undefined;
  try {
    describeProvider(options.ep ?? 'auto', original.provider, original.notes).forEach(note);
    rewritten = await TimedSession.start(rewrite.bytes, original.provider, 'the rewritten model', folder);
    const batches = modelBatches(model.inputs, source.examples, options.batch ?? 8, signal);
    const compared = await compareModels(original, rewritten, batches, {
      inputs: model.inputs,
      klOutput: opened.klOutput,
      mlm,
      time: true,
      repeats: options.repeat,
      signal,
      onBatch: (n) => onProgress?.(n, source.total),
    });
    if (compared.examples === 0) throw new InputError(`${options.source.path} holds no examples`);
    if (opened.klOutput === null) note('no output has a vocabulary or class axis: KL and top-1 are not measured');
    const latency = compared.latency!;
    const meanLength = Math.max(1, Math.round(compared.tokens / compared.examples));
    const flopsRatio = costOf(checked.shape, config.heads, meanLength).flopsRatio;
    const rewrittenMs = rewrite.doesLessWork ? latency.rewritten : latency.original * flopsRatio;
    if (!rewrite.doesLessWork)
      note(
        `speed estimated, not measured: the rewrite substitutes probabilities; the rewritten latency is the original's × the cost model's FLOPs ratio ${flopsRatio.toFixed(4)} at ${meanLength} tokens`,
      );
    checkCancelled(signal);
    let written: string | null = null;
    if (options.writeModel) {
      await writeFileAtomic(options.writeModel, rewrite.bytes, { overwrite: options.force === true });
      written = resolve(options.writeModel);
      if (model.graph.graph.initializer.some((t) => Number(t.dataLocation ?? 0) === 1) && dirname(written) !== folder) {
        note(`${written} refers to external data files by their path relative to the model: keep it in ${folder}, beside them`);
      }
    }
    return {
      model: resolve(options.model),
      config: resolve(options.config),
      stack: config.stack,
      executionProvider: original.provider,
      examples: compared.examples,
      tokens: compared.tokens,
      rewrite: { layers: rewrite.layers, parametersRemoved: rewrite.parametersRemoved, written },
      drift: compared.drift,
      mlm: compared.mlm,
      speed: {
        original: latency.original,
        rewritten: rewrittenMs,
        ratio: latency.original / rewrittenMs,
        measured: rewrite.doesLessWork,
        unit: 'ms/example',
      },
      memory: { peakRssMiB: process.resourceUsage().maxRSS / 1024 },
      notes,
    };
  } catch (err) {
    if (signal?.aborted && !(err instanceof CancelledError)) throw new CancelledError();
    throw err;
  } finally {
    await rewritten?.dispose();
    await original.dispose();
  }
}

/** The mask token and special ids for `--mlm`, from `maskId` or the tokenizer. */
async function mlmSetup(options: WhatIfOptions, model: AttentionModel, klOutput: string | null): Promise<MlmSetup> {
  if (klOutput === null)
    throw new InputError('{field} needs an output with a vocabulary axis (masked-LM logits); this model has none', 'mlm');
  const tokenInput = tokenInputOf(model.inputs);
  const tok = options.source.kind === 'text' ? await readTokenizer(options.source.tokenizer) : undefined;
  const maskId = options.maskId ?? tok?.tokenizer.token_to_id('[MASK]') ?? tok?.tokenizer.token_to_id('<mask>') ?? undefined;
  if (maskId === undefined || maskId === null) {
    throw new InputError(
      tok ? `tokenizer ${tok.path} has no [MASK] or <mask> token; pass {field}` : "--mlm with --inputs needs {field} (the mask token's id)",
      'maskId',
    );
  }
  const special = tok ? new Set([...tok.tokenizer.get_added_tokens_decoder().keys()].map(Number)) : null;
  return { tokenInput, maskId, special };
}
