/**
 * The structure baseline of `analyze --baseline shuffled` (Reuse Transformers Fig. 4): a copy
 * of the model in which the entries of every floating-point weight tensor are permuted by a
 * seeded Fisher–Yates shuffle. Each tensor keeps its values and their distribution, so scales
 * and norms stay as trained, but no learned arrangement survives: similarity that the shuffled
 * model shows too comes from the architecture and the inputs, not from what was learned.
 *
 * Entries are moved inside a copy of the file's bytes (the tensors' raw data are views into
 * it), so every offset, node and name stays as it was. Left as they are: integer tensors
 * (shapes, indices), tensors of one entry, tensors with infinities or entries ≤ −10⁴ (additive
 * masks: permuting a causal mask would let tokens see the future), and weights not stored as
 * raw bytes inside the file (typed lists, `Constant` nodes), which are counted and reported.
 */
import { InputError } from '../errors';
import { pseudoRandom } from '../runtime/pseudoRandom';
import type { AttentionModel } from './inspect';

/** Bytes per entry of the floating-point element types (float, float16, double, bfloat16). */
const floatWidth: Readonly<Record<number, number>> = { 1: 4, 10: 2, 11: 8, 16: 2 };

export interface ShuffleReport {
  /** The model bytes with the weights permuted. */
  bytes: Uint8Array;
  shuffled: number;
  /** Float tensors left as they were, with why. */
  kept: { mask: number; notRaw: number };
}

/** Whether the tensor holds a non-finite entry or one ≤ −10⁴ (a mask, not a weight). */
function maskLike(data: DataView, type: number, count: number): boolean {
  for (let i = 0; i < count; i++) {
    if (type === 1 || type === 11) {
      const v = type === 1 ? data.getFloat32(i * 4, true) : data.getFloat64(i * 8, true);
      if (!Number.isFinite(v) || v <= -1e4) return true;
    } else {
      // float16 and bfloat16: an exponent of all ones is infinity or NaN; −10⁴ is beyond bfloat16's mask values only as −inf.
      const bits = data.getUint16(i * 2, true);
      const exponent = type === 10 ? (bits >> 10) & 0x1f : (bits >> 7) & 0xff;
      if (exponent === (type === 10 ? 0x1f : 0xff)) return true;
      if (type === 10 && bits & 0x8000 && exponent >= 0x1c) return true; // ≤ −2¹³ = −8192 in float16
    }
  }
  return false;
}

/** The model's bytes with every weight tensor's entries permuted (seeded; tensor by tensor in file order). */
export function shuffleWeights(model: AttentionModel, seed: number): ShuffleReport {
  const source = model.bytes;
  const bytes = source.slice();
  const rand = pseudoRandom(seed);
  const report: ShuffleReport = { bytes, shuffled: 0, kept: { mask: 0, notRaw: 0 } };
  for (const t of model.graph.graph.initializer) {
    const width = floatWidth[t.dataType ?? 0];
    if (!width) continue;
    if (t.dataLocation === 1) {
      throw new InputError(
        `${model.path}: tensor "${t.name}" keeps its weights in an external file; {field} shuffled needs the weights inside the model file`,
        'baseline',
      );
    }
    const raw = t.rawData;
    const count = raw ? raw.length / width : (t.floatData?.length ?? 0) + (t.doubleData?.length ?? 0) + (t.int32Data?.length ?? 0);
    if (count < 2) continue;
    if (!raw || raw.buffer !== source.buffer || raw.length % width !== 0) {
      report.kept.notRaw++;
      continue;
    }
    const offset = raw.byteOffset - source.byteOffset;
    if (maskLike(new DataView(source.buffer, raw.byteOffset, raw.length), t.dataType!, count)) {
      report.kept.mask++;
      continue;
    }
    // Fisher–Yates over entries: entry i of the copy takes entry order[i] of the original.
    const order = Uint32Array.from({ length: count }, (_, i) => i);
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const x = order[i];
      order[i] = order[j];
      order[j] = x;
    }
    for (let i = 0; i < count; i++) bytes.set(raw.subarray(order[i] * width, (order[i] + 1) * width), offset + i * width);
    report.shuffled++;
  }
  return report;
}
