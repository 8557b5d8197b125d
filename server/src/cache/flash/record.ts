/** Checks of one record (layout.ts) in a byte buffer: magic, bounds, checksum. */
import { crc32 } from 'node:zlib';
import {
  CRC_START, MAGIC, R_CRC, R_KLEN_BYTE, R_LENGTH, R_MAGIC, R_TYPE_BYTE, R_VLEN, RECORD_HEADER, TYPE_ITEM,
  TYPE_TOMBSTONE,
} from './layout.js';

/** What verifyRecord() found. */
export const RECORD_OK = 0;
export const RECORD_TORN = 1; // bad magic, impossible length or cut short: the end of the valid log
export const RECORD_BADCRC = 2;

function u32(buf: Uint8Array, off: number): number {
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
}

export function readU32(buf: Uint8Array, off: number, word: number): number {
  return u32(buf, off + word * 4);
}

/** Checks the record at `off` of `buf` (which holds `avail` bytes from there on). */
export function verifyRecord(buf: Uint8Array, off: number, avail: number): number {
  if (avail < RECORD_HEADER) return RECORD_TORN;
  if (u32(buf, off + R_MAGIC * 4) !== MAGIC) return RECORD_TORN;
  const length = u32(buf, off + R_LENGTH * 4);
  const type = buf[off + R_TYPE_BYTE];
  const klen = buf[off + R_KLEN_BYTE];
  const vlen = u32(buf, off + R_VLEN * 4);
  if (length !== RECORD_HEADER + klen + vlen || length > avail) return RECORD_TORN;
  if (type !== TYPE_ITEM && type !== TYPE_TOMBSTONE) return RECORD_TORN;
  const sum = crc32(buf.subarray(off + CRC_START, off + length));
  return sum === u32(buf, off + R_CRC * 4) ? RECORD_OK : RECORD_BADCRC;
}

/** Writes the checksum of a record whose header and body are in place (flusher, in the ring). */
export function sealRecord(u8: Uint8Array, u32v: Uint32Array, off: number): void {
  const length = u32v[(off >>> 2) + R_LENGTH];
  u32v[(off >>> 2) + R_CRC] = crc32(u8.subarray(off + CRC_START, off + length));
}

export function keyMatches(buf: Uint8Array, off: number, key: Uint8Array, start: number, end: number): boolean {
  const klen = end - start;
  if (buf[off + R_KLEN_BYTE] !== klen) return false;
  const k = off + RECORD_HEADER;
  for (let i = 0; i < klen; i++) if (buf[k + i] !== key[start + i]) return false;
  return true;
}
