import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { InputError } from '../errors';
import { openAttentionModel } from '../onnx/inspect';
import { openExamples } from '../runtime/exampleSource';
import { AttentionRunner } from '../runtime/runner';
import { parse, requireOne } from './args';
import { exists, sha256File, tempPathFor, writeFileAtomic } from './files';
import { note, Progress } from './progress';
import { readSourceFlags, sourceHelp, sourceOptions } from './sourceFlags';

export const extractHelp = `Usage: attention-reuse extract MODEL.onnx (--inputs FILE.jsonl | --text FILE --tokenizer tokenizer.json) --out DIR [options]

Runs the model and writes every example's attention, real tokens only, to DIR:
  DIR/index.json      schema attention-reuse/extract@1: model, run, stacks, and per example
                      and stack {name, queries, keys, offset, tokens?}
  DIR/attention.bin   float32 little-endian; at each offset one [layers][heads][queries][keys] block

${sourceHelp}
  --out DIR              output folder (created; existing outputs are not replaced without --force)
  --force                replace DIR/index.json and DIR/attention.bin if they exist`;

/** The index written beside attention.bin (see docs/formats.md). */
export interface ExtractIndex {
  schema: 'attention-reuse/extract@1';
  model: { path: string; sha256: string };
  run: { examples: number; executionProvider: string; precision: 'float32'; seconds: number };
  stacks: { name: string; kind: string; layers: number; heads: number | null }[];
  examples: { index: number; tokens?: string[]; stacks: { name: string; queries: number; keys: number; offset: number }[] }[];
}

export async function extractCommand(argv: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(argv, { ...sourceOptions, out: { type: 'string' }, force: { type: 'boolean' } }, 'extract');
  if (values.help) {
    console.log(extractHelp);
    return 0;
  }
  const modelPath = requireOne(positionals, 'model file', 'extract');
  const flags = readSourceFlags(values, 'extract');
  if (typeof values.out !== 'string') throw new InputError('extract needs --out DIR');
  const outDir = resolve(values.out);
  const indexPath = join(outDir, 'index.json');
  const binPath = join(outDir, 'attention.bin');
  if (!values.force && ((await exists(indexPath)) || (await exists(binPath)))) {
    throw new InputError(`${outDir} already holds an extraction (pass --force to replace it)`);
  }
  const started = Date.now();
  const model = await openAttentionModel(modelPath);
  const opened = await openExamples(model, flags.source, flags.examples);
  const runner = await AttentionRunner.start(model, flags.ep);
  for (const line of runner.providerLines) if (!flags.quiet || line.includes('falling back')) note(line);
  await mkdir(outDir, { recursive: true });
  const tmpBin = tempPathFor(binPath);
  const out = createWriteStream(tmpBin);
  const progress = new Progress('extract', opened.total, flags.quiet);
  const index: ExtractIndex = {
    schema: 'attention-reuse/extract@1',
    model: { path: resolve(modelPath), sha256: await sha256File(modelPath) },
    run: { examples: 0, executionProvider: runner.provider, precision: 'float32', seconds: 0 },
    stacks: model.stacks.map((s) => ({ name: s.name, kind: s.kind, layers: s.layers.length, heads: s.layers[0].heads })),
    examples: [],
  };
  let offset = 0;
  try {
    for await (const ex of runner.run(opened.examples, { batchSize: flags.batch, signal, onProgress: (n) => progress.update(n) })) {
      const entry: ExtractIndex['examples'][number] = { index: ex.index, stacks: [] };
      if (ex.tokens) entry.tokens = ex.tokens;
      for (const s of ex.stacks) {
        entry.stacks.push({ name: s.name, queries: s.queries, keys: s.keys, offset });
        index.stacks.find((x) => x.name === s.name)!.heads = s.heads;
        for (const layer of s.layers) {
          const bytes = Buffer.from(layer.buffer, layer.byteOffset, layer.byteLength);
          if (!out.write(bytes)) await once(out, 'drain');
          offset += bytes.length;
        }
      }
      index.examples.push(entry);
    }
    out.end();
    await once(out, 'finish');
    progress.finish();
    index.run.examples = index.examples.length;
    index.run.seconds = (Date.now() - started) / 1000;
    await rename(tmpBin, binPath);
    await writeFileAtomic(indexPath, JSON.stringify(index), true);
  } catch (err) {
    out.destroy();
    await rm(tmpBin, { force: true });
    throw err;
  } finally {
    await runner.dispose();
  }
  console.log(`${index.run.examples} examples, ${offset} bytes of attention → ${outDir}`);
  return 0;
}

/** The attention of one example and stack, read back from an extraction (tests, viewers). */
export function readExtractedBlock(bin: Uint8Array, offset: number, layers: number, heads: number, queries: number, keys: number): Float32Array[] {
  const size = heads * queries * keys;
  return Array.from({ length: layers }, (_, l) => {
    const start = offset + l * size * 4;
    return new Float32Array(bin.buffer.slice(bin.byteOffset + start, bin.byteOffset + start + size * 4));
  });
}
