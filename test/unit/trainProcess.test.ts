// The trainer process runner: a cancel that arrives before the trainer is spawned starts nothing.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTrainer } from '../../analysis/app/trainProcess';

describe('runTrainer', () => {
  it('an already cancelled run ends 130 without spawning the trainer or writing a status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ar-train-'));
    try {
      const marker = join(dir, 'spawned');
      const controller = new AbortController();
      controller.abort();
      // Were it spawned, this "python" would leave the marker file behind.
      const result = await runTrainer(
        process.execPath,
        ['-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`],
        dir,
        10,
        controller.signal,
      );
      assert.deepEqual(result, { code: 130 });
      assert.equal(existsSync(marker), false);
      assert.equal(existsSync(join(dir, 'status.json')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a trainer that exits 0 resolves with code 0 and no failure report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ar-train-'));
    try {
      const result = await runTrainer(process.execPath, ['-e', ''], dir, 10);
      assert.deepEqual(result, { code: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
