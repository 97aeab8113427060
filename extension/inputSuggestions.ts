/**
 * Which examples to offer for a model, from what lies beside it: its `*.inputs.jsonl` first
 * (named after the model, then any other JSONL), text files when the model takes token ids
 * and has its tokenizer.json there, and the bundled sample sentences only where they can be
 * tokenized for this model (with its own tokenizer, or with the sample tokenizer when the
 * model's vocabulary is that tokenizer's size). No `vscode`: the quick pick is built from it.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ModelSummary } from '../analysis/app/model';
import type { ExampleSource } from '../analysis/runtime/exampleSource';

/** One choice of examples: a ready source, or a kind of file still to pick. */
export interface SourceSuggestion {
  label: string;
  description: string;
  source?: ExampleSource;
  /** Ask for a file of this kind (and for a tokenizer.json when none lies beside the model). */
  ask?: 'text' | 'jsonl';
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
  summary: Pick<ModelSummary, 'tokenInput' | 'dims'>,
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
  out.push({ label: 'A JSONL file…', description: 'one example of named input tensors per line', ask: 'jsonl' });
  return out;
}
