/**
 * Tensors a model keeps in external data files (ONNX's `data_location = EXTERNAL`), read from
 * beside the model so that the what-if rewrite can slice them; every other external tensor
 * keeps its reference, and sessions find the files in the model's folder.
 */
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { InputError } from '../errors';
import type { ModelAnatomy } from '../onnx/anatomyTypes';
import { elemSize, elementCount } from '../onnx/graphValues';
import type { OnnxGraph } from '../onnx/model';
import { layerRoles } from '../planner/headMap';
import type { HeadMap } from '../planner/headMap';
import { readRange } from './storage';

/** The query and key weights and biases of the layers a head map makes reuse heads in: what the rewrite slices. */
export function slicedTensorNames(anatomy: ModelAnatomy, heads: HeadMap): string[] {
  return layerRoles(heads).flatMap((role, l) => {
    const a = anatomy.layers[l]?.attention;
    if (role.kind !== 'reuse' || !a) return [];
    return [a.query, a.key].flatMap((lin) => (lin ? [lin.weight.name, ...(lin.bias ? [lin.bias.name] : [])] : []));
  });
}

/** The raw bytes of those of `names` that are stored as external data. */
export async function readExternalTensors(modelPath: string, g: OnnxGraph, names: string[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const name of new Set(names)) {
    const t = g.constants.get(name);
    if (!t || Number(t.dataLocation ?? 0) !== 1) continue;
    const entry = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entry.get('location') ?? '';
    if (!location || isAbsolute(location) || normalize(location).startsWith('..')) {
      throw new InputError(`${modelPath}: initializer ${name} names external data "${location}" outside the model's folder`);
    }
    const size = elemSize(t.dataType ?? 0);
    const length = Number(entry.get('length') ?? (size ? elementCount((t.dims ?? []).map(Number)) * size : 0));
    out.set(name, await readRange(join(dirname(modelPath), location), Number(entry.get('offset') ?? 0), length, 'external data'));
  }
  return out;
}
