/**
 * The `attentionReuse.train` task's fields and the `attention-reuse train` arguments they
 * become. A field left out takes its setting (attentionReuse.training.*), and a setting that
 * matches the CLI's own default is still passed, so the terminal shows the whole run. Fields
 * come from tasks.json, which nothing checks at run time, so each is checked against the
 * task definition package.json declares (types, enums, bounds) and refused in words naming it.
 * No vscode here: test/unit/trainArgs.test.ts covers every field.
 */
import type { Settings } from './settings';

/** The task definition's fields besides `type` (package.json `taskDefinitions`); paths may be relative to the workspace folder. */
export interface TrainFields {
  config: string;
  data?: string;
  tokenizer?: string;
  out?: string;
  steps?: number;
  launcher?: Settings['launcher'];
  nproc?: number;
  batchSize?: number;
  accumulate?: number;
  precision?: Settings['precision'];
  norm?: Settings['norm'];
  position?: Settings['position'];
  extraLayers?: number;
  evalEvery?: number;
  evalBatches?: number;
  maxMinutes?: number;
  heldOut?: number;
  resume?: boolean;
  /** An ONNX model to warm-start from (`--init-from`). */
  initFrom?: string;
  /** Also learn the warm start's outputs (`--distill`). */
  distill?: boolean;
}

/** One property of the declared task definition (the JSON Schema subset package.json uses). */
export interface FieldSchema {
  type?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
}

/** Paths resolved by the caller (workspace folder, defaults, interpreter). */
export interface TrainPaths {
  cli: string;
  config: string;
  data: string;
  tokenizer: string;
  out: string;
  python: string;
  initFrom?: string;
}

/**
 * Checks a definition against the declared properties; returns the fields it may pass on, or
 * every problem found, each naming its field as tasks.json spells it.
 */
export function checkTrainFields(
  definition: Record<string, unknown>,
  properties: Record<string, FieldSchema>,
): { fields: TrainFields; problems: string[] } {
  const problems: string[] = [];
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(definition)) {
    if (key === 'type' || value === undefined) continue;
    const schema = properties[key];
    if (!schema) continue; // VS Code keeps fields of its own (label, problemMatcher…) beside ours
    const problem = fieldProblem(value, schema);
    if (problem) problems.push(`"${key}" ${problem}`);
    else fields[key] = value;
  }
  if (typeof definition.config !== 'string' || !definition.config) problems.push('"config" must name the reuse config to train');
  return { fields: fields as unknown as TrainFields, problems };
}

function fieldProblem(value: unknown, schema: FieldSchema): string | undefined {
  const shown = JSON.stringify(value)?.slice(0, 80);
  if (schema.enum && !schema.enum.includes(value)) return `must be ${schema.enum.map((v) => JSON.stringify(v)).join(' or ')} (is ${shown})`;
  switch (schema.type) {
    case 'string':
      return typeof value === 'string' && value.length > 0 ? undefined : `must be a non-empty string (is ${shown})`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be true or false (is ${shown})`;
    case 'integer':
    case 'number': {
      const whole = schema.type === 'integer';
      if (typeof value !== 'number' || !Number.isFinite(value) || (whole && !Number.isInteger(value)))
        return `must be ${whole ? 'a whole number' : 'a number'} (is ${shown})`;
      if ((schema.minimum !== undefined && value < schema.minimum) || (schema.maximum !== undefined && value > schema.maximum)) {
        return `must be between ${schema.minimum ?? '-∞'} and ${schema.maximum ?? '∞'} (is ${value})`;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** What a run uses: each field, else its setting. */
export function effectiveTrainOptions(fields: TrainFields, settings: Settings) {
  const launcher = fields.launcher ?? settings.launcher;
  return {
    steps: fields.steps ?? settings.steps,
    launcher,
    // One process unless torchrun starts several.
    processes: launcher === 'torchrun' ? (fields.nproc ?? settings.processes) : 1,
    batchSize: fields.batchSize ?? settings.trainBatchSize,
    accumulate: fields.accumulate ?? settings.accumulate,
    precision: fields.precision ?? settings.precision,
    norm: fields.norm ?? settings.norm,
    position: fields.position ?? settings.position,
    extraLayers: fields.extraLayers ?? 0,
    evalEvery: fields.evalEvery ?? settings.evalEvery,
    evalBatches: fields.evalBatches ?? settings.evalBatches,
    // 0 in the setting means no limit; the CLI takes a positive number or nothing.
    maxMinutes: fields.maxMinutes ?? settings.maxMinutes,
    heldOut: fields.heldOut ?? settings.heldOut,
    resume: fields.resume === true,
    distill: fields.distill === true,
  };
}

export type TrainOptionsUsed = ReturnType<typeof effectiveTrainOptions>;

/** Why the batch cannot be split as asked (the trainer splits it over processes × micro-batches), or undefined. */
export function batchSplitProblem(o: Pick<TrainOptionsUsed, 'batchSize' | 'processes' | 'accumulate'>): string | undefined {
  if (o.batchSize % (o.processes * o.accumulate) === 0) return undefined;
  return (
    `the batch of ${o.batchSize} examples (batchSize, attentionReuse.training.batchSize) does not split evenly over ` +
    `${o.processes} process(es) (nproc, attentionReuse.training.processes) × ${o.accumulate} micro-batch(es) (accumulate, attentionReuse.training.accumulate): ` +
    `make it a multiple of ${o.processes * o.accumulate}`
  );
}

/** The argument array of `node cli.js train …` (never a shell line: paths with spaces or quotes stay intact). */
export function trainArgv(paths: TrainPaths, o: TrainOptionsUsed): string[] {
  // prettier-ignore
  return [
    paths.cli,
    'train',
    paths.config,
    '--data', paths.data,
    '--tokenizer', paths.tokenizer,
    '--out', paths.out,
    '--steps', String(o.steps),
    '--batch-size', String(o.batchSize),
    '--accumulate', String(o.accumulate),
    '--precision', o.precision,
    '--norm', o.norm,
    '--position', o.position,
    ...(o.extraLayers > 0 ? ['--extra-layers', String(o.extraLayers)] : []),
    '--eval-every', String(o.evalEvery),
    '--eval-batches', String(o.evalBatches),
    '--held-out', String(o.heldOut),
    ...(o.maxMinutes > 0 ? ['--max-minutes', String(o.maxMinutes)] : []),
    ...(o.resume ? ['--resume'] : []),
    ...(paths.initFrom ? ['--init-from', paths.initFrom] : []),
    ...(o.distill ? ['--distill'] : []),
    '--python', paths.python,
    '--launcher', o.launcher,
    ...(o.launcher === 'torchrun' ? ['--nproc', String(o.processes)] : []),
  ];
}
