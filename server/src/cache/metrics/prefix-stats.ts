/**
 * `stats detail on|off|dump`: memcached's per-prefix counters (its stats_prefix.c). A key's prefix is what
 * comes before the first `-D` delimiter (default ':'); keys without one are not counted. get, gets, gat and
 * gats count a get (and a hit); set, add, replace, append, prepend and cas a set; delete a del. The meta
 * commands count nothing, as in memcached 1.6.18.
 *
 * One table for all worker threads, in a SharedArrayBuffer. The dump lists prefixes in memcached's order:
 * by bucket (murmur3 of the prefix, seed 0, modulo 256), newest first within a bucket, so that a dump
 * compares byte for byte with memcached's.
 *
 * ```
 * head  Int32[4 + BUCKETS]  [0] enabled  [1] insert lock  [2] entries used  [3] unused
 *                           [4 + b] entry index + 1 of bucket b's newest prefix (0: none)
 * ents  Int32[MAX_PREFIXES * ENTRY_INTS]  per entry: next (index + 1), prefix length, get, hit, set, del
 * keys  Uint8[MAX_PREFIXES * MAX_PREFIX_LENGTH]  the prefix bytes of each entry
 * ```
 * Counters are 32-bit (Atomics.add on an Int32Array, read as unsigned): they wrap at 2^32, memcached's at 2^64.
 */
import { murmur3 } from '../store/hash.js';

export const BUCKETS = 256;
/** Prefixes counted; later ones are not (memcached's table has no bound; 8192 keeps the table at 2.2 MB). */
export const MAX_PREFIXES = 8192;
/** A key is at most 250 bytes, so is its prefix. */
const MAX_PREFIX_LENGTH = 250;
const ENTRY_INTS = 6;
const E_NEXT = 0;
const E_LEN = 1;
const E_GET = 2;
const E_HIT = 3;
const E_SET = 4;
const E_DEL = 5;
const H_ENABLED = 0;
const H_LOCK = 1;
const H_USED = 2;
const H_BUCKETS = 4;

export interface PrefixStatsMemory {
  head: SharedArrayBuffer;
  entries: SharedArrayBuffer;
  keys: SharedArrayBuffer;
}

export function createPrefixStatsMemory(): PrefixStatsMemory {
  return {
    head: new SharedArrayBuffer((H_BUCKETS + BUCKETS) * 4),
    entries: new SharedArrayBuffer(MAX_PREFIXES * ENTRY_INTS * 4),
    keys: new SharedArrayBuffer(MAX_PREFIXES * MAX_PREFIX_LENGTH),
  };
}

export class PrefixStats {
  /** on[0] !== 0 while detail is on: the one check on the request path. */
  readonly on: Int32Array;
  private readonly head: Int32Array;
  private readonly ents: Int32Array;
  private readonly keys: Uint8Array;

  constructor(memory: PrefixStatsMemory, readonly delimiter: number) {
    this.head = new Int32Array(memory.head);
    this.on = this.head;
    this.ents = new Int32Array(memory.entries);
    this.keys = new Uint8Array(memory.keys);
  }

  setEnabled(enabled: boolean): void {
    Atomics.store(this.head, H_ENABLED, enabled ? 1 : 0);
  }

  enabled(): boolean {
    return Atomics.load(this.head, H_ENABLED) !== 0;
  }

  recordGet(buf: Uint8Array, start: number, end: number, hit: boolean): void {
    const e = this.find(buf, start, end);
    if (e < 0) return;
    Atomics.add(this.ents, e + E_GET, 1);
    if (hit) Atomics.add(this.ents, e + E_HIT, 1);
  }

  recordSet(buf: Uint8Array, start: number, end: number): void {
    const e = this.find(buf, start, end);
    if (e >= 0) Atomics.add(this.ents, e + E_SET, 1);
  }

  recordDelete(buf: Uint8Array, start: number, end: number): void {
    const e = this.find(buf, start, end);
    if (e >= 0) Atomics.add(this.ents, e + E_DEL, 1);
  }

