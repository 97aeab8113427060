import { join, resolve } from 'node:path';
import { InputError } from '../errors';
import type { BranchMode } from '../onnx/branches';
import type { ExampleSource } from '../runtime/exampleSource';
import type { ProviderChoice } from '../runtime/providers';
import { AttentionRunner } from '../runtime/runner';
import { openExamples, runBranches } from './examples';
import { readModel } from './readers';
import type { ServiceCallbacks } from './service';
import { sourceFiles } from './analyze';
import { checkOutput, ensureFolder, exists, openAtomicStream, sha256File, writeFileAtomic } from './storage';

/** The index written beside attention.bin (see docs/formats.md). */
export interface ExtractIndex {
  schema: 'attention-reuse/extract@1';
  model: { path: string; sha256: string };
  run: { examples: number; executionProvider: string; precision: 'float32'; seconds: number };
  stacks: { name: string; kind: string; causal: boolean; layers: number; heads: number | null; kvHeads?: number }[];
  examples: { index: number; tokens?: string[]; stacks: { name: string; queries: number; keys: number; offset: number }[] }[];
}

export interface ExtractOptions {
  model: string;
  source: ExampleSource;
  /** Output folder: index.json and attention.bin go there. */
  out: string;
  /** Replace an earlier extraction in `out`. */
  force?: boolean;
  examples?: number;
  batch?: number;
  ep?: ProviderChoice;
  /** Attention inside If branches: the branch the examples select (default), or every branch. */
  branches?: BranchMode;
}

export interface ExtractResult {
  index: ExtractIndex;
  outDir: string;
  bytes: number;
}

/** Runs the model and writes every example's attention, real tokens only, to `out`. */
export async function extractAttention(options: ExtractOptions, callbacks: ServiceCallbacks = {}): Promise<ExtractResult> {
  const { signal, onProgress, onNote } = callbacks;
  const outDir = resolve(options.out);
  const indexPath = join(outDir, 'index.json');
  const binPath = join(outDir, 'attention.bin');
  // Both outputs are checked before any work: an --out that is a file, a read-only folder, an
  // input inside --out, or an earlier extraction without --force fail now, not after the run.
  await ensureFolder(outDir);
  if (!options.force && ((await exists(indexPath)) || (await exists(binPath)))) {
    throw new InputError(`${outDir} already holds an extraction (pass {field} to replace it)`, 'force');
  }
  const output = { overwrite: true, inputs: sourceFiles(options.model, options.source), signal, onNote };
  await checkOutput(indexPath, output);
  await checkOutput(binPath, output);
  const started = Date.now();
  const file = await readModel(options.model, signal);
  const opened = await openExamples(file, options.source, options.examples ?? Number.MAX_SAFE_INTEGER, signal, onNote);
  const model = runBranches(file, opened, options.branches);
  const sha256 = await sha256File(options.model, 'model', signal);
  const runner = await AttentionRunner.start(model, options.ep ?? 'auto');
  for (const line of runner.providerLines) onNote?.(line);
  const index: ExtractIndex = {
    schema: 'attention-reuse/extract@1',
    model: { path: resolve(options.model), sha256 },
    run: { examples: 0, executionProvider: runner.provider, precision: 'float32', seconds: 0 },
    stacks: model.stacks.map((s) => ({
      name: s.name,
      kind: s.kind,
      causal: s.causal === true,
      layers: s.layers.length,
      heads: s.layers[0].heads,
      ...(s.kvHeads ? { kvHeads: s.kvHeads } : {}),
    })),
    examples: [],
  };
  let offset = 0;
  let out;
  try {
    out = await openAtomicStream(binPath, output);
    const stream = runner.run(opened.examples, { batchSize: options.batch ?? 8, signal, onProgress: (n) => onProgress?.(n, opened.total) });
    for await (const ex of stream) {
      const entry: ExtractIndex['examples'][number] = { index: ex.index, stacks: [] };
      if (ex.tokens) entry.tokens = ex.tokens;
      for (const s of ex.stacks) {
        entry.stacks.push({ name: s.name, queries: s.queries, keys: s.keys, offset });
        index.stacks.find((x) => x.name === s.name)!.heads = s.heads;
        for (const layer of s.layers) {
          await out.write(new Uint8Array(layer.buffer, layer.byteOffset, layer.byteLength));
          offset += layer.byteLength;
        }
      }
      index.examples.push(entry);
    }
    index.run.examples = index.examples.length;
    index.run.seconds = (Date.now() - started) / 1000;
    await out.commit();
    await writeFileAtomic(indexPath, JSON.stringify(index), output);
  } catch (err) {
    await out?.abort();
    throw err;
  } finally {
    await runner.dispose();
  }
  return { index, outDir, bytes: offset };
}

/** The attention of one example and stack, read back from an extraction (tests, viewers). */
export function readExtractedBlock(
  bin: Uint8Array,
  offset: number,
  layers: number,
  heads: number,
  queries: number,
  keys: number,
): Float32Array[] {
  const size = heads * queries * keys;
  return Array.from({ length: layers }, (_, l) => {
    const start = offset + l * size * 4;
    return new Float32Array(bin.buffer.slice(bin.byteOffset + start, bin.byteOffset + start + size * 4));
  });
}
