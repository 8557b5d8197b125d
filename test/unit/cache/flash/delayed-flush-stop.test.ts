import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FLUSH_FILE } from '../../../../server/src/cache/flash/files.js';
import { K_STOP, K_STOPPED } from '../../../../server/src/cache/flash/layout.js';
import { removeDir, rig, tempDir } from './helpers.js';

describe('flash flusher: a delayed flush_all at shutdown', () => {
  test('a flush_all N that lands while the flusher writes, just before a stop, is saved', async () => {
    const dir = tempDir();
    const r = rig(dir);
    try {
      const control = new Int32Array(r.memory.buffers.control);
      const started = r.memory.options.processStarted;
      const now = Math.floor(Date.now() / 1000) - started;
      // The interleaving a serving thread makes: flush_all 60 and then SIGTERM arrive while the flusher is
      // in a write pass, after its check of the delayed flush at the top of the loop.
      const pass = r.flusher.flushOnce.bind(r.flusher);
      let calls = 0;
      r.flusher.flushOnce = () => {
        if (calls++ === 0) {
          r.tier.setOldestLive(now + 60);
          Atomics.store(control, K_STOP, 1);
        }
        return pass();
      };
      await r.flusher.run();
      expect(Atomics.load(control, K_STOPPED)).toBe(1);
      const path = join(dir, FLUSH_FILE);
      expect(existsSync(path)).toBe(true);
      expect(readFileSync(path, 'latin1')).toBe(`oldest_live ${now + 60 + started}\n`);
    } finally {
      r.flusher.close();
      removeDir(dir);
    }
  });
});
