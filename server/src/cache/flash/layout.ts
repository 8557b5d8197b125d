/**
 * Every slot and offset of the flash tier's shared memory and of its on-disk record (STYLE.md rule 5).
 *
 * Buffers of a FlashMemory (all SharedArrayBuffer):
 *
 *   index     Uint32: entries (ENTRY_WORDS words each, one region per shard, handed out densely), then
 *             bucket references (SLOTS_PER_BUCKET per bucket, entry number + 1), then two words per shard
 *             (indexBytes below); partitioned by the RAM store's shard hash so that the RAM store's shard
 *             lock (in the store's `shards` buffer, reached through `storeLocks`) orders both tiers.
 *   ring      the write buffer: ring of records in the on-disk format below (crc filled in by the flusher)
 *   control   Int32 x CONTROL_WORDS: ring lock and cursors, sequence, flush generation, file window, flags
 *   files     Int32 pairs (file number, path index) at slot fileNo % fileTableSlots: where a file lives
 *   counters  Float64 rows, one per thread (serving threads, main, flusher), see flash-stats.ts
 *
 * Index entry (Uint32 x ENTRY_WORDS):
 *
 *    0     1      2        3        4      5        6       7       8      9      10     11
 *   +-----+------+--------+--------+------+--------+-------+-------+------+------+------+------+
 *   | tag | file | offset | length | flags| exptime| cas lo| cas hi| vlen | time | seq  | hash |
 *   +-----+------+--------+--------+------+--------+-------+-------+------+------+------+------+
 *   tag     hash | 1 (0 = empty slot); the index holds no key: read() checks the key in the record
 *   file    log file number, or IN_WBUF while the record is still in the write buffer
 *   offset  byte offset of the record in its file (or in the ring)
 *   length  record length (header + key + value, unpadded)
 *   exptime rel time (0 = never)            time  rel time the item was last stored (flush_all delay)
 *   seq     the record's sequence number: the flusher moves "IN_WBUF" entries only if seq still matches
 *
 * A key has two buckets (the first from the hash bits above the shard bits, the second by Fibonacci
 * hashing), as in the RAM index; lookup scans both, removal zeroes the tag.
 *
 * Record (the same bytes in the ring and in a log file; records start 8-byte aligned, padded to 8):
 *
 *    0       4        8       12      16      20   21   22     24      28      32      36      40       44     48
 *   +-------+--------+-------+-------+-------+----+----+------+-------+-------+-------+-------+--------+------+----- -
 *   | magic | length | crc32 | seq   | gen   |type|klen| 0    | vlen  | flags | cas lo| cas hi| exptime| hash | key, value
 *   +-------+--------+-------+-------+-------+----+----+------+-------+-------+-------+-------+--------+------+----- -
 *   crc32   zlib.crc32 of bytes [12, length): everything after it, key and value included
 *   gen     flush_all generation the record was queued in (the flusher drops records of older generations)
 *   type    ITEM, or TOMBSTONE (klen = vlen = 0; `hash` names the dead entry)
 *   exptime absolute unix time (0 = never), so that a restarted process with a new clock reads it right
 */

export const ENTRY_WORDS = 12;
export const E_TAG = 0;
export const E_FILE = 1;
export const E_OFFSET = 2;
export const E_LENGTH = 3;
export const E_FLAGS = 4;
export const E_EXPTIME = 5;
export const E_CAS_LO = 6;
export const E_CAS_HI = 7;
export const E_VLEN = 8;
export const E_TIME = 9;
export const E_SEQ = 10;
export const E_HASH = 11; // the whole hash (the tag lost bit 0): names the entry in a tombstone

/** E_FILE of an entry whose record is still in the write buffer. */
export const IN_WBUF = 0xffffffff;
export const SLOTS_PER_BUCKET = 8;
export const MIN_BUCKETS_PER_SHARD = 16;
/**
 * One index entry per this many bytes of flash (48 B of RAM per KiB of flash, ~5%): enough for items of
 * 1 KiB on average; smaller items on a full tier push the oldest entries out (they become misses).
 */
export const FLASH_BYTES_PER_SLOT = 1024;

export const RECORD_HEADER = 48;
export const R_MAGIC = 0; // u32 word offsets (byte offset / 4)
export const R_LENGTH = 1;
export const R_CRC = 2;
export const R_SEQ = 3;
export const R_GEN = 4;
export const R_TYPE_BYTE = 20; // byte offsets
export const R_KLEN_BYTE = 21;
export const R_VLEN = 6;
export const R_FLAGS = 7;
export const R_CAS_LO = 8;
export const R_CAS_HI = 9;
export const R_EXPTIME = 10;
export const R_HASH = 11;
/** First byte covered by the checksum. */
export const CRC_START = 12;

export const MAGIC = 0x31464143; // "CAF1" little-endian
/** In the ring only: the rest of the ring up to its end is unused; continue at 0. */
export const PAD_MAGIC = 0x44415043; // "CPAD"
export const TYPE_ITEM = 1;
export const TYPE_TOMBSTONE = 2;

