/**
 * The one module under analysis/ that touches the file system (the CLI aside): every read
 * and every atomic write of the services goes through here, so that a file-system failure
 * becomes one InputError naming the file, and no reader ever sees half a file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import { CancelledError, InputError } from '../errors';
import type { TextLine } from '../textLine';

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
};

/** A file-system error as one line naming the file and what was being done. */
export function fileError(err: unknown, action: string, path: string): InputError {
  if (err instanceof InputError) return err;
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

async function assertFile(path: string, what: string): Promise<void> {
  const s = await guarded(`read ${what}`, path, () => stat(path));
  if (!s.isFile()) throw new InputError(`cannot read ${what} ${path}: it is ${s.isDirectory() ? 'a folder' : 'not a regular file'}`);
}

export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  await assertFile(path, what);
  return guarded(`read ${what}`, path, () => readFile(path));
}

export async function readText(path: string, what: string): Promise<string> {
  await assertFile(path, what);
  const text = await guarded(`read ${what}`, path, () => readFile(path, 'utf8'));
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parsed JSON of a file; a file that is not JSON is refused naming it. */
export async function readJson(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`${what} ${path} is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

/** The first `n` bytes of a file (fewer if it is shorter). */
export async function readHead(path: string, n: number, what: string): Promise<Uint8Array> {
  await assertFile(path, what);
  return guarded(`read ${what}`, path, async () => {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fh.read(buf, 0, n, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  });
}

/** The non-empty lines of a text file, streamed; a leading byte-order mark is dropped. */
export async function* readLines(path: string, what: string, signal?: AbortSignal): AsyncGenerator<TextLine> {
  await assertFile(path, what);
  const input = createReadStream(path, { encoding: 'utf8' });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of rl) {
      if (signal?.aborted) throw new CancelledError();
      line++;
      const text = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      if (text.trim() !== '') yield { text, line };
    }
  } catch (err) {
    throw fileError(err, `read ${what}`, path);
  } finally {
    rl.close();
    input.destroy();
  }
}

/** Counts the non-empty lines of a file, up to `limit`. */
export async function countLines(path: string, what: string, limit = Infinity, signal?: AbortSignal): Promise<number> {
  let n = 0;
  for await (const _ of readLines(path, what, signal)) if (++n >= limit) break;
  return n;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string, what = 'file'): Promise<string> {
  return guarded(`read ${what}`, path, async () => {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  });
}

export async function ensureFolder(path: string): Promise<void> {
  await guarded('create folder', path, () => mkdir(path, { recursive: true }));
}

/** Removes a file if it is there (a stale output of an earlier run). */
export async function removeFile(path: string): Promise<void> {
  await guarded('remove', path, () => rm(path, { force: true }));
}

/** A temporary path beside `target`: written first, then renamed onto it. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now()}.tmp`);
}

/** Writes a file atomically; refuses to replace an existing file unless `overwrite`. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, options: { overwrite: boolean }): Promise<void> {
  if (!options.overwrite && (await exists(target))) throw new InputError(`${target} already exists (pass {field} to replace it)`, 'force');
  if (await isFolder(target)) throw new InputError(`cannot write ${target}: it is a folder`);
  await ensureFolder(dirname(target));
  const tmp = tempPathFor(target);
  try {
    await writeFile(tmp, data);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fileError(err, 'write', target);
  }
}

/** A large file written through a stream into a temporary file, renamed onto `target` by `commit`. */
export interface AtomicStream {
  write(bytes: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  /** Removes the temporary file; safe to call after `commit` or twice. */
  abort(): Promise<void>;
}

export async function openAtomicStream(target: string): Promise<AtomicStream> {
  await ensureFolder(dirname(target));
  const tmp = tempPathFor(target);
  const out: WriteStream = createWriteStream(tmp);
  let failure: unknown;
  out.on('error', (err) => (failure = err));
  let done = false;
  return {
    async write(bytes) {
      try {
        if (failure) throw failure;
        if (!out.write(bytes)) await once(out, 'drain');
      } catch (err) {
        throw fileError(err, 'write', target);
      }
    },
    async commit() {
      out.end();
      if (!out.closed) await once(out, 'close').catch(() => undefined);
      if (failure) throw fileError(failure, 'write', target);
      await guarded('write', target, () => rename(tmp, target));
      done = true;
    },
    async abort() {
      if (done) return;
      done = true;
      out.destroy();
      await rm(tmp, { force: true });
    },
  };
}