  /** `stats detail dump`: "PREFIX <p> get <n> hit <n> set <n> del <n>\r\n" lines, then END. */
  dump(): Buffer {
    const parts: Buffer[] = [];
    const head = this.head;
    const ents = this.ents;
    for (let b = 0; b < BUCKETS; b++) {
      for (let i = Atomics.load(head, H_BUCKETS + b); i !== 0; i = ents[(i - 1) * ENTRY_INTS + E_NEXT]!) {
        const e = (i - 1) * ENTRY_INTS;
        const k = (i - 1) * MAX_PREFIX_LENGTH;
        parts.push(Buffer.from('PREFIX '), Buffer.from(this.keys.subarray(k, k + ents[e + E_LEN]!)));
        parts.push(Buffer.from(` get ${ents[e + E_GET]! >>> 0} hit ${ents[e + E_HIT]! >>> 0} set ${ents[e + E_SET]! >>> 0}`
          + ` del ${ents[e + E_DEL]! >>> 0}\r\n`));
      }
    }
    parts.push(Buffer.from('END\r\n'));
    return Buffer.concat(parts);
  }

  /** `stats reset` forgets every prefix, as memcached's stats_prefix_clear(). */
  clear(): void {
    this.lock();
    for (let b = 0; b < BUCKETS; b++) Atomics.store(this.head, H_BUCKETS + b, 0);
    this.ents.fill(0);
    Atomics.store(this.head, H_USED, 0);
    this.unlock();
  }

  /** The entry's offset in ents for the key's prefix, created if new; -1: no delimiter, or the table is full. */
  private find(buf: Uint8Array, start: number, end: number): number {
    let p = start;
    while (p < end && buf[p] !== this.delimiter) p++;
    if (p === end) return -1;
    const len = p - start;
    const bucket = H_BUCKETS + ((murmur3(buf, start, p, 0) >>> 0) & (BUCKETS - 1));
    const found = this.walk(bucket, buf, start, len);
    if (found >= 0) return found;
    this.lock();
    try {
      // Another thread may have added it between the walk and the lock.
      const again = this.walk(bucket, buf, start, len);
      if (again >= 0) return again;
      const used = this.head[H_USED]!;
      if (used >= MAX_PREFIXES) return -1;
      const e = used * ENTRY_INTS;
      this.keys.set(buf.subarray(start, p), used * MAX_PREFIX_LENGTH);
      this.ents[e + E_LEN] = len;
      this.ents[e + E_NEXT] = this.head[bucket]!;
      this.head[H_USED] = used + 1;
      // Published last: a walker on another thread sees the entry only once it is whole.
      Atomics.store(this.head, bucket, used + 1);
      return e;
    } finally {
      this.unlock();
    }
  }

  private walk(bucket: number, buf: Uint8Array, start: number, len: number): number {
    const ents = this.ents;
    const keys = this.keys;
    for (let i = Atomics.load(this.head, bucket); i !== 0; i = ents[(i - 1) * ENTRY_INTS + E_NEXT]!) {
      const e = (i - 1) * ENTRY_INTS;
      if (ents[e + E_LEN] !== len) continue;
      const k = (i - 1) * MAX_PREFIX_LENGTH;
      let same = true;
      for (let j = 0; j < len; j++) {
        if (keys[k + j] !== buf[start + j]) {
          same = false;
          break;
        }
      }
      if (same) return e;
    }
    return -1;
  }

  private lock(): void {
    // Held for one insert or one clear: a few microseconds at most, so a spin is enough.
    while (Atomics.compareExchange(this.head, H_LOCK, 0, 1) !== 0) Atomics.wait(this.head, H_LOCK, 1, 1);
  }

  private unlock(): void {
    Atomics.store(this.head, H_LOCK, 0);
    Atomics.notify(this.head, H_LOCK, 1);
  }
}
