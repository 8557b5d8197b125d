import { REALTIME_MAXDELTA } from '../protocol/limits.js';

/**
 * memcached's clock: `current_time` is whole seconds since `processStarted`, which memcached sets to
 * start - ITEM_UPDATE_INTERVAL - 2 so that rel times are never 0 (0 means "never expires").
 * processStarted is fixed by the main thread and shared, so every worker computes the same rel time.
 */
export const ITEM_UPDATE_INTERVAL = 60;

export class Clock {
  constructor(readonly processStarted: number) {}

  static startingNow(): Clock {
    return new Clock(Math.floor(Date.now() / 1000) - ITEM_UPDATE_INTERVAL - 2);
  }

  now(): number {
    return Math.floor(Date.now() / 1000) - this.processStarted;
  }

  /** realtime(EXPTIME_TO_POSITIVE_TIME(exptime)) from memcached. */
  realtime(exptime: number, now: number): number {
    if (exptime < 0) exptime = REALTIME_MAXDELTA + 1;
    if (exptime === 0) return 0;
    if (exptime > REALTIME_MAXDELTA) {
      if (exptime <= this.processStarted) return 1;
      return exptime - this.processStarted;
    }
    return exptime + now;
  }
}
