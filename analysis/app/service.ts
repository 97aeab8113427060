/**
 * What every service takes besides its options: cancellation, progress and notes. The CLI
 * prints notes and progress on stderr; the extension shows them in its progress
 * notification and Output channel.
 */
export interface ServiceCallbacks {
  /** Aborting it makes the service throw CancelledError, leaving no partial output behind. */
  signal?: AbortSignal;
  /** Examples (or steps) done of the total, where the total is known. */
  onProgress?: (done: number, total: number) => void;
  /** A line the user should see (the provider that ran, a fallback, a default taken). */
  onNote?: (line: string) => void;
}
