import { ITEM_FETCHED, NO_ITEM } from './types.js';
import type { ItemRef, Store, StoreHooks, StoreMemory, StoreOptions, StoreStats } from './types.js';
import { StoreError } from './errors.js';
import { HASH_SEED, murmur3 } from './hash.js';
import { lockShard, lockWord, tryLockShard, unlockShard, unlockWord } from './lock.js';
import {
  C_BYTES, C_CURR_ITEMS, C_EVICTED_ACTIVE, C_EVICTED_UNFETCHED, C_EVICTIONS, C_EXPIRED_UNFETCHED,
  C_FLUSH_CAS, C_RECLAIMED, C_TOTAL_ITEMS, G_FREE_COUNT, G_FREE_HEAD, G_FREE_LOCK, G_OLDEST_LIVE, G_OLDEST_REPORTED, G_SEQ,
  G_STEAL_CURSOR, allowedSegments, G_CAS_BYTE, G_READ_PINS, G_ALLOWED_SEGMENTS, G_RESERVE_SEGMENTS, G_LIMIT_MIB, G_FRESH_SEGMENT, H_BITS, H_CAS, H_EXPTIME, H_FLAGS, H_HASH, H_INTL, H_KLEN, H_TIME, H_VLEN, INTL_FREQ, INTL_HOT, INTL_LINKED,
  ITEM_HEADER, MAX_KEY_LENGTH, NO_SEGMENT, SEG_CREATE_TIME, SEG_LIVE_BYTES, SEG_LIVE_ITEMS, SEG_MAX_EXPTIME,
  SEG_NEVER, SEG_NEXT, SEG_OWNER, SEG_READERS, SEG_SEQ, SEG_STRIDE, SEG_TTL_CLASS, SEG_WRITE, SH_ACTIVE, SH_HEAD,
  SH_INDEX_BITS, SH_INDEX_SPLIT, SH_OWNED, SH_TAIL, SHARD_F64_STRIDE, INDEX_GROW_LOAD, SHARD_I32_STRIDE, SLOTS_PER_BUCKET, TTL_CLASSES,
  geometry, ttlClass,
} from './layout.js';

/**
 * Segments pinned per shard: the segments of the last refs that find()/alloc() handed out during the
 * current lock hold. Eviction skips them, so that an engine composing append/incr (find old, alloc new,
 * copy old into new) never sees the old item moved or overwritten by the alloc's own eviction.
 */
const PINS = 4;
/** A reserve() that cannot get a segment gives up after this many evictions (each frees >= half one). */
const RESERVE_ATTEMPTS = 4;
/** Passes over the other shards' locks (tryLock only) when a shard has nothing it may evict itself. */
/** How many of the oldest segments per TTL class evictionVictim() compares. */
const VICTIM_WINDOW = 64;
const STEAL_PASSES = 3;
/**
 * While untouched memory is left, a segment holding at most this share of live bytes is compacted and
 * reused instead (compactSparse).
 */
const SPARSE_LIVE = 0.25;
/** Expired segments dropped per segment allocation: bounds the latency one alloc can pay for cleanup. */
const EXPIRED_DROPS_PER_ALLOC = 8;
/**
 * Values shorter than this are copied byte by byte, longer ones through a subarray view and set().
 * Measured (Node 20, SAB source): a view + set() costs ~50 ns flat; a byte loop 20 ns at 8 B, 35 ns at 16 B,
 * 66 ns at 32 B, 200 ns at 100 B.
 */
const SMALL_COPY = 24;

/**
 * Values up to this length are copied out 4 bytes at a time through DataViews, when the caller has one over
 * its buffer: no view object per copy (a subarray of shared memory is a new typed array, ~2% of the
 * server's CPU on unpipelined 100-byte gets, plus the GC it feeds). Past it, set() copies faster.
 */
const WORD_COPY_MAX = 512;

/** dst[d, d + len) = src[from, from + len), by the SMALL_COPY rule. */
function copyBytes(dst: Uint8Array, d: number, src: Uint8Array, from: number, len: number): void {
  if (len < SMALL_COPY) {
    for (let i = 0; i < len; i++) dst[d + i] = src[from + i]!;
  } else {
    dst.set(src.subarray(from, from + len), d);
  }
}

/** copyBytes() through dv over dst and sv over src, for SMALL_COPY <= len <= WORD_COPY_MAX. */
function copyWords(dst: Uint8Array, dv: DataView, d: number, src: Uint8Array, sv: DataView, from: number, len: number): void {
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    dv.setInt32(d + i, sv.getInt32(from + i, true), true);
    dv.setInt32(d + i + 4, sv.getInt32(from + i + 4, true), true);
  }
  for (; i < len; i++) dst[d + i] = src[from + i]!;
}

/** Empty slots a key's first bucket needs to take the key without comparing with its second (link()). */
const FIRST_BUCKET_ROOM = 4;

/** Why an index entry is dropped, for the counters: deleted/replaced, evicted for space, dead (reclaimed). */
const REMOVED = 0;
const EVICTED = 1;
const RECLAIM = 2;

/**
 * The bucket of `x` in a shard's index of 2^bits buckets whose first `split` buckets have been split
 * (linear hashing, layout.ts SH_INDEX_SPLIT): the bits one past the table for a split bucket, else the
 * table's bits.
 */
function bucketOf(x: number, bits: number, split: number): number {
  const low = x & ((1 << bits) - 1);
  return low < split ? x & ((2 << bits) - 1) : low;
}

/** A key's first bucket: the hash bits above the shard bits. */
function firstBucket(hash: number, shardBits: number, bits: number, split: number): number {
  return bucketOf(hash >>> shardBits, bits, split);
}

/**
 * A key's second bucket: from a remix of the whole hash (murmur3's finalizer constants), so that it does not
 * depend only on the bits that chose the first. It may be the first bucket (then the key has one).
 */
function secondBucket(hash: number, bits: number, split: number): number {
  let h = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return bucketOf(h ^ (h >>> 16), bits, split);
}

