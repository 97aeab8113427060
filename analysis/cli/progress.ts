/**
 * Progress on stderr: a self-rewriting line on a terminal, a line every few seconds
 * otherwise (logs, CI), and nothing when quiet.
 */
export class Progress {
  private last = Date.now();
  private readonly started = Date.now();
  private shown = false;
  constructor(
    private readonly label: string,
    private readonly quiet = false,
    /** What is counted (plural). */
    private readonly unit = 'examples',
  ) {}

  update(done: number, total?: number): void {
    if (this.quiet) return;
    const now = Date.now();
    const tty = process.stderr.isTTY;
    if (now - this.last < (tty ? 100 : 5000) && done !== total) return;
    this.last = now;
    this.shown = true;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? (done / seconds).toFixed(1) : '-';
    const of = total ? `/${total} (${Math.floor((100 * done) / total)}%)` : '';
    const text = `${this.label}: ${done}${of} ${this.unit}, ${rate}/s`;
    if (tty) process.stderr.write(`\r${text}\x1b[K`);
    else process.stderr.write(`${text}\n`);
  }

  finish(): void {
    if (this.shown && !this.quiet && process.stderr.isTTY) process.stderr.write('\n');
  }
}

/** One informational line on stderr (stdout stays clean for --json). */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** Notes of a run over examples: all of them, or with --quiet only a provider fall-back. */
export function providerNote(quiet: boolean): (line: string) => void {
  return (line) => {
    if (!quiet || line.includes('falling back')) note(line);
  };
}
