/**
 * The one interface between the protocol layer and the item store (STYLE.md rule 2).
 *
 * The store knows items, memory, locks, expiry and eviction. It never formats wire bytes and knows nothing
 * of memcached commands: add/replace/cas/append/incr/meta semantics are composed from these primitives by
 * `server/src/cache/engine/` while it holds the key's shard lock, the way memcached's proto_text.c composes
 * item_get/item_alloc/store_item/item_unlink.
 *
 * Conventions
 * - A key is given as (buf, start, end): a slice of the connection's read buffer, never copied.
 * - `hash` is `store.hashKey(buf, start, end)`; it chooses the shard and the bucket. Every call that takes
 *   `hash` must be made between `lock(hash)` and `unlock(hash)` of that same hash, by the same thread.
 * - Time is memcached's "rel time": whole seconds since the server started (`now`). Every call that can
 *   see expiry takes `now`, so the store itself never reads a clock (tests drive time explicitly).
 * - An exptime of 0 means "never"; an item whose exptime is non-zero and <= now is expired and invisible.
 * - An item reference (`ItemRef`) is a positive integer, valid only while the shard lock is held.
 *   0 means "no item".
 */

export type ItemRef = number;
export const NO_ITEM: ItemRef = 0;

/** Bits kept in an item's header; set/read with setBits/itemBits. Values are part of the shared layout. */
export const ITEM_FETCHED = 1; // read at least once since it was stored (memcached ITEM_FETCHED; mg `h`)
export const ITEM_STALE = 2; // marked stale by md/ms with I (meta `X` flag)
export const ITEM_TOKEN_SENT = 4; // a win token (meta `W`) was handed out for it; later readers see `Z`
export const ITEM_KEY_BINARY = 8; // stored by a meta command with `b`: the key is echoed back in base64

export interface StoreOptions {
  /** `-m`: bytes of item memory (the segment pool). A hard bound: item bytes never exceed it. */
  memoryLimit: number;
  /** `-I`: the largest item (key + value + header) that must fit. */
  maxItemSize: number;
  /** A power of two; several per worker thread so that threads rarely meet on a lock. */
  shards: number;
  /**
   * Bytes of address space reserved for the pool, >= memoryLimit (default memoryLimit): the ceiling for
   * cache_memlimit. Pages of the reserve that are never used are never touched, so they cost no RSS.
   */
  memoryReserve?: number;
  /**
   * `-M`: a write that needs memory the pool does not have fails (alloc returns NO_ITEM) instead of evicting
   * a live item. Dead items (expired, flushed, replaced, deleted) are still reclaimed. With a lower tier,
   * eviction still demotes (the item stays readable), as memcached's extstore keeps writing cold items to
   * flash under -M.
   */
  noEvict?: boolean;
  /**
   * Bytes of `memoryLimit` that other structures take (with a flash tier: this store's index and the tier's
   * write buffer, read channels and index references; memory.ts `segmentBudget`): the segment pool gets the
   * rest, but never less than half of the limit. 0 or absent: the pool is the whole limit, as memcached's
   * -m is its slab memory.
   */
  memoryOverhead?: number;
}

/**
 * Everything a store is made of, as SharedArrayBuffers plus plain numbers: structured-clonable, so the
 * main thread creates it once and hands it to every worker in `workerData`.
 */
export interface StoreMemory {
  readonly options: StoreOptions;
  readonly buffers: Record<string, SharedArrayBuffer>;
}

export interface StoreStats {
  currItems: number; // curr_items
  totalItems: number; // total_items (successful links)
  bytes: number; // bytes: sum of the sizes of linked items in this store's layout (32-byte header, 8-aligned), which the memory limit bounds; memcached's ITEM_ntotal is 24-30 bytes more per item
  limitMaxbytes: number; // limit_maxbytes
  evictions: number; // evictions: live items dropped for space
  evictedUnfetched: number; // evicted_unfetched
  evictedActive: number; // items kept (re-inserted) at eviction because they were hot
  expiredUnfetched: number; // expired_unfetched
  reclaimed: number; // reclaimed: expired items whose space was reused/unlinked
  segmentsTotal: number;
  segmentsFree: number;
  /** Reader pins held by zero-copy replies in flight (pinValue). */
  segmentsPinned?: number;
  segmentSize: number;
  /** The last flush_all's oldest_live, rel seconds (`stats settings` oldest); 0 before any flush. */
  oldestLive?: number;
  /** Index slots (reported as hash_bytes / hash_power_level). */
  indexSlots?: number;
}

export interface Store {
  readonly options: StoreOptions;
  /** The largest value length that alloc() accepts for a key of length keyLen. */
  maxValueLength(keyLen: number): number;

  hashKey(buf: Uint8Array, start: number, end: number): number;
  lock(hash: number): void;
  unlock(hash: number): void;

  /** Live item for the key, or NO_ITEM. Expired or flushed items found on the way are unlinked (reclaimed). */
  find(hash: number, buf: Uint8Array, start: number, end: number, now: number): ItemRef;

