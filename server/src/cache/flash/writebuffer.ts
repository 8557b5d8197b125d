/**
 * The write buffer: a ring of records (layout.ts) between the threads that demote items and the flusher.
 * Producers append under the ring lock (a word in `control`) and never wait: when the ring is full the
 * record is refused and the caller counts a drop. The flusher alone releases space, after it has written
 * the records and moved their index entries to the file; each release bumps K_RELEASED and wakes the
 * serving threads whose writes wait for room (backpressure.ts) before they evict.
 *
 *   0                tail                          head                 ringSize
 *   +----------------+=============================+--------------------+
 *   |      free      | records (written, unflushed) |        free        |   (or wrapped: head < tail)
 *   +----------------+=============================+--------------------+
 * A record never wraps: when it does not fit before the end, a PAD_MAGIC word (or fewer than 8 bytes of
 * slack) marks the end as unused and the record goes to offset 0.
 */
import { lockWord, unlockWord } from '../store/lock.js';
import {
  K_GEN, K_HEAD, K_RELEASED, K_RING_LOCK, K_SEQ, K_USED, K_WAKE, MAGIC, PAD_MAGIC, R_CAS_HI, R_CAS_LO, R_EXPTIME, R_FLAGS,
  R_GEN, R_HASH, R_KLEN_BYTE, R_LENGTH, R_MAGIC, R_SEQ, R_TYPE_BYTE, R_VLEN, RECORD_HEADER,
  TOMBSTONE_RESERVE_DIVISOR, TYPE_ITEM, recordSize,
} from './layout.js';

export class WriteBuffer {
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly control: Int32Array;
  readonly size: number;
  /** Bytes items may fill; the rest is kept for tombstones (a full ring drops items, not deletions). */
  readonly itemLimit: number;
  /** Set by a successful push: where the record went and its sequence number. */
  offset = 0;
  seq = 0;

  constructor(ring: SharedArrayBuffer, control: SharedArrayBuffer) {
    this.u8 = new Uint8Array(ring);
    this.u32 = new Uint32Array(ring);
    this.control = new Int32Array(control);
    this.size = ring.byteLength;
    this.itemLimit = this.size - Math.floor(this.size / TOMBSTONE_RESERVE_DIVISOR);
  }

  /**
   * Appends one record; false when the ring has no room (items may not use the tombstone reserve).
   * `value` is copied; cas is split into two u32 words.
   */
  push(type: number, hash: number, key: Uint8Array, kstart: number, kend: number, value: Uint8Array | null,
    flags: number, cas: number, exptimeAbs: number): boolean {
    const klen = kend - kstart;
    const vlen = value === null ? 0 : value.length;
    const size = recordSize(klen, vlen);
    const c = this.control;
    const limit = type === TYPE_ITEM ? this.itemLimit : this.size;
    lockWord(c, K_RING_LOCK);
    let head = c[K_HEAD];
    const used = c[K_USED];
    let need = size;
    if (head + size > this.size) need += this.size - head;
    if (used + need > limit) {
      unlockWord(c, K_RING_LOCK);
      return false;
    }
    if (head + size > this.size) {
      if (this.size - head >= 8) this.u32[head >>> 2] = PAD_MAGIC;
      head = 0;
    }
    const w = head >>> 2;
    const u32 = this.u32;
    const seq = c[K_SEQ] >>> 0;
    c[K_SEQ] = (seq + 1) | 0;
    u32[w + R_LENGTH] = RECORD_HEADER + klen + vlen;
    u32[w + R_SEQ] = seq;
    u32[w + R_GEN] = c[K_GEN];
    this.u8[head + R_TYPE_BYTE] = type;
    this.u8[head + R_KLEN_BYTE] = klen;
    this.u8[head + R_KLEN_BYTE + 1] = 0;
    this.u8[head + R_KLEN_BYTE + 2] = 0;
    u32[w + R_VLEN] = vlen;
    u32[w + R_FLAGS] = flags;
    u32[w + R_CAS_LO] = cas >>> 0;
    u32[w + R_CAS_HI] = Math.floor(cas / 4294967296) >>> 0;
    u32[w + R_EXPTIME] = exptimeAbs;
    u32[w + R_HASH] = hash;
    const k = head + RECORD_HEADER;
    for (let i = 0; i < klen; i++) this.u8[k + i] = key[kstart + i];
    if (value !== null && vlen > 0) this.u8.set(value, k + klen);
    // The magic goes last: a reader of the ring never sees a half-made record as valid.
    u32[w + R_MAGIC] = MAGIC;
    this.offset = head;
    this.seq = seq;
    const next = head + size;
    c[K_HEAD] = next === this.size ? 0 : next;
    const nowUsed = used + need;
    c[K_USED] = nowUsed;
    unlockWord(c, K_RING_LOCK);
    // Wake the flusher early when an eighth is queued, instead of at its next interval.
    if (nowUsed > this.size >>> 3 && used <= this.size >>> 3) {
      Atomics.add(c, K_WAKE, 1);
      Atomics.notify(c, K_WAKE);
    }
    return true;
  }

  /** Snapshot of (head, used) under the lock: the flusher may process `used` bytes from its tail. */
  snapshotUsed(): number {
    lockWord(this.control, K_RING_LOCK);
    const used = this.control[K_USED];
    unlockWord(this.control, K_RING_LOCK);
    return used;
  }

  /** Flusher: frees `bytes` from the tail (which becomes newTail). */
  release(bytes: number, newTail: number, tailWord: number): void {
    const c = this.control;
    lockWord(c, K_RING_LOCK);
    c[K_USED] -= bytes;
    c[tailWord] = newTail;
    unlockWord(c, K_RING_LOCK);
    Atomics.notify(c, K_USED);
    Atomics.add(c, K_RELEASED, 1);
    Atomics.notify(c, K_RELEASED);
  }
}
