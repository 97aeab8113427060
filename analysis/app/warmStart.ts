/**
 * The warm start of `train --init-from MODEL.onnx`: checks the reuse config against the
 * model it names, traces the model's anatomy and writes its weights by role into a folder
 * the trainer reads with numpy alone (`attention-reuse/weights@1`): one `ROLE.npy` per role
 * and `manifest.json`, written last.
 */
import { join, resolve } from 'node:path';
import { encodeNpy } from '../config/npy';
import { checkConfigAgainstModel } from '../config/configModelCheck';
import type { ReuseConfig } from '../config/reuseConfig';
import { checkCancelled } from '../errors';
import { externalRefs, planWarmStart, roleValues, weightsFormat } from '../onnx/warmStartWeights';
import type { WarmStartArchitecture, WarmStartDims } from '../onnx/warmStartWeights';
import { readExternalTensors } from './externalData';
import type { ServiceCallbacks } from './service';
import { writeFileAtomic } from './storage';
import { openRewritable, stackFacts } from './whatif';

export const manifestFile = 'manifest.json';

export interface WarmStartOptions {
  /** The analysed ONNX model. */
  model: string;
  config: ReuseConfig;
  /** Names the config in messages. */
  configLabel: string;
  /** The weights folder (created; its files are replaced). */
  out: string;
  /** Files the run reads, which no output may replace. */
  inputs?: (string | undefined)[];
}

export interface WarmStartResult {
  folder: string;
  sha256: string;
  /** The config with the model's own sizes (ffn, vocab, maxPositions) where the config had others. */
  config: ReuseConfig;
  dims: WarmStartDims;
  architecture: WarmStartArchitecture;
  /** Lines for the user: sizes taken from the model, scales folded into the queries. */
  notes: string[];
}

/** Refuses a config made for another model (naming the field), then writes the model's weights by role. */
export async function exportWarmStart(options: WarmStartOptions, callbacks: ServiceCallbacks = {}): Promise<WarmStartResult> {
  const { signal, onNote } = callbacks;
  const { config } = options;
  const opened = await openRewritable(options.model, config.stack);
  const plan = planWarmStart(opened.anatomy, options.model);
  // Extra layers are appended after the analysed ones; the model is checked against those.
  const analysed = { ...config, dims: { ...config.dims, layers: config.dims.layers - (config.extraLayers ?? 0) } };
  const checked = checkConfigAgainstModel(analysed, options.configLabel, {
    label: options.model,
    sha256: opened.sha256,
    stacks: stackFacts(opened),
    dims: { hidden: plan.dims.hidden, ffn: plan.dims.ffn, vocab: plan.dims.vocab, maxPositions: plan.dims.maxPositions },
  });
  const notes = [...checked.notes, ...plan.notes];
  notes.forEach((line) => onNote?.(line));
  const external = await readExternalTensors(options.model, opened.model.graph, externalRefs(plan));
  const folder = resolve(options.out);
  const write = { overwrite: true, inputs: [options.model, ...(options.inputs ?? [])], signal };
  const tensors = [];
  for (const role of plan.roles) {
    checkCancelled(signal);
    const file = `${role.role}.npy`;
    await writeFileAtomic(join(folder, file), encodeNpy(role.shape, roleValues(opened.model.graph, role, external)), write);
    tensors.push({ role: role.role, file, shape: role.shape, dtype: 'float32' });
  }
  const manifest = {
    format: weightsFormat,
    model: { path: resolve(options.model), sha256: opened.sha256 },
    stack: opened.anatomy.stack,
    dims: plan.dims,
    architecture: plan.architecture,
    layout: 'linear weights [out, in]; query weights and biases scaled so that scores use 1/sqrt(hidden/heads)',
    notes: plan.notes,
    tensors,
  };
  await writeFileAtomic(join(folder, manifestFile), JSON.stringify(manifest, null, 2) + '\n', write);
  const fitted: ReuseConfig = {
    ...config,
    dims: { ...config.dims, ffn: plan.dims.ffn, vocab: plan.dims.vocab, maxPositions: plan.dims.maxPositions },
  };
  return { folder, sha256: opened.sha256, config: fitted, dims: plan.dims, architecture: plan.architecture, notes };
}
