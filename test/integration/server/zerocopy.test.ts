// Zero-copy gets: values of ZERO_COPY_MIN (8 KiB) and more are written to the socket straight from the store's shared
// memory, their segment pinned until the write completes. These tests try to break that: many connections
// overwrite large keys and push several times -m through the store (so eviction runs all the time) while
// others read; slow readers hold replies in the kernel while the store churns; connections close with
// replies still queued. Every value carries its key, writer, length and a sha1 of its payload, checked on
// every read; afterwards every pin must be released (/metrics cachalot_store_segments_pinned back to 0).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stopServer } from '../../support/servers.js';
import { scrape, startCachalotServer, waitFor, type Cachalot } from '../../support/cachalot.js';
import { connectMany, storageCommand } from '../../support/mcclient.js';
import { checkValue, makeValue, rng } from '../../support/selfcheck.js';

// 96 keys of ~480 KiB on average (~46 MiB) do not fit in -m 32: the store must evict, not only reuse
// overwritten space (it compacts mostly-dead segments before taking untouched memory).
const KEYS = 96;
const WRITERS = 6;
const READERS = 10;
const ROUNDS = 25;
const DEADLINE_MS = 60_000;

/** Sizes from 64 KiB to 900 KiB: every one goes out zero-copy. */
const sizeOf = (r: () => number): number => 65_536 + ((r() % (835 * 1024)) & ~3);

let server: Cachalot;

beforeAll(async () => {
  // 32 MiB: the live set (KEYS) does not fit and ~115 MiB are written below, so segments are evicted and
  // reused while replies are in flight; 8 of its 32 segments may be pinned at once.
  server = await startCachalotServer({ threads: 2, memoryMb: 32 });
});

afterAll(async () => {
  await stopServer(server?.server);
});

describe('zero-copy gets of large values', () => {
  it('readers never see bytes change under them while writers overwrite and evict; pins all released', async () => {
    const writers = await connectMany(server.port, WRITERS);
    const readers = await connectMany(server.port, READERS);
    const problems: string[] = [];
    let hits = 0;
    const deadline = Date.now() + DEADLINE_MS;
    const seedKeys = await connectMany(server.port, 1);
    for (let k = 0; k < KEYS; k++) {
      const key = `big:${k}`;
      const r = await seedKeys[0]!.request(storageCommand('set', key, makeValue(key, 'seed', sizeOf(rng(k + 1)), k)), 'line');
      expect(r.line).toBe('STORED');
    }
    seedKeys[0]!.close();

    const write = async (id: number): Promise<void> => {
      const r = rng(1000 + id);
      for (let round = 0; round < ROUNDS && Date.now() < deadline; round++) {
        const key = `big:${r() % KEYS}`;
        const reply = await writers[id]!.request(storageCommand('set', key, makeValue(key, `w${id}.${round}`, sizeOf(r), r())), 'line');
        if (reply.line !== 'STORED') problems.push(`set ${key}: ${reply.line}`);
      }
    };
    const read = async (id: number): Promise<void> => {
      const r = rng(2000 + id);
      const c = readers[id]!;
      for (let round = 0; round < ROUNDS * 2 && Date.now() < deadline; round++) {
        const keys = [0, 1, 2].map(() => `big:${r() % KEYS}`);
        if (id % 3 === 0 && round % 5 === 0) {
          // A slow reader: pipelined multi-gets pile up in the kernel while it does not read.
          c.socket.pause();
          const pending = c.pipeline(`get ${keys.join(' ')}\r\n`.repeat(4), ['values', 'values', 'values', 'values']);
          await new Promise((res) => setTimeout(res, 150));
          c.socket.resume();
          for (const reply of await pending) {
            for (const v of reply.values) {
              hits++;
              const p = checkValue(v.key, v.data);
              if (p) problems.push(p);
            }
          }
          continue;
        }
        const reply = await c.request(`${round % 2 ? 'gets' : 'get'} ${keys.join(' ')}\r\n`, 'values');
        if (reply.line !== 'END') problems.push(`get: ${reply.line}`);
        for (const v of reply.values) {
          hits++;
          const p = checkValue(v.key, v.data);
          if (p) problems.push(p);
        }
      }
    };
    await Promise.all([...writers.map((_, i) => write(i)), ...readers.map((_, i) => read(i))]);
    expect(Date.now()).toBeLessThan(deadline);
    expect(problems.slice(0, 5)).toEqual([]);
    // Reads mostly hit (an evicted key misses, which is allowed) and the store really cycled.
    expect(hits).toBeGreaterThan(READERS * ROUNDS);
    const m = await scrape(server.metricsPort);
    expect(m.get('memcached_items_evicted_total')).toBeGreaterThan(0);
    for (const c of [...writers, ...readers]) c.close();
    await waitFor(async () => (await scrape(server.metricsPort)).get('cachalot_store_segments_pinned') === 0, 5_000,
      'every pin released after the connections closed');
  });

  it('connections closed with large replies still queued release their pins; the store keeps storing', async () => {
    const [setter] = await connectMany(server.port, 1);
    const value = makeValue('big:close', 'closer', 900 * 1024, 7);
    expect((await setter!.request(storageCommand('set', 'big:close', value), 'line')).line).toBe('STORED');
    const victims = await connectMany(server.port, 12);
    for (const c of victims) {
      // Never read: 20 MB of replies each, far more than the socket buffers hold.
      c.socket.pause();
      c.socket.write('get big:close\r\n'.repeat(20));
    }
    await waitFor(async () => ((await scrape(server.metricsPort)).get('cachalot_store_segments_pinned') ?? 0) > 0, 5_000,
      'replies pinned while the clients do not read');
    const pinnedWhileStuck = (await scrape(server.metricsPort)).get('cachalot_store_segments_pinned')!;
    // Capped at a quarter of the 32 segments, whatever the number of stuck readers.
    expect(pinnedWhileStuck).toBeLessThanOrEqual(8);
    // Meanwhile the store still takes 3 x -m of new items.
    for (let i = 0; i < 96; i++) {
      const key = `fill:${i}`;
      const reply = await setter!.request(storageCommand('set', key, makeValue(key, 'fill', 1_000_000, i)), 'line');
      expect(reply.line).toBe('STORED');
    }
    for (const c of victims) c.close();
    await waitFor(async () => (await scrape(server.metricsPort)).get('cachalot_store_segments_pinned') === 0, 5_000,
      'every pin released after the stuck connections closed');
    const last = await setter!.request('get fill:95\r\n', 'values');
    expect(last.values.length).toBe(1);
    expect(checkValue('fill:95', last.values[0]!.data)).toBeNull();
    setter!.close();
  });
});
