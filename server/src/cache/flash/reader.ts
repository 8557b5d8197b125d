/**
 * Flash reader threads (memcached's ext_threads): the serving threads' file reads, done off their event
 * loops without libuv's thread pool.
 *
 * Why: through `fs.read`, every flash hit is one job on libuv's pool, and submitting it wakes a pool thread
 * (a futex wake; on a 2-core machine the woken thread often preempts the caller). A CPU profile under flash
 * load put a quarter of each serving thread's time there. Here a serving thread writes its reads into a
 * shared channel and rings the reader once per batch (a whole pipelined batch of gets); the reader
 * preads them into the channel's arena in order and wakes the serving thread once per batch it finished
 * (Atomics.waitAsync on the serving side: a task on its event loop, no thread of its own).
 *
 * Shared layout: buffers.reads in layout.ts.
 *
 * Reader r serves the channels c with c % readers === r. A read of a reclaimed file is R_GONE (a miss, as
 * on the pool path); a failed open or read is R_ERROR (a read error).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { K_MIN_FILE, CHANNEL_BYTES, CTL_WORDS, C_DONE, C_SUBMITTED, HEADER_WORDS, HEARTBEAT, READ_ARENA, READ_SLOTS, R_ERROR, R_GONE, SLOT_WORDS, S_ARENA, S_FILE, S_LENGTH, S_OFFSET, S_RESULT, S_VERDICT } from './layout.js';
import type { FlashMemory } from './memory.js';
import { FileTable, filePath } from './files.js';
import { RECORD_TORN, verifyRecord } from './record.js';

/** A reader sleeps at most this long between checks (so that a stopping process never waits on it long). */
const IDLE_WAIT_MS = 200;


/** Views of one channel (both sides use the same). */
export class ReadChannel {
  readonly ctl: Int32Array;
  readonly slots: Int32Array;
  readonly arena: Uint8Array;
  constructor(reads: SharedArrayBuffer, channel: number) {
    const base = HEADER_WORDS * 4 + channel * CHANNEL_BYTES;
    this.ctl = new Int32Array(reads, base, CTL_WORDS);
    this.slots = new Int32Array(reads, base + CTL_WORDS * 4, READ_SLOTS * SLOT_WORDS);
    this.arena = new Uint8Array(reads, base + (CTL_WORDS + READ_SLOTS * SLOT_WORDS) * 4, READ_ARENA);
  }
}

/** The reader's side: preads every submitted slot of its channels, in order. */
export class FlashReader {
  private readonly channels: ReadChannel[] = [];
  private readonly header: Int32Array;
  private readonly control: Int32Array;
  private readonly files: FileTable;
  private readonly paths: string[];
  private readonly fds = new Map<number, number>();
  private minSeen = 0;

  constructor(memory: FlashMemory, readonly index: number, readers: number) {
    const reads = memory.buffers.reads!;
    this.header = new Int32Array(reads, 0, HEADER_WORDS);
    this.control = new Int32Array(memory.buffers.control);
    this.files = new FileTable(memory.buffers.files);
    this.paths = memory.options.paths.map((p) => p.path);
    for (let c = index; c < memory.options.threads; c += readers) this.channels.push(new ReadChannel(reads, c));
  }

  /** Serves everything submitted so far; the number of reads done. */
  serveOnce(): number {
    this.closeReclaimed();
    let total = 0;
    for (const ch of this.channels) {
      const ctl = ch.ctl;
      const submitted = Atomics.load(ctl, C_SUBMITTED);
      let done = Atomics.load(ctl, C_DONE);
      if (done === submitted) continue;
      // Bounded: at most READ_SLOTS reads are outstanding on a channel.
      for (let n = 0; done !== submitted && n < READ_SLOTS; n++) {
        const s = ((done >>> 0) % READ_SLOTS) * SLOT_WORDS;
        const n = this.readOne(ch, s);
        ch.slots[s + S_RESULT] = n;
        // The checksum is computed here, not on the serving thread (a crc32 of every record read).
        if (n >= 0) {
          ch.slots[s + S_VERDICT] = n === ch.slots[s + S_LENGTH] ? verifyRecord(ch.arena, ch.slots[s + S_ARENA], n) : RECORD_TORN;
        }
        done = (done + 1) | 0;
        total++;
      }
      Atomics.store(ctl, C_DONE, done);
      Atomics.notify(ctl, C_DONE);
    }
    return total;
  }

  private readOne(ch: ReadChannel, s: number): number {
    const file = ch.slots[s + S_FILE];
    let fd = this.fds.get(file);
    if (fd === undefined) {
      const dir = this.files.pathOf(file);
      if (dir < 0 || file < Atomics.load(this.control, K_MIN_FILE)) return R_GONE;
      try {
        fd = openSync(filePath(this.paths[dir], file), 'r');
      } catch {
        return R_ERROR;
      }
      this.fds.set(file, fd);
    }
    try {
      return readSync(fd, ch.arena, ch.slots[s + S_ARENA], ch.slots[s + S_LENGTH], ch.slots[s + S_OFFSET]);
    } catch {
      return R_ERROR;
    }
  }

  /** The fds of reclaimed files (a reclaimed file's space comes back when its last fd closes). */
  private closeReclaimed(): void {
    const min = Atomics.load(this.control, K_MIN_FILE);
    if (min === this.minSeen) return;
    this.minSeen = min;
    for (const [file, fd] of this.fds) {
      if (file < min) {
        this.fds.delete(file);
        try {
          closeSync(fd);
        } catch { /* closed already */ }
      }
    }
  }

  /** The thread's loop: serve, then sleep on the doorbell until a serving thread rings it. */
  run(): void {
    const bell = this.index;
    for (;;) {
      Atomics.add(this.header, HEARTBEAT + bell, 1);
      const rung = Atomics.load(this.header, bell);
      if (this.serveOnce() === 0) Atomics.wait(this.header, bell, rung, IDLE_WAIT_MS);
    }
  }
}

export interface ReaderInit {
  kind: 'cachalot-flash-reader';
  memory: FlashMemory;
  index: number;
  readers: number;
}

/** Main thread: starts reader `index` of `readers`. Unreferenced: it never keeps the process alive. */
export function startReader(memory: FlashMemory, index: number, readers: number): Worker {
  const w = new Worker(new URL('./reader-thread.js', import.meta.url),
    { workerData: { kind: 'cachalot-flash-reader', memory, index, readers } satisfies ReaderInit });
  w.unref();
  return w;
}
