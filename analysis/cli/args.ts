import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { InputError } from '../errors';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** What parseArgs returns, loosely typed (every option is a string or boolean flag). */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** parseArgs that turns every mistake into a one-line InputError. */
export function parse(argv: string[], options: OptionSpec, command: string): ParsedArgs {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }) as ParsedArgs;
  } catch (err) {
    throw new InputError(`${command}: ${(err as Error).message.split('\n')[0]} (see attention-reuse ${command} --help)`);
  }
}

/** Options whose flag is not their name in kebab case. */
const flagNames: Record<string, string> = { P: '--reuse-layers', K: '--reuse-heads' };

/** The flag a service option is given by: `maxLength` → `--max-length`, `P` → `--reuse-layers`. */
export function flagOf(field: string): string {
  return flagNames[field] ?? `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function raw(values: ParsedArgs['values'], field: string): string | undefined {
  const v = values[flagOf(field).slice(2)];
  return typeof v === 'string' ? v : undefined;
}

/** A string flag's value, by the option it sets. */
export function stringFlag(values: ParsedArgs['values'], field: string): string | undefined {
  return raw(values, field);
}

/** A whole-number flag (≥ `min`, default 1), by the option it sets; undefined when absent. */
export function intFlag(values: ParsedArgs['values'], field: string, min = 1): number | undefined {
  const value = raw(values, field);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min)
    throw new InputError(`{field} must be a whole number ≥ ${min} (got "${value}")`, field);
  return n;
}

/** A number flag, by the option it sets; undefined when absent. */
export function numberFlag(values: ParsedArgs['values'], field: string): number | undefined {
  const value = raw(values, field);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InputError(`{field} must be a number (got "${value}")`, field);
  return n;
}

export function requireOne(positionals: string[], what: string, command: string): string {
  if (positionals.length !== 1) throw new InputError(`${command} takes exactly one ${what} (see attention-reuse ${command} --help)`);
  return positionals[0];
}
