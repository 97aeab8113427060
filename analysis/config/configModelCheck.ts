import { InputError } from '../errors';
import type { ModelDims } from '../onnx/dims';
import type { ModelShape } from '../planner/cost';
import type { ReuseConfig } from './reuseConfig';

/** What a model says about itself, for checking a reuse config against it. */
export interface ModelFacts {
  /** Names the model in messages. */
  label: string;
  sha256: string;
  stacks: { name: string; layers: number; heads: number | null }[];
  /** Sizes read from the graph (null where it does not tell). */
  dims: ModelDims;
}

const short = (sha: string) => sha.slice(0, 12);

/**
 * Refuses a config made for another model, naming the field: `source.modelSha256`, `stack`,
 * `dims.layers`, `dims.heads`, `dims.hidden`. Other sizes may be defaults the analysis wrote
 * where the graph did not tell (maxPositions 512): the model's own value is used, and one note
 * line says so. Returns the sizes to cost the config with.
 */
export function checkConfigAgainstModel(config: ReuseConfig, label: string, model: ModelFacts): { shape: ModelShape; notes: string[] } {
  if (config.source.modelSha256 !== model.sha256) {
    throw new InputError(
      `${label}: source.modelSha256 is ${short(config.source.modelSha256)}…, but ${model.label} has sha256 ${short(model.sha256)}…: the config was made for another model`,
    );
  }
  const stack = model.stacks.find((s) => s.name === config.stack);
  if (!stack)
    throw new InputError(
      `${label}: stack "${config.stack}" is not a stack of ${model.label} (it has ${model.stacks.map((s) => `"${s.name}"`).join(', ')})`,
    );
  const refuse = (field: string, has: number, what: string) => {
    throw new InputError(
      `${label}: dims.${field} is ${(config.dims as unknown as Record<string, number>)[field]}, but stack "${stack.name}" of ${model.label} has ${has} ${what}`,
    );
  };
  if (config.dims.layers !== stack.layers) refuse('layers', stack.layers, 'layers');
  if (stack.heads !== null && config.dims.heads !== stack.heads) refuse('heads', stack.heads, 'heads');
  if (model.dims.hidden !== null && config.dims.hidden !== model.dims.hidden) refuse('hidden', model.dims.hidden, 'as its hidden size');
  const shape: ModelShape = { ...config.dims };
  const taken: string[] = [];
  for (const key of ['ffn', 'vocab', 'maxPositions'] as const) {
    const own = model.dims[key];
    if (own !== null && own !== config.dims[key]) {
      taken.push(`${key} ${own} (the config has ${config.dims[key]})`);
      shape[key] = own;
    }
  }
  const notes = taken.length > 0 ? [`using the model's ${taken.join(', ')}: sizes the analysis could not read from the graph`] : [];
  return { shape, notes };
}
