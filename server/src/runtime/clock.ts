import { REALTIME_MAXDELTA } from '../protocol/limits.js';

/**
 * memcached's clock: `current_time` is whole seconds since `processStarted`, which memcached sets to
 * start - ITEM_UPDATE_INTERVAL - 2 so that rel times are never 0 (0 means "never expires").
 * processStarted is fixed by the main thread and shared, so every worker computes the same rel time.
 */
export const ITEM_UPDATE_INTERVAL = 60;

/** How often a ticking clock re-reads the system time. */
export const TICK_MS = 100;

/**
 * Whole seconds since processStarted, memcached's `current_time`: one value for every thread, set by a
 * timer rather than read per request (Date.now() is ~40 ns, called for every request otherwise).
 *
 * The main thread's clock ticks (startTicking) into a cell of shared memory; the workers' clocks are made
 * on the same cell and only read it, so every thread sees the same second: an item one thread stores is
 * never younger than the clock of the thread that reads it (per-thread timers disagreed for up to a tick
 * around each second boundary, and the differential test caught `mg ... l` answering 4294967295 seconds).
 * The cell lags the system time by at most TICK_MS plus the main thread's event-loop delay, and never goes
 * back. A clock with no cell that does not tick reads the system time on every call (tests, benchmarks).
 */
export class Clock {
  private readonly cell: Int32Array;
  private readonly follows: boolean;
  private timer: NodeJS.Timeout | undefined;

  /** `shared`: the cell (an Int32Array of at least one element over shared memory) of a ticking clock. */
  constructor(readonly processStarted: number, shared?: Int32Array) {
    this.follows = shared !== undefined;
    this.cell = shared ?? new Int32Array(1);
  }

  static startingNow(shared?: Int32Array): Clock {
    return new Clock(Math.floor(Date.now() / 1000) - ITEM_UPDATE_INTERVAL - 2, shared);
  }

  now(): number {
    if (this.follows || this.timer !== undefined) {
      // Atomics: the cell is written by the main thread's timer and read by every worker.
      const v = Atomics.load(this.cell, 0);
      if (v !== 0) return v;
    }
    return this.read();
  }

  /** Starts the timer that writes the cell (unref'd: it never keeps a thread alive). One clock per cell. */
  startTicking(): void {
    if (this.timer !== undefined) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stopTicking(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const t = this.read();
    if (t > Atomics.load(this.cell, 0)) Atomics.store(this.cell, 0, t);
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
