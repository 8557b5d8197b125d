import { REALTIME_MAXDELTA } from '../protocol/limits.js';

/**
 * memcached's clock: `current_time` is whole seconds since `processStarted`, which memcached sets to
 * start - ITEM_UPDATE_INTERVAL - 2 so that rel times are never 0 (0 means "never expires").
 * processStarted is fixed by the main thread and shared, so every worker computes the same rel time.
 */
export const ITEM_UPDATE_INTERVAL = 60;

/** How often a ticking clock re-reads the system time. */
export const TICK_MS = 100;

export class Clock {
  private current = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly processStarted: number) {}

  static startingNow(): Clock {
    return new Clock(Math.floor(Date.now() / 1000) - ITEM_UPDATE_INTERVAL - 2);
  }

  /**
   * Whole seconds since processStarted. A ticking clock returns the value its timer last read, as
   * memcached's current_time is set by a timer rather than read per request (Date.now() is ~40 ns, called
   * for every request otherwise; the timer makes it lag the system time by at most TICK_MS plus the
   * event loop's delay). A clock that does not tick reads the system time on every call.
   */
  now(): number {
    return this.timer !== undefined ? this.current : this.read();
  }

  /** Starts the timer (unref'd: it never keeps a thread alive). */
  startTicking(): void {
    if (this.timer !== undefined) return;
    this.current = this.read();
    this.timer = setInterval(() => {
      this.current = this.read();
    }, TICK_MS);
    this.timer.unref();
  }

  stopTicking(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private read(): number {
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
