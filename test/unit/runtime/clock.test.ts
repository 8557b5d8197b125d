import { jest } from '@jest/globals';
import { Clock, TICK_MS } from '../../../server/src/runtime/clock.js';

/**
 * runtime/clock.ts: the server's clock is ticked by a timer into shared memory (memcached's current_time)
 * and read by every worker, not read from the system for every request; it must still follow the system
 * time, and every thread must see the same second.
 */
describe('Clock', () => {
  test('a ticking clock reads the system time from its timer, not per call, and follows it', async () => {
    const clock = Clock.startingNow(new Int32Array(new SharedArrayBuffer(4)));
    clock.startTicking();
    try {
      const spy = jest.spyOn(Date, 'now');
      const first = clock.now();
      for (let i = 0; i < 1000; i++) expect(clock.now()).toBe(first);
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
      const startWall = Math.floor(Date.now() / 1000) - clock.processStarted;
      expect(Math.abs(first - startWall)).toBeLessThanOrEqual(1);
      // Over 1.3 s of wall time the clock advances by 1 or 2 whole seconds, never more, never back.
      await new Promise((r) => setTimeout(r, 1300 + TICK_MS));
      const later = clock.now();
      expect(later - first).toBeGreaterThanOrEqual(1);
      expect(later - first).toBeLessThanOrEqual(2);
      // It lags the system time by at most one tick: equal, or one behind just after a second boundary.
      const wall = Math.floor(Date.now() / 1000) - clock.processStarted;
      expect(later).toBeLessThanOrEqual(wall);
      expect(later).toBeGreaterThanOrEqual(wall - 1);
    } finally {
      clock.stopTicking();
    }
  });

  test('clocks made on the ticking clock\'s cell (the workers\') read exactly its second, never their own', async () => {
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const main = Clock.startingNow(cell);
    main.startTicking();
    try {
      const worker = new Clock(main.processStarted, cell);
      const spy = jest.spyOn(Date, 'now');
      expect(worker.now()).toBe(main.now());
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
      // Over several second boundaries the two never disagree, even for one read.
      const until = Date.now() + 2300;
      let reads = 0;
      while (Date.now() < until && reads < 1e6) {
        expect(worker.now()).toBe(main.now());
        reads++;
        if (reads % 1000 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      expect(reads).toBeGreaterThan(1000);
      // The cell never goes back, whatever a tick reads.
      const before = cell[0];
      cell[0] = before + 5;
      await new Promise((r) => setTimeout(r, 2 * TICK_MS));
      expect(worker.now()).toBe(before + 5);
    } finally {
      main.stopTicking();
    }
  });

  test('a clock without a cell that does not tick reads the system time on every call', () => {
    const clock = Clock.startingNow();
    const spy = jest.spyOn(Date, 'now');
    try {
      clock.now();
      clock.now();
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
  });
});
