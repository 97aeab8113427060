/**
 * An error the user can fix (bad file, bad option, unsupported model). The CLI prints its
 * one-line message and exits with code 2; anything else is a bug and exits with 1.
 *
 * An error about an option carries the option's name in `field` (the camelCase name the
 * services take, e.g. `maxLength`) and writes it as `{field}` in its text, so that each front
 * end can word it: the CLI as a flag (`--max-length`), the extension as a setting or a label.
 * `message` words it plainly (`maxLength`).
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  /** The text with `{field}` where the option's name goes. */
  readonly template: string;

  constructor(
    template: string,
    readonly field?: string,
  ) {
    super(field === undefined ? template : template.split('{field}').join(field));
    this.template = template;
  }

  /** The message with the field worded by `word`. */
  worded(word: (field: string) => string): string {
    return this.field === undefined ? this.message : this.template.split('{field}').join(word(this.field));
  }
}

/** Thrown when the user cancels long work; callers clean up and report nothing else. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor() {
    super('cancelled');
  }
}

/** Throws CancelledError when the signal has fired: call it in every loop that reads or writes. */
export function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

/**
 * A short, single-line description of any thrown value; an InputError about an option has
 * its field worded by `word` when one is given.
 */
export function describeError(err: unknown, word?: (field: string) => string): string {
  const text = err instanceof InputError && word ? err.worded(word) : err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim() || 'unknown error';
}