  itemFlags(ref: ItemRef): number; // client flags, unsigned 32-bit
  itemExptime(ref: ItemRef): number; // rel time, 0 = never
  itemCas(ref: ItemRef): number; // unique per link, increasing across all shards; < 2^53
  itemTime(ref: ItemRef): number; // last access (rel time), set at link and by touchAccess
  itemBits(ref: ItemRef): number; // ITEM_* bits
  itemValueLength(ref: ItemRef): number;
  /** A view of the value bytes inside shared memory. Do not keep it past unlock(). */
  valueView(ref: ItemRef): Uint8Array;
  /**
   * Copies the value into dst at dstOffset. `dstView`, a DataView over exactly dst's bytes, lets a small
   * value be copied without making a view of shared memory.
   */
  copyValue(ref: ItemRef, dst: Uint8Array, dstOffset: number, dstView?: DataView): void;
  /** Fills the value of a freshly allocated item from src[start, start + itemValueLength(ref)). */
  writeValue(ref: ItemRef, src: Uint8Array, start: number): void;
  /**
   * Keeps the segment holding ref's bytes where it is (not evicted, compacted, stolen or dropped) until
   * unpinSegment(), so that a reply can be written to a socket straight from valueView(ref) after unlock().
   * Returns the segment to pass to unpinSegment(), or -1 when a quarter of the segments are pinned already
   * (the caller copies instead). Lock held.
   */
  pinValue(ref: ItemRef): number;
  /** Releases a pinValue() pin; any thread, no lock needed. */
  unpinSegment(segment: number): void;
  /** Whether a zero-copy reply may be reading ref's bytes (an in-place update must not change them). */
  valueShared(ref: ItemRef): boolean;

  setExptime(ref: ItemRef, exptime: number): void;
  setBits(ref: ItemRef, bits: number): void; // replaces all bits
  /** Records a read: sets ITEM_FETCHED, itemTime = now, and marks the item hot for eviction. */
  touchAccess(ref: ItemRef, now: number): void;

  /**
   * Reserves space for an item and writes its key, flags and exptime. The value (valueLength bytes) is
   * then written through valueView(ref). Returns NO_ITEM when the item can never fit (larger than the
   * segment size); evicts as needed otherwise. The new item is invisible until link().
   */
  alloc(hash: number, buf: Uint8Array, start: number, end: number, flags: number, exptime: number,
    valueLength: number, now: number): ItemRef;
  /** Makes ref the item for its key, replacing (unlinking) any previous one; assigns a fresh CAS. */
  link(hash: number, ref: ItemRef, now: number): void;
  /**
   * Gives a linked item a fresh CAS in place, for updates memcached makes without relinking (incr/decr
   * whose digits fit, md with I). The value bytes may be rewritten through valueView() before it.
   */
  renewCas(hash: number, ref: ItemRef): void;
  /**
   * Restores the CAS an item had before (an item promoted back from the flash tier keeps the CAS a client
   * may hold from a gets). Call right after link().
   */
  setCas(ref: ItemRef, cas: number): void;
  /** Makes every CAS issued from now on larger than `cas` (after recovering items from flash). */
  ensureCasAbove(cas: number): void;
  /** Removes the item from the index; its space is reclaimed with its segment. */
  unlink(hash: number, ref: ItemRef): void;

  /**
   * flush_all: every item whose itemTime is <= oldestLive becomes invisible once now >= oldestLive
   * (memcached's settings.oldest_live). Shared by all threads. 0 disables.
   */
  setOldestLive(oldestLive: number): void;

  /**
   * flush_all without a delay: every item linked before this call becomes invisible, items linked after
   * it (even in the same second) stay. memcached does this with settings.oldest_cas; a store may instead
   * drop every shard's items and return their segments to the free list. Takes each shard's lock itself.
   */
  flushAll(now: number): void;

  stats(): StoreStats;

  /**
   * cache_memlimit: changes how many bytes of segments may be in use, within memoryReserve. Lowering it
   * takes effect as segments are next needed (they are evicted instead of taken from the free list).
   * Returns false when bytes is below two segments or above the reserve.
   */
  setMemoryLimit(bytes: number): boolean;

  // ---- flash tier -----------------------------------------------------------------------------
  /** A view of the key bytes inside shared memory. Do not keep it past unlock(). */
  keyView(ref: ItemRef): Uint8Array;
  /**
   * Under the shard's lock (lock(shard) takes it, since shard & mask = shard): calls fn(hash, ref) for the
   * shard's live items from index position `cursor` on, until fn returns false. Returns the position to
   * resume at (that item again), or -1 when the shard is done. With `maxSlots`, stops after examining that
   * many index slots too. fn may unlink the item it is given. For ext_flush_on_shutdown and sweeps.
   */
  scanItems(shard: number, cursor: number, now: number, fn: (hash: number, ref: ItemRef) => boolean,
    maxSlots?: number): number;
}

/** Per-thread callbacks given to openStore(). */
export interface StoreHooks {
  /**
   * Called under the item's shard lock when a live item is evicted for space (segment eviction, not
   * re-inserted), before its index slot is dropped: the flash tier copies it out. Must not take a shard lock.
   */
  onEvict?: (hash: number, ref: ItemRef, now: number) => void;
}
