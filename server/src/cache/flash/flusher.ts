/**
 * The flusher: the one thread that writes to flash. It recovers the index from the files at start, then
 * drains the write buffer into append-only log files (fixed size, numbered in write order, spread over the
 * ext_paths), moves each written item's index entry from the ring to its file, and reclaims the oldest
 * file when the tier is full. Synchronous fs calls are fine here: no client waits on this thread.
 *
 * Failures (EIO, ENOSPC, a directory gone) drop the records of the batch that failed (their entries are
 * removed, so they become misses), are counted and logged once, and never stop the thread.
 *
 * Run as a worker (startFlusher) or driven by hand in tests (new Flusher(...).flushOnce()).
 */
import { close, closeSync, fdatasync, ftruncateSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import {
  E_FILE, E_LENGTH, E_OFFSET, E_SEQ, E_TAG, ENTRY_WORDS, IN_WBUF, R_CAS_HI, R_CAS_LO, R_EXPTIME, R_FLAGS, R_KLEN_BYTE, R_VLEN, RECORD_HEADER, K_BYTES_USED, K_FILES_TOTAL, K_FILES_USED, K_GEN, K_MAX_CAS_HI, K_MAX_CAS_LO,
  K_MIN_FILE, K_OLDEST_LIVE, K_READY, K_RING_LOCK, K_STOP, K_STOPPED, K_TAIL, K_WAKE, FLUSH_INTERVAL_MS, PAD_MAGIC, R_GEN, R_HASH, R_LENGTH, R_MAGIC,
  R_SEQ, R_TYPE_BYTE, TYPE_ITEM, roundUp8,
} from './layout.js';
import { flashGeometry, type FlashGeometry, type FlashMemory } from './memory.js';
import { FlashIndex } from './index.js';
import { WriteBuffer } from './writebuffer.js';
import { FileTable, filePath, removeDelayedFlush, writeDelayedFlush } from './files.js';
import { F, FlashCounters } from './flash-stats.js';
import { readU32, RECORD_OK, sealRecord, verifyRecord } from './record.js';
import { recover, type LiveFile, type RecoveryResult } from './recovery.js';
import { LOG_NO_SPACE, LOG_WRITE_ERROR, logOnce, waitAsync } from './tier.js';
import { lockWord, unlockWord } from '../store/lock.js';

/** Bytes written per flushOnce() pass (whole records: a pass may go one record past it). */
const BATCH_BYTES = 2 * 1024 * 1024;
/**
 * Compaction (memcached's ext_compact_under in spirit): when the oldest file must go to make room and at
 * most this fraction of its bytes are still live, its live items are queued again (rewritten into a new
 * file) instead of being dropped with it. A file that is mostly live is dropped whole: rewriting it would
 * cost nearly a file of writes to free nearly nothing.
 */
export const COMPACT_MAX_LIVE = 0.5;
/** After a file cannot even be created, batches are dropped (not retried) for this long. */
const OPEN_BACKOFF_MS = 1000;

interface OpenFile extends LiveFile {
  fd: number;
}

export class Flusher {
  readonly g: FlashGeometry;
  readonly index: FlashIndex;
  readonly ring: WriteBuffer;
  readonly control: Int32Array;
  readonly counters: FlashCounters;
  private readonly files: FileTable;
  private readonly paths: string[];
  private readonly capacity: number[];
  private live: LiveFile[] = [];
  private cur: OpenFile | null = null;
  private nextNo = 1;
  private gen = 0;
  private backoffUntil = 0;
  // Per batch: the items written, to move their entries (hash, seq, file, offset in flat arrays).
  private moves: number[] = [];
  private readonly maxBatch: number;
  private drops: number[] = [];
  private released: number[] = [];
  // Delayed flush_all: the K_OLDEST_LIVE last seen (and persisted), and whether it is still to be applied.
  private flushSeen = 0;
  private flushPending = false;

  constructor(readonly memory: FlashMemory, private readonly log?: Logger) {
    this.g = flashGeometry(memory.options);
    this.index = new FlashIndex(memory, this.g);
    this.ring = new WriteBuffer(memory.buffers.ring, memory.buffers.control);
    this.control = new Int32Array(memory.buffers.control);
    this.counters = new FlashCounters(memory.buffers.counters, this.g.rows - 1);
    this.files = new FileTable(memory.buffers.files);
    this.paths = memory.options.paths.map((p) => p.path);
    this.capacity = [...this.g.filesPerPath];
    this.maxBatch = Math.max(BATCH_BYTES, this.g.maxRecord);
    this.shardStarts = new Int32Array(this.index.shards + 1);
    this.shardFill = new Int32Array(this.index.shards);
  }

  /** Rebuilds the index from the files; the tier is ready (K_READY) when this returns. */
  recover(now: number): RecoveryResult {
    const t0 = Date.now();
    const r = recover(this.index, this.paths, this.g.totalFiles, this.memory.options.processStarted, now, this.log);
    this.live = r.files;
    for (const f of r.files) this.files.set(f.no, f.dir);
    this.nextNo = r.nextFile;
    Atomics.store(this.control, K_MIN_FILE, r.files.length > 0 ? r.files[0].no : r.nextFile);
    Atomics.store(this.control, K_MAX_CAS_LO, r.maxCas % 4294967296);
    Atomics.store(this.control, K_MAX_CAS_HI, Math.floor(r.maxCas / 4294967296));
    this.gen = Atomics.load(this.control, K_GEN);
    if (r.oldestLive > 0) {
      Atomics.store(this.control, K_OLDEST_LIVE, r.oldestLive);
      this.flushSeen = r.oldestLive;
      this.flushPending = true;
    }
    const row = this.counters.row;
    row[F.extstore_objects_used] += r.objects;
    row[F.extstore_recovered_objects] = r.objects;
    row[F.extstore_recovered_files] = r.files.length;
    row[F.extstore_torn_records] += r.tornFiles;
    row[F.extstore_recovery_ms] = Date.now() - t0;
    this.publish();
    Atomics.store(this.control, K_READY, 1);
    return r;
  }

  /**
   * Writes everything queued in the write buffer when it was called; returns the bytes released (0 when
   * the buffer was empty).
   */
  flushOnce(): number {
    const gen = Atomics.load(this.control, K_GEN);
    if (gen !== this.gen) {
      this.dropAllFiles();
      this.gen = gen;
      this.publish();
    }
    // At most a batch per call: space goes back to the producers batch by batch, not after the whole ring.
    const used = Math.min(this.ring.snapshotUsed(), this.maxBatch);
    if (used === 0) return 0;
    const ring = this.ring;
    const u32 = ring.u32;
    const size = ring.size;
    let tail = this.control[K_TAIL];
    let consumed = 0;
    // A run of records contiguous in the ring and in the current file, written with one writeSync.
    let runStart = -1;
    let runLen = 0;
    let runFileOff = 0;
    const writing = Date.now() >= this.backoffUntil;
    let failed = !writing;
    const moves = this.moves;
    const drops = this.drops;
    const released = this.released;
    moves.length = 0;
    drops.length = 0;
    released.length = 0;
    let runMoves = 0; // moves.length at the start of the run

    const endRun = (): void => {
      if (runStart < 0) return;
      if (!failed && !this.write(runStart, runLen, runFileOff)) {
        failed = true;
        for (let m = runMoves; m < moves.length; m += 4) drops.push(moves[m], moves[m + 1]);
        moves.length = runMoves;
      }
      runStart = -1;
      runLen = 0;
      runMoves = moves.length;
    };

    while (consumed < used) {
      if (size - tail < 8 || u32[tail >>> 2] === PAD_MAGIC) {
        endRun();
        consumed += size - tail;
        tail = 0;
        continue;
      }
      const w = tail >>> 2;
      const length = u32[w + R_LENGTH];
      const padded = roundUp8(length);
      const recGen = u32[w + R_GEN] | 0;
      if (recGen !== gen && ((recGen - gen) | 0) > 0) break; // queued after a flush_all we have not seen
      const isItem = ring.u8[tail + R_TYPE_BYTE] === TYPE_ITEM;
      if (isItem) released.push(tail);
      if (recGen === gen) {
        if (failed) {
          if (isItem) drops.push(u32[w + R_HASH], u32[w + R_SEQ]);
        } else {
          sealRecord(ring.u8, u32, tail);
          if (this.cur === null || this.cur.bytes + padded > this.g.fileSize) {
            endRun();
            if (!failed && !this.rotate()) failed = true;
          }
          if (failed) {
            if (isItem) drops.push(u32[w + R_HASH], u32[w + R_SEQ]);
          } else {
            const cur = this.cur!;
            if (runStart < 0) {
              runStart = tail;
              runFileOff = cur.bytes;
              runMoves = moves.length;
            }
            if (isItem) {
              moves.push(u32[w + R_HASH], u32[w + R_SEQ], cur.no, cur.bytes);
              cur.objects++;
            }
            runLen += padded;
            cur.bytes += padded;
          }
        }
      } else {
        // A record of an older generation: flushed before it reached a file. An immediate flush_all
        // removed its entry already; a delayed one (checkDelayedFlush) did not: drop it if it is still there.
        endRun();
        if (isItem) drops.push(u32[w + R_HASH], u32[w + R_SEQ]);
      }
      consumed += padded;
      tail += padded;
      if (tail === size) {
        endRun();
        tail = 0;
      }
    }
    endRun();
    this.applyMoves();
    // Readers copy ring records without a lock and re-check the magic afterwards (tier.ts locate()):
    // clear it before the space can be reused.
    for (let r = 0; r < released.length; r++) Atomics.store(u32, (released[r] >>> 2) + R_MAGIC, 0);
    ring.release(consumed, tail, K_TAIL);
    this.publish();
    return consumed;
  }

  /**
   * A delayed flush_all (K_OLDEST_LIVE, set by the serving threads): persisted when first seen, so a
   * restart before its deadline arms it again (recovery.ts); applied once `now` (rel) reaches it, as an
   * immediate flush_all: a new generation, so every file and every record queued before goes. Until then
   * the serving threads already treat the flushed entries as dead (FlashIndex.isDead). Items stored after
   * the deadline and demoted before the flusher gets here (at most one flush interval on an idle machine)
   * are dropped with them: misses, never wrong bytes.
   */
  checkDelayedFlush(now: number): void {
    const c = this.control;
    const ol = Atomics.load(c, K_OLDEST_LIVE);
    if (ol !== this.flushSeen) {
      this.flushSeen = ol;
      this.flushPending = ol > 0;
      if (ol > 0 && ol > now) {
        try {
          writeDelayedFlush(this.paths[0], ol + this.memory.options.processStarted);
        } catch (err) {
          this.log?.warn({ err, dir: this.paths[0] }, 'delayed flush_all cannot be saved: a restart before its deadline would not apply it');
        }
      }
    }
    if (!this.flushPending || now < ol) return;
    this.flushPending = false;
    lockWord(c, K_RING_LOCK);
    c[K_GEN]++;
    unlockWord(c, K_RING_LOCK);
    this.flushOnce(); // sees the new generation: drops every file and the older records
    removeDelayedFlush(this.paths);
  }

  /** Writes a run of ring bytes at `fileOff` of the current file; false (file closed) on failure. */
  private write(ringOff: number, len: number, fileOff: number): boolean {
    const cur = this.cur!;
    try {
      let done = 0;
      // Bounded: each pass writes at least one byte or throws.
      while (done < len) done += writeSync(cur.fd, this.ring.u8, ringOff + done, len - done, fileOff + done);
      this.counters.row[F.extstore_bytes_written] += len;
      return true;
    } catch (err) {
      this.fail(err as NodeJS.ErrnoException, cur, fileOff);
      return false;
    }
  }

  private fail(err: NodeJS.ErrnoException, cur: OpenFile, goodBytes: number): void {
    this.counters.row[F.extstore_write_errors]++;
    logOnce(this.control, LOG_WRITE_ERROR, this.log, { err, file: cur.no, dir: this.paths[cur.dir] },
      'flash write failed: the items of that batch stay out of flash (counted in extstore_write_errors); serving continues');
    try {
      ftruncateSync(cur.fd, goodBytes);
    } catch { /* the file is closed below and its tail fails its checksum at recovery */ }
    try {
      closeSync(cur.fd);
    } catch { /* nothing more to do */ }
    cur.bytes = goodBytes;
    this.cur = null;
    if (err.code === 'ENOSPC' || err.code === 'EDQUOT') {
      // The directory holds fewer files than its ext_path size said: shrink its share and make room.
      const inDir = this.live.filter((f) => f.dir === cur.dir).length;
      this.capacity[cur.dir] = Math.max(1, inDir - 1);
      logOnce(this.control, LOG_NO_SPACE, this.log, { dir: this.paths[cur.dir], files: this.capacity[cur.dir] },
        'flash directory is full before its ext_path size: using fewer files there');
      if (this.live.length > 1) this.reclaimOldest();
    }
  }

  /** Closes the current file and opens the next, reclaiming the oldest files to stay within capacity. */
  private rotate(): boolean {
    if (this.cur !== null) {
      // A full file goes to the device while the next one fills: a power loss then costs at most the
      // current file's tail and the one before it (a SIGKILL costs nothing written: the page cache
      // survives the process). On libuv's pool, not here: a synchronous fdatasync of a 128 MiB file held
      // this thread for the whole device write while the serving threads' evictions overflowed the write
      // buffer (scenario x: 16% of a 4 KiB fill dropped).
      this.syncAndClose(this.cur.fd);
      this.cur = null;
    }
    const total = this.capacity.reduce((s, n) => s + n, 0);
    if (this.live.length >= total) this.compactOldest();
    for (let n = 0; this.live.length >= total && n < total + 1; n++) this.reclaimOldest();
    let dir = -1;
    let bestFree = 0;
    for (let d = 0; d < this.paths.length; d++) {
      const free = this.capacity[d] - this.live.filter((f) => f.dir === d).length;
      if (free > bestFree) {
        dir = d;
        bestFree = free;
      }
    }
    if (dir < 0) {
      if (this.live.length === 0) return false;
      dir = this.live[0].dir;
      this.reclaimOldest();
    }
    const no = this.nextNo++;
    const path = filePath(this.paths[dir], no);
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (err) {
      try {
        mkdirSync(this.paths[dir], { recursive: true });
        fd = openSync(path, 'w');
      } catch {
        this.counters.row[F.extstore_write_errors]++;
        logOnce(this.control, LOG_WRITE_ERROR, this.log, { err, path },
          'flash file cannot be created: evicted items are not written to flash for now (counted in extstore_write_errors)');
        this.backoffUntil = Date.now() + OPEN_BACKOFF_MS;
        return false;
      }
    }
    this.files.set(no, dir);
    const f: OpenFile = { no, dir, bytes: 0, objects: 0, fd };
    this.live.push(f);
    this.cur = f;
    this.counters.row[F.extstore_page_allocs]++;
    return true;
  }

  /**
   * Before the oldest file is reclaimed: if at most COMPACT_MAX_LIVE of its bytes are live (the index
   * still points at them), each live, unexpired item goes back into the write buffer and its entry is
   * pointed there (under the shard lock, only if it still names this record), so the normal flush writes
   * it into a new file. A full write buffer loses the rest (extstore_compact_lost); expired items are
   * skipped (extstore_compact_skipped). Tombstones stay sound: only the current record of a key moves,
   * and a later delete's tombstone is queued after it.
   */
  compactOldest(): void {
    const f = this.live[0];
    if (f === undefined || f.objects === 0) return;
    const e = this.index.e;
    // Live bytes from the index (a lock-free scan: an estimate is enough to decide), so that a file that is
    // dropped whole is never read.
    let liveBytes = 0;
    for (let i = 0; i < e.length; i += ENTRY_WORDS) {
      if (e[i + E_TAG] !== 0 && e[i + E_FILE] === f.no) liveBytes += roundUp8(e[i + E_LENGTH]);
    }
    if (liveBytes === 0 || liveBytes > f.bytes * COMPACT_MAX_LIVE) return;
    let buf: Buffer;
    try {
      buf = readFileSync(filePath(this.paths[f.dir], f.no));
    } catch {
      return;
    }
    const row = this.counters.row;
    const liveAt = (hash: number, off: number): boolean => {
      const i = this.index.find(hash);
      return i >= 0 && e[i + E_FILE] === f.no && e[i + E_OFFSET] === off;
    };
    const live: number[] = [];
    const end = Math.min(buf.length, f.bytes);
    // Bounded: every step moves past one record of at least RECORD_HEADER bytes.
    for (let off = 0; off + RECORD_HEADER <= end;) {
      const length = readU32(buf, off, R_LENGTH);
      if (length < RECORD_HEADER || off + length > end) break;
      if (buf[off + R_TYPE_BYTE] === TYPE_ITEM) live.push(off);
      off += roundUp8(length);
    }
    const now = Math.floor(Date.now() / 1000);
    for (const off of live) {
      const hash = readU32(buf, off, R_HASH);
      this.index.lockShard(hash);
      const here = liveAt(hash, off);
      this.index.unlockShard(hash);
      if (!here) continue;
      const exptime = readU32(buf, off, R_EXPTIME);
      // Checked outside the lock (a crc32 of up to -I bytes); the entry is checked again before it moves.
      if (verifyRecord(buf, off, buf.length - off) !== RECORD_OK) {
        row[F.extstore_compact_lost]++;
        continue;
      }
      if (exptime !== 0 && exptime <= now) {
        row[F.extstore_compact_skipped]++;
        continue;
      }
      const klen = buf[off + R_KLEN_BYTE];
      const vlen = readU32(buf, off, R_VLEN);
      const k = off + RECORD_HEADER;
      this.index.lockShard(hash);
      if (liveAt(hash, off)) {
        if (this.ring.push(TYPE_ITEM, hash, buf, k, k + klen, buf.subarray(k + klen, k + klen + vlen),
          readU32(buf, off, R_FLAGS), readU32(buf, off, R_CAS_HI) * 4294967296 + readU32(buf, off, R_CAS_LO), exptime)) {
          const i = this.index.find(hash);
          e[i + E_FILE] = IN_WBUF;
          e[i + E_OFFSET] = this.ring.offset;
          e[i + E_SEQ] = this.ring.seq;
          row[F.extstore_compact_rescues]++;
          // Not evicted with its file: extstore_objects_evicted counts what is lost.
          f.objects--;
        } else {
          row[F.extstore_compact_lost]++;
        }
      }
      this.index.unlockShard(hash);
    }
  }

  /** Drops the oldest file: entries pointing into it become dead at once (K_MIN_FILE), then it is unlinked. */
  private reclaimOldest(): void {
    const f = this.live.shift();
    if (f === undefined) return;
    if (this.cur === f) {
      try {
        closeSync(this.cur.fd);
      } catch { /* closing is best effort */ }
      this.cur = null;
    }
    Atomics.store(this.control, K_MIN_FILE, f.no + 1);
    try {
      unlinkSync(filePath(this.paths[f.dir], f.no));
    } catch { /* deleted under us: nothing to free */ }
    const row = this.counters.row;
    if (f.objects > 0) {
      row[F.extstore_page_evictions]++;
      row[F.extstore_objects_evicted] += f.objects;
      row[F.extstore_bytes_evicted] += f.bytes;
    } else {
      row[F.extstore_page_reclaims]++;
    }
  }

  /** flush_all: every file goes; the records queued after it start a new file. */
  private dropAllFiles(): void {
    while (this.live.length > 0) this.reclaimOldest();
    Atomics.store(this.control, K_MIN_FILE, this.nextNo);
  }

  /**
   * Points the written items' entries at their files and removes the entries of items that failed. One
   * lock hold per shard for the whole batch (a counting sort of the moves by shard), not one per item: a
   * 2 MiB batch of 4 KiB items is ~500 moves over a handful of shards.
   */
  private applyMoves(): void {
    const e = this.index.e;
    const row = this.counters.row;
    const moves = this.moves;
    const n = moves.length >>> 2;
    row[F.extstore_objects_written] += n;
    const shards = this.index.shards;
    const mask = shards - 1;
    const starts = this.shardStarts;
    starts.fill(0);
    for (let m = 0; m < moves.length; m += 4) starts[(moves[m] & mask) + 1]++;
    for (let s = 0; s < shards; s++) starts[s + 1] += starts[s];
    if (this.order.length < n) this.order = new Int32Array(Math.max(n, this.order.length * 2));
    const order = this.order;
    const fill = this.shardFill;
    fill.set(starts.subarray(0, shards));
    for (let m = 0; m < moves.length; m += 4) order[fill[moves[m] & mask]++] = m;
    for (let s = 0; s < shards; s++) {
      if (starts[s] === starts[s + 1]) continue;
      this.index.lockShard(s);
      for (let k = starts[s]; k < starts[s + 1]; k++) {
        const m = order[k];
        const i = this.index.find(moves[m]);
        if (i >= 0 && e[i + E_FILE] === IN_WBUF && e[i + E_SEQ] === moves[m + 1]) {
          e[i + E_FILE] = moves[m + 2];
          e[i + E_OFFSET] = moves[m + 3];
        }
      }
      this.index.unlockShard(s);
    }
    const drops = this.drops;
    for (let m = 0; m < drops.length; m += 2) {
      const hash = drops[m];
      this.index.lockShard(hash);
      const i = this.index.find(hash);
      if (i >= 0 && e[i + E_FILE] === IN_WBUF && e[i + E_SEQ] === drops[m + 1]) {
        this.index.clear(i);
        row[F.extstore_objects_used]--;
      }
      this.index.unlockShard(hash);
    }
  }

  private readonly shardStarts: Int32Array;
  private readonly shardFill: Int32Array;
  private order = new Int32Array(1024);

  private publish(): void {
    let bytes = 0;
    for (const f of this.live) bytes += f.bytes;
    Atomics.store(this.control, K_FILES_USED, this.live.length);
    Atomics.store(this.control, K_FILES_TOTAL, this.capacity.reduce((s, n) => s + n, 0));
    Atomics.store(this.control, K_BYTES_USED, Math.floor(bytes / 1024));
  }

  private syncAndClose(fd: number): void {
    fdatasync(fd, () => {
      // EIO here surfaces again as read errors; the file stays as it is.
      close(fd, () => {});
    });
  }

  /**
   * Clean stop: the caller drained the ring; the current file is closed, not synced. A stop is not a
   * power loss: the page cache outlives the process and the kernel writes it back (within
   * vm.dirty_expire_centisecs, 30 s by default). A synchronous fdatasync here waited for the device, and
   * on a machine busy writing other files that took longer than a Kubernetes grace period (the pod is then
   * SIGKILLed, which costs nothing written either).
   */
  close(): void {
    if (this.cur === null) return;
    try {
      closeSync(this.cur.fd);
    } catch { /* closed already */ }
    this.cur = null;
  }

  /**
   * The worker loop: flush whenever woken or every FLUSH_INTERVAL_MS; on K_STOP drain, sync, exit. It
   * sleeps in Atomics.waitAsync, not Atomics.wait, so that this thread's event loop turns between passes
   * and the pool's fdatasync callbacks (syncAndClose) close their files.
   */
  async run(): Promise<void> {
    const c = this.control;
    const started = this.memory.options.processStarted;
    // A pending Atomics.waitAsync does not keep a thread's event loop alive: without a handle the thread
    // would end at its first sleep.
    const keepAlive = setInterval(() => {}, 1 << 30);
    for (;;) {
      const wake = Atomics.load(c, K_WAKE);
      this.checkDelayedFlush(Math.floor(Date.now() / 1000) - started);
      // Everything queued, batch by batch, before sleeping (bounded: producers may keep adding).
      for (let n = 0; n < 10_000 && this.flushOnce() > 0; n++);
      if (Atomics.load(c, K_STOP) === 1) {
        for (let n = 0; n < 100_000 && this.flushOnce() > 0; n++);
        // A flush_all N that arrived during the passes above, just before the stop: saved now, or the
        // restart would not apply it.
        this.checkDelayedFlush(Math.floor(Date.now() / 1000) - started);
        this.close();
        clearInterval(keepAlive);
        Atomics.store(c, K_STOPPED, 1);
        Atomics.notify(c, K_STOPPED);
        return;
      }
      const r = waitAsync(c, K_WAKE, wake, FLUSH_INTERVAL_MS);
      if (r.async) await r.value;
    }
  }
}

export interface FlusherInit {
  kind: 'cachalot-flusher';
  memory: FlashMemory;
  logLevel: string;
  /** The server's rel time at start, for recovery's expiry checks. */
  now: number;
}

export type FlusherMessage = { type: 'recovered'; objects: number; files: number; tornFiles: number; ms: number; deleted: number };

/** Main thread: starts the flusher worker. It posts 'recovered' once the index is rebuilt. */
export function startFlusher(init: Omit<FlusherInit, 'kind'>): Worker {
  return new Worker(new URL('./flusher-thread.js', import.meta.url), { workerData: { kind: 'cachalot-flusher', ...init } satisfies FlusherInit });
}

/** Main thread, shutdown: asks the flusher to write what is queued, sync and exit. */
export function stopFlusher(memory: FlashMemory): void {
  const c = new Int32Array(memory.buffers.control);
  Atomics.store(c, K_STOP, 1);
  Atomics.add(c, K_WAKE, 1);
  Atomics.notify(c, K_WAKE);
}
