import type { StoreMemory } from '../store/types.js';
import {
  CONTROL_WORDS, FILES_PER_TIER, FLASH_BYTES_PER_SLOT, K_FILES_TOTAL, K_MIN_FILE, MAX_FILE_SIZE,
  MAX_READERS, MIN_BUCKETS_PER_SHARD, MIN_FILE_SIZE, SLOTS_PER_BUCKET, indexBytes, indexReferenceBytes, readsBufferBytes, recordSize, roundUp8,
} from './layout.js';
import { ROW_WIDTH } from './flash-stats.js';

export class FlashError extends Error {
  override readonly name = 'FlashError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface FlashPath {
  path: string;
  size: number;
}

/** What the main thread decides once; every thread derives the same geometry from it. */
export interface FlashOptions {
  paths: FlashPath[];
  /** The RAM store's shard count (taken from the store's memory by createFlashMemory). */
  shards: number;
  /** Bytes of the write buffer (ext_wbuf_size; raised to hold two of the largest records). */
  wbufSize: number;
  /** Largest value + key the tier must accept (the store's -I). */
  maxItemSize: number;
  /** Serving threads (each gets a counter row; main and flusher get the two after them). */
  threads: number;
  /** The server clock's processStarted (unix seconds): converts rel exptime to absolute and back. */
  processStarted: number;
  /**
   * ext_item_size: an item evicted from RAM whose value is shorter than this many bytes is not written to
   * flash (memcached: "store items larger than this", default 512). The shutdown flush writes every item.
   * 0 or absent: every item.
   */
  itemSize?: number;
  /**
   * ext_threads: reader threads doing the serving threads' file reads (reader.ts). 0 or absent: reads go
   * through libuv's thread pool (fs.read).
   */
  readers?: number;
  /**
   * Reads of small records on the serving thread itself while the page cache serves them (tier.ts,
   * INLINE_*). Default on; tests of the reader channel and of the pool path turn it off.
   */
  inlineReads?: boolean;
  /**
   * ext_wbuf_wait_ms: a write that would evict into a full write buffer waits for the flusher, at most
   * until the flusher has released nothing for this long (backpressure.ts). 0: never wait (memcached's
   * extstore: evictions that find the buffer full are dropped). Absent: WBUF_WAIT_MS (tier.ts).
   */
  wbufWaitMs?: number;
  /** Tests: an inline read slower than this many µs counts as slow (tier.ts INLINE_SLOW_US). */
  inlineSlowUs?: number;
  /** Tests: how long a serving thread waits on a reader that makes no progress before giving up on it. */
  readerStallMs?: number;
  /** Overrides (tests): log file size, index slots, write buffer size (exact, no floor). */
  fileSize?: number;
  indexSlots?: number;
  ringSize?: number;
}

export interface FlashGeometry {
  fileSize: number;
  filesPerPath: number[];
  totalFiles: number;
  fileTableSlots: number;
  slotsPerShard: number;
  bucketsPerShard: number;
  shardBits: number;
  ringSize: number;
  maxRecord: number;
  rows: number;
}

export interface FlashMemory {
  readonly options: FlashOptions;
  readonly buffers: {
    index: SharedArrayBuffer;
    ring: SharedArrayBuffer;
    control: SharedArrayBuffer;
    files: SharedArrayBuffer;
    counters: SharedArrayBuffer;
    /** The RAM store's `shards` buffer: the lock words of the shards. */
    storeLocks: SharedArrayBuffer;
    /** Read channels of the serving threads, when there are reader threads (reader.ts). */
    reads?: SharedArrayBuffer;
  };
}

/** Segment evictions the write buffer holds at least (see flashGeometry). */
const RING_SEGMENTS = 8;
/**
 * The write buffer's floor. It is the slack between the serving threads' eviction rate and the flusher:
 * measured on the 2-core test machine under a load average of ~15, pipelined 64 MiB of sets through `-m 16`
 * dropped ~5% of evictions with 4 MiB and none with 16 MiB; 32 MiB leaves room for slower disks.
 */
const MIN_RING = 32 * 1024 * 1024;
/** With a large -I the segment-based floor would grow without bound; past this, huge items are dropped. */
const MAX_AUTO_RING = 128 * 1024 * 1024;
/** 16 M entries = 768 MiB of index: tiers above 16 GiB need items of tier/16M bytes on average to fill. */
const MAX_INDEX_SLOTS = 16 * 1024 * 1024;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function flashGeometry(o: FlashOptions): FlashGeometry {
  const total = o.paths.reduce((s, p) => s + p.size, 0);
  const maxRecord = recordSize(255, o.maxItemSize);
  const fileSize = o.fileSize ?? Math.max(roundUp8(maxRecord), Math.min(MAX_FILE_SIZE,
    Math.max(MIN_FILE_SIZE, roundUp8(Math.floor(total / FILES_PER_TIER)))));
  const filesPerPath = o.paths.map((p) => Math.max(1, Math.floor(p.size / fileSize)));
  const totalFiles = filesPerPath.reduce((s, n) => s + n, 0);
  const minSlots = SLOTS_PER_BUCKET * MIN_BUCKETS_PER_SHARD * o.shards;
  const slots = Math.max(minSlots, nextPow2(o.indexSlots ?? Math.min(MAX_INDEX_SLOTS, Math.floor(total / FLASH_BYTES_PER_SLOT))));
  const slotsPerShard = slots / o.shards;
  return {
    fileSize, filesPerPath, totalFiles,
    fileTableSlots: nextPow2(totalFiles * 2 + 16),
    slotsPerShard, bucketsPerShard: slotsPerShard / SLOTS_PER_BUCKET,
    shardBits: Math.round(Math.log2(o.shards)),
    // The RAM store evicts a whole segment (>= 1 MiB, >= the largest item) at once: the ring must take a
    // few of those bursts between two flusher passes, or they are dropped.
    ringSize: roundUp8(o.ringSize ?? Math.max(o.wbufSize, MIN_RING, Math.min(MAX_AUTO_RING, RING_SEGMENTS * Math.max(MIN_FILE_SIZE, maxRecord)))),
    maxRecord,
    rows: o.threads + 2,
  };
}

