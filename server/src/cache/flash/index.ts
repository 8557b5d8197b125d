/**
 * The flash index: one entry per flash item, in shared memory, partitioned like the RAM index (layout.ts).
 * Every method that takes `hash` must be called with that hash's shard lock held (lockShard / the RAM
 * store's lock(hash): the same word).
 */
import { lockShard as lockStoreShard, unlockShard as unlockStoreShard } from '../store/lock.js';
import {
  E_FILE, E_HASH, E_OFFSET, E_TAG, E_TIME, E_EXPTIME, ENTRY_WORDS, IN_WBUF, K_MIN_FILE, K_OLDEST_LIVE, SLOTS_PER_BUCKET,
} from './layout.js';
import type { FlashGeometry, FlashMemory } from './memory.js';

export class FlashIndex {
  /** The entries (ENTRY_WORDS words each), one contiguous region per shard, allocated densely. */
  readonly e: Uint32Array;
  /**
   * Per shard, bucketsPerShard x SLOTS_PER_BUCKET references, 0 = empty: the entry's slot in the shard + 1
   * in the low refBits bits, the top bits of its hash above them. A lookup dereferences only the entries
   * whose bits match: a miss (every set's invalidate(), every new demotion) reads its two buckets and
   * almost never an entry, which is a cache miss anywhere in an index of up to 832 MiB.
   */
  private readonly dir: Uint32Array;
  private readonly refBits: number;
  private readonly refMask: number;
  /** Per shard: [entries ever handed out (the high-water mark), first free entry + 1 (0: none)]. */
  private readonly heads: Uint32Array;
  readonly control: Int32Array;
  private readonly locks: Int32Array;
  readonly shards: number;
  private readonly shardMask: number;
  private readonly shardBits: number;
  private readonly bucketMask: number;
  readonly slotsPerShard: number;
  private readonly altShift: number;

  constructor(memory: FlashMemory, g: FlashGeometry) {
    const slots = g.slotsPerShard * memory.options.shards;
    this.e = new Uint32Array(memory.buffers.index, 0, slots * ENTRY_WORDS);
    this.dir = new Uint32Array(memory.buffers.index, slots * ENTRY_WORDS * 4, slots);
    this.heads = new Uint32Array(memory.buffers.index, slots * (ENTRY_WORDS + 1) * 4, memory.options.shards * 2);
    this.control = new Int32Array(memory.buffers.control);
    this.locks = new Int32Array(memory.buffers.storeLocks);
    this.shards = memory.options.shards;
    this.shardMask = this.shards - 1;
    this.shardBits = g.shardBits;
    this.bucketMask = g.bucketsPerShard - 1;
    this.slotsPerShard = g.slotsPerShard;
    this.altShift = 32 - Math.round(Math.log2(g.bucketsPerShard));
    // A reference goes up to slotsPerShard (a power of two): one bit more than a slot number.
    this.refBits = Math.round(Math.log2(g.slotsPerShard)) + 1;
    this.refMask = 2 ** this.refBits - 1;
  }

  /** The hash bits kept beside an entry's reference in `dir`. */
  private fragment(hash: number): number {
    return hash >>> this.refBits;
  }

  lockShard(hash: number): void {
    lockStoreShard(this.locks, hash & this.shardMask);
  }

  unlockShard(hash: number): void {
    unlockStoreShard(this.locks, hash & this.shardMask);
  }

  /** Index into `dir` of a bucket's first reference. */
  private bucketBase(hash: number, bucket: number): number {
    return (hash & this.shardMask) * this.slotsPerShard + bucket * SLOTS_PER_BUCKET;
  }

  /** Word offset in `e` of entry `ref - 1` of hash's shard. */
  private entryOf(hash: number, ref: number): number {
    return ((hash & this.shardMask) * this.slotsPerShard + ref - 1) * ENTRY_WORDS;
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
    const dir = this.dir;
    const frag = this.fragment(hash);
    const refBits = this.refBits;
    let bucket = (hash >>> this.shardBits) & this.bucketMask;
    for (let w = 0; w < 2; w++) {
      const base = this.bucketBase(hash, bucket);
      for (let d = base; d < base + SLOTS_PER_BUCKET; d++) {
        const word = dir[d];
        if (word !== 0 && word >>> refBits === frag) {
          const i = this.entryOf(hash, word & this.refMask);
          if (e[i + E_TAG] === tag) return i;
        }
      }
      if (w === 0) bucket = this.altBucket(hash, bucket);
    }
    return -1;
  }

