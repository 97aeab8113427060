/**
 * The typed files the services read: each is read through the storage module and checked
 * by the pure reader of its format, so every message names the file.
 */
import { checkHeadMapJson } from '../config/headMapFile';
import { checkReuseConfig } from '../config/reuseConfig';
import type { ReuseConfig } from '../config/reuseConfig';
import { decodeTokenFileHeader, isTokenFileHead } from '../config/tokenFile';
import type { TokenFileHeader } from '../config/tokenFile';
import { dirname, isAbsolute, join } from 'node:path';
import { InputError } from '../errors';
import { externalData } from '../onnx/model';
import { openAttentionModel } from '../onnx/inspect';
import type { AttentionModel } from '../onnx/inspect';
import type { HeadMap } from '../planner/headMap';
import { checkAnalysis } from '../result/analysisFile';
import type { AnalysisFile } from '../result/analysisFile';
import { parseTokenizer } from '../runtime/inputs';
import type { TextTokenizer } from '../runtime/inputs';
import { fileBytes, readBytes, readHead, readJson } from './storage';

/** A model file with its attention found. */
export async function readModel(path: string, signal?: AbortSignal): Promise<AttentionModel> {
  const model = openAttentionModel(await readBytes(path, 'model', { signal }), path);
  await checkExternalData(model);
  return model;
}

/**
 * Weights kept beside the model (ONNX external data) must be files inside the model's
 * folder that hold the bytes the model says: checked here, so that a missing or short file,
 * or a location that points elsewhere (`../../secret`, `/etc/passwd`), is refused in one line
 * before ONNX Runtime is asked to load anything.
 */
export async function checkExternalData(model: AttentionModel): Promise<void> {
  for (const data of externalData(model.graph)) {
    const { tensor, location, offset, length } = data;
    const inside = location !== '' && !isAbsolute(location) && !/^[a-zA-Z]:/.test(location) && !location.split(/[\\/]/).includes('..');
    if (!inside)
      throw new InputError(
        `${model.path}: tensor "${tensor}" keeps its data in "${location}", which is not a file inside the model's folder`,
      );
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
      throw new InputError(`${model.path}: tensor "${tensor}" has an invalid external-data offset or length`);
    }
    const file = join(dirname(model.path), location);
    const size = await fileBytes(file, 'external data file');
    if (offset + (length ?? 0) > size) {
      throw new InputError(
        `${model.path}: tensor "${tensor}" needs bytes ${offset}..${offset + (length ?? 0)} of ${file}, which has ${size}: the data file is truncated or another model's`,
      );
    }
  }
}

/** An analysis file (`attention-reuse/analysis@1`), validated. */
export async function readAnalysis(path: string, signal?: AbortSignal): Promise<AnalysisFile> {
  return checkAnalysis(await readJson(path, 'analysis file', signal), path);
}

/** A reuse config (`attention-reuse/config@1`), validated. */
export async function readReuseConfig(path: string): Promise<ReuseConfig> {
  return checkReuseConfig(await readJson(path, 'reuse config'), path);
}

/** A custom head map of L × H heads: a reuse config or a bare array heads[l][h]. */
export async function readHeadMap(path: string, L: number, H: number): Promise<HeadMap> {
  return checkHeadMapJson(await readJson(path, 'head map'), path, L, H);
}

export async function readTokenizer(path: string): Promise<TextTokenizer> {
  return parseTokenizer(await readJson(path, 'tokenizer'), path);
}

/** Whether a file is a token file (`ARTOKEN1`), not text. */
export async function isTokenFile(path: string): Promise<boolean> {
  return isTokenFileHead(await readHead(path, 8, 'training data'));
}

/** The header of a token file, checked against the file's size. */
export async function readTokenFileHeader(path: string): Promise<TokenFileHeader> {
  const size = await fileBytes(path, 'training data');
  const first = await readHead(path, 12, 'training data');
  const length = first.length === 12 ? new DataView(first.buffer, first.byteOffset, 12).getUint32(8, true) : 0;
  return decodeTokenFileHeader(await readHead(path, 12 + Math.min(length, 2 ** 24), 'training data'), path, size).header;
}
