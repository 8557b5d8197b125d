/**
 * cachalot-server following the ring (--ring-file / --ring-configmap with --ring-member): once a ring
 * without `previous` is in force, every item whose key this member does not own under it (ring/ownership.ts)
 * is dropped, RAM and flash, in the background (docs/ring.md, "Servers").
 *
 * It runs on the main thread, which serves no connections: a sweep step never sits between a client's
 * request and its reply on a worker's event loop. It meets the serving threads only at the shard locks,
 * each held for one bounded chunk (store/tier.ts, SWEEP_ITEMS_PER_LOCK), and on the CPU, bounded by
 * -o ring_purge_rate. The workers need nothing of the ring but its version and this state for `stats`,
 * which are gauges in shared memory (metrics/counters.ts), so no ring is posted to them.
 *
 * A new document stops the sweep in progress; one without `previous` starts a new sweep from the first
 * shard, since ownership changed. One pass per version: a key stored later by a reader that has not seen
 * the ring yet stays until the next version (docs/ring.md, Limits).
 */
import type { Logger } from 'pino';
import { ownershipOf } from '../ring/ownership.js';
import type { RingSpec } from '../ring/document.js';
import type { RingListener } from '../ring/source.js';
import { SweepCursor, type SweepDecision, type TieredStore } from './store/store.js';
import { C, GAUGE_RING_STATE, GAUGE_RING_VERSION, RING_STATES, type Counters, type RingState } from './metrics/counters.js';

/**
 * The sweep's pace: one step per tick, rate × tick items per step (50 at the default rate: one lock hold),
 * then back to the event loop. Short steps spread the sweep's CPU thinly between the serving threads' turns
 * on a core instead of taking it in bursts (bench/purge.mjs).
 */
const TICK_MS = 2;
/** Passes over the store per ring version at most: each pass after the first catches items that moved tiers. */
const MAX_PASSES = 4;

export interface PurgeOptions {
  member: string;
  /** -o ring_purge_rate: items examined per second; 0 follows the ring without dropping anything. */
  ratePerSecond: number;
}

export class RingPurger implements RingListener {
  /** Bumped by every document (and stop()): a sweep loop of an older generation ends at its next step. */
  private generation = 0;
  /** The sweep the current document asks for (a fresh cursor per document), or null. */
  private pending: { cursor: SweepCursor; drop: SweepDecision } | null = null;
  private ready = false;
  private stopped = false;
  private version = -1;
  private notMemberLogged = false;

  constructor(private readonly store: TieredStore, private readonly counters: Counters, private readonly now: () => number,
    private readonly log: Logger, private readonly options: PurgeOptions) {
    Atomics.store(counters.gauges, GAUGE_RING_VERSION, -1);
    this.setState('waiting');
  }

  ring(spec: RingSpec, origin: string): void {
    if (this.stopped) return;
    const generation = ++this.generation;
    this.pending = null;
    this.version = spec.version;
    const own = ownershipOf(spec, this.options.member);
    const where = { version: spec.version, origin, member: this.options.member };
    if (own.kind !== 'not-member') this.notMemberLogged = false;
    switch (own.kind) {
      case 'transition':
        this.enter('transition');
        this.log.info(where, 'ring transition in progress (previous present): nothing is purged until it ends');
        return;
      case 'not-member':
        this.enter('not_member');
        if (!this.notMemberLogged) {
          this.notMemberLogged = true;
          this.log.warn(where, 'this server is not a member of the ring (--ring-member): serving normally, purging nothing');
        }
        return;
      case 'no-active':
        this.enter('no_active');
        this.log.warn(where, 'the ring has no active member: purging nothing');
        return;
      case 'owner':
        break;
    }
    if (this.options.ratePerSecond === 0) {
      this.enter('disabled');
      return;
    }
    if (own.ownsAll) {
      this.enter('done');
      return;
    }
    // A step in flight when the next document arrives finishes its chunk deciding nothing more.
    const drop: SweepDecision = own.ownsNone
      ? () => generation === this.generation
      : (key, start, end) => generation === this.generation && !own.owns(key, start, end);
    this.pending = { cursor: new SweepCursor(), drop };
    this.enter('purging');
    this.log.info({ ...where, draining: own.ownsNone }, 'purging the items this server does not own under the ring');
    if (this.ready) void this.sweep(generation, this.pending.cursor, drop);
  }

  invalid(err: Error, origin: string): void {
    this.log.warn({ origin, err: err.message }, 'ring document refused; the ring in force stays');
  }

  /** Sweeps may start: every tier is readable (the flash index is rebuilt). */
  start(): void {
    if (this.ready || this.stopped) return;
    this.ready = true;
    if (this.pending !== null) void this.sweep(this.generation, this.pending.cursor, this.pending.drop);
  }

  /** Shutdown: no further step (one in flight finishes its chunk). */
  stop(): void {
    this.stopped = true;
    this.generation++;
  }

  private async sweep(generation: number, cursor: SweepCursor, drop: SweepDecision): Promise<void> {
    const rate = this.options.ratePerSecond;
    const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
    const started = Date.now();
    let totalVisited = 0;
    let totalDropped = 0;
    try {
      for (let pass = 1; ; pass++) {
        while (generation === this.generation && !cursor.done) {
          const t0 = Date.now();
          const visited = cursor.visited;
          const dropped = cursor.dropped;
          await this.store.sweep(cursor, perTick, this.now(), drop);
          this.counters.row[C.ring_purged_items] += cursor.dropped - dropped;
          // Paced by what the step examined, so a step that found only empty slots costs one tick at most.
          const due = ((cursor.visited - visited) * 1000) / rate - (Date.now() - t0);
          await new Promise<void>((resolve) => setTimeout(resolve, Math.max(due, 0)));
        }
        totalVisited += cursor.visited;
        totalDropped += cursor.dropped;
        // An item promoted from flash to RAM (or demoted) behind the cursor during a pass is missed by
        // it: a pass that dropped anything is followed by another, until one drops nothing.
        if (generation !== this.generation || cursor.dropped === 0 || pass === MAX_PASSES) break;
        cursor.reset();
      }
    } catch (err) {
      if (generation === this.generation) this.setState('done');
      this.log.error({ err, version: this.version }, 'ring purge failed; the next ring version starts it again');
      return;
    }
    if (generation !== this.generation) return;
    this.setState('done');
    this.log.info({ version: this.version, visited: totalVisited, dropped: totalDropped, ms: Date.now() - started },
      'ring purge done');
  }

  /**
   * A new document's state, then its version: a worker answering `stats` between the two stores sees the
   * previous version with the new state, never the new version with the previous document's state (a
   * `done` left by the last sweep would read as this document's sweep being over before it began).
   */
  private enter(state: RingState): void {
    this.setState(state);
    // The gauge is an Int32: versions go up by one per change, far below 2^31.
    Atomics.store(this.counters.gauges, GAUGE_RING_VERSION, Math.min(this.version, 0x7fffffff));
  }

  private setState(state: RingState): void {
    Atomics.store(this.counters.gauges, GAUGE_RING_STATE, RING_STATES.indexOf(state));
  }
}
