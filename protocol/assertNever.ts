/** Ends a `switch` over a union, so that a new member fails type-checking until it is handled. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case ${JSON.stringify((value as { type?: unknown } | null)?.type ?? value)}`);
}