  /**
   * Where to write an entry for this hash: its current entry, else a new entry referenced from an empty
   * slot of the emptier bucket, else the victim (an entry of the oldest file; write-buffer entries are the
   * newest). `victim` tells the caller that a live entry of another key is overwritten. The caller fills
   * every word of the entry, E_HASH and E_TAG included.
   */
  place(hash: number, out: { victim: boolean; found: boolean }): number {
    const tag = (hash | 1) >>> 0;
    const e = this.e;
    const dir = this.dir;
    const frag = this.fragment(hash);
    let bucket = (hash >>> this.shardBits) & this.bucketMask;
    let empty = -1;
    let emptyCount = 0;
    let victim = -1;
    let victimFile = 0;
    for (let w = 0; w < 2; w++) {
      const base = this.bucketBase(hash, bucket);
      let firstEmpty = -1;
      let empties = 0;
      for (let d = base; d < base + SLOTS_PER_BUCKET; d++) {
        const word = dir[d];
        if (word === 0) {
          if (firstEmpty < 0) firstEmpty = d;
          empties++;
          continue;
        }
        const i = this.entryOf(hash, word & this.refMask);
        if (word >>> this.refBits === frag && e[i + E_TAG] === tag) {
          out.victim = false;
          out.found = true;
          return i;
        }
        const f = e[i + E_FILE];
        if (victim < 0 || f < victimFile) {
          victim = i;
          victimFile = f;
        }
      }
      if (empties > emptyCount) {
        empty = firstEmpty;
        emptyCount = empties;
      }
      if (w === 0) bucket = this.altBucket(hash, bucket);
    }
    out.found = false;
    if (empty >= 0) {
      out.victim = false;
      const ref = this.allocEntry(hash);
      dir[empty] = (ref | (frag << this.refBits)) >>> 0;
      return this.entryOf(hash, ref);
    }
    // A victim in a reclaimed file is no loss at all. Its reference now names another hash: new bits.
    out.victim = victimFile >= Atomics.load(this.control, K_MIN_FILE);
    this.rebind(hash, victim);
    return victim;
  }

  /**
   * A free entry of hash's shard (its reference): a freed one first, else the next never used. Entries are
   * handed out densely from the start of the shard's region, so only the pages of entries ever live at
   * once are touched (resident), not the whole region. Never fails: the shard has as many entries as
   * bucket slots, and every live entry holds one slot.
   */
  private allocEntry(hash: number): number {
    const h = (hash & this.shardMask) * 2;
    const heads = this.heads;
    const free = heads[h + 1];
    if (free !== 0) {
      heads[h + 1] = this.e[this.entryOf(hash, free) + E_OFFSET];
      return free;
    }
    return ++heads[h];
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

  /** The index into `dir` of the reference to entry i (of `hash`'s shard), or -1. */
  private slotOf(hash: number, i: number): number {
    const ref = (i / ENTRY_WORDS) - (hash & this.shardMask) * this.slotsPerShard + 1;
    const dir = this.dir;
    let bucket = (hash >>> this.shardBits) & this.bucketMask;
    for (let w = 0; w < 2; w++) {
      const base = this.bucketBase(hash, bucket);
      for (let d = base; d < base + SLOTS_PER_BUCKET; d++) if ((dir[d] & this.refMask) === ref) return d;
      if (w === 0) bucket = this.altBucket(hash, bucket);
    }
    return -1;
  }

  /** place() gave victim entry i of another key to `hash` (same shard, shared bucket): retag its reference. */
  private rebind(hash: number, i: number): void {
    const d = this.slotOf(hash, i);
    if (d >= 0) this.dir[d] = ((this.dir[d] & this.refMask) | (this.fragment(hash) << this.refBits)) >>> 0;
  }

  /**
   * place() gave entry i to `hash` but nothing is to be written: a fresh entry is freed, another key's
   * entry (a victim) gets its reference's hash bits back.
   */
  unplace(hash: number, i: number): void {
    const e = this.e;
    if (e[i + E_TAG] !== 0) {
      this.rebind(e[i + E_HASH], i);
      return;
    }
    e[i + E_HASH] = hash;
    e[i + E_TAG] = (hash | 1) >>> 0;
    this.clear(i);
  }

  /** Removes entry i (its hash's shard lock held): its bucket reference goes, the entry is freed. */
  clear(i: number): void {
    const e = this.e;
    if (e[i + E_TAG] === 0) return;
    const hash = e[i + E_HASH];
    const ref = (i / ENTRY_WORDS) - (hash & this.shardMask) * this.slotsPerShard + 1;
    const d = this.slotOf(hash, i);
    if (d >= 0) this.dir[d] = 0;
    e[i + E_TAG] = 0;
    e[i + E_FILE] = 0;
    const h = (hash & this.shardMask) * 2;
    e[i + E_OFFSET] = this.heads[h + 1];
    this.heads[h + 1] = ref;
  }

  /** Entries of a shard ever handed out at once (its resident high-water mark). */
  highWater(shard: number): number {
    return this.heads[shard * 2];
  }

  /** Word range [start, end) of a shard's region of entries. */
  shardRange(shard: number): [number, number] {
    const start = shard * this.slotsPerShard * ENTRY_WORDS;
    return [start, start + this.slotsPerShard * ENTRY_WORDS];
  }
}
