/**
 * One server per ext_path directory. Two servers writing log files into the same directory would reclaim,
 * truncate and renumber each other's files (each takes the other's files for its own at its next start),
 * so a server takes `DIR/cachalot.lock` before it recovers anything, and a second one exits at start.
 *
 * The lock file holds the owner's pid and the start time the kernel reports for that pid (field 22 of
 * /proc/PID/stat), so that a lock left behind by a process that died without cleaning up (SIGKILL, OOM
 * kill, power loss) does not block the restart: it is stale when no process has that pid, when the process
 * that has it started at another time (the pid was reused), or when the pid is our own (a restarted
 * container is often pid 1 again). It is created with O_EXCL; a stale one is replaced.
 *
 * Limits: liveness is checked in this pid namespace, so two servers in different containers that share a
 * directory are not detected (a Kubernetes local PV is ReadWriteOnce: one pod mounts it); two servers that
 * both find the same stale lock in the same few microseconds could both take it (each re-reads the file
 * after writing it, which narrows that window to the gap between unlink and create).
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FlashError } from './memory.js';

export const LOCK_FILE = 'cachalot.lock';
/** Bounded: each pass either takes the lock, finds a live owner, or removes one stale file. */
const ATTEMPTS = 4;

interface LockContent {
  pid: number;
  start: string;
}

/** The kernel's start time of `pid` (clock ticks since boot), or '' when it cannot be read. */
function startTimeOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // comm (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parse(text: string): LockContent | null {
  const m = /^pid (\d+) start (\d*)/.exec(text);
  return m === null ? null : { pid: Number(m[1]), start: m[2] };
}

/** True when the lock's owner is a live process other than this one. */
function held(owner: LockContent): boolean {
  if (owner.pid === process.pid || owner.pid <= 0 || !alive(owner.pid)) return false;
  const start = startTimeOf(owner.pid);
  // No /proc (not Linux): trust the pid alone.
  return owner.start === '' || start === '' || start === owner.start;
}

export class DirLocks {
  private readonly taken: string[] = [];
  private readonly mine: string;

  constructor() {
    this.mine = `pid ${process.pid} start ${startTimeOf(process.pid)}\n`;
  }

  /**
   * Takes the lock of every directory, or none: throws a FlashError (ERR_FLASH_LOCKED) naming the
   * directory and the owner's pid when another live server holds one. A directory that cannot be created
   * or written is not locked (its files cannot be written either; the tier reports that itself).
   */
  acquire(dirs: string[]): void {
    try {
      for (const dir of dirs) this.acquireOne(dir);
    } catch (err) {
      this.release();
      throw err;
    }
  }

  private acquireOne(dir: string): void {
    const path = join(dir, LOCK_FILE);
    try {
      mkdirSync(dir, { recursive: true });
    } catch {
      return;
    }
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return;
        let owner: LockContent | null = null;
        try {
          owner = parse(readFileSync(path, 'latin1'));
        } catch { /* removed meanwhile: try again */ }
        if (owner !== null && held(owner)) {
          throw new FlashError('ERR_FLASH_LOCKED',
            `-o ext_path ${dir} is in use by another cachalot-server (pid ${owner.pid}; lock file ${path}): give each server its own ext_path`);
        }
        // Stale (its owner is gone) or half-written by an owner that died creating it.
        try {
          unlinkSync(path);
        } catch { /* another starter removed it first */ }
        continue;
      }
      try {
        writeSync(fd, this.mine);
      } finally {
        closeSync(fd);
      }
      let now = '';
      try {
        now = readFileSync(path, 'latin1');
      } catch { /* replaced under us: checked below */ }
      if (now === this.mine) {
        this.taken.push(path);
        return;
      }
    }
    throw new FlashError('ERR_FLASH_LOCKED', `-o ext_path ${dir}: cannot take the lock file ${path} (another server starting at the same time?)`);
  }

  /** Removes the lock files this process holds (only while they are still ours). */
  release(): void {
    for (const path of this.taken.splice(0)) {
      try {
        if (readFileSync(path, 'latin1') === this.mine) unlinkSync(path);
      } catch { /* gone already */ }
    }
  }
}
