/**
 * Every slot and offset of the store's shared memory (STYLE.md rule 5). Nothing else in the store spells a
 * raw offset; if a number below changes, every thread must be running the same build.
 *
 * Buffers of a StoreMemory (all SharedArrayBuffer):
 *
 *   data      nSegments * segmentSize bytes: the segment pool, segment s at byte s * segmentSize
 *   index     Uint32 pairs (tag, location), grouped in buckets of 8 slots, one contiguous region per shard
 *   segments  Int32, SEG_STRIDE words of metadata per segment
 *   shards    Int32, SHARD_I32_STRIDE words per shard (lock word, segment chains)
 *   counters  Float64, SHARD_F64_STRIDE per shard (stats)
 *   global    Int32, GLOBAL_WORDS words (free-list lock and head, limits, the fresh-segment frontier,
 *             oldest_live, segment sequence, steal cursor), and at byte G_CAS_BYTE a BigUint64 view: the
 *             global CAS counter
 *
 * Item (8-byte aligned inside a segment; ref = byteOffset / 8 + 1, location = byteOffset / 8):
 *
 *    0         4         8                  16        20        24   25   26   27   28        32
 *   +---------+---------+------------------+---------+---------+----+----+----+----+---------+----- - -
 *   | exptime | flags   | cas (float64)    | time    | vlen    |klen|bits|intl|pad | hash    | key, value
 *   +---------+---------+------------------+---------+---------+----+----+----+----+---------+----- - -
 *   exptime  u32 rel time, 0 = never          time  u32 last access (link, touchAccess)
 *   flags    u32 client flags                 vlen  u32 value length
 *   cas      float64 integer < 2^53           klen  u8 key length (1..255)
 *   bits     u8 ITEM_FETCHED | ITEM_STALE | ITEM_TOKEN_SENT (types.ts), replaced whole by setBits
 *   intl     u8 store-internal: INTL_LINKED (the index points here), INTL_FREQ (reads since written or
 *            last kept by eviction, saturating at 3, in units of INTL_HOT)
 *   hash     u32 hashKey() of the key, so eviction finds the index slot without rehashing the key
 *   size on the segment = roundUp8(ITEM_HEADER + klen + vlen)
 *
 * Index slot (2 x u32):  [ tag = hash | 1 (0 = empty) ][ location ]
 * A key has two buckets among those its shard's index uses (two-choice hashing: the first from the hash
 * bits above the shard bits, the second from a remix of the whole hash; see SH_INDEX_BITS for which bits).
 * Lookup scans both (the second only on a miss in the first), so removal simply zeroes a slot: no
 * tombstones. Insert goes to the emptier bucket.
 *
 * Segment metadata (Int32 x SEG_STRIDE):
 *   0 OWNER shard (-1 = free)   1 NEXT (chain or free list, -1 = end)   2 WRITE offset   3 LIVE_BYTES
 *   4 LIVE_ITEMS   5 TTL_CLASS   6 MAX_EXPTIME (SEG_NEVER = holds never-expiring items)   7 SEQ (creation
 *   order, compared wrap-safe)   8 CREATE_TIME (rel time)   9 READERS (zero-copy replies in flight)
 *
 * Shard words (Int32 x SHARD_I32_STRIDE = 128 bytes, so two shards' lock words never share a cache line):
 *   0 LOCK   1 OWNED segments   2.. ACTIVE[class]   .. HEAD[class]   .. TAIL[class]   INDEX_BITS   INDEX_SPLIT
 *   The shard's index uses the first 2^INDEX_BITS + INDEX_SPLIT buckets of its region and grows by linear
 *   hashing: buckets below INDEX_SPLIT have been split (a key's bucket there takes one more hash bit), and
 *   once all 2^INDEX_BITS are, INDEX_BITS goes up by one and INDEX_SPLIT back to 0. Up to the whole region.
 * Shard counters (Float64 x SHARD_F64_STRIDE):
 *   CURR_ITEMS, TOTAL_ITEMS, BYTES, EVICTIONS, EVICTED_UNFETCHED, EVICTED_ACTIVE, EXPIRED_UNFETCHED,
 *   RECLAIMED, FLUSH_CAS
 */