function seqBefore(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export class SegmentStore implements Store {
  readonly options: StoreOptions;
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly index: Uint32Array;
  private readonly seg: Int32Array;
  private readonly sh: Int32Array;
  private readonly ctr: Float64Array;
  private readonly global: Int32Array;
  private readonly casWord: BigUint64Array;
  private readonly segmentSize: number;
  private readonly shardMask: number;
  private readonly shardBits: number;
  private readonly slotsPerShard: number;
  /** The most INDEX_BITS a shard's index grows to (its whole region). */
  private readonly maxBucketBits: number;
  private readonly shards: number;
  /** Thread-local: pinned segments per shard (see PINS). */
  private readonly pins: Int32Array;
  private readonly pinNext: Int32Array;
  // flash tier: this thread's eviction hook, called under the shard lock.
  private readonly onEvict: StoreHooks['onEvict'];
  /** `-M` without a lower tier: nothing live is ever dropped for space (StoreOptions.noEvict). */
  private readonly noEvict: boolean;

  constructor(memory: StoreMemory, hooks: StoreHooks = {}) {
    this.onEvict = hooks.onEvict;
    const { options, buffers } = memory;
    this.options = options;
    this.noEvict = options.noEvict === true && hooks.onEvict === undefined;
    const g = geometry(options.memoryLimit, options.maxItemSize, options.shards);
    for (const name of ['data', 'index', 'segments', 'shards', 'counters', 'global']) {
      if (!(buffers[name] instanceof SharedArrayBuffer)) {
        throw new StoreError('ERR_STORE_MEMORY', `store memory has no shared buffer "${name}"`);
      }
    }
    if (buffers.data.byteLength !== new Int32Array(buffers.global)[G_RESERVE_SEGMENTS] * g.segmentSize) {
      throw new StoreError('ERR_STORE_MEMORY', 'store memory does not match its options');
    }
    this.u8 = new Uint8Array(buffers.data);
    this.dv = new DataView(buffers.data);
    this.u32 = new Uint32Array(buffers.data);
    this.f64 = new Float64Array(buffers.data);
    this.index = new Uint32Array(buffers.index);
    this.seg = new Int32Array(buffers.segments);
    this.sh = new Int32Array(buffers.shards);
    this.ctr = new Float64Array(buffers.counters);
    this.global = new Int32Array(buffers.global);
    this.casWord = new BigUint64Array(buffers.global, G_CAS_BYTE, 1);
    this.segmentSize = g.segmentSize;
    this.shards = options.shards;
    this.shardMask = options.shards - 1;
    this.shardBits = g.shardBits;
    this.slotsPerShard = g.slotsPerShard;
    this.maxBucketBits = g.bucketBits;
    this.pins = new Int32Array(options.shards * PINS).fill(NO_SEGMENT);
    this.pinNext = new Int32Array(options.shards);
  }

  // ---- flash tier -----------------------------------------------------------------------------

  keyView(ref: ItemRef): Uint8Array {
    const off = (ref - 1) * 8 + ITEM_HEADER;
    return this.u8.subarray(off, off + this.u8[(ref - 1) * 8 + H_KLEN]);
  }

  scanItems(shard: number, cursor: number, now: number, fn: (hash: number, ref: ItemRef) => boolean,
    maxSlots = Infinity): number {
    const index = this.index;
    const base = shard * this.slotsPerShard;
    const sb = shard * SHARD_I32_STRIDE;
    const inUse = ((1 << this.sh[sb + SH_INDEX_BITS]) + this.sh[sb + SH_INDEX_SPLIT]) * SLOTS_PER_BUCKET;
    const stop = Math.min(inUse, cursor + maxSlots);
    for (let s = cursor; s < stop; s++) {
      const i = (base + s) * 2;
      if (index[i] === 0) continue;
      const loc = index[i + 1];
      if (this.isDead(shard, loc, now)) continue;
      if (!fn(this.u32[loc * 2 + H_HASH], loc + 1)) return s;
    }
    return stop < inUse ? stop : -1;
  }


  // ---------------------------------------------------------------------------------------------------------

  maxValueLength(keyLen: number): number {
    return this.options.maxItemSize - ITEM_HEADER - keyLen;
  }

  hashKey(buf: Uint8Array, start: number, end: number): number {
    return murmur3(buf, start, end, HASH_SEED);
  }

  lock(hash: number): void {
    const shard = hash & this.shardMask;
    lockShard(this.sh, shard);
    const p = shard * PINS;
    for (let i = 0; i < PINS; i++) this.pins[p + i] = NO_SEGMENT;
  }

  unlock(hash: number): void {
    unlockShard(this.sh, hash & this.shardMask);
  }

  // ---- items -------------------------------------------------------------------------------------------

  find(hash: number, buf: Uint8Array, start: number, end: number, now: number): ItemRef {
    const tag = (hash | 1) >>> 0;
    const shard = hash & this.shardMask;
    const region = shard * this.slotsPerShard;
    const index = this.index;
    const sb = shard * SHARD_I32_STRIDE;
    const bits = this.sh[sb + SH_INDEX_BITS];
    const split = this.sh[sb + SH_INDEX_SPLIT];
    let bucket = firstBucket(hash, this.shardBits, bits, split);
    for (let w = 0; w < 2; w++) {
      const base = (region + bucket * SLOTS_PER_BUCKET) * 2;
      for (let i = base; i < base + SLOTS_PER_BUCKET * 2; i += 2) {
        if (index[i] !== tag) continue;
        const loc = index[i + 1];
        if (!this.keyEquals(loc * 8, buf, start, end)) continue;
        if (this.isDead(shard, loc, now)) {
          this.dropSlot(shard, i, loc, RECLAIM);
          return NO_ITEM;
        }
        this.pin(shard, loc);
        return loc + 1;
      }
      if (w === 0) bucket = secondBucket(hash, bits, split);
    }
    return NO_ITEM;
  }

  itemFlags(ref: ItemRef): number {
    return this.u32[(ref - 1) * 2 + H_FLAGS];
  }

  itemExptime(ref: ItemRef): number {
    return this.u32[(ref - 1) * 2 + H_EXPTIME];
  }

  itemCas(ref: ItemRef): number {
    return this.f64[ref - 1 + H_CAS];
  }

  itemTime(ref: ItemRef): number {
    return this.u32[(ref - 1) * 2 + H_TIME];
  }

  itemBits(ref: ItemRef): number {
    return this.u8[(ref - 1) * 8 + H_BITS];
  }

  itemValueLength(ref: ItemRef): number {
    return this.u32[(ref - 1) * 2 + H_VLEN];
  }

  valueView(ref: ItemRef): Uint8Array {
    const off = (ref - 1) * 8;
    const start = off + ITEM_HEADER + this.u8[off + H_KLEN];
    return this.u8.subarray(start, start + this.u32[(ref - 1) * 2 + H_VLEN]);
  }

  copyValue(ref: ItemRef, dst: Uint8Array, dstOffset: number, dstView?: DataView): void {
    const off = (ref - 1) * 8;
    const start = off + ITEM_HEADER + this.u8[off + H_KLEN];
    const len = this.u32[(ref - 1) * 2 + H_VLEN]!;
    if (dstView !== undefined && len >= SMALL_COPY && len <= WORD_COPY_MAX) {
      copyWords(dst, dstView, dstOffset, this.u8, this.dv, start, len);
    } else copyBytes(dst, dstOffset, this.u8, start, len);
  }

  writeValue(ref: ItemRef, src: Uint8Array, start: number): void {
    const off = (ref - 1) * 8;
    const dst = off + ITEM_HEADER + this.u8[off + H_KLEN];
    copyBytes(this.u8, dst, src, start, this.u32[(ref - 1) * 2 + H_VLEN]!);
  }

  pinValue(ref: ItemRef): number {
    if (Atomics.load(this.global, G_READ_PINS) >= this.allowedSegments() >> 2) return NO_SEGMENT;
    const s = this.segmentOf(ref);
    Atomics.add(this.seg, s * SEG_STRIDE + SEG_READERS, 1);
    Atomics.add(this.global, G_READ_PINS, 1);
    return s;
  }

  unpinSegment(segment: number): void {
    Atomics.sub(this.seg, segment * SEG_STRIDE + SEG_READERS, 1);
    Atomics.sub(this.global, G_READ_PINS, 1);
  }

  valueShared(ref: ItemRef): boolean {
    return this.hasReaders(this.segmentOf(ref));
  }

  /** The segment holding an item. */
  private segmentOf(ref: ItemRef): number {
    return Math.floor(((ref - 1) * 8) / this.segmentSize);
  }

  private hasReaders(segment: number): boolean {
    return Atomics.load(this.seg, segment * SEG_STRIDE + SEG_READERS) !== 0;
  }

  setExptime(ref: ItemRef, exptime: number): void {
    this.u32[(ref - 1) * 2 + H_EXPTIME] = exptime;
    // A segment is dropped whole once its max exptime passes, so a touch that extends (or removes) an
    // item's expiry must raise the bound of the segment that holds it.
    const m = this.segmentOf(ref) * SEG_STRIDE + SEG_MAX_EXPTIME;
    if (exptime === 0 || exptime >= SEG_NEVER) this.seg[m] = SEG_NEVER;
    else if (exptime > this.seg[m]) this.seg[m] = exptime;
  }

  setBits(ref: ItemRef, bits: number): void {
    this.u8[(ref - 1) * 8 + H_BITS] = bits;
  }

  touchAccess(ref: ItemRef, now: number): void {
    // Each field is written only when it changes (ITEM_FETCHED once, the count until it saturates, the
    // access time once per second): most reads then leave the item's cache line clean, with no write-back
    // to memory for a read (memcached likewise sets ITEM_FETCHED once and bumps its LRU rarely).
    const off = (ref - 1) * 8;
    const u8 = this.u8;
    const bits = u8[off + H_BITS];
    if ((bits & ITEM_FETCHED) === 0) u8[off + H_BITS] = bits | ITEM_FETCHED;
    // A 2-bit saturating read count (INTL_FREQ): eviction keeps the most-read items first.
    const intl = u8[off + H_INTL];
    if ((intl & INTL_FREQ) !== INTL_FREQ) u8[off + H_INTL] = intl + INTL_HOT;
    const t = (ref - 1) * 2 + H_TIME;
    if (this.u32[t] !== now) this.u32[t] = now;
  }

  alloc(hash: number, buf: Uint8Array, start: number, end: number, flags: number, exptime: number,
    valueLength: number, now: number): ItemRef {
    const klen = end - start;
    if (klen <= 0 || klen > MAX_KEY_LENGTH || !(valueLength >= 0)) return NO_ITEM;
    const size = Math.ceil((ITEM_HEADER + klen + valueLength) / 8) * 8;
    if (size > this.segmentSize) return NO_ITEM;
    const shard = hash & this.shardMask;
    // -M: a full index is out of memory too; otherwise link() would displace a live entry.
    if (this.noEvict && !this.hasSlotFor(hash, buf, start, end, now)) return NO_ITEM;
    const off = this.reserve(shard, ttlClass(exptime, now), size, now);
    if (off < 0) return NO_ITEM;
    const w = off / 4;
    const u32 = this.u32;
    u32[w + H_EXPTIME] = exptime;
    u32[w + H_FLAGS] = flags;
    this.f64[off / 8 + H_CAS] = 0;
    u32[w + H_TIME] = now;
    u32[w + H_VLEN] = valueLength;
    u32[w + H_HASH] = hash;
    const u8 = this.u8;
    u8[off + H_KLEN] = klen;
    u8[off + H_BITS] = 0;
    u8[off + H_INTL] = 0;
    const k = off + ITEM_HEADER;
    copyBytes(u8, k, buf, start, klen);
    const s = Math.floor(off / this.segmentSize) * SEG_STRIDE;
    if (exptime === 0) this.seg[s + SEG_MAX_EXPTIME] = SEG_NEVER;
    else if (exptime > this.seg[s + SEG_MAX_EXPTIME]) this.seg[s + SEG_MAX_EXPTIME] = Math.min(exptime, SEG_NEVER);
    const loc = off / 8;
    this.pin(shard, loc);
    return loc + 1;
  }

  link(hash: number, ref: ItemRef, now: number): void {
    const loc = ref - 1;
    const off = loc * 8;
    const shard = hash & this.shardMask;
    const c = shard * SHARD_F64_STRIDE;
    const cas = this.nextCas();
    this.f64[loc + H_CAS] = cas;
    this.u32[loc * 2 + H_TIME] = now;
    if ((this.u8[off + H_INTL] & INTL_LINKED) !== 0) return;

    const tag = (hash | 1) >>> 0;
    const region = shard * this.slotsPerShard;
    const index = this.index;
    const klen = this.u8[off + H_KLEN];
    const sb = shard * SHARD_I32_STRIDE;
    if (this.sh[sb + SH_INDEX_BITS] < this.maxBucketBits && this.ctr[c + C_CURR_ITEMS] >=
      ((1 << this.sh[sb + SH_INDEX_BITS]) + this.sh[sb + SH_INDEX_SPLIT]) * SLOTS_PER_BUCKET * INDEX_GROW_LOAD) {
      this.splitBucket(shard);
    }
    const bits = this.sh[sb + SH_INDEX_BITS];
    const split = this.sh[sb + SH_INDEX_SPLIT];
    let bucket = firstBucket(hash, this.shardBits, bits, split);
    let empty = -1;
    let emptyCount = 0;
    for (let w = 0; w < 2; w++) {
      const base = (region + bucket * SLOTS_PER_BUCKET) * 2;
      let firstEmpty = -1;
      let empties = 0;
      for (let i = base; i < base + SLOTS_PER_BUCKET * 2; i += 2) {
        const t = index[i];
        if (t === 0) {
          if (firstEmpty < 0) firstEmpty = i;
          empties++;
        } else if (t === tag) {
          const other = index[i + 1];
          if (this.keyEquals(other * 8, this.u8, off + ITEM_HEADER, off + ITEM_HEADER + klen)) {
            this.dropSlot(shard, i, other, REMOVED);
            this.fillSlot(shard, i, tag, loc);
            return;
          }
        }
      }
      // Two-choice placement: the emptier of the key's two buckets, which keeps both far from full. While
      // the index still grows (never fuller than INDEX_GROW_LOAD) a first bucket at least half empty takes
      // the key, so that most hits are found in the first bucket (a lookup reads the second, another cache
      // line, only when the first does not hold the key); once it spans its region, a full index evicts
      // least with pure two-choice (measured at 92% full: 1,528 index evictions against 1,275).
      if (w === 0 && empties >= FIRST_BUCKET_ROOM && bits < this.maxBucketBits) {
        empty = firstEmpty;
        emptyCount = SLOTS_PER_BUCKET;
      } else if (empties > emptyCount) {
        empty = firstEmpty;
        emptyCount = empties;
      }
      if (w === 0) bucket = secondBucket(hash, bits, split);
    }
    // Both buckets full while the index may still grow: an unsplit bucket late in a round of splits holds
    // up to twice the average, so grow (a bucket at a time, bounded by one round) until one has room
    // rather than evict a live entry from an index far from full.
    if (empty < 0) empty = this.growForSlot(shard, hash);
    if (empty < 0) {
      const dead = this.noEvict ? this.deadSlot(hash, now) : -1;
      if (dead >= 0) {
        this.dropSlot(shard, dead, index[dead + 1], RECLAIM);
        empty = dead;
      } else {
        empty = this.indexVictim(hash);
        this.dropSlot(shard, empty, index[empty + 1], EVICTED);
      }
    }
    this.fillSlot(shard, empty, tag, loc);
  }

  /** One global counter (see G_CAS_BYTE); a BigInt per link is the price of an atomic 64-bit add. */
  private nextCas(): number {
    return Number(Atomics.add(this.casWord, 0, 1n)) + 1;
  }

  ensureCasAbove(cas: number): void {
    const want = BigInt(Math.floor(cas));
    for (let i = 0; i < 64; i++) {
      const cur = Atomics.load(this.casWord, 0);
      if (cur >= want || Atomics.compareExchange(this.casWord, 0, cur, want) === cur) return;
    }
  }

  setCas(ref: ItemRef, cas: number): void {
    this.f64[ref - 1 + H_CAS] = cas;
  }

  renewCas(_hash: number, ref: ItemRef): void {
    this.f64[ref - 1 + H_CAS] = this.nextCas();
  }

  unlink(hash: number, ref: ItemRef): void {
    const loc = ref - 1;
    if ((this.u8[loc * 8 + H_INTL] & INTL_LINKED) === 0) return;
    const i = this.slotOf(hash, loc);
    if (i >= 0) this.dropSlot(hash & this.shardMask, i, loc, REMOVED);
  }

  setOldestLive(oldestLive: number): void {
    Atomics.store(this.global, G_OLDEST_LIVE, oldestLive);
    Atomics.store(this.global, G_OLDEST_REPORTED, oldestLive);
  }

  /**
   * Records, per shard, the last CAS handed out: items at or below it are dead (memcached's oldest_cas).
   * O(shards), not O(items); the space comes back as segments are reused. Takes each shard's lock in turn,
   * never two at once, so the caller must hold none.
   */
  flushAll(now: number): void {
    // memcached sets oldest_live to current_time - 1 and kills by CAS (oldest_cas); only the stat needs it here.
    Atomics.store(this.global, G_OLDEST_REPORTED, Math.max(0, now - 1));
    for (let shard = 0; shard < this.shards; shard++) {
      lockShard(this.sh, shard);
      const c = shard * SHARD_F64_STRIDE;
      this.ctr[c + C_FLUSH_CAS] = Number(Atomics.load(this.casWord, 0));
      unlockShard(this.sh, shard);
    }
  }

  /**
   * Slots of the index the shards use now (read without their locks: a figure for stats). memcached's
   * hash_bytes and hash_power_level report its table as it has grown, not the most it may grow to.
   */
  private indexSlotsInUse(): number {
    let buckets = 0;
    for (let shard = 0; shard < this.shards; shard++) {
      const sb = shard * SHARD_I32_STRIDE;
      buckets += (1 << this.sh[sb + SH_INDEX_BITS]) + this.sh[sb + SH_INDEX_SPLIT];
    }
    return buckets * SLOTS_PER_BUCKET;
  }

  stats(): StoreStats {
    const s: StoreStats = {
      currItems: 0, totalItems: 0, bytes: 0, limitMaxbytes: this.limitBytes(), evictions: 0,
      evictedUnfetched: 0, evictedActive: 0, expiredUnfetched: 0, reclaimed: 0,
      segmentsTotal: this.allowedSegments(), segmentsFree: this.freeWithinLimit(),
      segmentsPinned: Atomics.load(this.global, G_READ_PINS),
      segmentSize: this.segmentSize, indexSlots: this.indexSlotsInUse(),
      oldestLive: Atomics.load(this.global, G_OLDEST_REPORTED),
    };
    const ctr = this.ctr;
    for (let shard = 0; shard < this.shards; shard++) {
      const c = shard * SHARD_F64_STRIDE;
      s.currItems += ctr[c + C_CURR_ITEMS];
      s.totalItems += ctr[c + C_TOTAL_ITEMS];
      s.bytes += ctr[c + C_BYTES];
      s.evictions += ctr[c + C_EVICTIONS];
      s.evictedUnfetched += ctr[c + C_EVICTED_UNFETCHED];
      s.evictedActive += ctr[c + C_EVICTED_ACTIVE];
      s.expiredUnfetched += ctr[c + C_EXPIRED_UNFETCHED];
      s.reclaimed += ctr[c + C_RECLAIMED];
    }
    return s;
  }

  // ---- index helpers -----------------------------------------------------------------------------------

  /**
   * Splits buckets until one of the key's two buckets has an empty slot (its slot), or the index uses its
   * whole region (-1). Each split is one bucket of the current round, so this ends within a round.
   */
  private growForSlot(shard: number, hash: number): number {
    const sb = shard * SHARD_I32_STRIDE;
    const region = shard * this.slotsPerShard;
    const index = this.index;
    while (this.sh[sb + SH_INDEX_BITS] < this.maxBucketBits) {
      this.splitBucket(shard);
      const bits = this.sh[sb + SH_INDEX_BITS];
      const split = this.sh[sb + SH_INDEX_SPLIT];
      let bucket = firstBucket(hash, this.shardBits, bits, split);
      for (let w = 0; w < 2; w++) {
        const base = (region + bucket * SLOTS_PER_BUCKET) * 2;
        for (let i = base; i < base + SLOTS_PER_BUCKET * 2; i += 2) if (index[i] === 0) return i;
        if (w === 0) bucket = secondBucket(hash, bits, split);
      }
    }
    return -1;
  }

  /**
   * Splits the shard's next bucket (linear hashing, layout.ts SH_INDEX_SPLIT): bucket `split` of 2^bits
   * becomes itself and bucket split + 2^bits, and each of its entries stays or moves there as its hash's
   * next bit says, under the shard's lock. Eight slots at most: the index grows one bucket per link, never
   * in one long rehash. The hash is the tag with bit 0 restored from the shard number (its low bits), so no
   * item is read; with a single shard bit 0 is not known and the item's header gives it.
   */
  private splitBucket(shard: number): void {
    const sb = shard * SHARD_I32_STRIDE;
    const bits = this.sh[sb + SH_INDEX_BITS];
    const split = this.sh[sb + SH_INDEX_SPLIT];
    const size = 1 << bits;
    const nextBits = split + 1 === size ? bits + 1 : bits;
    const nextSplit = split + 1 === size ? 0 : split + 1;
    const index = this.index;
    const region = shard * this.slotsPerShard;
    const from = (region + split * SLOTS_PER_BUCKET) * 2;
    let to = (region + (split + size) * SLOTS_PER_BUCKET) * 2;
    const low = shard & 1;
    for (let i = from; i < from + SLOTS_PER_BUCKET * 2; i += 2) {
      const tag = index[i];
      if (tag === 0) continue;
      const loc = index[i + 1];
      const hash = this.shardBits > 0 ? ((tag & ~1) | low) >>> 0 : this.u32[loc * 2 + H_HASH];
      // The entry is here as its key's first or second bucket; that one is now `split` or split + size.
      const first = firstBucket(hash, this.shardBits, nextBits, nextSplit);
      const now = first === split || first === split + size ? first : secondBucket(hash, nextBits, nextSplit);
      if (now === split) continue;
      index[to] = tag;
      index[to + 1] = loc;
      to += 2;
      index[i] = 0;
      index[i + 1] = 0;
    }
    this.sh[sb + SH_INDEX_BITS] = nextBits;
    this.sh[sb + SH_INDEX_SPLIT] = nextSplit;
  }

  /**
   * Both buckets of a key are full: the index, not the segment pool, is what is short. The victim is the
   * entry in the oldest segment, preferring one not read since it was written.
   */
  private indexVictim(hash: number): number {
    const shard = hash & this.shardMask;
    const region = shard * this.slotsPerShard;
    const sb = shard * SHARD_I32_STRIDE;
    const bits = this.sh[sb + SH_INDEX_BITS];
    const split = this.sh[sb + SH_INDEX_SPLIT];
    let bucket = firstBucket(hash, this.shardBits, bits, split);
    let victim = -1;
    let victimRank = 0;
    for (let w = 0; w < 2; w++) {
      const base = (region + bucket * SLOTS_PER_BUCKET) * 2;
      for (let i = base; i < base + SLOTS_PER_BUCKET * 2; i += 2) {
        const rank = this.victimRank(this.index[i + 1]);
        if (victim < 0 || rank < victimRank) {
          victim = i;
          victimRank = rank;
        }
      }
      bucket = secondBucket(hash, bits, split);
    }
    return victim;
  }

  /**
   * -M: whether linking the key can do without displacing a live entry: one of its two buckets has an
   * empty or dead slot, or already holds the key (the new item replaces it).
   */
  private hasSlotFor(hash: number, buf: Uint8Array, start: number, end: number, now: number): boolean {
    const tag = (hash | 1) >>> 0;
    const shard = hash & this.shardMask;
    const region = shard * this.slotsPerShard;
    const index = this.index;
    const sb = shard * SHARD_I32_STRIDE;
    const bits = this.sh[sb + SH_INDEX_BITS];
    const split = this.sh[sb + SH_INDEX_SPLIT];
    // An index that may still grow makes room (link(): growForSlot).
    if (bits < this.maxBucketBits) return true;
    let bucket = firstBucket(hash, this.shardBits, bits, split);
    for (let w = 0; w < 2; w++) {
      const base = (region + bucket * SLOTS_PER_BUCKET) * 2;
      for (let i = base; i < base + SLOTS_PER_BUCKET * 2; i += 2) {
        const t = index[i];
        if (t === 0) return true;
        const loc = index[i + 1];
        if (t === tag && this.keyEquals(loc * 8, buf, start, end)) return true;
        if (this.isDead(shard, loc, now)) return true;
      }
      bucket = secondBucket(hash, bits, split);
    }
    return false;
  }

  /** -M: a slot of the key's buckets whose item is dead, or -1. */
  private deadSlot(hash: number, now: number): number {
    const shard = hash & this.shardMask;
    const region = shard * this.slotsPerShard;
    const sb = shard * SHARD_I32_STRIDE;
    const bits = this.sh[sb + SH_INDEX_BITS];
    const split = this.sh[sb + SH_INDEX_SPLIT];
    let bucket = firstBucket(hash, this.shardBits, bits, split);
    for (let w = 0; w < 2; w++) {
      const base = (region + bucket * SLOTS_PER_BUCKET) * 2;
      for (let i = base; i < base + SLOTS_PER_BUCKET * 2; i += 2) {
        if (this.index[i] !== 0 && this.isDead(shard, this.index[i + 1], now)) return i;
      }
      bucket = secondBucket(hash, bits, split);
    }
    return -1;
  }

  /** Lower = evicted first when a key's buckets are full: cold before hot, then oldest segment first. */
  private victimRank(loc: number): number {
    const off = loc * 8;
    const sq = this.seg[Math.floor(off / this.segmentSize) * SEG_STRIDE + SEG_SEQ];
    const age = (sq - this.global[G_SEQ]) | 0;
    return (this.u8[off + H_INTL] & INTL_FREQ) !== 0 ? age + 0x40000000 : age;
  }

  private keyEquals(off: number, buf: Uint8Array, start: number, end: number): boolean {
    const u8 = this.u8;
    const klen = end - start;
    if (u8[off + H_KLEN] !== klen) return false;
    const k = off + ITEM_HEADER;
    for (let i = 0; i < klen; i++) if (u8[k + i] !== buf[start + i]) return false;
    return true;
  }

  private isDead(shard: number, loc: number, now: number): boolean {
    const exptime = this.u32[loc * 2 + H_EXPTIME];
    if (exptime !== 0 && exptime <= now) return true;
    if (this.f64[loc + H_CAS] <= this.ctr[shard * SHARD_F64_STRIDE + C_FLUSH_CAS]) return true;
    const oldestLive = this.global[G_OLDEST_LIVE];
    return oldestLive !== 0 && oldestLive <= now && this.u32[loc * 2 + H_TIME] <= oldestLive;
  }

  /** The index slot (Uint32 offset of its tag) that points at loc, or -1. */
  private slotOf(hash: number, loc: number): number {
    const tag = (hash | 1) >>> 0;
    const shard = hash & this.shardMask;
    const region = shard * this.slotsPerShard;
    const index = this.index;
    const sb = shard * SHARD_I32_STRIDE;
    const bits = this.sh[sb + SH_INDEX_BITS];
    const split = this.sh[sb + SH_INDEX_SPLIT];
    let bucket = firstBucket(hash, this.shardBits, bits, split);
    for (let w = 0; w < 2; w++) {
      const base = (region + bucket * SLOTS_PER_BUCKET) * 2;
      for (let i = base; i < base + SLOTS_PER_BUCKET * 2; i += 2) {
        if (index[i] === tag && index[i + 1] === loc) return i;
      }
      bucket = secondBucket(hash, bits, split);
    }
    return -1;
  }

  private itemSize(off: number): number {
    return Math.ceil((ITEM_HEADER + this.u8[off + H_KLEN] + this.u32[off / 4 + H_VLEN]) / 8) * 8;
  }

  private fillSlot(shard: number, i: number, tag: number, loc: number): void {
    this.index[i] = tag;
    this.index[i + 1] = loc;
    const off = loc * 8;
    this.u8[off + H_INTL] |= INTL_LINKED;
    const size = this.itemSize(off);
    const s = Math.floor(off / this.segmentSize) * SEG_STRIDE;
    this.seg[s + SEG_LIVE_BYTES] += size;
    this.seg[s + SEG_LIVE_ITEMS] += 1;
    const c = shard * SHARD_F64_STRIDE;
    this.ctr[c + C_CURR_ITEMS] += 1;
    this.ctr[c + C_TOTAL_ITEMS] += 1;
    this.ctr[c + C_BYTES] += size;
  }

  /** Empties slot i, which points at loc, and counts why. */
  private dropSlot(shard: number, i: number, loc: number, why: number): void {
    this.index[i] = 0;
    this.index[i + 1] = 0;
    this.forgetEntry(shard, loc, why);
  }

  /** The item at loc no longer has an index entry: unlinked, its space and the shard's counts adjusted. */
  private forgetEntry(shard: number, loc: number, why: number): void {
    const off = loc * 8;
    this.u8[off + H_INTL] &= ~INTL_LINKED;
    const size = this.itemSize(off);
    const s = Math.floor(off / this.segmentSize) * SEG_STRIDE;
    this.seg[s + SEG_LIVE_BYTES] -= size;
    this.seg[s + SEG_LIVE_ITEMS] -= 1;
    const c = shard * SHARD_F64_STRIDE;
    this.ctr[c + C_CURR_ITEMS] -= 1;
    this.ctr[c + C_BYTES] -= size;
    this.countLoss(c, off, why);
  }

  private countLoss(c: number, off: number, why: number): void {
    const fetched = (this.u8[off + H_BITS] & ITEM_FETCHED) !== 0;
    if (why === EVICTED) {
      this.ctr[c + C_EVICTIONS] += 1;
      if (!fetched) this.ctr[c + C_EVICTED_UNFETCHED] += 1;
    } else if (why === RECLAIM) {
      this.ctr[c + C_RECLAIMED] += 1;
      if (!fetched) {
        const exptime = this.u32[off / 4 + H_EXPTIME];
        if (exptime !== 0) this.ctr[c + C_EXPIRED_UNFETCHED] += 1;
      }
    }
  }

  private pin(shard: number, loc: number): void {
    const p = shard * PINS;
    const n = this.pinNext[shard];
    this.pins[p + n] = this.segmentOf(loc + 1);
    this.pinNext[shard] = (n + 1) % PINS;
  }

  private isPinned(shard: number, segment: number): boolean {
    const p = shard * PINS;
    for (let i = 0; i < PINS; i++) if (this.pins[p + i] === segment) return true;
    return false;
  }

  // ---- segments ----------------------------------------------------------------------------------------

  /** Byte offset of size bytes reserved in shard's active segment of class cls, or -1. */
  private reserve(shard: number, cls: number, size: number, now: number): number {
    const a = shard * SHARD_I32_STRIDE + SH_ACTIVE + cls;
    for (let attempt = 0; attempt <= RESERVE_ATTEMPTS; attempt++) {
      const active = this.sh[a];
      if (active !== NO_SEGMENT) {
        const m = active * SEG_STRIDE;
        const w = this.seg[m + SEG_WRITE];
        if (w + size <= this.segmentSize) {
          this.seg[m + SEG_WRITE] = w + size;
          return active * this.segmentSize + w;
        }
      }
      if (!this.newSegment(shard, cls, size, now, attempt === RESERVE_ATTEMPTS - 1)) return -1;
    }
    return -1;
  }

  /**
   * Makes a segment with room for `size` the active segment of (shard, cls), or something closer to it:
   * true when progress was made (the caller retries), false when no segment can be had.
   */
  private newSegment(shard: number, cls: number, size: number, now: number, lastChance: boolean): boolean {
    if (this.noEvict) return this.newSegmentNoEvict(shard, cls, size, now);
    this.dropExpired(shard, now);
    if (this.nextFreeUntouched() && this.compactSparse(shard, cls, size, now)) return true;
    let s = this.popFree();
    if (s === NO_SEGMENT && this.sh[shard * SHARD_I32_STRIDE + SH_OWNED] < Math.floor(this.allowedSegments() / this.shards)) {
      s = this.steal(shard, now, false);
    }
    if (s !== NO_SEGMENT) {
      this.adopt(shard, s, cls, now);
      return true;
    }
    const victim = this.evictionVictim(shard);
    if (victim === NO_SEGMENT) {
      // Another thread may hold the lock of every shard worth stealing from: a few passes, then give up.
      for (let pass = 0; pass < STEAL_PASSES && s === NO_SEGMENT; pass++) s = this.steal(shard, now, true);
      if (s === NO_SEGMENT) s = this.popFree();
      if (s === NO_SEGMENT) return false;
      this.adopt(shard, s, cls, now);
      return true;
    }
    if (this.global[G_RESERVE_SEGMENTS] - Atomics.load(this.global, G_FREE_COUNT) > this.allowedSegments()) {
      // cache_memlimit lowered the limit below what is in use: give this segment back to the pool, then
      // look again (each step frees one segment, so the pool converges to the limit as writes come in).
      this.detach(shard, victim);
      this.compact(shard, victim, 0, now);
      this.release(shard, victim);
      return this.newSegment(shard, cls, size, now, lastChance);
    }
    const vcls = this.seg[victim * SEG_STRIDE + SEG_TTL_CLASS];
    const half = Math.floor(this.segmentSize / 16) * 8;
    const keep = lastChance ? 0 : vcls === cls ? Math.min(half, this.segmentSize - size) : half;
    this.detach(shard, victim);
    const kept = this.compact(shard, victim, keep, now);
    if (kept === 0) {
      this.retag(victim, cls, now);
      this.append(shard, victim, cls);
      this.sh[shard * SHARD_I32_STRIDE + SH_ACTIVE + cls] = victim;
    } else {
      // The segment keeps the hot items it re-appended to itself and becomes the youngest of its class.
      this.retag(victim, vcls, now);
      this.append(shard, victim, vcls);
      const a = shard * SHARD_I32_STRIDE + SH_ACTIVE + vcls;
      const cur = this.sh[a];
      if (cur === NO_SEGMENT || this.seg[cur * SEG_STRIDE + SEG_WRITE] > kept) this.sh[a] = victim;
    }
    return true;
  }

  /**
   * Whether the next free segment is one no write has touched yet (past G_FRESH_SEGMENT): its pages are
   * not resident, and the first write to each 4 KiB page faults (~2 µs a page, store/pretouch.ts).
   */
  private nextFreeUntouched(): boolean {
    const head = Atomics.load(this.global, G_FREE_HEAD);
    return head !== NO_SEGMENT && head >= Atomics.load(this.global, G_FRESH_SEGMENT) && this.freeWithinLimit() > 0;
  }

  /**
   * Instead of untouched memory: a segment of this shard that is mostly garbage (overwritten or deleted
   * items), compacted in place keeping every live item, as under -M; it becomes the active segment of
   * `cls` with room for `size`. memcached's slab allocator reuses a freed chunk the same way before it
   * takes a new page. Copying the live quarter of a 1 MiB segment costs tens of µs; faulting in a fresh
   * one ~0.5 ms of CPU (256 pages): measured with 1:10 sets of 100 B..100 KiB over 10,000 keys at -m 1024,
   * the server took ~25k page faults a second while filling, memcached none. False: no such segment.
   */
  private compactSparse(shard: number, cls: number, size: number, now: number): boolean {
    const victim = this.roomyVictim(shard, cls, size);
    if (victim === NO_SEGMENT || this.seg[victim * SEG_STRIDE + SEG_LIVE_BYTES] > this.segmentSize * SPARSE_LIVE) {
      return false;
    }
    const vcls = this.seg[victim * SEG_STRIDE + SEG_TTL_CLASS];
    this.detach(shard, victim);
    const kept = this.compact(shard, victim, this.segmentSize, now, true);
    // roomyVictim's segment has room for `size` once compacted when it is of class cls; of another class
    // it held no live item.
    this.retag(victim, kept === 0 ? cls : vcls, now);
    this.append(shard, victim, kept === 0 ? cls : vcls);
    this.sh[shard * SHARD_I32_STRIDE + SH_ACTIVE + (kept === 0 ? cls : vcls)] = victim;
    return true;
  }

  /**
   * newSegment() under -M: a free segment; else one of this shard's segments compacted in place, keeping
   * every live item, when its dead bytes make room for `size` (the same TTL class first, then an empty
   * one of any class); else an emptied segment of another shard. False: out of memory.
   */
  private newSegmentNoEvict(shard: number, cls: number, size: number, now: number): boolean {
    this.dropExpired(shard, now);
    let s = this.popFree();
    if (s !== NO_SEGMENT) {
      this.adopt(shard, s, cls, now);
      return true;
    }
    const victim = this.roomyVictim(shard, cls, size);
    if (victim === NO_SEGMENT) {
      s = this.stealEmpty(shard, now);
      if (s === NO_SEGMENT) return false;
      this.adopt(shard, s, cls, now);
      return true;
    }
    const vcls = this.seg[victim * SEG_STRIDE + SEG_TTL_CLASS];
    this.detach(shard, victim);
    const kept = this.compact(shard, victim, this.segmentSize, now, true);
    if (kept === 0) {
      this.retag(victim, cls, now);
      this.append(shard, victim, cls);
      this.sh[shard * SHARD_I32_STRIDE + SH_ACTIVE + cls] = victim;
      return true;
    }
    // Compacted, its live items kept: it becomes the youngest segment of its own class, and its active one
    // when it is the write at hand's class or has more room than the active one.
    this.retag(victim, vcls, now);
    this.append(shard, victim, vcls);
    const a = shard * SHARD_I32_STRIDE + SH_ACTIVE + vcls;
    const cur = this.sh[a];
    if (vcls === cls || cur === NO_SEGMENT || this.seg[cur * SEG_STRIDE + SEG_WRITE] > kept) this.sh[a] = victim;
    return vcls === cls && this.segmentSize - kept >= size;
  }

  /**
   * -M: the segment of a shard whose compaction frees room for `size`: of class cls, the one with the
   * fewest live bytes among those with dead bytes and room; else one of any class with no live bytes.
   */
  private roomyVictim(shard: number, cls: number, size: number): number {
    const base = shard * SHARD_I32_STRIDE;
    let best = NO_SEGMENT;
    let bestLive = 0;
    for (let c = 0; c < TTL_CLASSES; c++) {
      let s = this.sh[base + SH_HEAD + c];
      for (let seen = 0; s !== NO_SEGMENT && seen < VICTIM_WINDOW; s = this.seg[s * SEG_STRIDE + SEG_NEXT]) {
        if (this.isPinned(shard, s) || this.hasReaders(s)) continue;
        seen++;
        const m = s * SEG_STRIDE;
        const live = this.seg[m + SEG_LIVE_BYTES];
        if (this.seg[m + SEG_WRITE] === live) continue; // nothing to reclaim
        if (live === 0) return s;
        if (c === cls && this.segmentSize - live >= size && (best === NO_SEGMENT || live < bestLive)) {
          best = s;
          bestLive = live;
        }
      }
    }
    return best;
  }

  /** -M: a segment of another shard that holds no live item, emptied, or NO_SEGMENT. tryLock only. */
  private stealEmpty(shard: number, now: number): number {
    const start = Atomics.add(this.global, G_STEAL_CURSOR, 1);
    for (let k = 0; k < this.shards; k++) {
      const other = (start + k) & this.shardMask;
      if (other === shard || !tryLockShard(this.sh, other)) continue;
      let found = NO_SEGMENT;
      const base = other * SHARD_I32_STRIDE;
      for (let c = 0; c < TTL_CLASSES && found === NO_SEGMENT; c++) {
        for (let s = this.sh[base + SH_HEAD + c]; s !== NO_SEGMENT; s = this.seg[s * SEG_STRIDE + SEG_NEXT]) {
          const m = s * SEG_STRIDE;
          if (this.seg[m + SEG_LIVE_BYTES] === 0 && this.seg[m + SEG_WRITE] > 0 && !this.hasReaders(s)
            && !this.isPinned(other, s)) {
            found = s;
            break;
          }
        }
      }
      if (found !== NO_SEGMENT) {
        this.detach(other, found);
        this.compact(other, found, 0, now);
        this.sh[base + SH_OWNED] -= 1;
      }
      unlockShard(this.sh, other);
      if (found !== NO_SEGMENT) return found;
    }
    return NO_SEGMENT;
  }

  /** Drops the expired segments at the head of each TTL class chain of a shard. */
  private dropExpired(shard: number, now: number): void {
    let budget = EXPIRED_DROPS_PER_ALLOC;
    const base = shard * SHARD_I32_STRIDE;
    for (let cls = 1; cls < TTL_CLASSES; cls++) {
      for (;;) {
        const head = this.sh[base + SH_HEAD + cls];
        if (head === NO_SEGMENT || budget === 0) break;
        const maxExp = this.seg[head * SEG_STRIDE + SEG_MAX_EXPTIME];
        if (maxExp === SEG_NEVER || maxExp > now || this.isPinned(shard, head) || this.hasReaders(head)) break;
        this.detach(shard, head);
        this.compact(shard, head, 0, now);
        this.release(shard, head);
        budget--;
      }
    }
  }

  /** The oldest segment a shard owns (skipping pinned ones if asked), or NO_SEGMENT. */
  /**
   * The segment to evict: among the VICTIM_WINDOW oldest segments of each TTL class, the one holding the
   * fewest live bytes (the oldest on a tie). Plain FIFO would take the oldest even when it holds a live
   * 1 MB item and younger segments hold nothing but overwritten versions: measured with 200 keys of 1 MB
   * in 1 GiB, FIFO evicted live, hot items (160 misses in the bench's scenario d) while most segments held
   * only garbage. Greedy cleaning over a window of the oldest keeps the FIFO character for small items,
   * whose segments are alike in live bytes. Measured (200 keys x 1 MB, 1:10 set:get, 18k gets): misses at
   * 256 MiB 4947 (FIFO) / 4306 (window 4) / 2185 (16) / 275 (64); at 512 MiB 1219 / 673 / 222 / 222; the
   * Zipf hit ratio of 100-byte items at 16 MiB stayed 0.7666 for every window.
   */
  private evictionVictim(shard: number): number {
    const base = shard * SHARD_I32_STRIDE;
    let best = NO_SEGMENT;
    let bestLive = 0;
    let bestSeq = 0;
    for (let cls = 0; cls < TTL_CLASSES; cls++) {
      let s = this.sh[base + SH_HEAD + cls];
      for (let seen = 0; s !== NO_SEGMENT && seen < VICTIM_WINDOW; s = this.seg[s * SEG_STRIDE + SEG_NEXT]) {
        if (this.isPinned(shard, s) || this.hasReaders(s)) continue;
        seen++;
        const live = this.seg[s * SEG_STRIDE + SEG_LIVE_BYTES];
        const sq = this.seg[s * SEG_STRIDE + SEG_SEQ];
        if (best === NO_SEGMENT || live < bestLive || (live === bestLive && seqBefore(sq, bestSeq))) {
          best = s;
          bestLive = live;
          bestSeq = sq;
        }
      }
    }
    return best;
  }

  private oldestSegment(shard: number, skipPinned: boolean): number {
    const base = shard * SHARD_I32_STRIDE;
    let best = NO_SEGMENT;
    let bestSeq = 0;
    for (let cls = 0; cls < TTL_CLASSES; cls++) {
      let s = this.sh[base + SH_HEAD + cls];
      while (s !== NO_SEGMENT && ((skipPinned && this.isPinned(shard, s)) || this.hasReaders(s))) {
        s = this.seg[s * SEG_STRIDE + SEG_NEXT];
      }
      if (s === NO_SEGMENT) continue;
      const sq = this.seg[s * SEG_STRIDE + SEG_SEQ];
      if (best === NO_SEGMENT || seqBefore(sq, bestSeq)) {
        best = s;
        bestSeq = sq;
      }
    }
    return best;
  }

  /**
   * Takes the oldest segment of another shard, emptied, or NO_SEGMENT. Normally only from a shard that owns
   * at least two more than this one, so that two shards do not pass one segment back and forth; `anyOwner`
   * (this shard has nothing it may evict: no segments, or only pinned ones) takes from any shard that owns
   * one: with fewer segments than shards, thrashing beats refusing to store. Only tryLock: a thread holding
   * its own shard lock must never block on a second one.
   */
  private steal(shard: number, now: number, anyOwner: boolean): number {
    const floor = anyOwner ? 0 : this.sh[shard * SHARD_I32_STRIDE + SH_OWNED] + 1;
    const start = Atomics.add(this.global, G_STEAL_CURSOR, 1);
    for (let k = 0; k < this.shards; k++) {
      const other = (start + k) & this.shardMask;
      if (other === shard) continue;
      const base = other * SHARD_I32_STRIDE;
      if (this.sh[base + SH_OWNED] <= floor) continue;
      if (!tryLockShard(this.sh, other)) continue;
      let s = NO_SEGMENT;
      if (this.sh[base + SH_OWNED] > floor) {
        s = this.oldestSegment(other, false);
        if (s !== NO_SEGMENT) {
          this.detach(other, s);
          this.compact(other, s, 0, now);
          this.sh[base + SH_OWNED] -= 1;
        }
      }
      unlockShard(this.sh, other);
      if (s !== NO_SEGMENT) return s;
    }
    return NO_SEGMENT;
  }

  /**
   * Walks a detached segment's items. Linked items that are dead are reclaimed; hot live items are moved
   * to the front of the same segment while they fit in `keep` bytes (FIFO with re-insertion); the rest are
   * evicted. `keepAll` (-M) keeps every live item, hot or not, and counts none as evicted_active.
   * Returns the bytes kept, which become the segment's write offset.
   */
  private compact(shard: number, s: number, keep: number, now: number, keepAll = false): number {
    const m = s * SEG_STRIDE;
    const base = s * this.segmentSize;
    const end = base + this.seg[m + SEG_WRITE];
    const u8 = this.u8;
    const c = shard * SHARD_F64_STRIDE;
    // The read-count threshold: the lowest count whose items (and those read more) fit in `keep`, so that
    // when the hot items do not all fit, the most-read ones stay. Kept items lose one count, so an item
    // must keep being read to survive round after round (a CLOCK with three levels).
    let threshold = keepAll ? 0 : INTL_HOT;
    if (keep > 0 && !keepAll) {
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let p = base; p < end;) {
        const size = this.itemSize(p);
        const f = u8[p + H_INTL] & (INTL_FREQ | INTL_LINKED);
        if (f === (INTL_LINKED | INTL_HOT)) b1 += size;
        else if (f === (INTL_LINKED | (2 * INTL_HOT))) b2 += size;
        else if (f === (INTL_LINKED | INTL_FREQ)) b3 += size;
        p += size;
      }
      if (b1 + b2 + b3 > keep) threshold = b2 + b3 > keep ? 3 * INTL_HOT : 2 * INTL_HOT;
    }
    let src = base;
    let dst = base;
    let items = 0;
    let maxExp = 0;
    while (src < end) {
      const size = this.itemSize(src);
      const intl = u8[src + H_INTL];
      if ((intl & INTL_LINKED) !== 0) {
        const loc = src / 8;
        const hash = this.u32[src / 4 + H_HASH];
        const slot = this.slotOf(hash, loc);
        if (this.isDead(shard, loc, now)) {
          if (slot >= 0) this.dropSlot(shard, slot, loc, RECLAIM);
        } else if ((intl & INTL_FREQ) >= threshold && dst + size - base <= keep) {
          if (dst !== src) u8.copyWithin(dst, src, src + size);
          if (!keepAll) {
            u8[dst + H_INTL] = INTL_LINKED | ((intl & INTL_FREQ) - INTL_HOT);
            this.ctr[c + C_EVICTED_ACTIVE] += 1;
          }
          if (slot >= 0) this.index[slot + 1] = dst / 8;
          const e = this.u32[dst / 4 + H_EXPTIME];
          maxExp = e === 0 ? SEG_NEVER : Math.max(maxExp, Math.min(e, SEG_NEVER));
          dst += size;
          items++;
        } else if (slot >= 0) {
          if (this.onEvict !== undefined) this.onEvict(hash, loc + 1, now); // flash tier: demote
          this.dropSlot(shard, slot, loc, EVICTED);
        }
      }
      src += size;
    }
    const kept = dst - base;
    this.seg[m + SEG_WRITE] = kept;
    this.seg[m + SEG_LIVE_BYTES] = kept;
    this.seg[m + SEG_LIVE_ITEMS] = items;
    this.seg[m + SEG_MAX_EXPTIME] = maxExp;
    return kept;
  }

  private retag(s: number, cls: number, now: number): void {
    const m = s * SEG_STRIDE;
    this.seg[m + SEG_TTL_CLASS] = cls;
    this.seg[m + SEG_SEQ] = Atomics.add(this.global, G_SEQ, 1);
    this.seg[m + SEG_CREATE_TIME] = now;
    if (cls === 0) this.seg[m + SEG_MAX_EXPTIME] = SEG_NEVER;
  }

  /** Gives an empty segment to a shard as the active segment of class cls. */
  private adopt(shard: number, s: number, cls: number, now: number): void {
    const m = s * SEG_STRIDE;
    this.seg[m + SEG_OWNER] = shard;
    this.seg[m + SEG_WRITE] = 0;
    this.seg[m + SEG_LIVE_BYTES] = 0;
    this.seg[m + SEG_LIVE_ITEMS] = 0;
    this.seg[m + SEG_MAX_EXPTIME] = 0;
    this.retag(s, cls, now);
    this.sh[shard * SHARD_I32_STRIDE + SH_OWNED] += 1;
    this.append(shard, s, cls);
    this.sh[shard * SHARD_I32_STRIDE + SH_ACTIVE + cls] = s;
  }

  private append(shard: number, s: number, cls: number): void {
    const base = shard * SHARD_I32_STRIDE;
    this.seg[s * SEG_STRIDE + SEG_NEXT] = NO_SEGMENT;
    const tail = this.sh[base + SH_TAIL + cls];
    if (tail === NO_SEGMENT) this.sh[base + SH_HEAD + cls] = s;
    else this.seg[tail * SEG_STRIDE + SEG_NEXT] = s;
    this.sh[base + SH_TAIL + cls] = s;
  }

  /** Unchains a segment from its class chain (it stays owned; OWNED is not changed). */
  private detach(shard: number, s: number): void {
    const base = shard * SHARD_I32_STRIDE;
    const cls = this.seg[s * SEG_STRIDE + SEG_TTL_CLASS];
    const next = this.seg[s * SEG_STRIDE + SEG_NEXT];
    let prev = NO_SEGMENT;
    let cur = this.sh[base + SH_HEAD + cls];
    while (cur !== NO_SEGMENT && cur !== s) {
      prev = cur;
      cur = this.seg[cur * SEG_STRIDE + SEG_NEXT];
    }
    if (cur === NO_SEGMENT) throw new StoreError('ERR_STORE_CORRUPT', `segment ${s} is not in its chain`);
    if (prev === NO_SEGMENT) this.sh[base + SH_HEAD + cls] = next;
    else this.seg[prev * SEG_STRIDE + SEG_NEXT] = next;
    if (this.sh[base + SH_TAIL + cls] === s) this.sh[base + SH_TAIL + cls] = prev;
    if (this.sh[base + SH_ACTIVE + cls] === s) this.sh[base + SH_ACTIVE + cls] = NO_SEGMENT;
    this.seg[s * SEG_STRIDE + SEG_NEXT] = NO_SEGMENT;
  }

  /** Returns an emptied, detached segment of a shard to the global free list. */
  private release(shard: number, s: number): void {
    this.sh[shard * SHARD_I32_STRIDE + SH_OWNED] -= 1;
    const m = s * SEG_STRIDE;
    this.seg[m + SEG_OWNER] = NO_SEGMENT;
    this.seg[m + SEG_WRITE] = 0;
    lockWord(this.global, G_FREE_LOCK);
    this.seg[m + SEG_NEXT] = this.global[G_FREE_HEAD];
    this.global[G_FREE_HEAD] = s;
    Atomics.add(this.global, G_FREE_COUNT, 1);
    unlockWord(this.global, G_FREE_LOCK);
  }

  private allowedSegments(): number {
    return Atomics.load(this.global, G_ALLOWED_SEGMENTS);
  }

  /** Free segments that may still be taken under the current limit. */
  private freeWithinLimit(): number {
    const free = Atomics.load(this.global, G_FREE_COUNT);
    const inUse = this.global[G_RESERVE_SEGMENTS] - free;
    return Math.max(0, Math.min(free, this.allowedSegments() - inUse));
  }

  private limitBytes(): number {
    const mib = Atomics.load(this.global, G_LIMIT_MIB);
    return mib > 0 ? mib * 1024 * 1024 : this.options.memoryLimit;
  }

  setMemoryLimit(bytes: number): boolean {
    const allowed = allowedSegments(bytes, this.segmentSize, this.options.memoryOverhead ?? 0);
    if (allowed < 2 || allowed > this.global[G_RESERVE_SEGMENTS]) return false;
    Atomics.store(this.global, G_ALLOWED_SEGMENTS, allowed);
    Atomics.store(this.global, G_LIMIT_MIB, Math.floor(bytes / (1024 * 1024)));
    return true;
  }

  private popFree(): number {
    if (this.freeWithinLimit() === 0) return NO_SEGMENT;
    lockWord(this.global, G_FREE_LOCK);
    // Checked again under the lock, so that racing threads can't take the pool past the limit.
    const s = this.freeWithinLimit() > 0 ? this.global[G_FREE_HEAD] : NO_SEGMENT;
    if (s !== NO_SEGMENT) {
      this.global[G_FREE_HEAD] = this.seg[s * SEG_STRIDE + SEG_NEXT];
      Atomics.sub(this.global, G_FREE_COUNT, 1);
      if (s >= this.global[G_FRESH_SEGMENT]) Atomics.store(this.global, G_FRESH_SEGMENT, s + 1);
    }
    unlockWord(this.global, G_FREE_LOCK);
    return s;
  }
}
