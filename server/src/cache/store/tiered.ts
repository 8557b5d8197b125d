/**
 * The TieredStore (tier.ts): the RAM segment store with an optional lower tier behind it. It is the RAM
 * store itself, extended, not a wrapper: every RAM call the engine makes is SegmentStore's own method, and
 * a RAM hit pays one comparison for the lower tier (measured with bench/micro/engine.mjs). Movement between
 * the tiers happens here: eviction demotes a live item to the lower tier, and reads promote it back.
 */
import { NO_ITEM } from './types.js';
import type { ItemRef, Store, StoreHooks, StoreMemory } from './types.js';
import { SegmentStore } from './segmentstore.js';
import {
  ItemLocation, ON_FLASH, SWEEP_ITEMS_PER_LOCK, SWEEP_SLOTS_PER_LOCK, type LowerTier, type SweepCursor, type SweepDecision,
  type TierReadCallback, type TieredStore,
} from './tier.js';

/**
 * Admission filter for promotion: 64 Ki bits, cleared after 16 Ki marks (~1/4 of them set). A lower-tier
 * item comes back to RAM on its second read within that window, not its first. Promoting every flash hit
 * evicts another RAM item per hit (which goes back to flash): measured in bench/flash.mjs with uniform
 * reads over 32x the RAM tier, 393,415 items were rewritten to flash during 402,256 reads.
 */
const SEEN_BITS = 1 << 16;
const SEEN_WINDOW = 1 << 14;
/** A key's bytes at most (memcached's KEY_MAX_LENGTH 250, rounded up): one slot of the sweep's key chunk. */
const MAX_KEY_BYTES = 256;

export interface TieredStoreOptions {
  /** The tier below RAM; none for a RAM-only server. */
  lower?: LowerTier;
  /** The current rel time, for promotions when an asynchronous read completes (no caller gives one). */
  now: () => number;
}

export class TieredSegmentStore extends SegmentStore implements TieredStore {
  readonly tiered: boolean;
  private readonly lower: LowerTier | undefined;
  private readonly now: () => number;
  /** One bit per hash bucket, per thread (each thread has its own store object). */
  private readonly seen = new Uint8Array(SEEN_BITS / 8);
  private seenMarks = 0;
  /** For the promotion check when a read completes (lookup() fills it; the engine's is its own). */
  private readonly recheck = new ItemLocation();
  /** A sweep's chunk of RAM keys, copied under the lock and decided without it (sweepRam). */
  private readonly sweepKeys = new Uint8Array(SWEEP_ITEMS_PER_LOCK * MAX_KEY_BYTES);
  private readonly sweepRefs = new Int32Array(SWEEP_ITEMS_PER_LOCK);
  private readonly sweepHashes = new Uint32Array(SWEEP_ITEMS_PER_LOCK);
  private readonly sweepChosen = new Int32Array(SWEEP_ITEMS_PER_LOCK);
  private readonly sweepLengths = new Int32Array(SWEEP_ITEMS_PER_LOCK);

  constructor(memory: StoreMemory, options: TieredStoreOptions) {
    const lower = options.lower;
    // Demotion: the eviction hook hands the item (still linked, lock held) to the lower tier. `self` is
    // this store, known once super() returns; evictions only happen after that.
    const self: { store?: Store } = {};
    const hooks: StoreHooks = lower === undefined ? {} : {
      onEvict: (hash, ref, now) => {
        lower.demote(hash, ref, self.store!, now);
      },
    };
    super(memory, hooks);
    self.store = this;
    this.lower = lower;
    this.tiered = lower !== undefined;
    this.now = options.now;
  }

  lookup(hash: number, buf: Uint8Array, start: number, end: number, now: number, loc: ItemLocation): ItemRef {
    const ref = this.find(hash, buf, start, end, now);
    if (ref !== NO_ITEM || this.lower === undefined) return ref;
    return this.lower.lookup(hash, buf, start, end, now, loc) ? ON_FLASH : NO_ITEM;
  }

  findLive(hash: number, buf: Uint8Array, start: number, end: number, now: number): ItemRef {
    const loc = this.recheck;
    const ref = this.lookup(hash, buf, start, end, now, loc);
    return ref === ON_FLASH ? this.promote(hash, buf, start, end, loc, now) : ref;
  }

  promote(hash: number, buf: Uint8Array, start: number, end: number, loc: ItemLocation, now: number): ItemRef {
    const lower = this.lower!;
    const value = lower.readSync(loc, buf, start, end);
    // The item moves: its lower-tier copy goes whether or not the read worked (a failed read is a miss).
    lower.invalidate(hash, buf, start, end);
    if (value === null || value.length !== loc.valueLength) return NO_ITEM;
    return this.linkPromoted(hash, buf, start, end, loc, value, now);
  }

  readLocated(hash: number, buf: Uint8Array, start: number, end: number, loc: ItemLocation, promote: boolean,
    cb: TierReadCallback): void {
    const lower = this.lower!;
    if (!promote) {
      lower.read(loc, buf, start, end, cb);
      return;
    }
    const kept = new ItemLocation().copyFrom(loc);
    const key = Buffer.from(buf.subarray(start, end));
    lower.read(loc, key, 0, key.length, (value) => {
      // The reply first: a promotion may evict a whole RAM segment to the lower tier (hundreds of
      // items copied under the shard lock), and this hit's reply need not wait for that. `value` stays
      // valid until this callback returns.
      cb(value);
      if (value !== null && value.length === kept.valueLength && this.seenBefore(hash)) {
        this.promoteRead(hash, key, kept, value);
      }
    });
  }

