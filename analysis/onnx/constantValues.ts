import type { onnx } from 'onnx-proto';

/** Integer values of a small constant tensor (shape vectors), or undefined if not int-valued. */
export function constantInts(t: onnx.ITensorProto): number[] | undefined {
  if (t.int64Data && t.int64Data.length) return t.int64Data.map(Number);
  if (t.int32Data && t.int32Data.length) return t.int32Data.map(Number);
  const raw = t.rawData;
  if (!raw || raw.length === 0) return undefined;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (t.dataType === 7) return Array.from({ length: raw.length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  if (t.dataType === 6) return Array.from({ length: raw.length / 4 }, (_, i) => view.getInt32(i * 4, true));
  return undefined;
}
