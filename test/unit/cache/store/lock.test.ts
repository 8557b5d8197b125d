import { Worker } from 'node:worker_threads';
import { lockWord, tryLockWord, unlockWord } from '../../../../server/src/cache/store/lock.js';

describe('shard lock word', () => {
  test('tryLock fails while the word is held and succeeds once it is released', () => {
    const word = new Int32Array(new SharedArrayBuffer(8));
    expect(tryLockWord(word, 1)).toBe(true);
    expect(tryLockWord(word, 1)).toBe(false);
    expect(tryLockWord(word, 0)).toBe(true); // another word is independent
    unlockWord(word, 1);
    expect(tryLockWord(word, 1)).toBe(true);
    unlockWord(word, 1);
    lockWord(word, 1);
    expect(tryLockWord(word, 1)).toBe(false);
    unlockWord(word, 1);
    expect(Atomics.load(word, 1)).toBe(0);
  });

  test('a thread blocked in lock() is woken by unlock()', async () => {
    const word = new Int32Array(new SharedArrayBuffer(4));
    lockWord(word, 0);
    // The worker spins, marks the word contended (2) and sleeps in Atomics.wait until notified.
    const worker = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      const a = new Int32Array(workerData);
      const waits = [];
      if (Atomics.compareExchange(a, 0, 0, 1) !== 0) {
        let c = Atomics.exchange(a, 0, 2);
        while (c !== 0) { waits.push(Atomics.wait(a, 0, 2, 10000)); c = Atomics.exchange(a, 0, 2); }
      }
      parentPort.postMessage(waits);
    `, { eval: true, workerData: word.buffer });
    try {
      const acquired = new Promise<string[]>((resolvePromise) => worker.once('message', resolvePromise));
      for (let i = 0; i < 200 && Atomics.load(word, 0) !== 2; i++) await new Promise((r) => setTimeout(r, 5));
      expect(Atomics.load(word, 0)).toBe(2);
      unlockWord(word, 0);
      // Woken by the notify ('ok'), never by its wait's 10 s timeout ('timed-out').
      const waits = await acquired;
      expect(waits.length).toBeGreaterThan(0);
      expect(waits).not.toContain('timed-out');
    } finally {
      await worker.terminate();
    }
  });
});
