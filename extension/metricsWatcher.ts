/**
 * Follows a training run's metrics.jsonl while the trainer appends to it and hands each new
 * complete line to the panel. Polls the file's size (fs.watchFile): the file and its folder
 * may not exist yet when the task starts, and polling works on every file system.
 */
import { unwatchFile, watchFile } from 'node:fs';
import type { Stats } from 'node:fs';
import { open } from 'node:fs/promises';

export type MetricsLine = Record<string, unknown>;
export type ForwardMetrics = (run: string, lines: MetricsLine[], reset: boolean) => unknown;

const pollMs = 250;

export class MetricsWatcher {
  /** Bytes read so far, always just after a newline: a half-written line is read again whole. */
  private offset = 0;
  private forwardedLines = 0;
  private skipped = 0;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  /** The next lines start the run's curve over (first lines, or the file was replaced). */
  private resetNext = true;
  private readonly listener = (curr: Stats, prev: Stats) => {
    if (curr.size !== prev.size || curr.mtimeMs !== prev.mtimeMs) void this.drain(false);
  };

  constructor(
    readonly file: string,
    readonly run: string,
    private readonly forward: ForwardMetrics,
    private readonly warn: (message: string) => void = () => {},
  ) {
    watchFile(file, { interval: pollMs, persistent: false }, this.listener);
    void this.drain(false);
  }

  /** Lines handed to the panel so far. */
  get forwarded(): number {
    return this.forwardedLines;
  }

  /** Reads what the trainer wrote last (including an unterminated last line), stops watching and returns the count forwarded. */
  async stop(): Promise<number> {
    if (!this.stopped) {
      this.stopped = true;
      unwatchFile(this.file, this.listener);
      await this.drain(true);
    } else {
      await this.chain;
    }
    return this.forwardedLines;
  }

  private drain(final: boolean): Promise<void> {
    // One read at a time, in order: the poller and stop() may ask at once.
    this.chain = this.chain
      .then(() => this.read(final))
      .catch((err) => this.warn(`metrics: ${err instanceof Error ? err.message : String(err)}`));
    return this.chain;
  }

  private async read(final: boolean): Promise<void> {
    let handle;
    try {
      handle = await open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let chunk: Buffer;
    try {
      const { size } = await handle.stat();
      // Shorter than what was read: the file was replaced (a new run in the same folder).
      if (size < this.offset) {
        this.offset = 0;
        this.resetNext = true;
      }
      if (size === this.offset) return;
      chunk = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, this.offset);
      chunk = chunk.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    const end = final ? chunk.length : chunk.lastIndexOf(0x0a) + 1;
    if (end === 0) return;
    this.offset += end;
    const lines: MetricsLine[] = [];
    for (const text of chunk.subarray(0, end).toString('utf8').split('\n')) {
      if (!text.trim()) continue;
      try {
        const value: unknown = JSON.parse(text);
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) lines.push(value as MetricsLine);
        else this.skip(text);
      } catch {
        this.skip(text);
      }
    }
    if (lines.length === 0) return;
    await this.forward(this.run, lines, this.resetNext);
    this.resetNext = false;
    this.forwardedLines += lines.length;
  }

  private skip(text: string): void {
    if (this.skipped++ === 0) this.warn(`metrics: ${this.file} has a line that is not a JSON object (skipped): ${text.slice(0, 80)}`);
  }
}
