import { jest } from '@jest/globals';
import { Clock, TICK_MS } from '../../../server/src/engine/clock.js';

/**
 * engine/clock.ts: the workers' clock is refreshed by a timer (memcached's current_time), not read from
 * the system for every request; it must still follow the system time.
 */
describe('Clock', () => {
  test('a ticking clock reads the system time from its timer, not per call, and follows it', async () => {
    const clock = Clock.startingNow();
    clock.startTicking();
    try {
      const spy = jest.spyOn(Date, 'now');
      const first = clock.now();
      for (let i = 0; i < 1000; i++) expect(clock.now()).toBe(first);
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
      // Over 1.3 s of wall time the clock advances by 1 or 2 whole seconds, never more, never back.
      const startWall = Math.floor(Date.now() / 1000) - clock.processStarted;
      expect(Math.abs(first - startWall)).toBeLessThanOrEqual(1);
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

  test('a clock that does not tick reads the system time on every call', () => {
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
