/**
 * Log file names and the shared file table (file number -> ext_path index). Numbers only grow, within a
 * run and across restarts (recovery continues after the highest found), so a number names one file ever.
 */
import { readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const NAME = /^cachalot-(\d{10})\.flash$/;

export function fileName(no: number): string {
  return `cachalot-${String(no).padStart(10, '0')}.flash`;
}

export function filePath(dir: string, no: number): string {
  return join(dir, fileName(no));
}

/** The log files of one directory, by number (missing directory = none). */
export function listLogFiles(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const n of names) {
    const m = NAME.exec(n);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

export class FileTable {
  private readonly t: Int32Array;
  private readonly mask: number;
  constructor(files: SharedArrayBuffer) {
    this.t = new Int32Array(files);
    this.mask = this.t.length / 2 - 1;
  }

  set(no: number, pathIndex: number): void {
    const i = (no & this.mask) * 2;
    Atomics.store(this.t, i + 1, pathIndex);
    Atomics.store(this.t, i, no);
  }

  /** The ext_path index holding file `no`, or -1 when the table no longer knows it. */
  pathOf(no: number): number {
    const i = (no & this.mask) * 2;
    if (Atomics.load(this.t, i) !== no) return -1;
    return Atomics.load(this.t, i + 1);
  }
}

/**
 * A pending delayed `flush_all N`: `DIR/cachalot.flush` in the first ext_path holds the absolute
 * unix second from which every item stored at or before it is dead (memcached's oldest_live), written when
 * the command arrives and removed once the flusher has applied it (every log file dropped). Recovery reads
 * it: a deadline already past drops every file; a future one is armed again.
 */
export const FLUSH_FILE = 'cachalot.flush';

export function writeDelayedFlush(dir: string, oldestLiveAbs: number): void {
  const path = join(dir, FLUSH_FILE);
  writeFileSync(`${path}.tmp`, `oldest_live ${oldestLiveAbs}\n`);
  renameSync(`${path}.tmp`, path);
}

/** The pending delayed flush's absolute second, from the first path that has one; 0 when none. */
export function readDelayedFlush(dirs: string[]): number {
  for (const dir of dirs) {
    try {
      const m = /^oldest_live (\d+)/.exec(readFileSync(join(dir, FLUSH_FILE), 'latin1'));
      if (m !== null) return Number(m[1]);
    } catch { /* none here */ }
  }
  return 0;
}

export function removeDelayedFlush(dirs: string[]): void {
  for (const dir of dirs) {
    try {
      unlinkSync(join(dir, FLUSH_FILE));
    } catch { /* none here */ }
  }
}
