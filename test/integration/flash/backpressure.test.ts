// The flash write buffer's backpressure (server/src/cache/flash/backpressure.ts) in a real server, with a
// disk that stops: the flusher's first log file is a FIFO, so its open() blocks until the test opens the
// other end, as a write to a stalled device blocks. Sets are held (not dropped) while the flusher cannot
// move, gets are answered meanwhile, and the held sets complete once it moves again; with a short
// ext_wbuf_wait_ms a disk that never comes back releases the sets and the lost evictions are counted.
// Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import { fileName } from '../../../server/src/cache/flash/files.js';
import { cachalotUnavailableReason } from '../../support/servers.js';
import { requirePrereq } from '../../support/prereq.js';
import { join } from 'node:path';
import { Client, removeDir, startFlashServer, stop, tempDir, valueOf, type FlashServer } from './support.js';

const unavailable = cachalotUnavailableReason();
const maybe = requirePrereq('cachalot-server build (dist/)', unavailable === null, unavailable ?? '').describe;

const VALUE = 4096;
/** 60 MiB of 4 KiB values through -m 16: RAM and the 32 MiB write buffer together hold well under it. */
const ITEMS = 15_000;
/** The flusher's batch (flusher.ts BATCH_BYTES): the records of one failed write are dropped together. */
const BATCH_BYTES = 2 * 1024 * 1024;
const POLL_MS = 50;
const POLLS = 1200;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The next log file the flusher opens (file 1 of an empty directory) made a FIFO: open() blocks. */
function stallDisk(dir: string): string {
  const path = join(dir, fileName(1));
  execFileSync('mkfifo', [path]);
  return path;
}

/** Opens the FIFO's read end (the flusher's open returns) and reads it until the flusher closes it. */
async function releaseDisk(fifo: string): Promise<void> {
  const h = await open(fifo, 'r');
  const buf = Buffer.alloc(64 * 1024);
  // Bounded: the flusher's positioned write fails on a FIFO (ESPIPE) and it closes the file at once.
  for (let n = 0; n < 100_000 && (await h.read(buf, 0, buf.length, null)).bytesRead > 0; n++);
  await h.close();
}

/** Sets items [0, ITEMS) of VALUE bytes over `window` requests in flight. */
async function fill(c: Client, window: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < ITEMS) {
      const i = next++;
      const r = await c.set(`item:${i}`, valueOf(i, VALUE));
      if (r !== 'STORED') throw new Error(`set item:${i} -> ${r}`);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
}

async function stat(c: Client, name: string): Promise<number> {
  return Number((await c.stats()).get(name));
}

async function readBack(c: Client): Promise<{ ok: number; missing: number; wrong: number[] }> {
  const res = { ok: 0, missing: 0, wrong: [] as number[] };
  for (let i = 0; i < ITEMS; i++) {
    const v = await c.get(`item:${i}`);
    if (v === null) res.missing++;
    else if (v.equals(valueOf(i, VALUE))) res.ok++;
    else res.wrong.push(i);
  }
  return res;
}

maybe('flash write buffer backpressure, with a disk that stops', () => {
  let dir = '';
  let server: FlashServer | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    // SIGKILL also ends a flusher still blocked opening the FIFO.
    await stop(server, 'SIGKILL');
    server = undefined;
    if (dir) removeDir(dir);
  });

  test('sets wait while the flusher cannot write, gets are answered meanwhile, and nothing is dropped', async () => {
    dir = tempDir();
    server = await startFlashServer(dir, '256m', ['-o', 'ext_wbuf_wait_ms=600000']);
    const fifo = stallDisk(dir);
    const writer = new Client(server.port);
    const reader = new Client(server.port);
    clients.push(writer, reader);
    let filled = false;
    const filling = fill(writer, 8).then(() => {
      filled = true;
    });
    let held = 0;
    for (let n = 0; n < POLLS && held === 0; n++) {
      await sleep(POLL_MS);
      held = await stat(reader, 'extstore_wbuf_waits');
    }
    expect(held).toBeGreaterThan(0);
    // Held: the fill cannot finish while the disk is stopped, and nothing was dropped to make room.
    expect(filled).toBe(false);
    expect(await stat(reader, 'extstore_wbuf_dropped')).toBe(0);
    // A get on another connection is answered meanwhile, from the write buffer or RAM.
    for (const i of [0, 1, 100]) expect(await reader.get(`item:${i}`)).toEqual(valueOf(i, VALUE));
    expect(await reader.get('never-set')).toBeNull();
    expect(filled).toBe(false);

    await releaseDisk(fifo);
    await filling;
    const back = await readBack(reader);
    const stats = await reader.stats();
    expect(back.wrong).toEqual([]);
    expect(Number(stats.get('extstore_wbuf_dropped'))).toBe(0);
    expect(Number(stats.get('extstore_wbuf_wait_timeouts'))).toBe(0);
    // The one write into the FIFO failed (a FIFO cannot be written at an offset): that batch's records are
    // dropped and counted as a write error. Every other item is back.
    expect(Number(stats.get('extstore_write_errors'))).toBe(1);
    expect(back.missing).toBeLessThanOrEqual(Math.ceil(BATCH_BYTES / VALUE) + 1);
    expect(back.ok).toBe(ITEMS - back.missing);
  }, 240_000);

  test('a disk that never comes back: after ext_wbuf_wait_ms the sets go on, and the drops are counted', async () => {
    dir = tempDir();
    server = await startFlashServer(dir, '256m', ['-o', 'ext_wbuf_wait_ms=200']);
    stallDisk(dir);
    const writer = new Client(server.port);
    clients.push(writer);
    await fill(writer, 8);
    const stats = await writer.stats();
    expect(Number(stats.get('extstore_wbuf_waits'))).toBeGreaterThan(0);
    expect(Number(stats.get('extstore_wbuf_wait_timeouts'))).toBeGreaterThanOrEqual(1);
    const dropped = Number(stats.get('extstore_wbuf_dropped'));
    expect(dropped).toBeGreaterThan(0);
    const back = await readBack(writer);
    expect(back.wrong).toEqual([]);
    expect(back.missing).toBeGreaterThanOrEqual(dropped);
  }, 240_000);
});
