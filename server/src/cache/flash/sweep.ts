/**
 * The flash tier's part of a sweep (store/tier.ts, LowerTier.sweep). The index holds no keys, so each key is
 * taken from its record:
 *
 * 1. Under the shard lock, a chunk of live entries is visited. A record still in the write buffer is in
 *    memory: it is decided there and then. For the others, what names the record (slot, tag, file, offset,
 *    length, hash) is copied.
 * 2. Without the lock, each of those records' header and key is read from its file: one pread of at most
 *    RECORD_HEADER + 255 bytes (a key is at most 255 bytes), through libuv's pool, so the thread that sweeps
 *    never blocks on the disk and a serving thread never waits on a lock held across I/O.
 * 3. Under the lock again, an entry drop() chose is removed (as invalidate(): cleared, with a tombstone so
 *    that a restart does not bring it back) only if it still names the record that was read; one rewritten,
 *    moved or reclaimed meanwhile is left alone.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { SweepCounts, SweepDecision } from '../store/tier.js';
import { SWEEP_SLOTS_PER_LOCK } from '../store/tier.js';
import type { FlashIndex } from './index.js';
import type { WriteBuffer } from './writebuffer.js';
import { FileTable, filePath } from './files.js';
import {
  E_FILE, E_HASH, E_LENGTH, E_OFFSET, E_SEQ, E_TAG, ENTRY_WORDS, IN_WBUF, K_MIN_FILE, MAGIC, R_HASH, R_KLEN_BYTE,
  R_LENGTH, R_MAGIC, R_SEQ, R_TYPE_BYTE, RECORD_HEADER, TYPE_ITEM,
} from './layout.js';
import { readU32 } from './record.js';

/** Bytes read per record: its header and the longest key (klen is one byte). */
const KEY_SPAN = RECORD_HEADER + 255;

/** What a sweep needs of the flash tier. */
export interface FlashSweepParts {
  readonly index: FlashIndex;
  readonly ring: WriteBuffer;
  readonly files: FileTable;
  readonly paths: readonly string[];
  readonly control: Int32Array;
  /** Under the shard lock: removes the key's entry (LowerTier.invalidate). */
  invalidate(hash: number): void;
}

/** A file entry between steps 1 and 3. */
interface Pending {
  slot: number;
  tag: number;
  file: number;
  offset: number;
  length: number;
  hash: number;
  /** Bytes read into the chunk buffer at `slot`'s place, or -1. */
  read: number;
}

export async function sweepFlashShard(t: FlashSweepParts, shard: number, position: number, limit: number,
  now: number, drop: SweepDecision, counts: SweepCounts): Promise<number> {
  const { index } = t;
  const e = index.e;
  const [from, to] = index.shardRange(shard);
  const stop = Math.min(to, from + (position + SWEEP_SLOTS_PER_LOCK) * ENTRY_WORDS);
  const pending: Pending[] = [];
  let i = from + position * ENTRY_WORDS;
  let n = 0;
  index.lockShard(shard);
  try {
    for (; i < stop && n < limit; i += ENTRY_WORDS) {
      const tag = e[i + E_TAG];
      if (tag === 0 || index.isDead(i, now)) continue;
      n++;
      const file = e[i + E_FILE];
      if (file !== IN_WBUF) {
        pending.push({ slot: i, tag, file, offset: e[i + E_OFFSET], length: e[i + E_LENGTH], hash: e[i + E_HASH], read: -1 });
        continue;
      }
      // Under the lock the flusher cannot release a record whose entry still says IN_WBUF.
      const off = e[i + E_OFFSET];
      const w = off >>> 2;
      if (t.ring.u32[w + R_MAGIC] !== MAGIC || t.ring.u32[w + R_SEQ] !== e[i + E_SEQ]) continue;
      const k = off + RECORD_HEADER;
      if (drop(t.ring.u8, k, k + t.ring.u8[off + R_KLEN_BYTE])) {
        t.invalidate(e[i + E_HASH]);
        counts.dropped++;
      }
    }
  } finally {
    index.unlockShard(shard);
    counts.visited += n;
  }
  const next = i < to ? (i - from) / ENTRY_WORDS : -1;
  if (pending.length === 0) return next;

  const buf = Buffer.allocUnsafe(pending.length * KEY_SPAN);
  await readKeys(t, pending, buf);
  const chosen: Pending[] = [];
  pending.forEach((p, j) => {
    const at = j * KEY_SPAN;
    if (p.read < RECORD_HEADER || readU32(buf, at, R_MAGIC) !== MAGIC || readU32(buf, at, R_LENGTH) !== p.length ||
      buf[at + R_TYPE_BYTE] !== TYPE_ITEM || readU32(buf, at, R_HASH) !== p.hash) return;
    const k = at + RECORD_HEADER;
    const klen = buf[at + R_KLEN_BYTE];
    if (RECORD_HEADER + klen > p.read) return;
    if (drop(buf, k, k + klen)) chosen.push(p);
  });
  if (chosen.length === 0) return next;
  index.lockShard(shard);
  try {
    for (const p of chosen) {
      if (e[p.slot + E_TAG] !== p.tag || e[p.slot + E_FILE] !== p.file || e[p.slot + E_OFFSET] !== p.offset) continue;
      t.invalidate(p.hash);
      counts.dropped++;
    }
  } finally {
    index.unlockShard(shard);
  }
  return next;
}

/** Reads each pending record's header and key into buf (KEY_SPAN bytes per entry); failures leave read = -1. */
async function readKeys(t: FlashSweepParts, pending: Pending[], buf: Buffer): Promise<void> {
  const byFile = new Map<number, number[]>();
  pending.forEach((p, j) => {
    const list = byFile.get(p.file);
    if (list === undefined) byFile.set(p.file, [j]);
    else list.push(j);
  });
  await Promise.all([...byFile].map(async ([file, entries]) => {
    const dir = t.files.pathOf(file);
    // A reclaimed file's entries are dead already; nothing to read.
    if (dir < 0 || file < Atomics.load(t.control, K_MIN_FILE)) return;
    let fh: FileHandle;
    try {
      fh = await open(filePath(t.paths[dir]!, file), 'r');
    } catch {
      return;
    }
    try {
      await Promise.all(entries.map(async (j) => {
        const p = pending[j]!;
        try {
          const { bytesRead } = await fh.read(buf, j * KEY_SPAN, Math.min(p.length, KEY_SPAN), p.offset);
          p.read = bytesRead;
        } catch {
          p.read = -1;
        }
      }));
    } finally {
      await fh.close().catch(() => {});
    }
  }));
}
