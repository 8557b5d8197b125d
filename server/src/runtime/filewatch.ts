/**
 * Calls back when any of a few small files changes content. Used for credentials and certificates that
 * Kubernetes mounts from Secrets: the kubelet updates them by swapping a `..data` symlink, which some
 * inotify watches never see, so the files are read on an interval (they are a few KiB) and also as soon as
 * fs.watch reports anything in their directories. A file that cannot be read counts as unchanged: a
 * rotation that is half done (or a file briefly missing) keeps the material in use until the next read.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

/** How often the files are read when nothing reports a change. */
export const FILE_POLL_MS = 2000;

export class FileWatcher {
  private readonly last: (Buffer | null)[];
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;

  /** `onChange(contents)` gets every file's current bytes, in `paths` order, after any of them changed. */
  constructor(private readonly paths: readonly string[], private readonly onChange: (contents: Buffer[]) => void,
    pollMs = FILE_POLL_MS) {
    this.last = paths.map((p) => readOrNull(p));
    this.timer = setInterval(() => this.check(), pollMs);
    this.timer.unref();
    for (const dir of new Set(paths.map((p) => dirname(p)))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.check());
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        // No inotify here (or the directory is gone for now): the interval still sees changes.
      }
    }
  }

  /** Reads every file now; calls back if one changed. */
  check(): void {
    let changed = false;
    const now: Buffer[] = [];
    for (let i = 0; i < this.paths.length; i++) {
      const bytes = readOrNull(this.paths[i]);
      if (bytes === null) return;
      const prev = this.last[i];
      if (prev === null || !prev.equals(bytes)) changed = true;
      now.push(bytes);
    }
    if (!changed) return;
    for (let i = 0; i < now.length; i++) this.last[i] = now[i];
    this.onChange(now);
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const w of this.watchers.splice(0)) w.close();
  }
}

function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}
