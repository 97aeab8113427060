/**
 * The one module under analysis/ that touches the file system (the CLI aside): every read
 * and every atomic write of the services goes through here, so that a file-system failure
 * becomes one InputError naming the file, no reader ever sees half a file, no reader holds
 * more of a file than its bound, and no output ever replaces a file the run reads.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CancelledError, InputError, checkCancelled } from '../errors';
import { parseJsonText } from '../jsonText';
import { LineSplitter } from '../textLine';
import type { TextLine } from '../textLine';

/**
 * The file-system calls this module makes. Unit tests replace entries to inject faults (a
 * full disk, a read-only folder) that a test machine cannot always produce; nothing else
 * should touch it.
 */
export const fileSystem = {
  open: fsp.open,
  stat: fsp.stat,
  mkdir: fsp.mkdir,
  rename: fsp.rename,
  rm: fsp.rm,
  readdir: fsp.readdir,
};

const MiB = 2 ** 20;
/** Bounds on what one read may hold in memory. */
export const readLimits = {
  /** A JSON file is parsed whole; V8 strings end a little above 512 MiB. */
  jsonBytes: 500 * MiB,
  /** One line of a JSONL or text file: one example (a 128k-token example is about 3 MiB). */
  lineBytes: 8 * MiB,
  /** A model file: protobuf (and so ONNX) cannot encode a message of 2 GiB or more. */
  modelBytes: 2 * 1024 * MiB - 1,
};
const chunkBytes = 256 * 1024;

const reasons: Record<string, string> = {
  ENOENT: 'it does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EDQUOT: 'the disk quota is exceeded',
  EEXIST: 'a file of that name is in the way',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  EIO: 'an input/output error of the device',
  EFBIG: 'the file is too large for the file system',
};

/** A file-system error as one line naming the file and what was being done. */
export function fileError(err: unknown, action: string, path: string): InputError | CancelledError {
  // Cancellation is not a file-system failure: it passes through as it is.
  if (err instanceof InputError || err instanceof CancelledError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const why = (code && reasons[code]) ?? (code ? code : err instanceof Error ? err.message.split('\n')[0] : String(err));
  return new InputError(`cannot ${action} ${path}: ${why}`);
}

/** Rethrows a non-InputError as `fileError`. */
async function guarded<T>(action: string, path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw fileError(err, action, path);
  }
}

/** The size of a regular file; refuses folders, devices and files over `maxBytes`. */
export async function fileBytes(path: string, what: string, maxBytes = Infinity): Promise<number> {
  const s = await guarded(`read ${what}`, path, () => fileSystem.stat(path));
  if (!s.isFile()) throw new InputError(`cannot read ${what} ${path}: it is ${s.isDirectory() ? 'a folder' : 'not a regular file'}`);
  if (s.size > maxBytes)
    throw new InputError(
      `cannot read ${what} ${path}: it is ${(s.size / MiB).toFixed(0)} MiB, more than the ${(maxBytes / MiB).toFixed(0)} MiB such a file can be`,
    );
  return s.size;
}

/**
 * Reads a file in chunks, checking the signal between them; each read is a real wait for the
 * disk, so a Ctrl-C is seen within one chunk however large the file.
 */
