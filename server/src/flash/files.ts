/**
 * Log file names and the shared file table (file number -> ext_path index). Numbers only grow, within a
 * run and across restarts (recovery continues after the highest found), so a number names one file ever.
 */
import { readdirSync } from 'node:fs';
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
