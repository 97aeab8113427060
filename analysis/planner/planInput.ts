import { readFile } from 'node:fs/promises';
import { InputError } from '../errors';
import type { PlannerStack } from './plan';

/** The parts of an `attention-reuse/analysis@1` file that planning and emitting read. */
export interface PlannerAnalysis {
  model: { path?: string; sha256: string };
  stacks: PlannerStack[];
}

const analysisSchemaId = 'attention-reuse/analysis@1';

/**
 * Reads an analysis file and checks only the fields the planner uses, each with a message
 * naming the field (the full validation belongs to the analysis reader; the planner must
 * not crash on a file that a different version wrote).
 */
export async function readPlannerAnalysis(path: string): Promise<PlannerAnalysis> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read analysis file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`analysis file ${path} is not valid JSON (${(err as Error).message})`);
  }
  return checkPlannerAnalysis(json, path);
}

export function checkPlannerAnalysis(json: unknown, label: string): PlannerAnalysis {
  const fail = (field: string, what: string): never => {
    throw new InputError(`${label}: ${field} ${what}`);
  };
  if (!isObject(json)) return fail('(top level)', 'is not a JSON object');
  if (json.schema !== analysisSchemaId) fail('schema', `is ${JSON.stringify(json.schema)}, expected "${analysisSchemaId}"`);
  if (!isObject(json.model) || typeof json.model.sha256 !== 'string') fail('model.sha256', 'is missing');
  if (!Array.isArray(json.stacks) || json.stacks.length === 0) fail('stacks', 'is missing or empty');
  const stacks = (json.stacks as unknown[]).map((s, i) => checkStack(s, `stacks[${i}]`, fail));
  const model = json.model as { path?: unknown; sha256: string };
  return { model: { sha256: model.sha256, ...(typeof model.path === 'string' ? { path: model.path } : {}) }, stacks };
}

function checkStack(s: unknown, at: string, fail: (field: string, what: string) => never): PlannerStack {
  if (!isObject(s)) return fail(at, 'is not an object');
  if (typeof s.name !== 'string') fail(`${at}.name`, 'is missing');
  const L = s.layerCount;
  const H = s.headCount;
  if (!isCount(L)) fail(`${at}.layerCount`, 'must be a whole number ≥ 1');
  if (!isCount(H)) fail(`${at}.headCount`, 'must be a whole number ≥ 1');
  const n = L as number;
  const h = H as number;
  if (!isObject(s.dims)) fail(`${at}.dims`, 'is missing');
  const dims = s.dims as Record<string, unknown>;
  for (const key of ['hidden', 'ffn', 'vocab', 'maxPositions']) {
    if (dims[key] !== null && dims[key] !== undefined && !isCount(dims[key])) fail(`${at}.dims.${key}`, 'must be a whole number ≥ 1 or null');
  }
  const grid = (v: unknown, shape: number[], field: string): void => {
    if (shape.length === 0) {
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(field, 'must be a finite number');
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[0]) fail(field, `must be an array of ${shape[0]} entries`);
    (v as unknown[]).forEach((x, i) => grid(x, shape.slice(1), `${field}[${i}]`));
  };
  grid(s.headPairs, [n, h, n, h], `${at}.headPairs`);
  grid(s.uniform, [n, h], `${at}.uniform`);
  const opt = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    name: s.name as string,
    layerCount: n,
    headCount: h,
    dims: { hidden: opt(dims.hidden), ffn: opt(dims.ffn), vocab: opt(dims.vocab), maxPositions: opt(dims.maxPositions) },
    headPairs: s.headPairs as number[][][][],
    uniform: s.uniform as number[][],
  };
}

/** The stack named `name`, or the only one; an InputError listing the stacks otherwise. */
export function pickStack(analysis: PlannerAnalysis, name: string | undefined, label: string): PlannerStack {
  const names = analysis.stacks.map((s) => `"${s.name}"`).join(', ');
  if (name === undefined) {
    if (analysis.stacks.length === 1) return analysis.stacks[0];
    throw new InputError(`${label} has stacks ${names}: pass --stack NAME`);
  }
  const stack = analysis.stacks.find((s) => s.name === name);
  if (!stack) throw new InputError(`${label} has no stack "${name}" (it has ${names})`);
  return stack;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}