async function* chunks(path: string, what: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const fh = await guarded(`read ${what}`, path, () => fileSystem.open(path, 'r'));
  try {
    const buffer = new Uint8Array(chunkBytes);
    for (;;) {
      checkCancelled(signal);
      const { bytesRead } = await guarded(`read ${what}`, path, () => fh.read(buffer, 0, chunkBytes, null));
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** A whole file, at most `maxBytes` (default: a model's bound). */
export async function readBytes(
  path: string,
  what: string,
  options: { maxBytes?: number; signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const size = await fileBytes(path, what, options.maxBytes ?? readLimits.modelBytes);
  const out = new Uint8Array(size);
  let at = 0;
  for await (const chunk of chunks(path, what, options.signal)) {
    // The file grew while it was read: what was there when it was opened is what is read.
    if (at + chunk.length > size) break;
    out.set(chunk, at);
    at += chunk.length;
  }
  return at === size ? out : out.subarray(0, at);
}

/** A UTF-8 text file, whole; a leading byte-order mark is dropped. */
export async function readText(path: string, what: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<string> {
  const bytes = await readBytes(path, what, { maxBytes: options.maxBytes ?? readLimits.jsonBytes, signal: options.signal });
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parsed JSON of a file, its size and nesting bounded; a file that is not JSON is refused naming it. */
export async function readJson(path: string, what: string, signal?: AbortSignal): Promise<unknown> {
  return parseJsonText(await readText(path, what, { signal }), `${what} ${path}`);
}

/** The first `n` bytes of a file (fewer if it is shorter). */
export async function readHead(path: string, n: number, what: string): Promise<Uint8Array> {
  await fileBytes(path, what);
  return guarded(`read ${what}`, path, async () => {
    const fh = await fileSystem.open(path, 'r');
    try {
      const buf = new Uint8Array(n);
      const { bytesRead } = await fh.read(buf, 0, n, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  });
}

/** `length` bytes of a file from `offset` (a model's external data); a short file is refused naming it. */
export async function readRange(path: string, offset: number, length: number, what: string): Promise<Uint8Array> {
  await fileBytes(path, what);
  return guarded(`read ${what}`, path, async () => {
    const fh = await fileSystem.open(path, 'r');
    try {
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new InputError(`${what} ${path} ends before byte ${offset + length}`);
      return buf;
    } finally {
      await fh.close();
    }
  });
}

/**
 * The non-empty lines of a text file, streamed; each line is bounded (`readLimits.lineBytes`),
 * UTF-8 and without NUL bytes (see LineSplitter); a leading byte-order mark is dropped.
 */
export async function* readLines(
  path: string,
  what: string,
  signal?: AbortSignal,
  maxLineBytes = readLimits.lineBytes,
): AsyncGenerator<TextLine> {
  await fileBytes(path, what);
  const splitter = new LineSplitter(path, maxLineBytes);
  for await (const chunk of chunks(path, what, signal)) {
    for (const line of splitter.push(chunk)) {
      checkCancelled(signal);
      yield line;
    }
  }
  yield* splitter.end();
}

/** Counts the non-empty lines of a file, up to `limit`. */
export async function countLines(path: string, what: string, limit = Infinity, signal?: AbortSignal): Promise<number> {
  let n = 0;
  for await (const _ of readLines(path, what, signal)) if (++n >= limit) break;
  return n;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fileSystem.stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function isFolder(path: string): Promise<boolean> {
  try {
    return (await fileSystem.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The names of a folder's entries whose name `accept`s, sorted; a folder that cannot be listed is refused naming it. */
export async function listFolder(path: string, what: string, accept: (name: string) => boolean): Promise<string[]> {
  const s = await guarded(`read ${what}`, path, () => fileSystem.stat(path));
  if (!s.isDirectory()) throw new InputError(`cannot read ${what} ${path}: it is not a folder`);
  const names = await guarded(`read ${what}`, path, () => fileSystem.readdir(path));
  return names.filter(accept).sort();
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string, what = 'file', signal?: AbortSignal): Promise<string> {
  await fileBytes(path, what);
  const hash = createHash('sha256');
  for await (const chunk of chunks(path, what, signal)) hash.update(chunk);
  return hash.digest('hex');
}

export async function ensureFolder(path: string): Promise<void> {
  await guarded('create folder', path, () => fileSystem.mkdir(path, { recursive: true }));
}

/** What a write must respect besides its target. */
export interface OutputOptions {
  /** Replace an existing file (`--force`). */
  overwrite: boolean;
  /** Files the run reads: the output is never one of them, whatever `overwrite` says. */
  inputs?: readonly (string | undefined)[];
  signal?: AbortSignal;
  /** Told which temporary files of killed runs were removed. */
  onNote?: (line: string) => void;
}

/** Whether two paths name one file, through links and relative paths too: same device and inode. */
async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([fileSystem.stat(a), fileSystem.stat(b)]);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * Checks an output before any work is done, so that a long run never ends in a refusal: not
 * a folder, not a file the run reads (even when `overwrite`), not an existing file unless
 * `overwrite`, in a folder that exists (it is created) and takes a new file. Temporary files
 * that killed runs left beside it are removed first.
 */
export async function checkOutput(target: string, options: OutputOptions): Promise<void> {
  if (await isFolder(target)) throw new InputError(`cannot write ${target}: it is a folder`);
  for (const input of options.inputs ?? []) {
    if (input !== undefined && (await sameFile(target, input))) {
      const which = resolve(input) === resolve(target) ? 'an input of this run' : `the same file as ${input}, an input of this run`;
      throw new InputError(`cannot write ${target}: it is ${which} (choose another output)`);
    }
  }
  if (!options.overwrite && (await exists(target))) throw new InputError(`${target} already exists (pass {field} to replace it)`, 'force');
  await ensureFolder(dirname(target));
  await removeStaleTemps(target, options.onNote);
  const probe = tempPathFor(target);
  await guarded('write', target, async () => {
    await (await fileSystem.open(probe, 'wx')).close();
    await fileSystem.rm(probe, { force: true });
  });
}

/** Removes a file if it is there (a stale output of an earlier run). */
export async function removeFile(path: string): Promise<void> {
  await guarded('remove', path, () => fileSystem.rm(path, { force: true }));
}

/** A temporary path beside `target`: written first, then renamed onto it. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now()}.tmp`);
}

const tempName = /^\.(.+)\.(\d+)\.\d+\.tmp$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A run killed outright (SIGKILL, power loss) cannot clean up: the next write to the same target does. */
async function removeStaleTemps(target: string, onNote?: (line: string) => void): Promise<void> {
  const dir = dirname(target);
  const names = await fileSystem.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const m = tempName.exec(name);
    const pid = Number(m?.[2]);
    if (!m || m[1] !== basename(target) || pid === process.pid || processAlive(pid)) continue;
    const stale = join(dir, name);
    try {
      await fileSystem.rm(stale, { force: true });
      onNote?.(`removed ${stale}, left by an interrupted run (process ${pid})`);
    } catch {
      onNote?.(`${stale} was left by an interrupted run (process ${pid}) and cannot be removed: remove it by hand`);
    }
  }
}

/** Bytes per write call, with a cancellation check between calls. */
const writeChunkBytes = 8 * MiB;

async function writeAll(fh: fsp.FileHandle, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    checkCancelled(signal);
    const { bytesWritten } = await fh.write(bytes, at, Math.min(writeChunkBytes, bytes.length - at), null);
    at += bytesWritten;
  }
}

/** Writes a file atomically after `checkOutput`; refuses to replace an existing file unless `overwrite`. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, options: OutputOptions): Promise<void> {
  await checkOutput(target, options);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = tempPathFor(target);
  try {
    const fh = await fileSystem.open(tmp, 'wx');
    try {
      await writeAll(fh, bytes, options.signal);
    } finally {
      await fh.close();
    }
    await fileSystem.rename(tmp, target);
  } catch (err) {
    await fileSystem.rm(tmp, { force: true }).catch(() => undefined);
    throw fileError(err, 'write', target);
  }
}

/** A large file written into a temporary file, renamed onto `target` by `commit`. */
export interface AtomicStream {
  write(bytes: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  /** Removes the temporary file; safe to call after `commit` or twice. */
  abort(): Promise<void>;
}

/** Opens a target for streamed writing after `checkOutput`; every write checks the signal. */
export async function openAtomicStream(target: string, options: OutputOptions): Promise<AtomicStream> {
  await checkOutput(target, options);
  const tmp = tempPathFor(target);
  const fh = await guarded('write', target, () => fileSystem.open(tmp, 'wx'));
  let closed = false;
  let done = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  return {
    write: (bytes) => guarded('write', target, () => writeAll(fh, bytes, options.signal)),
    async commit() {
      await guarded('write', target, async () => {
        await close();
        await fileSystem.rename(tmp, target);
      });
      done = true;
    },
    async abort() {
      if (done) return;
      done = true;
      await close().catch(() => undefined);
      await fileSystem.rm(tmp, { force: true }).catch(() => undefined);
    },
  };
}