  forget(hash: number, buf: Uint8Array, start: number, end: number): void {
    this.lower?.invalidate(hash, buf, start, end);
  }

  async sweep(cursor: SweepCursor, limit: number, now: number, drop: SweepDecision): Promise<void> {
    const shards = this.options.shards;
    let budget = limit;
    while (budget > 0 && !cursor.done) {
      const before = cursor.visited;
      let next: number;
      if (!cursor.lower) {
        next = this.sweepRam(cursor, Math.min(budget, SWEEP_ITEMS_PER_LOCK), now, drop);
      } else {
        next = await this.lower!.sweep(cursor.shard, cursor.position, Math.min(budget, SWEEP_ITEMS_PER_LOCK), now, drop, cursor);
      }
      // Slots examined cost time too: an empty stretch of the index counts as one item per lock hold.
      budget -= Math.max(1, cursor.visited - before);
      if (next >= 0) {
        cursor.position = next;
      } else if (!cursor.lower && this.lower !== undefined) {
        cursor.lower = true;
        cursor.position = 0;
      } else if (cursor.shard + 1 < shards) {
        cursor.shard++;
        cursor.lower = false;
        cursor.position = 0;
      } else {
        cursor.done = true;
      }
    }
  }

  /**
   * A shard's RAM items from cursor.position, up to `limit`: the next position, or -1 at its end. The keys
   * are copied out under the lock and decided without it (a ketama decision is an md5 per key, ~100x the
   * copy), so a serving thread waits at most for the copies of one chunk; the chosen ones are removed under
   * the lock again if the key still names the item copied.
   */
  private sweepRam(cursor: SweepCursor, limit: number, now: number, drop: SweepDecision): number {
    const keys = this.sweepKeys;
    const refs = this.sweepRefs;
    const hashes = this.sweepHashes;
    const lengths = this.sweepLengths;
    const shard = cursor.shard;
    let n = 0;
    let next: number;
    this.lock(shard);
    try {
      next = this.scanItems(shard, cursor.position, now, (hash, ref) => {
        if (n === limit) return false;
        const key = this.keyView(ref);
        keys.set(key, n * MAX_KEY_BYTES);
        refs[n] = ref;
        hashes[n] = hash;
        lengths[n] = key.length;
        n++;
        return true;
      }, SWEEP_SLOTS_PER_LOCK);
    } finally {
      this.unlock(shard);
    }
    cursor.visited += n;
    const picked = this.sweepChosen;
    let chosen = 0;
    for (let i = 0; i < n; i++) {
      const at = i * MAX_KEY_BYTES;
      if (drop(keys, at, at + lengths[i])) picked[chosen++] = i;
    }
    if (chosen === 0) return next;
    this.lock(shard);
    try {
      for (let j = 0; j < chosen; j++) {
        const i = picked[j];
        const at = i * MAX_KEY_BYTES;
        const end = at + lengths[i];
        // Still the item decided on (not deleted, rewritten or moved meanwhile): removed as a delete is.
        if (this.find(hashes[i], keys, at, end, now) !== refs[i]) continue;
        this.lower?.invalidate(hashes[i], keys, at, end);
        this.unlink(hashes[i], refs[i]);
        cursor.dropped++;
      }
    } finally {
      this.unlock(shard);
    }
    return next;
  }

  override flushAll(now: number): void {
    super.flushAll(now);
    this.lower?.flushAll(now);
  }

  override setOldestLive(oldestLive: number): void {
    super.setOldestLive(oldestLive);
    this.lower?.setOldestLive(oldestLive);
  }

  /**
   * A read of `key` completed: link its value into RAM unless RAM has the key by now, or the lower tier no
   * longer holds that very item (deleted or overwritten while the read was in flight, on any thread).
   */
  private promoteRead(hash: number, key: Buffer, loc: ItemLocation, value: Buffer): void {
    const now = this.now();
    this.lock(hash);
    try {
      if (this.find(hash, key, 0, key.length, now) === NO_ITEM &&
        this.lower!.lookup(hash, key, 0, key.length, now, this.recheck) && this.recheck.cas === loc.cas) {
        this.linkPromoted(hash, key, 0, key.length, loc, value, now);
      }
    } finally {
      this.unlock(hash);
    }
  }

  /** Links a lower-tier item's value into RAM with its flags, exptime and CAS. Lock held. */
  private linkPromoted(hash: number, buf: Uint8Array, start: number, end: number, loc: ItemLocation,
    value: Uint8Array, now: number): ItemRef {
    const fresh = this.alloc(hash, buf, start, end, loc.flags, loc.exptime, value.length, now);
    if (fresh === NO_ITEM) return NO_ITEM;
    if (value.length > 0) this.valueView(fresh).set(value);
    this.link(hash, fresh, now);
    this.setCas(fresh, loc.cas);
    this.lower!.countRecache();
    return fresh;
  }

  /** The admission filter: true when `hash` was marked within the window; marks it otherwise. */
  private seenBefore(hash: number): boolean {
    const bit = (hash ^ (hash >>> 16)) & (SEEN_BITS - 1);
    const seen = this.seen;
    const byte = bit >>> 3;
    const mask = 1 << (bit & 7);
    if ((seen[byte] & mask) !== 0) return true;
    seen[byte] |= mask;
    if (++this.seenMarks >= SEEN_WINDOW) {
      seen.fill(0);
      this.seenMarks = 0;
    }
    return false;
  }
}

/** Every serving thread's store: RAM, plus the lower tier when there is one. */
export function openTieredStore(memory: StoreMemory, options: TieredStoreOptions): TieredStore {
  return new TieredSegmentStore(memory, options);
}
