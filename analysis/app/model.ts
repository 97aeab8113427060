import { describeModel } from '../onnx/inspect';
import type { InspectResult } from '../onnx/inspect';
import { readModel } from './readers';

/** The attention tensors a model file exposes, grouped into stacks, and the inputs it expects. */
export async function inspectModel(path: string): Promise<InspectResult> {
  return describeModel(await readModel(path));
}
