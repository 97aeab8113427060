/**
 * NumPy arrays as examples: an `.npz` holds one array per model input, named as the input; an
 * `.npy` holds the one input that has no obvious default (audio features, pixel values, any
 * float input). The first axis of every array counts the examples. Audio features
 * (`[examples, features, frames]`) carry the seconds a frame spans, from `hop_length` and
 * `sampling_rate` of the `preprocessor_config.json` beside the model, else Whisper's 10 ms.
 */
import { dirname, join } from 'node:path';
import { InputError } from '../errors';
import type { ModelInput } from '../onnx/inspect';
import { inputRole } from '../runtime/inputRoles';
import { defaultInput, describeInputs, fillDefaults } from '../runtime/inputs';
import type { ExampleInput, InputTensor } from '../runtime/inputs';
import { parseNpy, parseNpz } from '../runtime/npy';
import type { NpyArray } from '../runtime/npy';
import { exists, readBytes, readJson } from './storage';

/** The file names `--inputs` reads as NumPy arrays. */
export const arrayFileName = /\.(npy|npz)$/i;
/** Seconds between two feature frames when no config says: Whisper's hop of 160 samples at 16 kHz. */
export const defaultFrameSeconds = 0.01;

export interface OpenedArrays {
  count: number;
  read: (limit: number) => AsyncGenerator<ExampleInput>;
}

/** The arrays of an `.npy` or `.npz` file for a model, checked against its inputs (names, ranks, one count of examples). */
export async function openArrays(model: { path: string; inputs: ModelInput[] }, path: string, signal?: AbortSignal): Promise<OpenedArrays> {
  const bytes = await readBytes(path, 'inputs file', { signal });
  const arrays = /\.npz$/i.test(path) ? parseNpz(bytes, path) : new Map([[oneInput(model, path), parseNpy(bytes, path)]]);
  const byName = new Map(model.inputs.map((i) => [i.name, i]));
  let count: number | undefined;
  let first = '';
  for (const [name, array] of arrays) {
    const spec = byName.get(name);
    if (!spec) throw new InputError(`${path}: array "${name}" is not an input of the model (it takes ${describeInputs(model.inputs)})`);
    if (array.shape.length === 0)
      throw new InputError(`${path}: array "${name}" is a single value; its first axis must count the examples`);
    if (spec.shape && array.shape.length !== spec.shape.length) {
      throw new InputError(
        `${path}: array "${name}" has ${array.shape.length} axes (${array.shape.join(' × ')}); the model's "${name}" has ${spec.shape.length} (the first counts the examples)`,
      );
    }
    if (count !== undefined && array.shape[0] !== count)
      throw new InputError(`${path}: array "${name}" holds ${array.shape[0]} examples but "${first}" holds ${count}`);
    if (count === undefined) [count, first] = [array.shape[0], name];
  }
  if (!count) throw new InputError(`${path} holds no examples (its arrays' first axis is 0)`);
  const frameSeconds = await audioFrameSeconds(model.path, signal);
  async function* read(limit: number): AsyncGenerator<ExampleInput> {
    for (let index = 0; index < Math.min(limit, count!); index++) {
      const origin = `${path} example ${index}`;
      const tensors = new Map<string, InputTensor>();
      for (const [name, array] of arrays) tensors.set(name, exampleOf(array, index));
      fillDefaults(tensors, model.inputs, origin);
      const audio = audioInput(model.inputs, tensors);
      yield audio ? { index, origin, tensors, audio: { frames: audio, frameSeconds } } : { index, origin, tensors };
    }
  }
  return { count, read };
}

/** The input an `.npy` holds: the only one that has no default and is no KV cache. */
function oneInput(model: { path: string; inputs: ModelInput[] }, path: string): string {
  const needed = model.inputs.filter((i) => inputRole(i) !== 'past' && defaultInput(i.name, 1) === undefined);
  if (needed.length === 1) return needed[0].name;
  throw new InputError(
    `${path} holds one array, but ${model.path} takes ${describeInputs(needed)}: save them as an .npz with one array per input, named as the input`,
  );
}

/** Example `index` of an array whose first axis counts the examples. */
function exampleOf(array: NpyArray, index: number): InputTensor {
  const shape = array.shape.slice(1);
  const size = shape.reduce((a, b) => a * b, 1);
  return { values: array.values.slice(index * size, (index + 1) * size), shape };
}

/** Frames of the audio features fed (a float [features, frames] input), if the model takes any. */
function audioInput(inputs: ModelInput[], tensors: Map<string, InputTensor>): number | undefined {
  const spec = inputs.find(
    (i) =>
      /float/.test(i.type) && tensors.get(i.name)?.shape.length === 2 && (i.name === 'input_features' || /audio|mel|feature/i.test(i.name)),
  );
  return spec ? tensors.get(spec.name)!.shape[1] : undefined;
}

/** hop_length / sampling_rate of the feature extractor config beside the model; Whisper's 10 ms where there is none. */
async function audioFrameSeconds(model: string, signal?: AbortSignal): Promise<number> {
  const config = join(dirname(model), 'preprocessor_config.json');
  if (!(await exists(config))) return defaultFrameSeconds;
  const c = (await readJson(config, 'preprocessor config', signal)) as Record<string, unknown> | null;
  const [hop, rate] = [c?.hop_length, c?.sampling_rate];
  return typeof hop === 'number' && typeof rate === 'number' && hop > 0 && rate > 0 ? hop / rate : defaultFrameSeconds;
}
