/**
 * The flash index: one entry per flash item, in shared memory, partitioned like the RAM index (layout.ts).
 * Every method that takes `hash` must be called with that hash's shard lock held (lockShard / the RAM
 * store's lock(hash): the same word).
 */
import { lockShard as lockStoreShard, unlockShard as unlockStoreShard } from '../store/lock.js';
import {
  E_FILE, E_TAG, E_TIME, E_EXPTIME, ENTRY_WORDS, IN_WBUF, K_MIN_FILE, K_OLDEST_LIVE, SLOTS_PER_BUCKET,
} from './layout.js';
import type { FlashGeometry, FlashMemory } from './memory.js';

export class FlashIndex {
  readonly e: Uint32Array;
  readonly control: Int32Array;
  private readonly locks: Int32Array;
  readonly shards: number;
  private readonly shardMask: number;
  private readonly shardBits: number;
  private readonly bucketMask: number;
  readonly slotsPerShard: number;
  private readonly altShift: number;

  constructor(memory: FlashMemory, g: FlashGeometry) {
    this.e = new Uint32Array(memory.buffers.index);
    this.control = new Int32Array(memory.buffers.control);
    this.locks = new Int32Array(memory.buffers.storeLocks);
    this.shards = memory.options.shards;
    this.shardMask = this.shards - 1;
    this.shardBits = g.shardBits;
    this.bucketMask = g.bucketsPerShard - 1;
    this.slotsPerShard = g.slotsPerShard;
    this.altShift = 32 - Math.round(Math.log2(g.bucketsPerShard));
  }

  lockShard(hash: number): void {
    lockStoreShard(this.locks, hash & this.shardMask);
  }

  unlockShard(hash: number): void {
    unlockStoreShard(this.locks, hash & this.shardMask);
  }

  private bucketBase(hash: number, bucket: number): number {
    return ((hash & this.shardMask) * this.slotsPerShard + bucket * SLOTS_PER_BUCKET) * ENTRY_WORDS;
  }

  /** As the RAM store's: Fibonacci hashing of the whole hash, so both buckets do not share their bits. */
  private altBucket(hash: number, first: number): number {
    const b = (Math.imul(hash, 0x9e3779b1) >>> this.altShift) & this.bucketMask;
    return b === first ? (first ^ 1) & this.bucketMask : b;
  }

  /** Word offset of the entry with this hash's tag, or -1. */
  find(hash: number): number {
    const tag = (hash | 1) >>> 0;
    const e = this.e;
    let bucket = (hash >>> this.shardBits) & this.bucketMask;
    for (let w = 0; w < 2; w++) {
      const base = this.bucketBase(hash, bucket);
      for (let i = base; i < base + SLOTS_PER_BUCKET * ENTRY_WORDS; i += ENTRY_WORDS) {
        if (e[i + E_TAG] === tag) return i;
      }
      if (w === 0) bucket = this.altBucket(hash, bucket);
    }
    return -1;
  }

  /**
   * Where to write an entry for this hash: its current entry, else an empty slot in the emptier bucket,
   * else the victim (an entry of the oldest file; write-buffer entries are the newest). `victim` tells
   * the caller that a live entry of another key is overwritten.
   */
  place(hash: number, out: { victim: boolean }): number {
    const tag = (hash | 1) >>> 0;
    const e = this.e;
    let bucket = (hash >>> this.shardBits) & this.bucketMask;
    let empty = -1;
    let emptyCount = 0;
    let victim = -1;
    let victimFile = 0;
    for (let w = 0; w < 2; w++) {
      const base = this.bucketBase(hash, bucket);
      let firstEmpty = -1;
      let empties = 0;
      for (let i = base; i < base + SLOTS_PER_BUCKET * ENTRY_WORDS; i += ENTRY_WORDS) {
        const t = e[i + E_TAG];
        if (t === tag) {
          out.victim = false;
          return i;
        }
        if (t === 0) {
          if (firstEmpty < 0) firstEmpty = i;
          empties++;
        } else {
          const f = e[i + E_FILE];
          if (victim < 0 || f < victimFile) {
            victim = i;
            victimFile = f;
          }
        }
      }
      if (empties > emptyCount) {
        empty = firstEmpty;
        emptyCount = empties;
      }
      if (w === 0) bucket = this.altBucket(hash, bucket);
    }
    if (empty >= 0) {
      out.victim = false;
      return empty;
    }
    // A victim in a reclaimed file is no loss at all.
    out.victim = victimFile >= Atomics.load(this.control, K_MIN_FILE);
    return victim;
  }

  /** True when the entry can no longer be served: its file was reclaimed, it expired or was flushed. */
  isDead(i: number, now: number): boolean {
    const e = this.e;
    const f = e[i + E_FILE];
    if (f !== IN_WBUF && f < Atomics.load(this.control, K_MIN_FILE)) return true;
    const exptime = e[i + E_EXPTIME];
    if (exptime !== 0 && exptime <= now) return true;
    const oldestLive = Atomics.load(this.control, K_OLDEST_LIVE);
    return oldestLive !== 0 && oldestLive <= now && e[i + E_TIME] <= oldestLive;
  }

  clear(i: number): void {
    this.e[i + E_TAG] = 0;
    this.e[i + E_FILE] = 0;
  }

  /** Word range [start, end) of a shard's region. */
  shardRange(shard: number): [number, number] {
    const start = shard * this.slotsPerShard * ENTRY_WORDS;
    return [start, start + this.slotsPerShard * ENTRY_WORDS];
  }
}
