/**
 * The ring from a file. A ConfigMap mounted as a volume is updated by the kubelet swapping a `..data`
 * symlink, which some inotify watches never see, so the file is read on an interval (it is a few KiB) and
 * additionally re-read as soon as fs.watch reports anything in its directory. Only changed text is parsed.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseRingDocument } from './document.js';
import type { RingListener, RingSource } from './source.js';

export class FileRingSource implements RingSource {
  private timer: NodeJS.Timeout | null = null;
  private watcher: FSWatcher | null = null;
  private lastText: string | null = null;
  private lastError = '';
  private reading = false;
  private again = false;
  private listener: RingListener | null = null;

  constructor(private readonly path: string, private readonly pollMs: number) {}

  async start(listener: RingListener): Promise<void> {
    this.listener = listener;
    await this.check();
    this.timer = setInterval(() => void this.check(), this.pollMs);
    this.timer.unref();
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, () => void this.check());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = null;
      });
    } catch {
      // No inotify (or the directory is missing for now): the interval still picks changes up.
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.watcher?.close();
    this.timer = null;
    this.watcher = null;
    this.listener = null;
  }

  private async check(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        await this.readOnce();
      } while (this.again);
    } finally {
      this.reading = false;
    }
  }

  private async readOnce(): Promise<void> {
    const listener = this.listener;
    if (!listener) return;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      this.report(listener, err as Error);
      return;
    }
    if (text === this.lastText) return;
    try {
      const spec = parseRingDocument(text, ` ${this.path}`);
      this.lastText = text;
      this.lastError = '';
      listener.ring(spec, this.path);
    } catch (err) {
      // A half-written file is refused; the next change (or poll) reads it again.
      this.report(listener, err as Error);
    }
  }

  /** Reports each distinct error once, not on every poll. */
  private report(listener: RingListener, err: Error): void {
    if (err.message === this.lastError) return;
    this.lastError = err.message;
    listener.invalid(err, this.path);
  }
}
