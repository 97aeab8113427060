/**
 * An error the user can fix (bad file, bad flag, unsupported model). The CLI prints its
 * one-line message and exits with code 2; anything else is a bug and exits with 1.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Thrown when the user cancels long work; callers clean up and report nothing else. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor() {
    super('cancelled');
  }
}

/** A short, single-line description of any thrown value. */
export function describeError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim() || 'unknown error';
}
