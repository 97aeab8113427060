/**
 * The training data of `attention-reuse train`: a token-shard folder (checked against the
 * tokenizer and the config), a tokens@1 file, or text, which is tokenized into shards in the
 * run folder (once: a resume with the same text and tokenizer reuses them).
 */
import { join } from 'node:path';
import type { ReuseConfig } from '../config/reuseConfig';
import { maskIdOf, shardIndexFile } from '../config/tokenShards';
import { InputError } from '../errors';
import { isTokenFile, readTokenFileHeader, readTokenizer } from './readers';
import type { ServiceCallbacks } from './service';
import { checkOutput, isFolder, sha256File } from './storage';
import { defaultHeldOut, isShardFolder, readShardIndex, tokenizeToShards } from './tokenize';

export interface TrainData {
  /** What the trainer reads: a shard folder or a token file. */
  path: string;
  /** Tokens per example the trainer packs or cuts to. */
  maxLength: number;
  /** sha256 of the tokenizer.json, when one was given or the shards record it: the trainer checks every shard against it. */
  tokenizerSha256?: string;
}

interface DataRequest {
  data: string;
  tokenizer?: string;
  maxLength?: number;
  heldOut?: number;
  runDir: string;
}

function checkLength(maxLength: number, config: ReuseConfig): number {
  if (!Number.isInteger(maxLength) || maxLength < 1)
    throw new InputError(`{field} must be a whole number ≥ 1 (got ${maxLength})`, 'maxLength');
  if (maxLength > config.dims.maxPositions)
    throw new InputError(`{field} ${maxLength} exceeds the config's maxPositions (${config.dims.maxPositions})`, 'maxLength');
  return maxLength;
}

/**
 * Resolves and checks `data`. Text is checked here (tokenizer, mask token, where the shards
 * go) and tokenized by `tokenize`, which the caller runs once the interpreter proved to work.
 */
export async function prepareTrainData(
  request: DataRequest,
  config: ReuseConfig,
  callbacks: ServiceCallbacks = {},
): Promise<{ data: TrainData; tokenize?: () => Promise<void> }> {
  const tokenizerSha = request.tokenizer === undefined ? undefined : await sha256File(request.tokenizer, 'tokenizer');
  if (await isFolder(request.data)) {
    if (!(await isShardFolder(request.data)))
      throw new InputError(`{field} ${request.data} is a folder without index.json (write shards with attention-reuse tokenize)`, 'data');
    const index = await readShardIndex(request.data);
    if (tokenizerSha !== undefined && index.tokenizer.sha256 !== tokenizerSha) {
      throw new InputError(
        `the shards in ${request.data} were written with another tokenizer (tokenizer.sha256 ${index.tokenizer.sha256.slice(0, 12)}…, {field} has ${tokenizerSha.slice(0, 12)}…)`,
        'tokenizer',
      );
    }
    if (request.maxLength !== undefined && request.maxLength !== index.sequenceLength) {
      throw new InputError(
        `{field} ${request.maxLength} differs from the shards' sequenceLength ${index.sequenceLength} (tokenize again to change it)`,
        'maxLength',
      );
    }
    if (index.sequenceLength > config.dims.maxPositions) {
      throw new InputError(
        `the shards hold rows of ${index.sequenceLength} tokens, more than the config's maxPositions ${config.dims.maxPositions}: tokenize with --max-length ${config.dims.maxPositions}`,
        'data',
      );
    }
    return { data: { path: request.data, maxLength: index.sequenceLength, tokenizerSha256: index.tokenizer.sha256 } };
  }
  const maxLength = checkLength(request.maxLength ?? config.dims.maxPositions, config);
  if (await isTokenFile(request.data)) {
    const header = await readTokenFileHeader(request.data);
    if (header.vocabSize > config.dims.vocab) {
      throw new InputError(
        `token file ${request.data} holds ids up to ${header.vocabSize - 1}, but the config's vocabulary has ${config.dims.vocab} rows: tokenized for another model`,
      );
    }
    return { data: { path: request.data, maxLength, tokenizerSha256: tokenizerSha } };
  }
  if (!request.tokenizer)
    throw new InputError(`the training data ${request.data} is text, so training needs {field} tokenizer.json to tokenize it`, 'tokenizer');
  maskIdOf(await readTokenizer(request.tokenizer));
  const out = join(request.runDir, 'data');
  const data = { path: out, maxLength, tokenizerSha256: tokenizerSha };
  const heldOut = request.heldOut ?? defaultHeldOut;
  if (await isShardFolder(out)) {
    const index = await readShardIndex(out).catch(() => null);
    const textSha = await sha256File(request.data, 'text file');
    const same =
      index?.tokenizer.sha256 === tokenizerSha &&
      index?.text.sha256 === textSha &&
      index?.sequenceLength === maxLength &&
      index?.heldOutFraction === heldOut;
    if (same) return { data };
  }
  await checkOutput(join(out, shardIndexFile), { overwrite: true, inputs: [request.data, request.tokenizer] });
  const options = { text: request.data, tokenizer: request.tokenizer, out, maxLength, heldOut, force: true, vocabLimit: config.dims.vocab };
  return { data, tokenize: async () => void (await tokenizeToShards(options, callbacks)) };
}
