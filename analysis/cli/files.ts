import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, writeFile, access } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { InputError } from '../errors';

/** sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A temporary path beside `target`, renamed onto it by `commit`: a reader never sees half a file. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now()}.tmp`);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes text atomically; refuses to replace an existing file unless `overwrite`. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, overwrite: boolean): Promise<void> {
  if (!overwrite && (await exists(target))) throw new InputError(`${target} already exists (pass --force to replace it)`);
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    await writeFile(tmp, data);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
