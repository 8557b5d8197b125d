/**
 * Segment memory touched ahead of use, off the request path. The data buffer is reserved address space:
 * a page becomes resident on its first write, and that fault (~2 µs a 4 KiB page here; a 1 MB set takes
 * 245 of them) is paid by whichever thread writes first, a worker storing an item. The main thread, which
 * serves no cache traffic, walks the never-used segments a little ahead of the frontier the workers have
 * reached (G_FRESH_SEGMENT) and faults their pages in, so that the workers find them resident.
 *
 * A touch is a compareExchange on one word per page that expects a value it then writes back unchanged:
 * it faults the page in for writing and cannot lose a worker's concurrent store to the same word. Measured
 * on this machine's 4 KiB pages: Atomics.add(word, 0) faults each page twice (a read fault maps the zero
 * page, then the write copies it), 3.8 µs a page; the compareExchange takes one write fault, 2.1 µs, as a
 * plain write does (2.0). Only up to `aheadBytes` past the frontier and never past the
 * memory limit are touched, so an idle server's RSS grows by at most that much, and a full one's not at
 * all; the walk goes in small steps with pauses between, so that on a machine where the main thread
 * shares a core with a worker it does not take that core for long.
 */
import type { StoreMemory } from './types.js';
import { G_ALLOWED_SEGMENTS, G_FRESH_SEGMENT, G_RESERVE_SEGMENTS, geometry } from './layout.js';

/** How far ahead of the frontier pages are made resident (bounded by the memory limit). */
export const PRETOUCH_AHEAD_BYTES = 64 * 1024 * 1024;
/**
 * Bytes touched per step, and the pauses between steps while behind and between checks of the frontier
 * once ahead. Measured with 1 MiB steps 1 ms apart (8 s of scenario c's load): the main thread spent
 * 0.56 s of CPU on 126k pages (Atomics.add then), ~4.4 µs a page, with 1,000 timer wake-ups a second;
 * 8 MiB per 10 ms keeps the same 0.8 GB/s pace with a tenth of the wake-ups.
 */
export const PRETOUCH_STEP_BYTES = 8 * 1024 * 1024;
const BEHIND_MS = 10;
const AHEAD_MS = 100;
const PAGE = 4096;
/** Any value: a word that holds it is rewritten with it, any other is left alone. */
const TOUCH_WORD = 0x5a5a5a5a;

export class SegmentPretoucher {
  private readonly data: Int32Array;
  private readonly global: Int32Array;
  private readonly segmentSize: number;
  /** data[0, touched) has been touched (by this walk, or was handed out to a shard already). */
  private touched = 0;

  constructor(memory: StoreMemory, private readonly aheadBytes = PRETOUCH_AHEAD_BYTES) {
    this.data = new Int32Array(memory.buffers.data);
    this.global = new Int32Array(memory.buffers.global);
    this.segmentSize = geometry(memory.options.memoryLimit, memory.options.maxItemSize, memory.options.shards).segmentSize;
  }

  /** Bytes from the start of the pool known to be resident. */
  get touchedBytes(): number {
    return this.touched;
  }

  /** Where the walk should reach now: the frontier plus aheadBytes, within the limit and the reserve. */
  target(): number {
    const seg = this.segmentSize;
    const fresh = Atomics.load(this.global, G_FRESH_SEGMENT) * seg;
    const limit = Math.min(Atomics.load(this.global, G_ALLOWED_SEGMENTS), this.global[G_RESERVE_SEGMENTS]) * seg;
    return Math.min(limit, fresh + this.aheadBytes);
  }

  /** Touches at most `maxBytes` more pages towards target(); true when the target is not reached yet. */
  step(maxBytes = PRETOUCH_STEP_BYTES): boolean {
    const target = this.target();
    if (this.touched >= target) return false;
    const stop = Math.min(target, this.touched + maxBytes);
    const data = this.data;
    for (let off = this.touched; off < stop; off += PAGE) Atomics.compareExchange(data, off / 4, TOUCH_WORD, TOUCH_WORD);
    this.touched = stop;
    return stop < target;
  }
}

/** Runs a SegmentPretoucher on timers (unref'd: they never keep the process alive) until stop(). */
export function startPretouch(memory: StoreMemory, aheadBytes = PRETOUCH_AHEAD_BYTES): { stop(): void; pretoucher: SegmentPretoucher } {
  const pretoucher = new SegmentPretoucher(memory, aheadBytes);
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const behind = pretoucher.step();
    timer = setTimeout(tick, behind ? BEHIND_MS : AHEAD_MS);
    timer.unref();
  };
  tick();
  return {
    pretoucher,
    stop(): void {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
