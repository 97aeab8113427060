// Test helper: deliberately broken readers, for the test that shows the fuzz harness catches a crash, a hang and an uncaught error.
import * as fc from 'fast-check';
import { encodeTokenFile, tokenFileMagic } from '../../analysis/config/tokenFile';
import { InputError } from '../../analysis/errors';
import type { FuzzTarget } from './harness';
import { mutatedBytes } from './mutate';

const tokenFile = encodeTokenFile(
  [
    [2, 5, 3],
    [2, 7, 3],
  ],
  { vocabSize: 9, padId: 0, maskId: 4, specialIds: [0, 2, 3], maxLength: 8, tokenizer: 't', text: 'x' },
);

/** The token-file decoder as it was before issue 13: it trusts the header's length and counts. */
function decodeTokenFileBefore13(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || Buffer.from(bytes.subarray(0, 8)).toString('ascii') !== tokenFileMagic) throw new InputError('not a token file');
  const h = view.getUint32(8, true);
  const header = JSON.parse(Buffer.from(bytes.subarray(12, 12 + h)).toString('utf8')) as { examples: number; tokens: number };
  const offsets = new BigUint64Array(header.examples + 1);
  for (let e = 0; e <= header.examples; e++) offsets[e] = view.getBigUint64(12 + h + 8 * e, true);
}

export const targets: Record<string, FuzzTarget<Uint8Array>> = {
  /** A crash: RangeError or SyntaxError on a mutated header. */
  tokenFileBefore13: { arbitrary: () => mutatedBytes([tokenFile]), run: decodeTokenFileBefore13 },
  /** A hang: a loop that never ends on a byte 0x2a. */
  hangsOnStar: {
    arbitrary: () => fc.uint8Array({ minLength: 1, maxLength: 8 }),
    run: (b) => {
      for (let i = 0; i < b.length; i += b[i] === 0x2a ? 0 : 1);
    },
  },
  /** An error thrown outside the run's own call stack, which no try/catch of the reader sees. */
  throwsLater: {
    arbitrary: () => fc.uint8Array({ minLength: 1, maxLength: 4 }),
    run: (b) => {
      if (b[0] === 7)
        setTimeout(() => {
          throw new TypeError('thrown from a timer');
        }, 0);
    },
  },
};
