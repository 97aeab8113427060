/**
 * A folder of PNG and JPEG files as a vision model's examples, one image each, in name order:
 * every file is decoded, resized, cropped and normalised as the model's Hugging Face
 * `preprocessor_config.json` says (the one given, else the one beside the model, else
 * ViTImageProcessor's defaults at the model's image size), the flags overriding its fields.
 */
import { dirname, join } from 'node:path';
import { InputError } from '../errors';
import type { ModelInput } from '../onnx/inspect';
import type { ExampleSource } from '../runtime/exampleSource';
import { decodeImage, fitImage, imageTensor, resolvePreprocess } from '../runtime/images';
import type { ImagePreprocess } from '../runtime/images';
import { describeInputs, fillDefaults } from '../runtime/inputs';
import type { ExampleInput, InputTensor } from '../runtime/inputs';
import { exists, listFolder, readBytes, readJson } from './storage';

/** The files of a folder that are read as images. */
export const imageFileName = /\.(png|jpe?g)$/i;
/** Bytes one image file may have (a 50-megapixel PNG compresses to far less). */
export const maxImageBytes = 256 * 2 ** 20;

/** The input images go into: `pixel_values`, else the model's one float input of rank 4. */
export function imageInputOf(inputs: ModelInput[]): ModelInput | undefined {
  const images = inputs.filter((i) => /float/.test(i.type) && (i.shape === null || i.shape.length === 4));
  return images.find((i) => i.name === 'pixel_values') ?? (images.length === 1 ? images[0] : undefined);
}

export interface OpenedImages {
  /** The image files, in the order they are read. */
  files: string[];
  preprocess: ImagePreprocess;
  /** The preprocessor config read, if any. */
  config: string | null;
  /** What the tool does differently from transformers here (a resample it does not do). */
  notes: string[];
  /** Reads the examples (again), at most `limit`. */
  read: (limit: number, signal?: AbortSignal) => AsyncGenerator<ExampleInput>;
}

/** The images of `source` for a model (its path and inputs); refuses a model that takes no image, naming what it takes. */
export async function openImages(
  model: { path: string; inputs: ModelInput[] },
  source: Extract<ExampleSource, { kind: 'images' }>,
  signal?: AbortSignal,
): Promise<OpenedImages> {
  const input = imageInputOf(model.inputs);
  if (!input)
    throw new InputError(
      `${model.path} takes no image ([batch, 3, height, width] float input); it takes ${describeInputs(model.inputs)}: {field} is for vision models`,
      'images',
    );
  const [, declaredChannels, height, width] = input.shape ?? [];
  if (typeof declaredChannels === 'number' && declaredChannels !== 3) {
    throw new InputError(`${model.path}: "${input.name}" takes ${declaredChannels} channels; images are read as RGB (3)`);
  }
  const modelSize: [number, number] | null = typeof height === 'number' && typeof width === 'number' ? [height, width] : null;
  const beside = join(dirname(model.path), 'preprocessor_config.json');
  const config = source.preprocessor ?? ((await exists(beside)) ? beside : null);
  const parsed = config === null ? null : await readJson(config, 'preprocessor config', signal);
  const { preprocess, notes } = resolvePreprocess(parsed, `preprocessor config ${config}`, source, modelSize);
  const files = (await listFolder(source.path, 'images folder', (name) => imageFileName.test(name))).map((name) => join(source.path, name));
  if (files.length === 0) throw new InputError(`images folder ${source.path} holds no .png, .jpg or .jpeg file`);
  async function* read(limit: number, readSignal?: AbortSignal): AsyncGenerator<ExampleInput> {
    for (const [index, file] of files.slice(0, limit).entries()) {
      const image = fitImage(
        decodeImage(await readBytes(file, 'image', { maxBytes: maxImageBytes, signal: readSignal }), file),
        preprocess,
      );
      if (modelSize && (image.height !== modelSize[0] || image.width !== modelSize[1])) {
        throw new InputError(
          `${file} is ${image.height}×${image.width} (height × width) once prepared, but the model's "${input!.name}" takes ${modelSize[0]}×${modelSize[1]}: give {field} or fix the config's size`,
          'imageSize',
        );
      }
      const tensors = new Map<string, InputTensor>([[input!.name, imageTensor(image, preprocess)]]);
      fillDefaults(tensors, model.inputs, file);
      yield { index, origin: file, tensors, image };
    }
  }
  return { files, preprocess, config, notes, read };
}
