// A model over 2 GiB for the large-model tests, written into a temp folder at test time: the
// BERT fixture (bert_opset13) with its token embedding grown to 23 million rows and every
// weight kept as external data. Only the rows of the fixture's 50 ids hold the fixture's values;
// the rest of the 2.2 GB data file is a hole (a sparse file), so it takes a few KiB of disk
// and computes exactly what bert_opset13 computes for those ids.
import { closeSync, openSync, readFileSync, statfsSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { fixtureModels } from './paths.mjs';

/** Rows of the grown embedding: 23 million × 24 float32 is 2.21 GB, past protobuf's 2 GiB (2.15 GB). */
export const largeVocab = 23_000_000;
const page = 4096;

export interface LargeModel {
  model: string;
  data: string;
  /** The data file's size in bytes. */
  bytes: number;
}

/** Free bytes of the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Writes model.onnx and model.data into `dir`; `dataName` names the data file the model points at. */
export function writeLargeModel(dir: string, dataName = 'model.data'): LargeModel {
  const m = onnx.ModelProto.decode(new Uint8Array(readFileSync(join(fixtureModels, 'bert_opset13.onnx'))));
  const fd = openSync(join(dir, 'model.data'), 'w');
  let offset = 0;
  try {
    for (const t of m.graph!.initializer!) {
      if (!t.rawData || t.rawData.length === 0) continue;
      const grown = t.name === 'model.embeddings.token.weight';
      const length = grown ? largeVocab * 24 * 4 : t.rawData.length;
      // Page-aligned offsets let ONNX Runtime map the weights instead of copying them.
      offset = Math.ceil(offset / page) * page;
      writeSync(fd, t.rawData, 0, t.rawData.length, offset);
      t.externalData = [
        { key: 'location', value: dataName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ];
      t.dataLocation = 1;
      if (grown) t.dims = [largeVocab, 24];
      t.rawData = new Uint8Array(0);
      offset += length;
    }
    ftruncateSync(fd, offset);
  } finally {
    closeSync(fd);
  }
  const model = join(dir, 'model.onnx');
  writeFileSync(model, onnx.ModelProto.encode(m).finish());
  return { model, data: join(dir, 'model.data'), bytes: offset };
}
