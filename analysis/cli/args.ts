import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { InputError } from '../errors';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** parseArgs that turns every mistake into a one-line InputError. */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: OptionSpec, command: string): ParsedArgs {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true }) as ParsedArgs;
  } catch (err) {
    throw new InputError(`${command}: ${(err as Error).message.split('\n')[0]} (see attention-reuse ${command} --help)`);
  }
}

export function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`${flag} must be a whole number ≥ 1 (got "${value}")`);
  return n;
}

export function requireOne(positionals: string[], what: string, command: string): string {
  if (positionals.length !== 1) throw new InputError(`${command} takes exactly one ${what} (see attention-reuse ${command} --help)`);
  return positionals[0];
}
