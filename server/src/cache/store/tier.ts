/**
 * The tiered store: RAM (the Store of types.ts) with an optional lower tier (flash) behind it, as the
 * protocol engine sees it. The engine imports only this interface; store/tiered.ts implements it over any
 * LowerTier, and server/src/cache/flash/ implements LowerTier. RAM items are used exactly as before
 * (ItemRef and the Store calls); an item only the lower tier has is described by an ItemLocation and read
 * asynchronously. The store never writes wire bytes: a read completes with the value bytes or null.
 *
 * Locking is the Store's: every call that takes `hash` is made between lock(hash) and unlock(hash), except
 * readLocated(), which may be called with or without it. The lower tier's index is partitioned like the
 * RAM index and ordered by the same shard lock (store/lock.ts), so one lock orders both tiers.
 */
import type { ItemRef, Store } from './types.js';

/** lookup(): the key's item is on the lower tier; the ItemLocation passed in describes it. */
export const ON_FLASH: ItemRef = -1;

/**
 * Where a lower-tier item lives and what its header says. Filled in place by lookup(); the caller keeps
 * one and reuses it (no allocation per lookup).
 */
export class ItemLocation {
  flags = 0;
  exptime = 0; // rel time, 0 = never
  /**
   * The CAS the item had in RAM. Recovery starts every shard's CAS counter above the largest CAS it
   * recovers, so a promoted or recovered item never shares a CAS with a new one.
   */
  cas = 0;
  valueLength = 0;
  /** Opaque to everyone but the lower tier: file number and byte offset of the record, its length on disk. */
  file = 0;
  offset = 0;
  recordLength = 0;

  copyFrom(other: ItemLocation): this {
    this.flags = other.flags;
    this.exptime = other.exptime;
    this.cas = other.cas;
    this.valueLength = other.valueLength;
    this.file = other.file;
    this.offset = other.offset;
    this.recordLength = other.recordLength;
    return this;
  }
}

/**
 * Called once with the value bytes, or null when the record is gone, torn, corrupt or unreadable. Never
 * synchronously. The bytes are valid only until the callback returns (their memory is reused): copy them.
 */
export type TierReadCallback = (value: Buffer | null) => void;

/**
 * A sweep's question about each key it visits (key bytes in key[start, end), valid only during the call):
 * true removes the item from whichever tier holds it.
 */
export type SweepDecision = (key: Uint8Array, start: number, end: number) => boolean;

/**
 * Where a sweep over every item stands: each shard's RAM items, then its lower-tier items, shard by shard.
 * `position` is opaque to the caller (an index slot); `visited` and `dropped` count what sweep() did.
 * A new cursor (or reset()) starts at the first shard.
 */
export class SweepCursor {
  shard = 0;
  lower = false;
  position = 0;
  done = false;
  visited = 0;
  dropped = 0;

  reset(): this {
    this.shard = 0;
    this.lower = false;
    this.position = 0;
    this.done = false;
    this.visited = 0;
    this.dropped = 0;
    return this;
  }
}

/** At most this many items are decided during one hold of a shard lock by a sweep (either tier). */
export const SWEEP_ITEMS_PER_LOCK = 64;
/**
 * At most this many index slots are examined during one hold of a shard lock by a sweep, so that a nearly
 * empty shard of a large index is not scanned whole while the serving threads wait for its lock.
 */
export const SWEEP_SLOTS_PER_LOCK = 4096;

/** What LowerTier.sweep() did, added to by each call. */
export interface SweepCounts {
  visited: number;
  dropped: number;
}

