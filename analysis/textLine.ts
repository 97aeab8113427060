import { InputError } from './errors';

/** One non-empty line of a text file, 1-based: what the line-oriented readers take. */
export interface TextLine {
  text: string;
  line: number;
}

const newline = 0x0a;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Splits bytes into lines as they arrive. readline keeps a whole line in memory however long
 * it is, so a file of one line of gigabytes would be read entirely before anyone could say
 * no; this holds at most `maxLineBytes` of a line and refuses the line the moment it grows
 * past that. Each line must be UTF-8 without NUL bytes (a binary file given as text is
 * refused at its first such line, naming it); a leading byte-order mark and a final \r are
 * dropped, and blank lines are counted but not returned.
 */
export class LineSplitter {
  private pieces: Uint8Array[] = [];
  private pending = 0;
  private line = 0;

  constructor(
    /** Names the file in messages. */
    private readonly label: string,
    private readonly maxLineBytes: number,
  ) {}

  /** The lines that `chunk` completes. */
  push(chunk: Uint8Array): TextLine[] {
    const out: TextLine[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(newline); nl >= 0; nl = chunk.indexOf(newline, start)) {
      this.grow(nl - start);
      this.pieces.push(chunk.subarray(start, nl));
      this.emit(out);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.grow(chunk.length - start);
      // A copy: the caller may reuse its read buffer for the next chunk.
      this.pieces.push(chunk.slice(start));
    }
    return out;
  }

  /** The last line, when the file does not end with a newline. */
  end(): TextLine[] {
    const out: TextLine[] = [];
    if (this.pending > 0 || this.pieces.length > 0) this.emit(out);
    return out;
  }

  private grow(bytes: number): void {
    this.pending += bytes;
    if (this.pending > this.maxLineBytes) {
      const mb = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
      throw new InputError(
        `${this.label}:${this.line + 1}: the line is longer than ${mb(this.maxLineBytes)}, more than one example can hold (is it the right file?)`,
      );
    }
  }

  private emit(out: TextLine[]): void {
    this.line++;
    let bytes = this.pieces.length === 1 ? this.pieces[0] : concat(this.pieces, this.pending);
    this.pieces = [];
    this.pending = 0;
    if (this.line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    if (bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    const nul = bytes.indexOf(0);
    if (nul >= 0) throw new InputError(`${this.label}:${this.line}: holds a NUL byte at column ${nul + 1}: a binary file, not text`);
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new InputError(`${this.label}:${this.line}: is not UTF-8 text (a binary file, or another encoding: convert it to UTF-8)`);
    }
    if (text.trim() !== '') out.push({ text, line: this.line });
  }
}

function concat(pieces: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