export const ITEM_HEADER = 32;
export const H_EXPTIME = 0; // u32 word
export const H_FLAGS = 1; // u32 word
export const H_CAS = 1; // float64 word
export const H_TIME = 4; // u32 word
export const H_VLEN = 5; // u32 word
export const H_KLEN = 24; // byte
export const H_BITS = 25; // byte
export const H_INTL = 26; // byte
export const H_HASH = 7; // u32 word

export const INTL_LINKED = 1;
/** One read: INTL_FREQ holds a saturating read count 0..3 in units of INTL_HOT. */
export const INTL_HOT = 2;
export const INTL_FREQ = 6;
export const MAX_KEY_LENGTH = 255;

export const SLOTS_PER_BUCKET = 8;
/** One index slot per this many bytes of memoryLimit (~6% of memory for the index). */
export const BYTES_PER_SLOT = 128;
export const MIN_BUCKETS_PER_SHARD = 64;
/**
 * A shard's index starts with MIN_BUCKETS_PER_SHARD buckets in use and splits one more bucket per link
 * while its entries fill more than this share of the slots in use (3 of a bucket's 8), as memcached's hash
 * table grows at 1.5 items per bucket. An index sized for a full -m but holding few keys spreads them over the whole region:
 * at -m 1024 with 100k keys every lookup missed the TLB on a 64 MiB region (an index probe cost 180-210 ns
 * against 60-80 ns in a 4 MiB index, measured on a KVM guest). Splitting a bucket at a time, never
 * rehashing a whole table, keeps a growing shard from stalling: a whole doubling at 1M entries held
 * the lock for 115-140 ms.
 */
export const INDEX_GROW_LOAD = 0.375;

export const SEG_STRIDE = 16;
export const SEG_OWNER = 0;
export const SEG_NEXT = 1;
export const SEG_WRITE = 2;
export const SEG_LIVE_BYTES = 3;
export const SEG_LIVE_ITEMS = 4;
export const SEG_TTL_CLASS = 5;
export const SEG_MAX_EXPTIME = 6;
export const SEG_SEQ = 7;
export const SEG_CREATE_TIME = 8;
/**
 * Replies being sent straight out of this segment (zero-copy gets of large values): while non-zero the
 * segment is neither evicted, compacted, stolen nor dropped as expired. Atomics.add under the owning
 * shard's lock, Atomics.sub from any thread once the socket write completed.
 */
export const SEG_READERS = 9;
export const SEG_NEVER = 0x7fffffff;
export const NO_SEGMENT = -1;

/**
 * TTL classes: 0 holds exptime 0; class k >= 1 holds items whose remaining TTL at alloc is below
 * 16^k seconds (16 s, 4 min, 68 min, 18 h, longer). Few classes, because every class a shard writes to
 * keeps one partly filled segment open.
 */
export const TTL_CLASSES = 6;

export const SHARD_I32_STRIDE = 32;
export const SH_LOCK = 0;
export const SH_OWNED = 1;
export const SH_ACTIVE = 2;
export const SH_HEAD = SH_ACTIVE + TTL_CLASSES;
export const SH_TAIL = SH_HEAD + TTL_CLASSES;
export const SH_INDEX_BITS = SH_TAIL + TTL_CLASSES;
export const SH_INDEX_SPLIT = SH_INDEX_BITS + 1;

export const SHARD_F64_STRIDE = 16;
export const C_CURR_ITEMS = 0;
export const C_TOTAL_ITEMS = 1;
export const C_BYTES = 2;
export const C_EVICTIONS = 3;
export const C_EVICTED_UNFETCHED = 4;
export const C_EVICTED_ACTIVE = 5;
export const C_EXPIRED_UNFETCHED = 6;
export const C_RECLAIMED = 7;
/** flushAll(): items whose CAS is <= this are dead (recorded per shard under its lock). */
export const C_FLUSH_CAS = 8;

export const GLOBAL_WORDS = 64;
export const G_FREE_LOCK = 0;
export const G_FREE_HEAD = 1;
export const G_FREE_COUNT = 2;
/**
 * cache_memlimit: the data buffer holds G_RESERVE_SEGMENTS segments (options.memoryReserve; pages never
 * written are never resident), of which at most G_ALLOWED_SEGMENTS may be in use (the current limit).
 * G_LIMIT_MIB is the limit a cache_memlimit set, in MiB (0: options.memoryLimit).
 */
