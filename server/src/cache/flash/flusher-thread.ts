/** Entry point of the flusher thread (startFlusher in flusher.ts); loaded only as a Worker's module. */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { Flusher, type FlusherInit, type FlusherMessage } from './flusher.js';

function workerMain(init: FlusherInit): void {
  // A synchronous destination: this thread's event loop turns only between flush passes, so an
  // asynchronous stdout would hold lines for as long as the thread is busy.
  const log = pino({ level: init.logLevel, base: { thread: 'flusher' } }, pino.destination({ dest: 1, sync: true }));
  const flusher = new Flusher(init.memory, log);
  const t0 = Date.now();
  const r = flusher.recover(init.now);
  const ms = Date.now() - t0;
  log.info({ objects: r.objects, files: r.files.length, tornFiles: r.tornFiles, deleted: r.deleted, ms }, 'flash tier recovered');
  parentPort!.postMessage({ type: 'recovered', objects: r.objects, files: r.files.length, tornFiles: r.tornFiles, ms, deleted: r.deleted } satisfies FlusherMessage);
  // Once stopped, the thread ends at once: an fdatasync of the previous file still on libuv's pool is
  // not waited for (its file is complete in the page cache, which outlives the process).
  void flusher.run().then(() => process.exit(0));
}

workerMain(workerData as FlusherInit);
