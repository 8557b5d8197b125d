/**
 * The flash tier as the serving threads (and the main thread at shutdown) see it: the LowerTier of the
 * tiered store (store/tier.ts) over the shared index and write buffer. The tiered store calls demote()
 * when RAM evicts a live item, and lookup(), read() and readSync() to serve and promote flash items.
 * read() hands file reads to a reader thread (reader.ts) through this thread's channel, or to libuv's pool
 * (fs.read on a per-thread cache of file descriptors) when there is no reader or the channel is full; only
 * readSync() (the tiered store's rare promotions for mutating commands) and demoteAll() (shutdown, main
 * thread) ever block.
 */
import { close, closeSync, open, openSync, read, readFileSync, readSync } from 'node:fs';
import { createHistogram, performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ItemRef, Store } from '../store/types.js';
import { type ItemLocation, type LowerTier, type SweepCounts, type SweepDecision, type TierReadCallback } from '../store/tier.js';
import {
  E_CAS_HI, E_CAS_LO, E_EXPTIME, E_FILE, E_FLAGS, E_HASH, E_LENGTH, E_OFFSET, E_SEQ, E_TAG, E_TIME, E_VLEN,
  ENTRY_WORDS, IN_WBUF, K_BYTES_USED, K_FILES_TOTAL, K_FILES_USED, K_GEN, K_LOGGED, K_MAX_CAS_HI, K_MAX_CAS_LO,
  K_MIN_FILE, K_OLDEST_LIVE, K_READY, K_RING_LOCK, K_USED, K_WAKE, MAGIC, MIN_FILE_SIZE, WBUF_WAIT_MS, R_CAS_HI, R_CAS_LO, R_LENGTH, R_MAGIC, R_SEQ,
  RECORD_HEADER, TYPE_ITEM, TYPE_TOMBSTONE, recordSize,
} from './layout.js';
import { flashGeometry, flashMemoryBytes, READ_BUFFERS_KEEP_BYTES, type FlashGeometry, type FlashMemory, type FlashMemoryBytes } from './memory.js';
import { FlashIndex } from './index.js';
import { WriteBuffer } from './writebuffer.js';
import { FileTable, filePath } from './files.js';
import { F, FlashCounterReader, FlashCounters, type FlashCounterName } from './flash-stats.js';
import { keyMatches, readU32, RECORD_BADCRC, RECORD_OK, RECORD_TORN, verifyRecord } from './record.js';
import { lockWord, unlockWord } from '../store/lock.js';
import { HASH_SEED, murmur3 } from '../store/hash.js';
import {
  C_DONE, C_SUBMITTED, HEADER_WORDS, HEARTBEAT, MAX_CHANNEL_READ, R_GONE, READ_ARENA, READ_SLOTS, S_ARENA, S_FILE,
  S_LENGTH, S_OFFSET, S_RESULT, S_VERDICT, SLOT_WORDS,
} from './layout.js';
import { ReadChannel } from './reader.js';
import { sweepFlashShard, type FlashSweepParts } from './sweep.js';

/** Bits of K_LOGGED: each kind of failure is logged once per process (every thread shares the bits). */
export const LOG_READ_ERROR = 1;
export const LOG_BAD_CRC = 2;
export const LOG_WRITE_ERROR = 4;
export const LOG_WBUF_FULL = 8;
export const LOG_NO_SPACE = 16;
export const LOG_WBUF_STUCK = 32;

export function logOnce(control: Int32Array, bit: number, log: Logger | undefined, obj: object, msg: string): void {
  if ((Atomics.or(control, K_LOGGED, bit) & bit) !== 0) return;
  log?.warn(obj, msg);
}

interface FdSlot {
  fd: number;
  refs: number;
  waiters: Array<(fd: number) => void> | null;
}

const NO_FD = -1;
/** A reader thread that neither completes a read nor makes a pass for this long is given up on. */
const READER_STALL_MS = 5000;
/**
 * Inline reads. A record of at most INLINE_MAX_BYTES is read with a plain pread on the serving thread, in
 * the microtask that submits the batch (no shard lock held), as long as such reads take what a page-cache
 * hit takes. Handing a read to a reader thread costs two thread wake-ups per batch (the reader's, then this
 * loop's); on a 2-core machine shared with the clients each wake-up can wait for a core, and that wait was
 * the flash hits' tail: bench scenario x (4 KiB values, 16 connections x 4 deep) had a get p99 of 4.6 ms
 * while a 4 KiB pread from the page cache takes a few microseconds. Reads are judged in windows of
 * INLINE_WINDOW: when more than INLINE_SLOW_MAX of them took over INLINE_SLOW_US (the device, not the page
 * cache, served them: an NVMe SSD's random 4 KiB read takes ~80 µs, a page-cache hit 2-5 µs; the allowance
 * is for a thread preempted mid-read on a busy machine), reads go to the reader (or the pool) for
 * INLINE_BACKOFF_MS, then a new window tries again; so a device that is slow costs at most
 * INLINE_SLOW_MAX + 1 slow reads on the loop per backoff.
 */
const INLINE_MAX_BYTES = 64 * 1024;
const INLINE_SLOW_US = 50;
const INLINE_WINDOW = 64;
const INLINE_SLOW_MAX = 8;
const INLINE_BACKOFF_MS = 1000;
const EVENT_LOOP_WINDOW_MS = 1000;
const EVENT_LOOP_RESOLUTION_MS = 5;
const DEMOTE_QUEUED = 0;
const DEMOTE_SKIPPED = 1;
const DEMOTE_FULL = 2;

/** Atomics.waitAsync (V8, Node >= 16); typed here because the project's lib is older than ES2024. */
export const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number, timeoutMs?: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync.bind(Atomics);

/** This thread's total run-queue wait in ns (Linux), or -1. */
function runQueueWaitNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[1]);
  } catch {
    return -1;
  }
}

/**
 * Read buffers of one thread, reused: a record read from a file lands in a block of a power-of-two size
 * class, given back once the read's callback has returned (the engine copies the value out). A fresh
 * 4 KiB+ Buffer per flash hit is an ArrayBuffer outside the V8 heap per hit, and external memory that
 * grows that fast makes V8 collect garbage often on the serving threads.
 */
class ReadBuffers {
  private static readonly MIN_CLASS = 12; // 4 KiB
  private static readonly MAX_CLASS = 20; // 1 MiB: larger records get a buffer of their own
  private static readonly KEEP = 64; // blocks kept per class
  private readonly free: Buffer[][] = [];
  /** Bytes of the blocks kept (bounded by READ_BUFFERS_KEEP_BYTES; stats: extstore_memory_read_bytes). */
  kept = 0;

