/**
 * The flash tier's interface to the rest of the server. The protocol engine (engine/text.ts)
 * and the connection (cache/connection.ts) use only this; server/src/cache/flash/ implements it.
 *
 * Locking: every method that takes `hash` is called while the caller holds the RAM store's shard lock for
 * that hash (store.lock(hash)). The flash index is partitioned like the RAM index, so that one lock orders
 * RAM and flash updates of a key. The flusher thread takes the same lock (it lives in shared memory) when
 * it moves an index entry from the write buffer to a file.
 */

/** Where a flash item lives and what its header says; filled by lookup(). Reused, not allocated per call. */
export class FlashHit {
  /**
   * The CAS the item had in RAM. Recovery must start every shard's CAS counter above the largest CAS it
   * recovers, so a promoted or recovered item never shares a CAS with a new one.
   */
  flags = 0;
  exptime = 0; // rel time, 0 = never
  cas = 0;
  valueLength = 0;
  /** Opaque location for read(): file number and byte offset of the record, and its length on disk. */
  file = 0;
  offset = 0;
  recordLength = 0;

  copyFrom(other: FlashHit): this {
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

export type FlashReadCallback = (value: Buffer | null) => void;

export interface FlashTier {
  /**
   * Under the shard lock. True when the key has a live (not expired, not flushed) flash copy; fills `hit`.
   * Items still in the write buffer are reported too (read() then serves them from memory).
   */
  lookup(hash: number, key: Uint8Array, start: number, end: number, now: number, hit: FlashHit): boolean;

  /** Under the shard lock: the key was overwritten or deleted in RAM; forget its flash copy. No disk I/O. */
  invalidate(hash: number, key: Uint8Array, start: number, end: number): void;

  /**
   * With or without the shard lock (the flash tier takes none here). Reads the value of a lookup() result asynchronously and verifies the record's
   * checksum and key; calls back with the value bytes, or null when the record is gone, torn, corrupt or
   * unreadable (counted in metrics, logged once). Never calls back synchronously. The value is valid only
   * until the callback returns (its memory is reused for the next read): copy what you keep.
   */
  read(hit: FlashHit, key: Uint8Array, start: number, end: number, cb: FlashReadCallback): void;

  /**
   * Under the key's shard lock (the engine promotes under it). The same as read(), synchronously (fs.readSync). Used only by the commands that must
   * change a flash item in place of reading it (incr/decr, append/prepend, touch, ma, md I, mg with T/N/R):
   * they promote the item to RAM first. Gets never use it. Null on any failure, as read().
   */
  readSync(hit: FlashHit, key: Uint8Array, start: number, end: number): Buffer | null;

  /** flush_all without delay: every flash item becomes invisible (index cleared; files reclaimed later). */
  flushAll(now: number): void;
  /** flush_all with a delay: as Store.setOldestLive. */
  setOldestLive(oldestLive: number): void;

  /** Added by the flash tier: a flash item was brought back into RAM (memcached's recache_from_extstore). */
  countRecache?(): void;
}