/**
 * Bytes of RAM the flash tier takes besides the RAM store's -m, each part from the geometry (docs/flash.md
 * has the formulas): the write buffer, the index, the reader channels (ext_threads > 0) and the read
 * buffers each serving thread may keep for reads through libuv's pool. Allocated once at start except the
 * pooled read buffers, which are capped at READ_BUFFERS_KEEP_BYTES per serving thread.
 */
export interface FlashMemoryBytes {
  wbuf: number;
  index: number;
  readChannels: number;
  readBuffers: number;
  other: number;
  /** The tier's own threads (flusher and readers): an allowance per thread, THREAD_BYTES. */
  threads: number;
  total: number;
  /**
   * The part counted inside -m (StoreOptions.memoryOverhead): what is resident from the start or soon after
   * whatever the tier holds — the write buffer and reader arenas (touched in full as they cycle), the
   * index's bucket references (4 B a slot, touched all over once keys spread), the small tables and the
   * tier's threads. The
   * index entries (48 B per item on flash, resident as far as items are held) and the pooled read buffers
   * (only for records over 256 KiB or ext_threads=0) are on top.
   */
  inLimit: number;
}

/**
 * RSS of one of the tier's threads (the flusher, each reader): a Node worker's isolate, heap and stack.
 * Measured on Node 20: an idle worker_threads Worker adds 8.7 MiB; a server with the default ext_threads=1
 * had 9.8 MiB more RSS than with ext_threads=0, and 22 MiB more than without a tier, idle.
 */
export const THREAD_BYTES = 10 * 1024 * 1024;

/** Read buffers a serving thread keeps for reuse (pool reads: ext_threads=0, records over 256 KiB). */
export const READ_BUFFERS_KEEP_BYTES = 4 * 1024 * 1024;

export function flashMemoryBytes(o: FlashOptions, g: FlashGeometry = flashGeometry(o)): FlashMemoryBytes {
  const wbuf = g.ringSize;
  const index = indexBytes(g.slotsPerShard * o.shards, o.shards);
  const readChannels = (o.readers ?? 0) > 0 ? readsBufferBytes(o.threads) : 0;
  const readBuffers = o.threads * READ_BUFFERS_KEEP_BYTES;
  const other = CONTROL_WORDS * 4 + g.fileTableSlots * 8 + g.rows * ROW_WIDTH * 8;
  const threads = (1 + (o.readers ?? 0)) * THREAD_BYTES;
  const inLimit = wbuf + readChannels + indexReferenceBytes(g.slotsPerShard * o.shards, o.shards) + other + threads;
  return { wbuf, index, readChannels, readBuffers, other, threads, total: wbuf + index + readChannels + readBuffers + other + threads, inLimit };
}

export function validateFlashOptions(o: FlashOptions): FlashOptions {
  if (o.paths.length === 0) throw new FlashError('ERR_FLASH_OPTIONS', 'flash tier needs at least one -o ext_path=DIR:SIZE');
  if (!Number.isInteger(o.shards) || o.shards < 1 || (o.shards & (o.shards - 1)) !== 0) {
    throw new FlashError('ERR_FLASH_OPTIONS', `flash option shards must be a power of two, got ${o.shards}`);
  }
  if (o.readers !== undefined && !(Number.isInteger(o.readers) && o.readers >= 0 && o.readers <= MAX_READERS)) {
    throw new FlashError('ERR_FLASH_OPTIONS', `-o ext_threads must be an integer between 0 and ${MAX_READERS}, got ${o.readers}`);
  }
  for (const p of o.paths) {
    if (!(p.size >= MIN_FILE_SIZE)) throw new FlashError('ERR_FLASH_OPTIONS', `-o ext_path ${p.path}: size must be at least 1m, got ${p.size}`);
  }
  return o;
}

/** Allocates the tier's shared memory (main thread); workers and the flusher open views of it. */
export function createFlashMemory(options: FlashOptions, store: StoreMemory): FlashMemory {
  // The store may use fewer shards than asked (it keeps several segments per shard): follow its choice.
  const o = validateFlashOptions({ ...options, shards: store.options.shards });
  const g = flashGeometry(o);
  const buffers = {
    index: new SharedArrayBuffer(indexBytes(g.slotsPerShard * o.shards, o.shards)),
    ring: new SharedArrayBuffer(g.ringSize),
    control: new SharedArrayBuffer(CONTROL_WORDS * 4),
    files: new SharedArrayBuffer(g.fileTableSlots * 8),
    counters: new SharedArrayBuffer(g.rows * ROW_WIDTH * 8),
    storeLocks: store.buffers.shards,
    reads: (o.readers ?? 0) > 0 ? new SharedArrayBuffer(readsBufferBytes(o.threads)) : undefined,
  };
  const control = new Int32Array(buffers.control);
  control[K_MIN_FILE] = 1;
  control[K_FILES_TOTAL] = g.totalFiles;
  new Int32Array(buffers.files).fill(-1);
  return { options: o, buffers };
}
