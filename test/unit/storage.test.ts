// Protects the storage module's promises under faults injected through it (full disk, read-only folder, failing reads and renames, cancellation): one InputError naming the file, no temporary left; and its bounded line splitter and JSON depth check.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { checkOutput, fileSystem, openAtomicStream, readLines, readText, writeFileAtomic } from '../../analysis/app/storage';
import { CancelledError, InputError } from '../../analysis/errors';
import { jsonDepth, parseJsonText } from '../../analysis/jsonText';
import { LineSplitter } from '../../analysis/textLine';

const original = { ...fileSystem };
afterEach(() => Object.assign(fileSystem, original));

const errno = (code: string) => Object.assign(new Error(`${code}: injected`), { code });
const fresh = () => mkdtempSync(join(tmpdir(), 'ar-storage-'));

/** Makes every file handle opened for writing fail its writes with `code` after `ok` writes. */
function failWrites(code: string, ok = 0): void {
  fileSystem.open = (async (path: string, flags?: string, mode?: number) => {
    const fh = await original.open(path, flags, mode);
    if (flags !== 'wx') return fh;
    let writes = 0;
    const write = fh.write.bind(fh) as (...args: unknown[]) => Promise<unknown>;
    return new Proxy(fh, {
      get: (t, k) =>
        k === 'write'
          ? async (...args: unknown[]) => (writes++ < ok ? write(...args) : Promise.reject(errno(code)))
          : (t as unknown as Record<string | symbol, unknown>)[k],
    });
  }) as typeof fileSystem.open;
}

async function rejectsWith(work: Promise<unknown>, pattern: RegExp, why: string): Promise<void> {
  await assert.rejects(work, (err: unknown) => err instanceof InputError && pattern.test(err.message), why);
}

describe('storage under injected faults', () => {
  it('a full disk: one line naming the file, the temporary removed', async () => {
    const dir = fresh();
    failWrites('ENOSPC');
    await rejectsWith(
      writeFileAtomic(join(dir, 'out.json'), 'x'.repeat(1000), { overwrite: false }),
      /^cannot write .*out\.json: no space left on the device$/,
      'ENOSPC must name the file',
    );
    assert.deepEqual(readdirSync(dir), [], 'a temporary file was left behind');
  });

  it('a full disk in the middle of a streamed write: one line, and abort removes the temporary', async () => {
    const dir = fresh();
    failWrites('ENOSPC', 1);
    const out = await openAtomicStream(join(dir, 'attention.bin'), { overwrite: true });
    await out.write(new Uint8Array(100));
    await rejectsWith(
      out.write(new Uint8Array(100)),
      /^cannot write .*attention\.bin: no space left on the device$/,
      'the second write hits the full disk',
    );
    await out.abort();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a read-only folder is refused before any work, by checkOutput', async () => {
    const dir = fresh();
    fileSystem.open = (async () => Promise.reject(errno('EROFS'))) as unknown as typeof fileSystem.open;
    await rejectsWith(
      checkOutput(join(dir, 'out.json'), { overwrite: true }),
      /^cannot write .*out\.json: the file system is read-only$/,
      'EROFS must name the file',
    );
  });

  it('a failing rename: the temporary is removed', async () => {
    const dir = fresh();
    fileSystem.rename = (async () => Promise.reject(errno('EXDEV'))) as typeof fileSystem.rename;
    await rejectsWith(
      writeFileAtomic(join(dir, 'out.json'), 'x', { overwrite: true }),
      /^cannot write .*out\.json: EXDEV$/,
      'an unknown code is named as it is',
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a read error of the device names the file', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'in.jsonl'), '{"a":1}\n');
    fileSystem.open = (async (path: string, flags?: string) => {
      const fh = await original.open(path, flags);
      return new Proxy(fh, {
        get: (t, k) => (k === 'read' ? async () => Promise.reject(errno('EIO')) : (t as unknown as Record<string | symbol, unknown>)[k]),
      });
    }) as typeof fileSystem.open;
    await rejectsWith(
      readText(join(dir, 'in.jsonl'), 'inputs file'),
      /^cannot read inputs file .*in\.jsonl: an input\/output error of the device$/,
      'EIO must name the file',
    );
  });

  it('a cancelled write throws CancelledError and leaves nothing', async () => {
    const dir = fresh();
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(writeFileAtomic(join(dir, 'out.json'), 'x', { overwrite: true, signal: controller.signal }), CancelledError);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a cancelled read stops at the next chunk', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'big.txt'), 'line\n'.repeat(200_000));
    const controller = new AbortController();
    let n = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of readLines(join(dir, 'big.txt'), 'text file', controller.signal)) if (++n === 10) controller.abort();
      })(),
      CancelledError,
    );
    assert.equal(n, 10, 'no line may be handed out after the abort');
  });

  it('an output is never an input, through a link or another spelling, even when overwriting', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'model.onnx'), 'model');
    symlinkSync(join(dir, 'model.onnx'), join(dir, 'link'));
    for (const target of [join(dir, 'model.onnx'), join(dir, 'link'), join(dir, '.', 'sub', '..', 'model.onnx')]) {
      await rejectsWith(
        writeFileAtomic(target, 'x', { overwrite: true, inputs: [join(dir, 'model.onnx')] }),
        /an input of this run/,
        `${target} is the model`,
      );
    }
  });
});

describe('bounded reading', () => {
  const lines = (chunks: (string | number[])[], max = 1000) => {
    const s = new LineSplitter('f.txt', max);
    const out = chunks.flatMap((c) => s.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : Uint8Array.from(c)));
    return [...out, ...s.end()].map((l) => `${l.line}:${l.text}`);
  };

  it('joins lines, CRLF, a byte-order mark and UTF-8 characters split across chunks', () => {
    assert.deepEqual(lines(['\xef', '\xbb\xbfab', 'c\r', '\n\nd\xc3', '\xa9\n']), ['1:abc', '3:dé']);
    assert.deepEqual(lines(['x']), ['1:x'], 'a last line without a newline');
  });

  it('refuses a line past the bound while it grows, a NUL byte and invalid UTF-8, naming the line', () => {
    assert.throws(() => lines(['ok\n', 'a'.repeat(600), 'a'.repeat(600)]), /^InputError: f\.txt:2: the line is longer than/);
    assert.throws(() => lines(['a\n\nb\x00\n']), /f\.txt:3: holds a NUL byte at column 2/);
    assert.throws(() => lines([[0x61, 0x0a, 0xff, 0x0a]]), /f\.txt:2: is not UTF-8 text/);
  });

  it('measures JSON depth outside strings only, and refuses it past 64 levels', () => {
    assert.equal(jsonDepth('{"a":"[[[{{{","b":[[1]],"c":"\\"["}'), 3);
    assert.doesNotThrow(() => parseJsonText(`${'['.repeat(64)}${']'.repeat(64)}`, 'f'));
    assert.throws(
      () => parseJsonText(`${'['.repeat(65)}${']'.repeat(65)}`, 'f.json'),
      /^InputError: f\.json: JSON nested more than 64 levels deep$/,
    );
  });
});
