/**
 * Which examples run together. Token sequences with a mask can be padded to one length; every
 * other input (an image, audio frames, past keys and values, a flag given whole) must have one
 * shape in a batch, so examples are gathered by shape: a batch is sent when it is full, and
 * when too many examples wait, the group that has waited longest goes as it is. Examples of one
 * shape keep their order; groups of different shapes may pass each other.
 */
import type { ModelInput } from '../onnx/inspect';
import type { ExampleInput } from './inputs';

/** What must be equal within a batch: the shape of every input that is not padded, and the value of every input given whole. */
export function batchKey(ex: ExampleInput, inputs: ModelInput[], padded: boolean): string {
  const parts: string[] = [];
  for (const spec of inputs) {
    const t = ex.tensors.get(spec.name);
    if (!t) continue;
    if (t.asGiven) parts.push(`${spec.name}=${t.shape.join('x')}:${t.values.join(',')}`);
    else if (!padded) parts.push(`${spec.name}:${t.shape.join('x')}`);
  }
  return parts.join(';');
}

/**
 * Gathers examples into batches of up to `size` with one key. At most `maxWaiting` examples
 * are held at once (a fixed number, whatever the dataset), so memory does not grow with it.
 */
export async function* batchesByKey(
  examples: AsyncIterable<ExampleInput>,
  size: number,
  keyOf: (ex: ExampleInput) => string,
  maxWaiting = 4 * size,
): AsyncGenerator<ExampleInput[]> {
  // Map iteration follows insertion: the first group is the one that has waited longest.
  const groups = new Map<string, ExampleInput[]>();
  let waiting = 0;
  for await (const ex of examples) {
    const key = keyOf(ex);
    const group = groups.get(key);
    if (group) group.push(ex);
    else groups.set(key, [ex]);
    waiting += 1;
    const full = groups.get(key)!;
    if (full.length >= size) {
      groups.delete(key);
      waiting -= full.length;
      yield full;
    } else if (waiting > maxWaiting) {
      const [oldest, batch] = groups.entries().next().value as [string, ExampleInput[]];
      groups.delete(oldest);
      waiting -= batch.length;
      yield batch;
    }
  }
  for (const batch of groups.values()) yield batch;
}
