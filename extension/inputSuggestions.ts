/**
 * Which examples to offer for a model, from what lies beside it: its `*.inputs.jsonl` first
 * (named after the model, then any other JSONL), text files when the model takes token ids
 * and has its tokenizer.json there, and the bundled sample sentences only where they can be
 * tokenized for this model (with its own tokenizer, or with the sample tokenizer when the
 * model's vocabulary is that tokenizer's size). No `vscode`: the quick pick is built from it.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { arrayFileName } from '../analysis/app/arrayExamples';
import { imageFileName, imageInputOf } from '../analysis/app/imageExamples';
import type { ModelSummary } from '../analysis/app/model';
import type { ModelInput } from '../analysis/onnx/inspect';
import type { ExampleSource } from '../analysis/runtime/exampleSource';

/** One choice of examples: a ready source, or a kind of file still to pick. */
export interface SourceSuggestion {
  label: string;
  description: string;
  source?: ExampleSource;
  /** Ask for a file (or a folder of images) of this kind, and for a tokenizer.json when text needs one and none lies beside the model. */
  ask?: 'text' | 'jsonl' | 'images' | 'arrays';
}

/** The bundled sample sentences and the tokenizer they come with. */
export interface SampleInputs {
  sentences: string;
  tokenizer: string;
  /** How many ids the sample tokenizer has (its largest id + 1). */
  vocabSize: number;
}

/** Text files shown at most, so a folder of thousands does not flood the list. */
const maxTextFiles = 5;
const textFile = /\.(txt|text)$/i;
/** Folders of images looked into beside the model, at most. */
const maxImageFolders = 20;

/** Folders beside the model (and the model's own) that hold PNG or JPEG files, with how many. */
function imageFolders(model: string): { path: string; label: string; images: number }[] {
  const dir = dirname(model);
  const count = (d: string) => {
    try {
      return readdirSync(d).filter((n) => imageFileName.test(n)).length;
    } catch {
      return 0;
    }
  };
  let subfolders: string[] = [];
  try {
    subfolders = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort()
      .slice(0, maxImageFolders);
  } catch {
    // An unreadable folder offers no images.
  }
  return [
    { path: dir, label: `${basename(dir)}/ (the model's folder)` },
    ...subfolders.map((n) => ({ path: join(dir, n), label: `${n}/` })),
  ]
    .map((f) => ({ ...f, images: count(f.path) }))
    .filter((f) => f.images > 0);
}

function filesBeside(model: string): string[] {
  const dir = dirname(model);
  try {
    return readdirSync(dir)
      .filter((name) => {
        try {
          return statSync(join(dir, name)).isFile();
        } catch {
          return false;
        }
      })
      .sort();
  } catch {
    return [];
  }
}

/** The choices, best first: the first is what the quick pick preselects. */
export function suggestSources(
  model: string,
  summary: Pick<ModelSummary, 'tokenInput' | 'dims'> & { inputs?: ModelInput[] },
  sample: SampleInputs,
): SourceSuggestion[] {
  const dir = dirname(model);
  const stem = basename(model).replace(/\.onnx$/i, '');
  const files = filesBeside(model);
  const out: SourceSuggestion[] = [];
  const jsonl = files.filter((f) => f.endsWith('.jsonl'));
  const own = `${stem}.inputs.jsonl`;
  for (const name of [...jsonl.filter((f) => f === own), ...jsonl.filter((f) => f !== own)]) {
    const why = name === own ? 'the model’s own inputs, beside it' : 'model inputs (JSONL) beside the model';
    out.push({ label: name, description: why, source: { kind: 'jsonl', path: join(dir, name) } });
  }
  for (const name of files.filter((f) => arrayFileName.test(f))) {
    out.push({
      label: name,
      description: 'NumPy arrays beside the model (the first axis counts the examples)',
      source: { kind: 'arrays', path: join(dir, name) },
    });
  }
  const takesImages = summary.inputs !== undefined && imageInputOf(summary.inputs) !== undefined;
  if (takesImages) {
    const config = files.includes('preprocessor_config.json')
      ? 'as its preprocessor_config.json says'
      : 'with ViT’s defaults (no preprocessor_config.json beside the model)';
    for (const f of imageFolders(model)) {
      out.push({
        label: f.label,
        description: `${f.images} image${f.images === 1 ? '' : 's'} (PNG, JPEG), prepared ${config}`,
        source: { kind: 'images', path: f.path },
      });
    }
  }
  const takesText = summary.tokenInput !== null;
  const tokenizer = files.includes('tokenizer.json') ? join(dir, 'tokenizer.json') : undefined;
  if (takesText && tokenizer) {
    for (const name of files.filter((f) => textFile.test(f)).slice(0, maxTextFiles)) {
      out.push({
        label: name,
        description: 'text beside the model, one example per line, with its tokenizer.json',
        source: { kind: 'text', path: join(dir, name), tokenizer },
      });
    }
  }
  if (takesText) {
    const vocab = summary.dims?.vocab ?? null;
    if (tokenizer) {
      out.push({
        label: 'Sample sentences',
        description: 'bundled English sentences, with the tokenizer.json beside the model',
        source: { kind: 'text', path: sample.sentences, tokenizer },
      });
    } else if (vocab === sample.vocabSize) {
      out.push({
        label: 'Sample sentences',
        description: `bundled English sentences and their tokenizer: the model’s vocabulary has its ${vocab} ids`,
        source: { kind: 'text', path: sample.sentences, tokenizer: sample.tokenizer },
      });
    }
    out.push({
      label: 'A text file…',
      description: tokenizer
        ? 'one example per line, with the tokenizer.json beside the model'
        : 'one example per line; then the model’s tokenizer.json',
      ask: 'text',
    });
  }
  if (takesImages)
    out.push({ label: 'A folder of images…', description: 'every PNG and JPEG file in it, one example each', ask: 'images' });
  out.push({ label: 'A JSONL file…', description: 'one example of named input tensors per line', ask: 'jsonl' });
  out.push({
    label: 'A NumPy file…',
    description: '.npz of one array per input, or .npy of the one input; the first axis counts the examples',
    ask: 'arrays',
  });
  return out;
}