export const CONTROL_WORDS = 32;
export const K_RING_LOCK = 0;
export const K_HEAD = 1; // next write offset in the ring
export const K_TAIL = 2; // oldest unreleased offset
export const K_USED = 3; // bytes between tail and head, pad included (waited on by shutdown)
export const K_SEQ = 4; // next record sequence number (wraps at 2^32; compared for equality only)
export const K_GEN = 5; // flush_all generation
export const K_MIN_FILE = 6; // files numbered below this are reclaimed: entries pointing there are dead
export const K_READY = 7; // 1 once recovery rebuilt the index
export const K_STOP = 8; // 1: the flusher drains the ring, syncs and exits
export const K_WAKE = 9; // bumped (and notified) by producers when the ring fills past a quarter
export const K_OLDEST_LIVE = 10; // flush_all with a delay (as the store's G_OLDEST_LIVE)
export const K_FILES_USED = 11;
export const K_FILES_TOTAL = 12;
export const K_BYTES_USED = 13; // in KiB (an Int32 of bytes would overflow at 2 GiB)
export const K_STOPPED = 14; // 1 once the flusher has drained and closed everything
export const K_LOGGED = 15; // bit set of errors already logged (log once)
export const K_MAX_CAS_LO = 16; // largest CAS recovered from the files (the store's CAS starts above it)
export const K_MAX_CAS_HI = 17;
export const K_RELEASED = 18; // bumped (and notified) by the flusher each time it frees ring space

export const FLUSH_INTERVAL_MS = 100;
/**
 * ext_wbuf_wait_ms default: a write held for write-buffer room (backpressure.ts) goes on, and its evictions
 * are dropped, once the flusher has released nothing for this long. A 2 MiB batch into the page cache takes
 * milliseconds; a device that stops for a second is failing, and clients' own timeouts are of that order.
 */
export const WBUF_WAIT_MS = 1000;
export const MAX_FILE_SIZE = 64 * 1024 * 1024;
export const MIN_FILE_SIZE = 1024 * 1024;
/** Tier size / FILES_PER_TIER = file size (within the bounds above): reclaim frees ~1/16 of the tier. */
export const FILES_PER_TIER = 16;
/** Bytes of the ring only tombstones may use: a full ring drops items, not deletions. */
export const TOMBSTONE_RESERVE_DIVISOR = 16;

/**
 * Bytes of the index buffer for `slots` entries over `shards` shards. After the entries (ENTRY_WORDS words
 * each, per shard a region handed out densely from its start) come the bucket references (one Uint32 per
 * slot: entry number in the shard + 1, 0 = empty; a key's two buckets of SLOTS_PER_BUCKET references are
 * where lookups probe) and two Uint32 per shard (entries handed out, first free entry + 1). Entries are
 * referenced, not hashed into place, so the resident part of the entry region follows the entries live
 * at once, not the tier's size.
 */
/** The index's bucket references and per-shard words: touched all over as soon as keys spread (4 B a slot). */
export function indexReferenceBytes(slots: number, shards: number): number {
  return slots * 4 + shards * 2 * 4;
}

export function indexBytes(slots: number, shards: number): number {
  return slots * (ENTRY_WORDS + 1) * 4 + shards * 2 * 4;
}

export function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function recordSize(klen: number, vlen: number): number {
  return roundUp8(RECORD_HEADER + klen + vlen);
}

/**
 * Flash read channels (reader.ts, reader-thread.ts). buffers.reads, one SharedArrayBuffer:
 *
 *   header   Int32 x HEADER_WORDS: doorbell word per reader (bumped and notified by serving threads)
 *   channel  one per serving thread, CHANNEL_BYTES each:
 *     ctl    Int32 x CTL_WORDS: C_SUBMITTED (serving thread), C_DONE (reader), both counts that wrap
 *     slots  Int32 x READ_SLOTS x SLOT_WORDS: file, offset, length, arena offset, result (bytes or < 0),
 *            verdict (record.ts: magic, length and crc32 checked by the reader)
 *     arena  READ_ARENA bytes: records land here, in submission order (a ring the serving thread manages)
 *
 */
export const HEADER_WORDS = 64;
/** Header word HEARTBEAT + r: bumped by reader r on every pass (a stuck or dead reader stops bumping it). */
export const HEARTBEAT = 32;
export const MAX_READERS = HEARTBEAT;
export const CTL_WORDS = 8;
export const C_SUBMITTED = 0;
export const C_DONE = 1;
export const READ_SLOTS = 1024;
export const SLOT_WORDS = 6;
export const S_FILE = 0;
export const S_OFFSET = 1;
export const S_LENGTH = 2;
export const S_ARENA = 3;
export const S_RESULT = 4;
/** verifyRecord()'s verdict on the bytes read (checked here, off the serving thread). */
export const S_VERDICT = 5;
/** Arena per serving thread; records larger than MAX_CHANNEL_READ go through libuv's pool instead. */
export const READ_ARENA = 2 * 1024 * 1024;
export const MAX_CHANNEL_READ = 256 * 1024;
export const CHANNEL_BYTES = (CTL_WORDS + READ_SLOTS * SLOT_WORDS) * 4 + READ_ARENA;
export const R_GONE = -2;
export const R_ERROR = -1;

export function readsBufferBytes(threads: number): number {
  return HEADER_WORDS * 4 + threads * CHANNEL_BYTES;
}