export const G_ALLOWED_SEGMENTS = 3;
export const G_RESERVE_SEGMENTS = 4;
export const G_LIMIT_MIB = 5;
/**
 * Segments below this index have been taken from the free list at least once. The free list starts as
 * 0, 1, 2, ... and a released segment goes back on its head, so never-used segments are handed out in
 * index order and this is the frontier of untouched memory, which pretouch.ts keeps ahead of.
 */
export const G_FRESH_SEGMENT = 6;
export const G_OLDEST_LIVE = 16;
/** The last flush_all's oldest_live (delayed or not), as memcached's `stats settings` reports `oldest`. */
export const G_OLDEST_REPORTED = 17;
export const G_SEQ = 32;
export const G_STEAL_CURSOR = 48;
/** Segment reader pins held by all threads (SEG_READERS summed): bounded so they can't starve eviction. */
export const G_READ_PINS = 40;
/**
 * Byte offset of the global CAS counter (a BigUint64, Atomics.add): CAS values increase across all
 * shards, as memcached's one counter does, because meta's `I` (set-if-older) and clients compare CAS
 * values of different keys by age. Words 56-57, on their own 32-byte line.
 */
export const G_CAS_BYTE = 224;

/** A Uint8Array (and so the data buffer) cannot exceed 4 GiB on Node 20. */
export const MAX_DATA_BYTES = 4 * 1024 * 1024 * 1024;
export const MIN_SEGMENT_SIZE = 1024 * 1024;
/**
 * No slack: the engine admits an item only when memcached's ITEM_ntotal (56 bytes of header with CAS,
 * key + 1, value + 2) fits -I, which is always more than this store's 32-byte header + key + value, so a
 * segment of exactly -I holds any admitted item, and -I may be exactly half of -m as memcached allows.
 */
export const SEGMENT_SLACK = 0;

export function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function ttlClass(exptime: number, now: number): number {
  if (exptime === 0) return 0;
  const ttl = exptime - now;
  if (ttl < 16) return 1;
  if (ttl < 256) return 2;
  if (ttl < 4096) return 3;
  if (ttl < 65536) return 4;
  return 5;
}

/** Sizes derived from StoreOptions; the same numbers in every thread. */
export interface Geometry {
  segmentSize: number;
  segments: number;
  slotsPerShard: number;
  bucketsPerShard: number;
  shardBits: number;
  /** log2 of bucketsPerShard: the most INDEX_BITS a shard's index grows to. */
  bucketBits: number;
}

/** Bytes of the store's index (the `index` buffer) for these options. */
export function indexBytes(memoryLimit: number, maxItemSize: number, shards: number): number {
  return geometry(memoryLimit, maxItemSize, shards).slotsPerShard * shards * 8;
}

/**
 * Segments the pool may hold under a limit of `limit` bytes of which `overhead` go to other structures
 * (StoreOptions.memoryOverhead): the rest, but at least half of the limit, so that a small -m with a large
 * flash tier keeps a RAM tier.
 */
export function allowedSegments(limit: number, segmentSize: number, overhead: number): number {
  const data = overhead > 0 ? Math.max(Math.floor(limit / 2), limit - overhead) : limit;
  return Math.floor(data / segmentSize);
}

export function geometry(memoryLimit: number, maxItemSize: number, shards: number): Geometry {
  const segmentSize = Math.max(MIN_SEGMENT_SIZE, roundUp8(maxItemSize + SEGMENT_SLACK));
  const segments = Math.floor(memoryLimit / segmentSize);
  const totalSlots = Math.max(nextPow2(Math.floor(memoryLimit / BYTES_PER_SLOT)),
    SLOTS_PER_BUCKET * shards * MIN_BUCKETS_PER_SHARD);
  const slotsPerShard = totalSlots / shards;
  return {
    segmentSize, segments, slotsPerShard, bucketsPerShard: slotsPerShard / SLOTS_PER_BUCKET,
    shardBits: Math.round(Math.log2(shards)), bucketBits: Math.round(Math.log2(slotsPerShard / SLOTS_PER_BUCKET)),
  };
}
