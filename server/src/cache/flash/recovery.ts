/**
 * Start-up recovery: scans every log file under every ext_path, oldest first, verifies every record's
 * checksum and rebuilds the flash index (a newer record of a key replaces an older one; a tombstone
 * removes it; expired items are skipped). A file ends at its first record that is not whole and valid:
 * the file is truncated there, so a torn write left by a crash is cut, never served.
 *
 * Runs in the flusher thread before any serving thread exists, so it writes the index without locks.
 */
import { mkdirSync, readFileSync, truncateSync, unlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import {
  E_CAS_HI, E_CAS_LO, E_EXPTIME, E_FILE, E_FLAGS, E_HASH, E_LENGTH, E_OFFSET, E_SEQ, E_TAG, E_TIME, E_VLEN, ENTRY_WORDS,
  R_CAS_HI, R_CAS_LO, R_EXPTIME, R_FLAGS, R_HASH, R_LENGTH, R_SEQ, R_TYPE_BYTE, R_VLEN, TYPE_ITEM, roundUp8,
} from './layout.js';
import { readU32, RECORD_OK, verifyRecord } from './record.js';
import { filePath, listLogFiles, readDelayedFlush, removeDelayedFlush } from './files.js';
import type { FlashIndex } from './index.js';

export interface LiveFile {
  no: number;
  dir: number;
  bytes: number;
  objects: number;
}

export interface RecoveryResult {
  files: LiveFile[];
  objects: number;
  tornFiles: number;
  maxCas: number;
  nextFile: number;
  deleted: number;
  /** A delayed flush_all still pending (rel time of its oldest_live), or 0. */
  oldestLive: number;
}

/**
 * Rebuilds `index` from the files under `paths`. Files beyond `capacity` (oldest first) are deleted
 * without being read: the tier shrank since they were written.
 */
export function recover(index: FlashIndex, paths: string[], capacity: number, processStarted: number,
  now: number, log: Logger | undefined): RecoveryResult {
  const found: Array<{ no: number; dir: number }> = [];
  paths.forEach((dir, i) => {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      log?.error({ err, dir }, 'flash directory cannot be created: that ext_path serves nothing');
    }
    for (const no of listLogFiles(dir)) found.push({ no, dir: i });
  });
  found.sort((a, b) => a.no - b.no);
  let deleted = 0;
  // A delayed flush_all whose deadline passed (while running or while down): every item on flash was
  // stored before it (items stored later are written after the flusher applied it and removed this file).
  // The file numbers continue after the dropped ones, as after any reclaim.
  const flushAbs = readDelayedFlush(paths);
  let oldestLive = flushAbs === 0 ? 0 : flushAbs - processStarted;
  const lastNo = found.length > 0 ? found[found.length - 1].no : 0;
  if (flushAbs !== 0 && oldestLive <= now) {
    for (const f of found) {
      try {
        unlinkSync(filePath(paths[f.dir], f.no));
      } catch { /* gone already */ }
    }
    deleted += found.length;
    found.length = 0;
    removeDelayedFlush(paths);
    oldestLive = 0;
  }
  while (found.length > capacity) {
    const f = found.shift()!;
    try {
      unlinkSync(filePath(paths[f.dir], f.no));
    } catch { /* gone already */ }
    deleted++;
  }
  const e = index.e;
  const placed = { victim: false, found: false };
  const result: RecoveryResult = { files: [], objects: 0, tornFiles: 0, maxCas: 0, nextFile: lastNo + 1, deleted, oldestLive };
  for (const f of found) {
    const path = filePath(paths[f.dir], f.no);
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (err) {
      log?.warn({ err, path }, 'flash file unreadable at recovery: skipped');
      continue;
    }
    let off = 0;
    let objects = 0;
    while (off < buf.length) {
      if (verifyRecord(buf, off, buf.length - off) !== RECORD_OK) break;
      const hash = readU32(buf, off, R_HASH);
      const length = readU32(buf, off, R_LENGTH);
      if (buf[off + R_TYPE_BYTE] === TYPE_ITEM) {
        const abs = readU32(buf, off, R_EXPTIME);
        const rel = abs === 0 ? 0 : abs - processStarted;
        if (abs !== 0 && rel <= now) {
          const i = index.find(hash);
          if (i >= 0) index.clear(i);
        } else {
          const i = index.place(hash, placed);
          const casLo = readU32(buf, off, R_CAS_LO);
          const casHi = readU32(buf, off, R_CAS_HI);
          e[i + E_HASH] = hash;
          e[i + E_FILE] = f.no;
          e[i + E_OFFSET] = off;
          e[i + E_LENGTH] = length;
          e[i + E_FLAGS] = readU32(buf, off, R_FLAGS);
          e[i + E_EXPTIME] = rel;
          e[i + E_CAS_LO] = casLo;
          e[i + E_CAS_HI] = casHi;
          e[i + E_VLEN] = readU32(buf, off, R_VLEN);
          e[i + E_TIME] = 0;
          e[i + E_SEQ] = readU32(buf, off, R_SEQ);
          e[i + E_TAG] = (hash | 1) >>> 0;
          result.maxCas = Math.max(result.maxCas, casHi * 4294967296 + casLo);
          objects++;
        }
      } else {
        const i = index.find(hash);
        if (i >= 0) index.clear(i);
      }
      off += roundUp8(length);
    }
    if (off < buf.length) {
      // A torn tail (crash mid-write) or a corrupt record: everything from here on is dropped.
      result.tornFiles++;
      try {
        truncateSync(path, off);
      } catch (err) {
        log?.warn({ err, path }, 'flash file cannot be truncated at its last good record');
      }
      log?.warn({ path, keptBytes: off, droppedBytes: buf.length - off }, 'flash file cut at its last good record');
    }
    result.files.push({ no: f.no, dir: f.dir, bytes: off, objects });
  }
  // Count live entries (an entry replaced or removed later was counted by `objects` of its file).
  let live = 0;
  for (let i = 0; i < e.length; i += ENTRY_WORDS) if (e[i + E_TAG] !== 0) live++;
  result.objects = live;
  return result;
}