/** The tier below RAM, as the tiered store drives it. */
export interface LowerTier {
  /**
   * Under the shard lock. True when the key has a live (not expired, not flushed) copy; fills `loc`.
   * Items still in the write buffer are reported too (read() then serves them from memory).
   */
  lookup(hash: number, key: Uint8Array, start: number, end: number, now: number, loc: ItemLocation): boolean;
  /** Under the shard lock: the key was overwritten or deleted in RAM; forget its copy. No disk I/O. */
  invalidate(hash: number, key: Uint8Array, start: number, end: number): void;
  /**
   * With or without the shard lock. Reads the value of a lookup() result asynchronously, checked; copies
   * what it needs from `loc` and the key before it returns (the caller reuses both).
   */
  read(loc: ItemLocation, key: Uint8Array, start: number, end: number, cb: TierReadCallback): void;
  /** Under the shard lock: read(), synchronously (a blocking file read). Null on any failure. */
  readSync(loc: ItemLocation, key: Uint8Array, start: number, end: number): Buffer | null;
  /**
   * Under the shard lock of `hash`, from the RAM store's eviction: copies the live item `ref` of `ram` down.
   * Never waits and takes no shard lock; false when it was not kept.
   */
  demote(hash: number, ref: ItemRef, ram: Store, now: number): boolean;
  /** flush_all without delay: every lower-tier item becomes invisible. */
  flushAll(now: number): void;
  /** flush_all with a delay: as Store.setOldestLive. */
  setOldestLive(oldestLive: number): void;
  /** An item was brought back into RAM (memcached's recache_from_extstore). */
  countRecache(): void;
  /**
   * Takes the shard lock itself, never across I/O. Visits up to `limit` live items of `shard` from index
   * position `position` (0 to start), removing those drop() returns true for (as invalidate() does). A key
   * whose record is in a file is read without the lock; its entry is removed afterwards only if it still
   * names the record read. Resolves to the position to continue from, or -1 when the shard is done.
   */
  sweep(shard: number, position: number, limit: number, now: number, drop: SweepDecision,
    counts: SweepCounts): Promise<number>;
}

/**
 * The Store, with both tiers behind it. find() and the item calls are about RAM; lookup() answers for both
 * tiers; flushAll() and setOldestLive() apply to both. Writes and deletes of a key call forget() so that a
 * lower-tier copy never outlives a newer RAM item or a delete.
 */
export interface TieredStore extends Store {
  /** False for a RAM-only store: lookup() never answers ON_FLASH. */
  readonly tiered: boolean;
  /**
   * The key's item: a RAM ItemRef (> 0), ON_FLASH with `loc` filled, or NO_ITEM. A RAM hit costs find()
   * and one comparison. Lock held.
   */
  lookup(hash: number, buf: Uint8Array, start: number, end: number, now: number, loc: ItemLocation): ItemRef;
  /**
   * find() that brings a lower-tier item back into RAM first, with its flags, exptime and CAS (a blocking
   * read), for the commands that change an item rather than read it. Lock held.
   */
  findLive(hash: number, buf: Uint8Array, start: number, end: number, now: number): ItemRef;
  /** promote the item lookup() located (ON_FLASH) now, as findLive() does. Lock held. */
  promote(hash: number, buf: Uint8Array, start: number, end: number, loc: ItemLocation, now: number): ItemRef;
  /**
   * Reads the value of the item lookup() located, asynchronously (lock held or not; `loc` and the key
   * bytes may be reused as soon as this returns). With `promote`, a second read of the key within a while
   * brings it back into RAM once cb has run (the reply does not wait for the promotion).
   */
  readLocated(hash: number, buf: Uint8Array, start: number, end: number, loc: ItemLocation, promote: boolean,
    cb: TierReadCallback): void;
  /** The key's lower-tier copy is stale (the key was overwritten or deleted in RAM). Lock held. */
  forget(hash: number, buf: Uint8Array, start: number, end: number): void;
  /**
   * Lock NOT held: takes each shard lock itself, for at most SWEEP_ITEMS_PER_LOCK items and
   * SWEEP_SLOTS_PER_LOCK index slots at a time. Visits about `limit` items from `cursor` on (RAM, then the
   * lower tier, shard by shard), removes those drop() returns true for, and advances the cursor (`done` at
   * the end). Items stored or moved between tiers while a sweep runs may be visited twice or not at all.
   * For background work on a thread that serves no connections; never called by the engine.
   */
  sweep(cursor: SweepCursor, limit: number, now: number, drop: SweepDecision): Promise<void>;
}
