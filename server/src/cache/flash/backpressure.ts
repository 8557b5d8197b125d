/**
 * Backpressure from the write buffer to the serving threads' writes (store/tier.ts DemotionGate).
 *
 * A set that needs RAM evicts a whole segment, and every live item of it goes into the write buffer
 * (demote, tier.ts). Producers never wait inside that eviction (it runs under a shard lock), so when the
 * flusher falls behind (a slow disk, or no CPU for it on a busy machine) the ring fills and evicted items
 * are dropped. Instead, a connection asks mustWait() before each data block it stores: above the tier's
 * holdAbove (room for one segment's evictions per serving thread) it stops reading and waits here until
 * the flusher has released space, so the fill goes at the disk's pace and keeps what it evicts. Only writes
 * wait: gets are answered meanwhile (and do not promote, tiered.ts), other connections go on.
 *
 * The wait is bounded: when the flusher releases nothing for ext_wbuf_wait_ms (a stuck disk, a dead
 * flusher) the held writes go on, and no write waits again until the flusher releases something: evictions
 * are then dropped and counted (extstore_wbuf_dropped), as memcached's extstore always does.
 *
 * One gate per serving thread: one Atomics.waitAsync on K_RELEASED (bumped by WriteBuffer.release) at a
 * time, however many connections wait.
 */
import type { Logger } from 'pino';
import type { DemotionGate } from '../store/tier.js';
import { K_RELEASED } from './layout.js';
import { F } from './flash-stats.js';
import { LOG_WBUF_STUCK, logOnce, waitAsync, type LogFlashTier } from './tier.js';

export class WriteBufferGate implements DemotionGate {
  private readonly control: Int32Array;
  private readonly row: Float64Array;
  private readonly waiters: Array<() => void> = [];
  private armed = false;
  /** K_RELEASED when the current wait was armed. */
  private seen = 0;
  /** A wait ran out: nothing waits until K_RELEASED moves on from stuckAt (it wraps; compared for equality). */
  private stuck = false;
  private stuckAt = 0;

  constructor(private readonly tier: LogFlashTier, private readonly log?: Logger) {
    this.control = tier.control;
    this.row = tier.counters.row;
  }

  mustWait(): boolean {
    if (this.tier.roomForDemotions() || this.tier.wbufWaitMs <= 0) return false;
    if (this.stuck) {
      if (Atomics.load(this.control, K_RELEASED) === this.stuckAt) return false;
      this.stuck = false;
    }
    return true;
  }

  wait(resume: () => void): void {
    this.waiters.push(resume);
    this.row[F.extstore_wbuf_waits]++;
    if (!this.armed) this.arm();
  }

  /** Connections waiting now (tests, stats). */
  get waiting(): number {
    return this.waiters.length;
  }

  private arm(): void {
    this.armed = true;
    this.seen = Atomics.load(this.control, K_RELEASED);
    const r = waitAsync(this.control, K_RELEASED, this.seen, this.tier.wbufWaitMs);
    if (r.async) void r.value.then(this.onWake);
    else queueMicrotask(() => this.onWake(r.value));
  }

  private readonly onWake = (why: string): void => {
    this.armed = false;
    const released = Atomics.load(this.control, K_RELEASED);
    if (released !== this.seen) {
      // The flusher freed space; another thread's writes may have taken it again.
      if (this.tier.roomForDemotions()) this.resumeAll();
      else this.arm();
      return;
    }
    if (why !== 'timed-out') {
      this.arm();
      return;
    }
    this.stuck = true;
    this.stuckAt = released;
    this.row[F.extstore_wbuf_wait_timeouts]++;
    logOnce(this.control, LOG_WBUF_STUCK, this.log, { waitMs: this.tier.wbufWaitMs },
      'flash flusher made no progress: writes no longer wait for the write buffer, evictions are dropped until it does (counted in extstore_wbuf_wait_timeouts, extstore_wbuf_dropped)');
    this.resumeAll();
  };

  /** Every waiter goes on (in the order they came); one that must wait again queues a new wait. */
  private resumeAll(): void {
    const ready = this.waiters.splice(0);
    for (let i = 0; i < ready.length; i++) ready[i]();
  }
}
