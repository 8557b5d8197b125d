/**
 * Segment memory touched ahead of use, off the request path. The data buffer is reserved address space:
 * a page becomes resident on its first write, and that fault (with transparent huge pages, the zeroing of
 * 2 MiB at once) is paid by whichever thread writes first, a worker storing an item. The main thread, which
 * serves no cache traffic, walks the never-used segments a little ahead of the frontier the workers have
 * reached (G_FRESH_SEGMENT) and faults their pages in, so that the workers find them resident.
 *
 * A touch is an atomic add of 0 to one word per page: it faults the page in for writing and cannot lose a
 * worker's concurrent store to the same word. Only up to `aheadBytes` past the frontier and never past the
 * memory limit are touched, so an idle server's RSS grows by at most that much, and a full one's not at
 * all; the walk goes in small steps with pauses between, so that on a machine where the main thread
 * shares a core with a worker it does not take that core for long.
 */
import type { StoreMemory } from './types.js';
import { G_ALLOWED_SEGMENTS, G_FRESH_SEGMENT, G_RESERVE_SEGMENTS, geometry } from './layout.js';

/** How far ahead of the frontier pages are made resident (bounded by the memory limit). */
export const PRETOUCH_AHEAD_BYTES = 64 * 1024 * 1024;
/** Bytes touched per step: 256 pages, ~0.1-0.3 ms of page faults here. */
export const PRETOUCH_STEP_BYTES = 1024 * 1024;
/** Pause between steps while behind; between checks of the frontier once ahead. */
const BEHIND_MS = 1;
const AHEAD_MS = 20;
const PAGE = 4096;

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
    for (let off = this.touched; off < stop; off += PAGE) Atomics.add(data, off / 4, 0);
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
