/**
 * The typed files the services read: each is read through the storage module and checked
 * by the pure reader of its format, so every message names the file.
 */
import { checkHeadMapJson } from '../config/headMapFile';
import { checkReuseConfig } from '../config/reuseConfig';
import type { ReuseConfig } from '../config/reuseConfig';
import { isTokenFileHead } from '../config/tokenFile';
import { openAttentionModel } from '../onnx/inspect';
import type { AttentionModel } from '../onnx/inspect';
import type { HeadMap } from '../planner/headMap';
import { checkAnalysis } from '../result/analysisFile';
import type { AnalysisFile } from '../result/analysisFile';
import { parseTokenizer } from '../runtime/inputs';
import type { TextTokenizer } from '../runtime/inputs';
import { readBytes, readHead, readJson } from './storage';

/** A model file with its attention found. */
export async function readModel(path: string): Promise<AttentionModel> {
  return openAttentionModel(await readBytes(path, 'model'), path);
}

/** An analysis file (`attention-reuse/analysis@1`), validated. */
export async function readAnalysis(path: string): Promise<AnalysisFile> {
  return checkAnalysis(await readJson(path, 'analysis file'), path);
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