  take(length: number): Buffer {
    const c = Math.max(ReadBuffers.MIN_CLASS, Math.ceil(Math.log2(Math.max(1, length))));
    if (c > ReadBuffers.MAX_CLASS) return Buffer.allocUnsafeSlow(length);
    const block = this.free[c]?.pop();
    if (block === undefined) return Buffer.allocUnsafeSlow(1 << c).subarray(0, length);
    this.kept -= block.length;
    return block.subarray(0, length);
  }

  give(buf: Buffer): void {
    const size = buf.buffer.byteLength;
    const c = Math.log2(size);
    if (!Number.isInteger(c) || c < ReadBuffers.MIN_CLASS || c > ReadBuffers.MAX_CLASS || buf.byteOffset !== 0) return;
    const list = (this.free[c] ??= []);
    if (list.length < ReadBuffers.KEEP && this.kept + size <= READ_BUFFERS_KEEP_BYTES) {
      list.push(Buffer.from(buf.buffer, 0, size));
      this.kept += size;
    }
  }
}

/** One read in flight: what read() needs from the location, copied (it and the key buffer are reused). */
class ReadOp {
  /** Where the record lands: a pooled block for file reads (read()), a fresh Buffer for readSync(). */
  buf: Buffer = EMPTY;
  fd = NO_FD;
  sync = false;
  fromIo = false;
  /** Reader-thread path: where the record lands in the channel's arena, and the arena bytes it holds. */
  arenaOff = 0;
  arenaCost = 0;
  readonly started = performance.now();
  constructor(public file: number, public offset: number, readonly length: number, readonly key: Buffer,
    readonly vlen: number, readonly cas: number, readonly cb: TierReadCallback) {}
}
const EMPTY = Buffer.alloc(0);

export class LogFlashTier implements LowerTier {
  readonly g: FlashGeometry;
  readonly index: FlashIndex;
  readonly ring: WriteBuffer;
  readonly control: Int32Array;
  readonly counters: FlashCounters;
  readonly reader: FlashCounterReader;
  private readonly files: FileTable;
  private readonly paths: string[];
  private readonly processStarted: number;
  private readonly fds = new Map<number, FdSlot>();
  private readonly placed = { victim: false, found: false };
  private readonly minItemSize: number;

  constructor(readonly memory: FlashMemory, row: number, private readonly log?: Logger) {
    this.g = flashGeometry(memory.options);
    this.index = new FlashIndex(memory, this.g);
    this.ring = new WriteBuffer(memory.buffers.ring, memory.buffers.control);
    this.control = new Int32Array(memory.buffers.control);
    this.counters = new FlashCounters(memory.buffers.counters, row);
    this.reader = new FlashCounterReader(memory.buffers.counters);
    this.files = new FileTable(memory.buffers.files);
    this.paths = memory.options.paths.map((p) => p.path);
    this.processStarted = memory.options.processStarted;
    this.minItemSize = memory.options.itemSize ?? 0;
    this.mem = flashMemoryBytes(memory.options, this.g);
    // RAM evicts a segment at a time (at least 1 MiB, at least the largest record; memory.ts sizes the
    // ring in the same unit): keep room for one such burst per serving thread, as each of them may be
    // evicting one while the others' writes wait. Half the ring at most, so that holds do not start at
    // a nearly empty ring when there are many threads.
    const burst = Math.max(MIN_FILE_SIZE, this.g.maxRecord);
    this.holdAbove = this.ring.itemLimit - Math.min(Math.floor(this.ring.itemLimit / 2), memory.options.threads * burst);
    this.wbufWaitMs = memory.options.wbufWaitMs ?? WBUF_WAIT_MS;
    const readers = memory.options.readers ?? 0;
    this.stallMs = memory.options.readerStallMs ?? READER_STALL_MS;
    this.inlineReads = memory.options.inlineReads ?? true;
    this.inlineSlowUs = memory.options.inlineSlowUs ?? INLINE_SLOW_US;
    if (memory.buffers.reads !== undefined && readers > 0 && row < memory.options.threads) {
      this.chan = new ReadChannel(memory.buffers.reads, row);
      this.bells = new Int32Array(memory.buffers.reads, 0, HEADER_WORDS);
      this.bell = row % readers;
    }
    if (row < memory.options.threads && log !== undefined) this.monitorEventLoop();
  }

  /**
   * Serving threads: event-loop delay p99 and max over the last second into this thread's row, so that
   * /metrics shows whether flash I/O (or anything else) stalls the threads that answer clients.
   */
  private monitorEventLoop(): void {
    // One sampler: a 5 ms timer whose lateness is the loop's delay (what Node's monitorEventLoopDelay
    // records, minus its resolution). Each sample goes into this second's histogram (the p99 and max
    // gauges) and into the row's histogram kept since start (a window's p99 from two scrapes).
    const second = createHistogram();
    const row = this.counters.row;
    // Run-queue wait (ns, second field of /proc/thread-self/schedstat): time this thread was ready to run
    // but another thread had the CPU. On a machine where clients share the cores with the server, that is
    // most of the loop delay; a tiny read once a second.
    let waited = runQueueWaitNs();
    let last = performance.now();
    let lastSecond = last;
    const sampler = setInterval(() => {
      const t = performance.now();
      const delayUs = Math.max(0, Math.round((t - last - EVENT_LOOP_RESOLUTION_MS) * 1000));
      last = t;
      this.counters.observeLoopDelay(delayUs);
      second.record(Math.max(1, delayUs));
      if (t - lastSecond < EVENT_LOOP_WINDOW_MS) return;
      lastSecond = t;
      row[F.eventloop_delay_p99_us] = second.count > 0 ? second.percentile(99) : 0;
      row[F.eventloop_delay_max_us] = second.count > 0 ? second.max : 0;
      second.reset();
      const w = runQueueWaitNs();
      if (w >= 0 && waited >= 0) row[F.runqueue_wait_us] = Math.round((w - waited) / 1000);
      waited = w;
    }, EVENT_LOOP_RESOLUTION_MS);
    sampler.unref();
  }

  /** The largest CAS recovered from the files: the store's CAS counter must start above it. */
  maxRecoveredCas(): number {
    return (Atomics.load(this.control, K_MAX_CAS_HI) >>> 0) * 4294967296 + (Atomics.load(this.control, K_MAX_CAS_LO) >>> 0);
  }

  /** True once the flusher has rebuilt the index from the files (gates /readyz). */
  ready(): boolean {
    return Atomics.load(this.control, K_READY) === 1;
  }

  /** Write-buffer bytes above which writes that evict wait (backpressure.ts) and reads do not promote. */
  readonly holdAbove: number;
  /** ext_wbuf_wait_ms: how long the flusher may make no progress before held writes go on (0: no holds). */
  readonly wbufWaitMs: number;

  // ---- LowerTier -----------------------------------------------------------------------------------------

  roomForDemotions(): boolean {
    return this.control[K_USED] <= this.holdAbove;
  }

  lookup(hash: number, key: Uint8Array, start: number, end: number, now: number, loc: ItemLocation): boolean {
    const i = this.index.find(hash);
    if (i < 0) return false;
    const e = this.index.e;
    if (this.index.isDead(i, now)) {
      this.index.clear(i);
      this.counters.row[F.extstore_objects_used]--;
      return false;
    }
    const file = e[i + E_FILE];
    if (file === IN_WBUF && this.wbufRecord(i, key, start, end) < 0) return false;
    loc.flags = e[i + E_FLAGS];
    loc.exptime = e[i + E_EXPTIME];
    loc.cas = e[i + E_CAS_HI] * 4294967296 + e[i + E_CAS_LO];
    loc.valueLength = e[i + E_VLEN];
    loc.file = file;
    loc.offset = e[i + E_OFFSET];
    loc.recordLength = e[i + E_LENGTH];
    return true;
  }

  /**
   * Ring offset of entry i's record if it is still in the write buffer and is this key's, else -1. Under
   * the shard lock the flusher cannot release it (it moves the entry first, under the same lock).
   */
  private wbufRecord(i: number, key: Uint8Array, start: number, end: number): number {
    const e = this.index.e;
    const off = e[i + E_OFFSET];
    const u32 = this.ring.u32;
    if (u32[(off >>> 2) + R_MAGIC] !== MAGIC || u32[(off >>> 2) + R_SEQ] !== e[i + E_SEQ]) return -1;
    return keyMatches(this.ring.u8, off, key, start, end) ? off : -1;
  }

  invalidate(hash: number, _key: Uint8Array, _start: number, _end: number): void {
    const i = this.index.find(hash);
    if (i < 0) return;
    const e = this.index.e;
    const file = e[i + E_FILE];
    const live = file === IN_WBUF || file >= Atomics.load(this.control, K_MIN_FILE);
    this.index.clear(i);
    this.counters.row[F.extstore_objects_used]--;
    // A record of the key may already be on disk (even an IN_WBUF one: written, not yet moved): a
    // tombstone keeps a restart from bringing the old value back.
    if (live) this.tombstone(hash);
  }

  read(loc: ItemLocation, key: Uint8Array, start: number, end: number, cb: TierReadCallback): void {
    const k = Buffer.allocUnsafe(end - start);
    k.set(key.subarray(start, end));
    const op = new ReadOp(loc.file, loc.offset, loc.recordLength, k, loc.valueLength, loc.cas, cb);
    this.counters.row[F.extstore_io_queue]++;
    if (op.file === IN_WBUF) {
      this.locate(op);
      return;
    }
    // The engine calls read() (through the tiered store) under the key's shard lock, often for a whole pipelined batch of gets. A
    // file read is submitted to libuv's thread pool, which wakes a pool thread (a futex wake that, on a
    // 2-core machine, often gets the caller preempted) — measured at a quarter of a serving thread's time
    // under flash load, much of it with the shard lock held while the other serving thread spun and then
    // slept in Atomics.wait on it (event-loop delay). So reads are queued here and submitted together
    // once the current task's synchronous work (and every lock it took) is done.
    this.submitQueue.push(op);
    if (this.submitQueue.length === 1) queueMicrotask(this.submitQueued);
  }

  private readonly submitQueue: ReadOp[] = [];
  private readonly readBuffers = new ReadBuffers();
  private readonly submitQueued = (): void => {
    // Taken out first: an inline read calls back at once, and a callback may queue more reads (they go
    // into the emptied queue, which schedules its own submission).
    const q = this.submitQueue.splice(0);
    const n = q.length;
    let rang = false;
    for (let i = 0; i < n; i++) {
      const op = q[i];
      if (op.length <= INLINE_MAX_BYTES && this.inlineReads && this.readInline(op)) continue;
      if (this.toChannel(op)) {
        rang = true;
      } else {
        op.buf = this.readBuffers.take(op.length);
        this.withFd(op);
      }
    }
    if (rang) {
      // One doorbell per batch: the reader preads the whole batch, then wakes us once.
      Atomics.add(this.bells!, this.bell, 1);
      Atomics.notify(this.bells!, this.bell, 1);
      this.awaitChannel();
    }
  };

  // ---- inline reads (INLINE_* above) --------------------------------------------------------------------

  private readonly inlineReads: boolean;
  private readonly inlineSlowUs: number;
  private inlineCount = 0;
  private inlineSlow = 0;
  private inlineOffUntil = 0;

  /** Reads op here and now when inline reads are on and its file is open or opens; false: queue it. */
  private readInline(op: ReadOp): boolean {
    if (this.inlineOffUntil !== 0) {
      if (performance.now() < this.inlineOffUntil) return false;
      this.inlineOffUntil = 0;
    }
    const fd = this.syncFd(op.file);
    if (fd === NO_FD) return false;
    op.buf = this.readBuffers.take(op.length);
    const t0 = performance.now();
    let n = 0;
    let err: NodeJS.ErrnoException | null = null;
    try {
      n = readSync(fd, op.buf, 0, op.length, op.offset);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    if ((performance.now() - t0) * 1000 > this.inlineSlowUs) this.inlineSlow++;
    if (++this.inlineCount >= INLINE_WINDOW) {
      if (this.inlineSlow > INLINE_SLOW_MAX) {
        this.inlineOffUntil = performance.now() + INLINE_BACKOFF_MS;
        this.counters.row[F.extstore_inline_backoffs]++;
      }
      this.inlineCount = 0;
      this.inlineSlow = 0;
    }
    this.counters.row[F.extstore_inline_reads]++;
    op.fromIo = true; // this runs in a microtask after read() returned: the callback may run at once
    this.verify(op, err, n);
    return true;
  }

  /** This thread's fd for a file, opened now if need be; NO_FD when the file is gone or an open is pending. */
  private syncFd(file: number): number {
    const slot = this.fds.get(file);
    if (slot !== undefined) return slot.waiters === null ? slot.fd : NO_FD;
    const dir = this.files.pathOf(file);
    if (dir < 0 || file < Atomics.load(this.control, K_MIN_FILE)) return NO_FD;
    this.closeReclaimed();
    let fd: number;
    try {
      fd = openSync(filePath(this.paths[dir], file), 'r');
    } catch {
      return NO_FD; // the queued path opens it again and counts the error
    }
    this.fds.set(file, { fd, refs: 0, waiters: null });
    return fd;
  }

  // ---- reads through a reader thread (reader.ts; -o ext_threads) -----------------------------------------

  private readonly chan: ReadChannel | undefined;
  private readonly bells: Int32Array | undefined;
  private readonly bell: number = 0;
  /** Reads submitted to the channel, oldest first (the reader completes them in this order). */
  private readonly chanPending: ReadOp[] = [];
  private chanSubmitted = 0;
  private chanSeenDone = 0;
  private chanWaiting = false;
  private arenaHead = 0;
  private arenaUsed = 0;
  /** The reader's heartbeat when the last wait began; a reader that stops beating is given up on. */
  private beatSeen = 0;
  private chanDead = false;
  private readonly stallMs: number;

  /** Queues op on this thread's channel; false (use the pool) when there is none or it is full. */
  private toChannel(op: ReadOp): boolean {
    const ch = this.chan;
    if (ch === undefined || this.chanDead || op.length > MAX_CHANNEL_READ || this.chanPending.length >= READ_SLOTS) return false;
    let off = this.arenaHead;
    let cost = op.length;
    if (off + op.length > READ_ARENA) {
      cost += READ_ARENA - off; // the tail of the arena stays unused; the record goes to its start
      off = 0;
    }
    if (this.arenaUsed + cost > READ_ARENA) return false;
    this.arenaHead = off + op.length;
    this.arenaUsed += cost;
    op.arenaOff = off;
    op.arenaCost = cost;
    const s = ((this.chanSubmitted >>> 0) % READ_SLOTS) * SLOT_WORDS;
    const slots = ch.slots;
    slots[s + S_FILE] = op.file;
    slots[s + S_OFFSET] = op.offset;
    slots[s + S_LENGTH] = op.length;
    slots[s + S_ARENA] = off;
    this.chanSubmitted = (this.chanSubmitted + 1) | 0;
    Atomics.store(ch.ctl, C_SUBMITTED, this.chanSubmitted);
    this.chanPending.push(op);
    return true;
  }

  /** Arms one Atomics.waitAsync on the channel's completion count (a task on this event loop). */
  private awaitChannel(): void {
    if (this.chanWaiting || this.chanPending.length === 0) return;
    this.beatSeen = Atomics.load(this.bells!, HEARTBEAT + this.bell);
    const r = waitAsync(this.chan!.ctl, C_DONE, this.chanSeenDone, this.stallMs);
    if (!r.async) {
      queueMicrotask(this.drainChannel);
      return;
    }
    this.chanWaiting = true;
    void r.value.then(this.onChannelWake);
  }

  private readonly onChannelWake = (why: string): void => {
    this.chanWaiting = false;
    if (why === 'timed-out' && Atomics.load(this.chan!.ctl, C_DONE) === this.chanSeenDone &&
      Atomics.load(this.bells!, HEARTBEAT + this.bell) === this.beatSeen) {
      this.abandonChannel();
      return;
    }
    this.drainChannel();
  };

  /**
   * The reader made no progress and no pass for READER_STALL_MS while reads waited (its thread died, or a
   * read hangs on a failing disk): those reads become misses (read errors) and this thread's later reads go
   * through libuv's pool. Its channel is never used again (the reader may still write into it).
   */
  private abandonChannel(): void {
    this.chanDead = true;
    logOnce(this.control, LOG_READ_ERROR, this.log, { stallMs: this.stallMs },
      'flash reader thread stalled: its reads are served as misses, later reads use the thread pool');
    const pending = this.chanPending.splice(0);
    for (const op of pending) {
      op.fromIo = true;
      this.finish(op, null, 'extstore_read_errors');
    }
  }

  /** Finishes every read the reader completed, in order. */
  private readonly drainChannel = (): void => {
    const ch = this.chan!;
    const done = Atomics.load(ch.ctl, C_DONE);
    // Bounded: at most READ_SLOTS reads are outstanding.
    for (let n = 0; this.chanSeenDone !== done && n < READ_SLOTS && this.chanPending.length > 0; n++) {
      const op = this.chanPending.shift()!;
      const slot = ((this.chanSeenDone >>> 0) % READ_SLOTS) * SLOT_WORDS;
      const result = ch.slots[slot + S_RESULT];
      this.chanSeenDone = (this.chanSeenDone + 1) | 0;
      this.arenaUsed -= op.arenaCost;
      if (this.chanPending.length === 0) {
        this.arenaHead = 0;
        this.arenaUsed = 0;
      }
      op.fromIo = true;
      if (result === R_GONE) {
        this.finish(op, null, null); // reclaimed since lookup(): an ordinary miss
      } else if (result < 0) {
        this.verify(op, Object.assign(new Error('flash reader thread: open or read failed'), { code: 'EIO' }), 0);
      } else {
        // The value handed to the callback is a view of the arena: valid until the callback returns, and
        // nothing reuses those bytes before that (new reads are submitted in a later microtask).
        const view = Buffer.from(ch.arena.buffer, ch.arena.byteOffset + op.arenaOff, result);
        this.verify(op, null, result, view, ch.slots[slot + S_VERDICT]);
      }
    }
    this.awaitChannel();
  };

  /**
   * Under the key's shard lock (store/tiered.ts promotes flash items under it; taking the lock here would
   * deadlock). A file read blocks the serving thread: only the rare mutating commands use it.
   */
  readSync(loc: ItemLocation, key: Uint8Array, start: number, end: number): Buffer | null {
    const k = Buffer.allocUnsafe(end - start);
    k.set(key.subarray(start, end));
    let result: Buffer | null = null;
    const op = new ReadOp(loc.file, loc.offset, loc.recordLength, k, loc.valueLength, loc.cas, (v) => { result = v; });
    op.sync = true;
    op.buf = Buffer.allocUnsafe(op.length);
    this.counters.row[F.extstore_io_queue]++;
    if (op.file === IN_WBUF) {
      this.locate(op);
      return result;
    }
    let fd = this.fds.get(op.file)?.fd ?? NO_FD;
    const dir = this.files.pathOf(op.file);
    let opened = false;
    if (fd === NO_FD && dir >= 0 && op.file >= Atomics.load(this.control, K_MIN_FILE)) {
      try {
        fd = openSync(filePath(this.paths[dir], op.file), 'r');
        opened = true;
      } catch {
        fd = NO_FD;
      }
    }
    if (fd === NO_FD) {
      this.finish(op, null, dir < 0 ? null : 'extstore_read_errors');
      return result;
    }
    let n = 0;
    let err: NodeJS.ErrnoException | null = null;
    try {
      n = readSync(fd, op.buf, 0, op.buf.length, op.offset);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    if (opened) closeSync(fd);
    this.verify(op, err, n);
    return result;
  }

  /**
   * A hit still in the write buffer when lookup() ran: copies the value out of the ring and queues the
   * callback; false. Takes no lock (the tiered store calls read() and readSync() with the shard lock held, and
   * other callers may not): the copy is validated instead. The flusher zeroes a record's magic before it
   * lets producers reuse its bytes, so a record whose magic, length and CAS read the same before and after
   * the copy was not overwritten during it. A record already released is a miss (it is on file by then,
   * but finding where needs the lock).
   */
  private locate(op: ReadOp): boolean {
    const u32 = this.ring.u32;
    const w = op.offset >>> 2;
    const same = (): boolean => Atomics.load(u32, w + R_MAGIC) === MAGIC &&
      Atomics.load(u32, w + R_LENGTH) === op.length &&
      (Atomics.load(u32, w + R_CAS_HI) >>> 0) * 4294967296 + (Atomics.load(u32, w + R_CAS_LO) >>> 0) === op.cas;
    let v: Buffer | null = null;
    if (same() && keyMatches(this.ring.u8, op.offset, op.key, 0, op.key.length)) {
      v = Buffer.allocUnsafe(op.vlen);
      const from = op.offset + RECORD_HEADER + op.key.length;
      v.set(this.ring.u8.subarray(from, from + op.vlen));
      if (!same()) v = null;
    }
    this.finish(op, v, v === null ? null : 'get_extstore');
    return false;
  }

  flushAll(_now: number): void {
    lockWord(this.control, K_RING_LOCK);
    this.control[K_GEN]++;
    unlockWord(this.control, K_RING_LOCK);
    const e = this.index.e;
    let cleared = 0;
    for (let shard = 0; shard < this.index.shards; shard++) {
      this.index.lockShard(shard);
      const [from, to] = this.index.shardRange(shard);
      for (let i = from; i < to; i += ENTRY_WORDS) {
        if (e[i + E_TAG] !== 0) {
          this.index.clear(i);
          cleared++;
        }
      }
      this.index.unlockShard(shard);
    }
    this.counters.row[F.extstore_objects_used] -= cleared;
    this.wakeFlusher();
  }

  setOldestLive(oldestLive: number): void {
    Atomics.store(this.control, K_OLDEST_LIVE, oldestLive);
    // The flusher persists it (a restart before the deadline arms it again) and applies it at the deadline.
    this.wakeFlusher();
  }

  /** A delayed flush_all pending (rel oldest_live; recovered from the files at start), or 0. */
  pendingOldestLive(): number {
    return Atomics.load(this.control, K_OLDEST_LIVE);
  }

  // ---- demotion ------------------------------------------------------------------------------------------

  /**
   * Under the shard lock of `hash`: copies a live RAM item into the write buffer and points its flash
   * index entry there. Never waits; false (and counted) when the write buffer is full.
   */
  demote(hash: number, ref: ItemRef, store: Store, now: number): boolean {
    // ext_item_size: small items stay out of flash (the 48-byte index entry and the read are not worth it).
    if (this.minItemSize > 0 && store.itemValueLength(ref) < this.minItemSize) return false;
    const r = this.demoteItem(hash, ref, store, now);
    if (r === DEMOTE_FULL) this.drop();
    return r === DEMOTE_QUEUED;
  }

  private demoteItem(hash: number, ref: ItemRef, store: Store, now: number): number {
    const exptime = store.itemExptime(ref);
    if (exptime !== 0 && exptime <= now) return DEMOTE_SKIPPED;
    const key = store.keyView(ref);
    const value = store.valueView(ref);
    const klen = key.length;
    const vlen = value.length;
    if (recordSize(klen, vlen) > this.g.maxRecord) return DEMOTE_SKIPPED;
    const cas = store.itemCas(ref);
    const e = this.index.e;
    // A flash item promoted on a read keeps its flash copy (tiered.ts). Evicted again unchanged (same CAS,
    // which no other version or key shares, and same exptime: touch keeps the CAS), it is on flash already:
    // writing it again cost a copy into the ring per eviction and the flusher's write and crc32. Under
    // uniform gets over 13x RAM, about one flash hit in four is promoted, and each eviction of a promoted
    // item was rewritten (bench scenario x).
    // One scan of the key's buckets finds its entry or the one it gets (a lookup then a place cost two, and
    // each is a cache miss or two: every demotion of a new key paid both).
    const i = this.index.place(hash, this.placed);
    if (this.placed.found && e[i + E_CAS_LO] === cas >>> 0 && e[i + E_CAS_HI] === Math.floor(cas / 4294967296) >>> 0 &&
      e[i + E_EXPTIME] === exptime && e[i + E_VLEN] === vlen && !this.index.isDead(i, now)) {
      this.counters.row[F.extstore_demotes_kept]++;
      return DEMOTE_QUEUED;
    }
    const flags = store.itemFlags(ref);
    if (!this.ring.push(TYPE_ITEM, hash, key, 0, klen, value, flags, cas,
      exptime === 0 ? 0 : exptime + this.processStarted)) {
      if (!this.placed.found) this.index.unplace(hash, i);
      return DEMOTE_FULL;
    }
    if (this.placed.victim) {
      this.tombstone(e[i + E_HASH]);
    } else if (e[i + E_TAG] === 0) {
      this.counters.row[F.extstore_objects_used]++;
    }
    e[i + E_HASH] = hash;
    e[i + E_FILE] = IN_WBUF;
    e[i + E_OFFSET] = this.ring.offset;
    e[i + E_LENGTH] = RECORD_HEADER + klen + vlen;
    e[i + E_FLAGS] = flags;
    e[i + E_EXPTIME] = exptime;
    e[i + E_CAS_LO] = cas >>> 0;
    e[i + E_CAS_HI] = Math.floor(cas / 4294967296) >>> 0;
    e[i + E_VLEN] = vlen;
    e[i + E_TIME] = store.itemTime(ref);
    e[i + E_SEQ] = this.ring.seq;
    e[i + E_TAG] = (hash | 1) >>> 0;
    this.counters.row[F.extstore_objects_demoted]++;
    return DEMOTE_QUEUED;
  }

  /**
   * Shutdown (ext_flush_on_shutdown): writes every live RAM item to the write buffer, waiting for the
   * flusher whenever it is full (the shard lock is released while waiting: the flusher needs it). Serving
   * threads must be idle. Returns the items queued; stops at the deadline (Date.now() ms).
   */
  demoteAll(store: Store, now: number, deadline: number): number {
    let queued = 0;
    const fn = (hash: number, ref: ItemRef): boolean => {
      const r = this.demoteItem(hash, ref, store, now);
      if (r === DEMOTE_QUEUED) queued++;
      return r !== DEMOTE_FULL;
    };
    for (let shard = 0; shard < this.index.shards; shard++) {
      let cursor = 0;
      while (cursor >= 0) {
        if (Date.now() > deadline) return queued;
        store.lock(shard);
        cursor = store.scanItems(shard, cursor, now, fn);
        store.unlock(shard);
        if (cursor < 0) break;
        const used = Atomics.load(this.control, K_USED);
        this.wakeFlusher();
        Atomics.wait(this.control, K_USED, used, 20);
      }
    }
    this.counters.row[F.extstore_shutdown_flushed] += queued;
    return queued;
  }

  private drop(): false {
    this.counters.row[F.extstore_wbuf_dropped]++;
    logOnce(this.control, LOG_WBUF_FULL, this.log, { wbufSize: this.ring.size },
      'flash write buffer full (or item too large): evicted items are dropped instead of written to flash (counted in extstore_wbuf_dropped)');
    return false;
  }

  private tombstone(hash: number): void {
    if (this.ring.push(TYPE_TOMBSTONE, hash, this.ring.u8, 0, 0, null, 0, 0, 0)) {
      this.counters.row[F.extstore_tombstones_written]++;
    } else {
      this.drop();
    }
  }

  wakeFlusher(): void {
    Atomics.add(this.control, K_WAKE, 1);
    Atomics.notify(this.control, K_WAKE);
  }

  /** A flash item was promoted back into RAM (memcached's recache_from_extstore). */
  countRecache(): void {
    this.counters.row[F.recache_from_extstore]++;
  }

  sweep(shard: number, position: number, limit: number, now: number, drop: SweepDecision,
    counts: SweepCounts): Promise<number> {
    this.sweepParts ??= {
      index: this.index, ring: this.ring, files: this.files, paths: this.paths, control: this.control,
      invalidate: (hash) => this.invalidate(hash, EMPTY, 0, 0),
    };
    return sweepFlashShard(this.sweepParts, shard, position, limit, now, drop, counts);
  }

  private sweepParts: FlashSweepParts | undefined;

  // ---- reads ---------------------------------------------------------------------------------------------

  private withFd(op: ReadOp): void {
    const slot = this.fds.get(op.file);
    if (slot !== undefined) {
      slot.refs++;
      if (slot.waiters !== null) slot.waiters.push((fd) => this.startRead(op, fd));
      else this.startRead(op, slot.fd);
      return;
    }
    const dir = this.files.pathOf(op.file);
    if (dir < 0 || op.file < Atomics.load(this.control, K_MIN_FILE)) {
      // Reclaimed since lookup(): an ordinary miss.
      this.finish(op, null, null);
      return;
    }
    this.closeReclaimed();
    const fresh: FdSlot = { fd: NO_FD, refs: 1, waiters: [] };
    this.fds.set(op.file, fresh);
    open(filePath(this.paths[dir], op.file), 'r', (err, fd) => {
      const waiters = fresh.waiters ?? [];
      fresh.waiters = null;
      if (err) {
        this.fds.delete(op.file);
        logOnce(this.control, LOG_READ_ERROR, this.log, { err, file: op.file },
          'flash file cannot be opened: serving misses (counted in extstore_read_errors)');
      } else {
        fresh.fd = fd;
      }
      this.startRead(op, fresh.fd);
      for (const w of waiters) w(fresh.fd);
    });
  }

  private startRead(op: ReadOp, fd: number): void {
    if (fd === NO_FD) {
      this.finish(op, null, 'extstore_read_errors');
      return;
    }
    op.fd = fd;
    read(fd, op.buf, 0, op.buf.length, op.offset, (err, n) => {
      op.fromIo = true;
      this.release(op);
      this.verify(op, err, n);
    });
  }

  /**
   * Closes the idle fds of reclaimed files. Called before each open: a file reclaimed while no read was
   * in flight would otherwise keep its fd (and its disk space) for the life of the thread.
   */
  private closeReclaimed(): void {
    const min = Atomics.load(this.control, K_MIN_FILE);
    for (const [file, slot] of this.fds) {
      if (file < min && slot.refs === 0 && slot.fd !== NO_FD) {
        this.fds.delete(file);
        close(slot.fd, () => {});
      }
    }
  }

  /** One read fewer on op's file; the fd of a reclaimed file is closed once no read uses it. */
  private release(op: ReadOp): void {
    const slot = this.fds.get(op.file);
    if (slot === undefined || slot.fd !== op.fd) return;
    slot.refs--;
    if (slot.refs === 0 && op.file < Atomics.load(this.control, K_MIN_FILE)) {
      this.fds.delete(op.file);
      close(slot.fd, () => {});
    }
  }

  /**
   * `buf` (op.buf by default) holds the n bytes read; `verdict`, when the reader thread already checked the
   * record (reader.ts), saves the crc32 here.
   */
  private verify(op: ReadOp, err: NodeJS.ErrnoException | null, n: number, buf: Buffer = op.buf, verdict = -1): void {
    if (err) {
      logOnce(this.control, LOG_READ_ERROR, this.log, { err, file: op.file },
        'flash read failed: serving a miss (counted in extstore_read_errors)');
      this.finish(op, null, 'extstore_read_errors');
      return;
    }
    if (verdict < 0) verdict = n === op.length ? verifyRecord(buf, 0, n) : RECORD_TORN;
    if (verdict === RECORD_BADCRC) {
      logOnce(this.control, LOG_BAD_CRC, this.log, { file: op.file, offset: op.offset },
        'flash record failed its checksum: serving a miss (counted in badcrc_from_extstore)');
      this.finish(op, null, 'badcrc_from_extstore');
      return;
    }
    if (verdict !== RECORD_OK) {
      logOnce(this.control, LOG_READ_ERROR, this.log, { file: op.file, offset: op.offset, bytes: n },
        'flash record missing or torn (file truncated or replaced?): serving a miss (counted in extstore_read_errors)');
      this.finish(op, null, 'extstore_read_errors');
      return;
    }
    if (!keyMatches(buf, 0, op.key, 0, op.key.length) || n !== RECORD_HEADER + op.key.length + op.vlen ||
      readU32(buf, 0, R_CAS_HI) * 4294967296 + readU32(buf, 0, R_CAS_LO) !== op.cas) {
      // Another key with the same 32-bit hash, or another version of this one: a miss, not an error.
      this.finish(op, null, null);
      return;
    }
    const start = RECORD_HEADER + op.key.length;
    this.counters.row[F.extstore_objects_read]++;
    this.counters.row[F.extstore_bytes_read] += n;
    this.finish(op, buf.subarray(start, start + op.vlen), 'get_extstore');
  }

  /** Every null is a miss_from_extstore (as memcached counts it); `why` adds the reason's own counter. */
  private finish(op: ReadOp, value: Buffer | null, why: FlashCounterName | null): void {
    const row = this.counters.row;
    row[F.extstore_io_queue]--;
    if (why !== null) row[F[why]]++;
    if (value === null) {
      row[F.miss_from_extstore]++;
      if (why !== null) this.forget(op);
    }
    this.counters.observeRead(Math.round((performance.now() - op.started) * 1000));
    // From an fs callback we are already asynchronous; otherwise (write buffer, reclaimed file) one
    // setImmediate keeps the promise "never calls back synchronously".
    if (op.sync) {
      op.cb(value);
    } else if (op.fromIo) {
      op.cb(value);
      this.recycle(op);
    } else {
      setImmediate(() => {
        op.cb(value);
        this.recycle(op);
      });
    }
  }

  /** The callback has returned: the value (a view of op.buf) is no longer used. */
  private recycle(op: ReadOp): void {
    if (op.buf.length > 0) this.readBuffers.give(op.buf);
    op.buf = EMPTY;
  }

  /** A record that cannot be read is dropped from the index, so later gets miss without I/O. */
  private forget(op: ReadOp): void {
    const hash = this.hashOf(op.key);
    if (!op.sync) this.index.lockShard(hash);
    const i = this.index.find(hash);
    const e = this.index.e;
    if (i >= 0 && e[i + E_FILE] === op.file && e[i + E_OFFSET] === op.offset) {
      this.index.clear(i);
      this.counters.row[F.extstore_objects_used]--;
    }
    if (!op.sync) this.index.unlockShard(hash);
  }

  private hashOf(key: Buffer): number {
    return murmur3(key, 0, key.length, HASH_SEED);
  }

  // ---- stats ---------------------------------------------------------------------------------------------

  /** memcached's general `stats` lines for extstore, in memcached's order, then Cachalot's own. */
  statPairs(): Array<[string, number]> {
    const r = this.reader;
    const c = this.control;
    const filesUsed = Atomics.load(c, K_FILES_USED);
    const filesTotal = Atomics.load(c, K_FILES_TOTAL);
    const limit = filesTotal * this.g.fileSize;
    const used = Atomics.load(c, K_BYTES_USED) * 1024;
    return [
      ['get_extstore', r.get('get_extstore')],
      ['get_aborted_extstore', r.get('get_aborted_extstore')],
      ['get_oom_extstore', r.get('get_oom_extstore')],
      ['recache_from_extstore', r.get('recache_from_extstore')],
      ['miss_from_extstore', r.get('miss_from_extstore')],
      ['badcrc_from_extstore', r.get('badcrc_from_extstore')],
      ['extstore_compact_lost', r.get('extstore_compact_lost')],
      ['extstore_compact_rescues', r.get('extstore_compact_rescues')],
      ['extstore_compact_skipped', r.get('extstore_compact_skipped')],
      ['extstore_page_allocs', r.get('extstore_page_allocs')],
      ['extstore_page_evictions', r.get('extstore_page_evictions')],
      ['extstore_page_reclaims', r.get('extstore_page_reclaims')],
      ['extstore_pages_free', Math.max(0, filesTotal - filesUsed)],
      ['extstore_pages_used', filesUsed],
      ['extstore_objects_evicted', r.get('extstore_objects_evicted')],
      ['extstore_objects_read', r.get('extstore_objects_read')],
      ['extstore_objects_written', r.get('extstore_objects_written')],
      ['extstore_objects_used', Math.max(0, r.get('extstore_objects_used'))],
      ['extstore_bytes_evicted', r.get('extstore_bytes_evicted')],
      ['extstore_bytes_written', r.get('extstore_bytes_written')],
      ['extstore_bytes_read', r.get('extstore_bytes_read')],
      ['extstore_bytes_used', used],
      ['extstore_bytes_fragmented', Math.max(0, filesUsed * this.g.fileSize - used)],
      ['extstore_limit_maxbytes', limit],
      ['extstore_io_queue', Math.max(0, r.get('extstore_io_queue'))],
      ['extstore_wbuf_dropped', r.get('extstore_wbuf_dropped')],
      ['extstore_tombstones_written', r.get('extstore_tombstones_written')],
      ['extstore_demotes_kept', r.get('extstore_demotes_kept')],
      ['extstore_wbuf_waits', r.get('extstore_wbuf_waits')],
      ['extstore_wbuf_wait_timeouts', r.get('extstore_wbuf_wait_timeouts')],
      ['extstore_inline_reads', r.get('extstore_inline_reads')],
      ['extstore_inline_backoffs', r.get('extstore_inline_backoffs')],
      ['extstore_write_errors', r.get('extstore_write_errors')],
      ['extstore_read_errors', r.get('extstore_read_errors')],
      ['extstore_recovered_objects', r.get('extstore_recovered_objects')],
      ['extstore_recovered_files', r.get('extstore_recovered_files')],
      ['extstore_torn_records', r.get('extstore_torn_records')],
      ['extstore_recovery_ms', r.get('extstore_recovery_ms')],
      ['extstore_memory_wbuf_bytes', this.mem.wbuf],
      ['extstore_memory_index_bytes', this.mem.index],
      ['extstore_memory_read_bytes', this.mem.readChannels + this.mem.readBuffers],
      ['extstore_memory_threads_bytes', this.mem.threads],
      ['extstore_memory_bytes', this.mem.total],
      ['extstore_memory_in_limit_bytes', this.mem.inLimit],
    ];
  }

  /** The tier's RAM by part (upper bounds: memory.ts flashMemoryBytes); `inLimit` of it comes out of -m. */
  readonly mem: FlashMemoryBytes;

  /** `stats extstore`: the tier's geometry and page (file) use. */
  extstoreStats(): Array<[string, number]> {
    const c = this.control;
    return [
      ['page_size', this.g.fileSize],
      ['page_count', Atomics.load(c, K_FILES_TOTAL)],
      ['page_used', Atomics.load(c, K_FILES_USED)],
      ['page_free', Math.max(0, Atomics.load(c, K_FILES_TOTAL) - Atomics.load(c, K_FILES_USED))],
      ['wbuf_size', this.ring.size],
      ['wbuf_used', Atomics.load(c, K_USED)],
      ['index_slots', this.index.slotsPerShard * this.index.shards],
      ['index_bytes', this.mem.index],
      ['read_channel_bytes', this.mem.readChannels],
      ['read_buffer_bytes', this.mem.readBuffers],
      ['oldest_page', Atomics.load(c, K_MIN_FILE)],
    ];
  }

  /** Prometheus text: memcached_exporter's extstore families plus the flash read latency histogram. */
  metricsText(): string {
    const pairs = new Map(this.statPairs());
    const out: string[] = [];
    const fam = (name: string, type: 'counter' | 'gauge', help: string, stat: string): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${pairs.get(stat) ?? 0}`);
    };
    // memcached_exporter's names and types (pkg/exporter/exporter.go), from the same `stats` lines.
    fam('memcached_extstore_compact_lost_total', 'counter', 'Total number of items lost because they were locked during extstore compaction.', 'extstore_compact_lost');
    fam('memcached_extstore_compact_rescued_total', 'counter', 'Total number of items moved to a new page during extstore compaction,', 'extstore_compact_rescues');
    fam('memcached_extstore_compact_skipped_total', 'counter', 'Total number of items dropped due to inactivity during extstore compaction.', 'extstore_compact_skipped');
    fam('memcached_extstore_pages_allocated_total', 'counter', 'Total number of times a page was allocated in extstore.', 'extstore_page_allocs');
    fam('memcached_extstore_pages_evicted_total', 'counter', 'Total number of times a page was evicted from extstore.', 'extstore_page_evictions');
    fam('memcached_extstore_pages_reclaimed_total', 'counter', 'Total number of times an empty extstore page was freed.', 'extstore_page_reclaims');
    fam('memcached_extstore_pages_free', 'gauge', 'Number of extstore pages not yet containing any items.', 'extstore_pages_free');
    fam('memcached_extstore_pages_used', 'gauge', 'Number of extstore pages containing at least one item.', 'extstore_pages_used');
    fam('memcached_extstore_objects_evicted_total', 'counter', 'Total number of items evicted from extstore to free up space.', 'extstore_objects_evicted');
    fam('memcached_extstore_objects_read_total', 'counter', 'Total number of items read from extstore.', 'extstore_objects_read');
    fam('memcached_extstore_objects_written_total', 'counter', 'Total number of items written to extstore.', 'extstore_objects_written');
    fam('memcached_extstore_objects_used', 'gauge', 'Number of items stored in extstore.', 'extstore_objects_used');
    fam('memcached_extstore_bytes_evicted_total', 'counter', 'Total number of bytes evicted from extstore to free up space.', 'extstore_bytes_evicted');
    fam('memcached_extstore_bytes_written_total', 'counter', 'Total number of bytes written to extstore.', 'extstore_bytes_written');
    fam('memcached_extstore_bytes_read_total', 'counter', 'Total number of bytes read from extstore.', 'extstore_bytes_read');
    fam('memcached_extstore_bytes_used', 'counter', 'Current number of bytes used to store items in extstore.', 'extstore_bytes_used');
    fam('memcached_extstore_bytes_fragmented', 'gauge', 'Current number of bytes in extstore pages allocated but not used to store an object.', 'extstore_bytes_fragmented');
    fam('memcached_extstore_bytes_limit', 'gauge', 'Number of bytes of external storage allocated for this server.', 'extstore_limit_maxbytes');
    fam('memcached_extstore_io_queue_depth', 'gauge', 'Number of items in the I/O queue waiting to be processed.', 'extstore_io_queue');
    // memcached's thread stats the exporter does not export, under Cachalot's own names.
    fam('cachalot_flash_gets_total', 'counter', 'Gets served from flash (get_extstore).', 'get_extstore');
    fam('cachalot_flash_get_aborted_total', 'counter', 'Flash reads aborted (get_aborted_extstore).', 'get_aborted_extstore');
    fam('cachalot_flash_recache_total', 'counter', 'Flash items brought back to RAM (recache_from_extstore).', 'recache_from_extstore');
    fam('cachalot_flash_misses_total', 'counter', 'Flash lookups whose record could not be served (miss_from_extstore).', 'miss_from_extstore');
    fam('cachalot_flash_badcrc_total', 'counter', 'Flash records that failed their checksum (badcrc_from_extstore).', 'badcrc_from_extstore');
    fam('cachalot_flash_demotes_kept_total', 'counter', 'Evictions of items whose flash copy was current (not written again).', 'extstore_demotes_kept');
    fam('cachalot_flash_wbuf_dropped_total', 'counter', 'Evicted items not written to flash because the write buffer was full.', 'extstore_wbuf_dropped');
    fam('cachalot_flash_wbuf_waits_total', 'counter', 'Writes that waited for room in the flash write buffer before evicting.', 'extstore_wbuf_waits');
    fam('cachalot_flash_wbuf_wait_timeouts_total', 'counter', 'Waits for write-buffer room that ran out (the flusher made no progress for ext_wbuf_wait_ms).', 'extstore_wbuf_wait_timeouts');
    fam('cachalot_flash_write_errors_total', 'counter', 'Flash write failures (EIO, ENOSPC, ...).', 'extstore_write_errors');
    fam('cachalot_flash_read_errors_total', 'counter', 'Flash read failures (EIO, truncated or missing files).', 'extstore_read_errors');
    fam('cachalot_flash_recovered_objects', 'gauge', 'Items recovered from flash at start.', 'extstore_recovered_objects');
    fam('cachalot_flash_torn_records_total', 'counter', 'Torn or corrupt records cut at recovery.', 'extstore_torn_records');
    out.push('# HELP cachalot_flash_memory_bytes RAM the flash tier takes, by part (upper bounds, fixed at start).',
      '# TYPE cachalot_flash_memory_bytes gauge',
      `cachalot_flash_memory_bytes{part="wbuf"} ${this.mem.wbuf}`,
      `cachalot_flash_memory_bytes{part="index"} ${this.mem.index}`,
      `cachalot_flash_memory_bytes{part="read_channels"} ${this.mem.readChannels}`,
      `cachalot_flash_memory_bytes{part="read_buffers"} ${this.mem.readBuffers}`,
      `cachalot_flash_memory_bytes{part="other"} ${this.mem.other}`,
      `cachalot_flash_memory_bytes{part="threads"} ${this.mem.threads}`,
      '# HELP cachalot_flash_memory_in_limit_bytes Of cachalot_flash_memory_bytes, the part counted inside -m (the RAM tier gets -m less it and its own index).',
      '# TYPE cachalot_flash_memory_in_limit_bytes gauge',
      `cachalot_flash_memory_in_limit_bytes ${this.mem.inLimit}`);
    out.push('# HELP cachalot_serving_eventloop_delay_p99_seconds Event-loop delay p99 of the serving threads over the last second (the largest thread).',
      '# TYPE cachalot_serving_eventloop_delay_p99_seconds gauge',
      `cachalot_serving_eventloop_delay_p99_seconds ${this.reader.max('eventloop_delay_p99_us') / 1e6}`,
      '# HELP cachalot_serving_eventloop_delay_max_seconds Event-loop delay max of the serving threads over the last second.',
      '# TYPE cachalot_serving_eventloop_delay_max_seconds gauge',
      `cachalot_serving_eventloop_delay_max_seconds ${this.reader.max('eventloop_delay_max_us') / 1e6}`,
      '# HELP cachalot_serving_runqueue_wait_seconds Time the most-waiting serving thread was runnable but waited for a CPU over the last second (Linux schedstat).',
      '# TYPE cachalot_serving_runqueue_wait_seconds gauge',
      `cachalot_serving_runqueue_wait_seconds ${this.reader.max('runqueue_wait_us') / 1e6}`);
    return out.join('\n') + '\n' +
      this.reader.histogramText('cachalot_flash_read_duration_seconds', 'Flash read latency (lookup to value, file reads only).') +
      this.reader.loopDelayText('cachalot_serving_eventloop_delay_seconds', 'Event-loop delay samples of the serving threads since start (a 5 ms timer\'s lateness).');
  }
}
