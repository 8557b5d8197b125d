import { appendFileSync, existsSync, mkdirSync, readdirSync, statSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { IN_WBUF } from '../../../../server/src/cache/flash/layout.js';
import { ItemLocation } from '../../../../server/src/cache/store/store.js';
import { FlashReader } from '../../../../server/src/cache/flash/reader.js';
import { MiB, NOW, del, fill, get, inFlash, inRam, keyOf, removeDir, rig, set, tempDir, valueOf } from './helpers.js';

function sizeOf(i: number): number {
  // 100 B .. ~64 KiB, deterministic
  return 100 + ((i * 7919) % 64) * 1000;
}

describe('flash tier: demotion, flusher, reads', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  test('items evicted from RAM are served from the write buffer, then from files, byte-exact', async () => {
    const r = rig(dir);
    const { store, tier, flusher } = r;
    const n = 200; // ~6.4 MiB of values through a 4 MiB RAM store
    fill(r, 0, n - 3, sizeOf);
    for (let i = n - 3; i < n; i++) set(store, tier, keyOf(i), valueOf(i, sizeOf(i)));
    // Before the last flush some items are still in the write buffer.
    let inWbuf = 0;
    for (let i = 0; i < n; i++) if (inFlash(store, tier, keyOf(i))?.file === IN_WBUF) inWbuf++;
    const wbufValues = [];
    for (let i = 0; i < n; i++) {
      const hit = inFlash(store, tier, keyOf(i));
      if (hit?.file === IN_WBUF) wbufValues.push(await get(store, tier, keyOf(i)));
    }
    expect(wbufValues.every((v) => v !== null)).toBe(true);
    flusher.flushOnce();
    let fromFlash = 0;
    let missing = 0;
    for (let i = 0; i < n; i++) {
      const v = await get(store, tier, keyOf(i));
      if (v === null) {
        missing++;
        continue;
      }
      expect(v.equals(valueOf(i, sizeOf(i)))).toBe(true);
      if (inFlash(store, tier, keyOf(i)) !== null) fromFlash++;
    }
    expect(inWbuf).toBeGreaterThan(0);
    expect(fromFlash).toBeGreaterThan(50);
    // An 8 MiB tier holds everything evicted.
    expect(missing).toBe(0);
    const stats = new Map(tier.statPairs());
    expect(stats.get('extstore_objects_written')).toBeGreaterThan(50);
    expect(stats.get('get_extstore')).toBeGreaterThan(50);
    expect(stats.get('extstore_wbuf_dropped')).toBe(0);
  });

  test('a promoted item evicted again unchanged is not rewritten; touched (new exptime) it is', async () => {
    const r = rig(dir);
    const { store, tier, flusher } = r;
    fill(r, 0, 200, sizeOf); // ~6.4 MiB through 4 MiB of RAM: the first items are on flash
    flusher.flushOnce();
    const key = keyOf(0);
    const h = store.hashKey(key, 0, key.length);
    expect(inRam(store, key)).toBe(false);
    const before = inFlash(store, tier, key)!;
    expect(before).not.toBeNull();
    // Two reads within the admission window promote it; its flash copy stays.
    for (let n = 0; n < 2; n++) {
      await new Promise<void>((resolve) => {
        const loc = new ItemLocation();
        store.lock(h);
        expect(store.lookup(h, key, 0, key.length, NOW, loc)).toBeLessThan(0);
        store.readLocated(h, key, 0, key.length, loc, true, () => resolve());
        store.unlock(h);
      });
    }
    expect(inRam(store, key)).toBe(true);
    const stats = (): Map<string, number> => new Map(tier.statPairs());
    flusher.flushOnce();
    const written = stats().get('extstore_objects_written')!;
    store.lock(h);
    const ref = store.find(h, key, 0, key.length, NOW);
    expect(tier.demote(h, ref, store, NOW)).toBe(true);
    store.unlock(h);
    expect(stats().get('extstore_demotes_kept')).toBe(1);
    expect(inFlash(store, tier, key)).toMatchObject({ file: before.file, offset: before.offset });
    flusher.flushOnce();
    expect(stats().get('extstore_objects_written')).toBe(written);
    // A touch changes the exptime and keeps the CAS: the flash copy is stale, so it is written again.
    store.lock(h);
    store.setExptime(ref, NOW + 1000);
    expect(tier.demote(h, ref, store, NOW)).toBe(true);
    store.unlock(h);
    expect(stats().get('extstore_demotes_kept')).toBe(1);
    expect(inFlash(store, tier, key)?.file).toBe(IN_WBUF);
    flusher.flushOnce();
    expect(stats().get('extstore_objects_written')).toBe(written + 1);
    store.lock(h);
    store.unlink(h, store.find(h, key, 0, key.length, NOW));
    store.unlock(h);
    expect((await get(store, tier, key))?.equals(valueOf(0, sizeOf(0)))).toBe(true);
  });

  test('overwrite and delete hide the flash copy at once, and after a restart (tombstones)', async () => {
    const r = rig(dir);
    const { store, tier, flusher } = r;
    fill(r, 0, 300, () => 20_000);
    flusher.flushOnce();
    const victims = [0, 1, 2, 3].filter((i) => inFlash(store, tier, keyOf(i)) !== null);
    expect(victims.length).toBe(4);
    del(store, tier, keyOf(0));
    set(store, tier, keyOf(1), Buffer.from('new value'));
    expect(await get(store, tier, keyOf(0))).toBeNull();
    expect((await get(store, tier, keyOf(1)))?.toString()).toBe('new value');
    flusher.flushOnce(); // the tombstones reach the file
    // "Crash": the RAM copy of key 1 is gone; a new process recovers from the files only.
    const r2 = rig(dir);
    expect(await get(r2.store, r2.tier, keyOf(0))).toBeNull();
    expect(await get(r2.store, r2.tier, keyOf(1))).toBeNull();
    expect((await get(r2.store, r2.tier, keyOf(2)))?.equals(valueOf(2, 20_000))).toBe(true);
  });

  test('recovery rebuilds the index (newest copy wins), skips expired items and cuts a torn tail', async () => {
    const r = rig(dir);
    const { flusher } = r;
    fill(r, 0, 10, () => 30_000, NOW + 5);
    fill(r, 10, 250, () => 30_000);
    flusher.flushOnce();
    flusher.close();
    const files = readdirSync(dir).sort();
    const last = join(dir, files[files.length - 1]);
    const size = statSync(last).size;
    // A torn record: a header and half a body, as a crash mid-write leaves it.
    appendFileSync(last, Buffer.concat([Buffer.from([0x43, 0x41, 0x46, 0x31, 0x00, 0x10, 0, 0]), Buffer.alloc(100, 7)]));
    const r2 = rig(dir, {}, 4 * MiB);
    expect(statSync(last).size).toBe(size);
    const stats = new Map(r2.tier.statPairs());
    expect(stats.get('extstore_torn_records')).toBe(1);
    expect(stats.get('extstore_recovered_objects')).toBeGreaterThan(50);
    let served = 0;
    for (let i = 0; i < 250; i++) {
      const v = await get(r2.store, r2.tier, keyOf(i), NOW);
      if (v !== null) {
        expect(v.equals(valueOf(i, 30_000))).toBe(true);
        served++;
      }
    }
    expect(served).toBe(stats.get('extstore_recovered_objects'));
    // Expired in the meantime: a later clock hides the TTL items.
    const r3 = rig(dir);
    let ttlServed = 0;
    for (let i = 0; i < 10; i++) if (await get(r3.store, r3.tier, keyOf(i), NOW + 10) !== null) ttlServed++;
    expect(ttlServed).toBe(0);
  });

  test('a corrupted or truncated file costs hits, never returns wrong bytes, and is counted', async () => {
    const r = rig(dir);
    const { store, tier, flusher } = r;
    fill(r, 0, 400, () => 25_000);
    flusher.flushOnce();
    const files = readdirSync(dir).sort();
    // Flip bytes in the middle of the first file, truncate the second to half.
    const fd = openSync(join(dir, files[0]), 'r+');
    for (let off = 4096; off < statSync(join(dir, files[0])).size; off += 8192) writeSync(fd, Buffer.from([0xff, 0x00, 0xff]), 0, 3, off);
    closeSync(fd);
    truncateSync(join(dir, files[1]), Math.floor(statSync(join(dir, files[1])).size / 2));
    let bad = 0;
    for (let i = 0; i < 400; i++) {
      const v = await get(store, tier, keyOf(i));
      if (v === null) bad++;
      else expect(v.equals(valueOf(i, 25_000))).toBe(true);
    }
    expect(bad).toBeGreaterThan(0);
    const stats = new Map(tier.statPairs());
    expect(stats.get('badcrc_from_extstore')! + stats.get('extstore_read_errors')!).toBe(bad);
    // The failed entries were dropped: a second pass misses without I/O.
    const before = stats.get('extstore_read_errors')! + stats.get('badcrc_from_extstore')!;
    for (let i = 0; i < 400; i++) await get(store, tier, keyOf(i));
    const after = new Map(tier.statPairs());
    expect(after.get('extstore_read_errors')! + after.get('badcrc_from_extstore')!).toBe(before);
  });

  test('a full tier reclaims its oldest file; entries into it become misses', async () => {
    const r = rig(dir, { paths: [{ path: dir, size: 3 * MiB }] });
    const { store, tier, flusher } = r;
    fill(r, 0, 600, () => 20_000);
    flusher.flushOnce();
    expect(readdirSync(dir).length).toBeLessThanOrEqual(3);
    expect(await get(store, tier, keyOf(0))).toBeNull();
    expect((await get(store, tier, keyOf(599)))?.equals(valueOf(599, 20_000))).toBe(true);
    const stats = new Map(tier.statPairs());
    expect(stats.get('extstore_page_evictions')).toBeGreaterThan(0);
  });

  test('compaction: the live items of a mostly-dead oldest file are rewritten, not dropped; a restart keeps them', async () => {
    const r = rig(dir, { paths: [{ path: dir, size: 4 * MiB }] });
    const { store, tier, flusher } = r;
    fill(r, 0, 300, () => 20_000);
    flusher.flushOnce();
    const oldest = Number(new Map(tier.extstoreStats()).get('oldest_page'));
    const inOldest = [...Array(300).keys()].filter((i) => inFlash(store, tier, keyOf(i))?.file === oldest);
    expect(inOldest.length).toBeGreaterThan(20);
    // Delete all but five: the file is mostly dead.
    const keep = inOldest.slice(0, 5);
    for (const i of inOldest.slice(5)) del(store, tier, keyOf(i));
    // Write on until that file is reclaimed (bounded).
    for (let n = 300; n < 1000 && Number(new Map(tier.extstoreStats()).get('oldest_page')) <= oldest; n += 10) {
      fill(r, n, n + 10, () => 20_000);
      flusher.flushOnce();
    }
    expect(Number(new Map(tier.extstoreStats()).get('oldest_page'))).toBeGreaterThan(oldest);
    flusher.flushOnce();
    for (const i of keep) expect((await get(store, tier, keyOf(i)))?.equals(valueOf(i, 20_000))).toBe(true);
    for (const i of inOldest.slice(5)) expect(await get(store, tier, keyOf(i))).toBeNull();
    const stats = new Map(tier.statPairs());
    expect(stats.get('extstore_compact_rescues')).toBe(keep.length);
    expect(stats.get('extstore_compact_lost')).toBe(0);
    // The rewritten records are in a newer file: a restart serves them too.
    const r2 = rig(dir, { paths: [{ path: dir, size: 4 * MiB }] });
    for (const i of keep) expect((await get(r2.store, r2.tier, keyOf(i)))?.equals(valueOf(i, 20_000))).toBe(true);
    for (const i of inOldest.slice(5)) expect(await get(r2.store, r2.tier, keyOf(i))).toBeNull();
  });

  test('compaction leaves a mostly-live oldest file alone: it is dropped whole', () => {
    const r = rig(dir, { paths: [{ path: dir, size: 3 * MiB }] });
    fill(r, 0, 600, () => 20_000);
    r.flusher.flushOnce();
    const stats = new Map(r.tier.statPairs());
    expect(stats.get('extstore_page_evictions')).toBeGreaterThan(0);
    expect(stats.get('extstore_compact_rescues')).toBe(0);
  });

  test('flush_all hides every flash item and a restart does not bring them back', async () => {
    const r = rig(dir);
    const { store, tier, flusher } = r;
    fill(r, 0, 300, () => 20_000);
    flusher.flushOnce();
    store.flushAll(NOW);
    tier.flushAll(NOW);
    for (let i = 0; i < 300; i++) expect(await get(store, tier, keyOf(i))).toBeNull();
    set(store, tier, Buffer.from('after'), Buffer.from('x'));
    flusher.flushOnce();
    const r2 = rig(dir);
    for (let i = 0; i < 300; i++) expect(await get(r2.store, r2.tier, keyOf(i))).toBeNull();
  });

  test('a delayed flush_all survives a restart before its deadline and applies after it', async () => {
    const r = rig(dir);
    fill(r, 0, 300, () => 20_000);
    r.flusher.flushOnce();
    const onFlash = [...Array(300).keys()].filter((i) => !inRam(r.store, keyOf(i)) && inFlash(r.store, r.tier, keyOf(i)) !== null);
    expect(onFlash.length).toBeGreaterThan(100);
    // flush_all 5 at NOW, as the tiered store does it; the flusher persists it at its next pass.
    r.store.setOldestLive(NOW + 5);
    r.tier.setOldestLive(NOW + 5);
    r.flusher.checkDelayedFlush(NOW);
    expect(existsSync(join(dir, 'cachalot.flush'))).toBe(true);
    // Crash (no close), restart one second later: the items are there until the deadline, not after.
    const r2 = rig(dir, {}, 4 * MiB, NOW + 1);
    expect(r2.tier.pendingOldestLive()).toBe(NOW + 5);
    for (const i of onFlash) expect((await get(r2.store, r2.tier, keyOf(i), NOW + 4))?.equals(valueOf(i, 20_000))).toBe(true);
    for (const i of onFlash) expect(await get(r2.store, r2.tier, keyOf(i), NOW + 5)).toBeNull();
    // Down through the deadline: the next start drops the files and forgets the flush.
    const r3 = rig(dir, {}, 4 * MiB, NOW + 6);
    expect(r3.tier.pendingOldestLive()).toBe(0);
    expect(readdirSync(dir).filter((n) => n.endsWith('.flash'))).toEqual([]);
    expect(existsSync(join(dir, 'cachalot.flush'))).toBe(false);
    for (const i of onFlash) expect(await get(r3.store, r3.tier, keyOf(i), NOW + 6)).toBeNull();
  });

  test('a delayed flush_all reached while running drops the old files; items stored after it survive a restart', async () => {
    const r = rig(dir);
    fill(r, 0, 300, () => 20_000);
    r.flusher.flushOnce();
    r.store.setOldestLive(NOW + 5);
    r.tier.setOldestLive(NOW + 5);
    r.flusher.checkDelayedFlush(NOW);
    const before = readdirSync(dir).filter((n) => n.endsWith('.flash'));
    expect(before.length).toBeGreaterThan(0);
    r.flusher.checkDelayedFlush(NOW + 5);
    expect(existsSync(join(dir, 'cachalot.flush'))).toBe(false);
    for (const f of before) expect(existsSync(join(dir, f))).toBe(false);
    fill(r, 1000, 1300, () => 20_000, 0, NOW + 6);
    r.flusher.flushOnce();
    const later = [...Array(300).keys()].map((i) => 1000 + i).filter((i) => !inRam(r.store, keyOf(i), NOW + 6));
    expect(later.length).toBeGreaterThan(100);
    const r2 = rig(dir, {}, 4 * MiB, NOW + 7);
    expect(r2.tier.pendingOldestLive()).toBe(0);
    for (let i = 0; i < 300; i++) expect(await get(r2.store, r2.tier, keyOf(i), NOW + 7)).toBeNull();
    let back = 0;
    for (const i of later) {
      const v = await get(r2.store, r2.tier, keyOf(i), NOW + 7);
      if (v !== null) {
        expect(v.equals(valueOf(i, 20_000))).toBe(true);
        back++;
      }
    }
    expect(back).toBeGreaterThan(later.length / 2);
  });

  test('ext_item_size: evicted items whose value is shorter stay out of flash; larger ones are written', async () => {
    const r = rig(dir, { itemSize: 512 });
    const size = (i: number): number => (i % 2 === 0 ? 200 : 20_000);
    fill(r, 0, 600, size);
    r.flusher.flushOnce();
    const evicted = [...Array(600).keys()].filter((i) => !inRam(r.store, keyOf(i)));
    const small = evicted.filter((i) => i % 2 === 0);
    const large = evicted.filter((i) => i % 2 === 1);
    expect(small.length).toBeGreaterThan(10);
    expect(large.length).toBeGreaterThan(10);
    for (const i of small) expect(inFlash(r.store, r.tier, keyOf(i))).toBeNull();
    for (const i of large) expect((await get(r.store, r.tier, keyOf(i)))?.equals(valueOf(i, 20_000))).toBe(true);
    expect(new Map(r.tier.statPairs()).get('extstore_objects_written')).toBe(large.length);
    // The default (absent / 0) writes every size.
    const dir2 = tempDir();
    try {
      const r2 = rig(dir2);
      fill(r2, 0, 600, size);
      r2.flusher.flushOnce();
      const small2 = [...Array(600).keys()].filter((i) => i % 2 === 0 && !inRam(r2.store, keyOf(i)));
      expect(small2.length).toBeGreaterThan(10);
      for (const i of small2) expect((await get(r2.store, r2.tier, keyOf(i)))?.equals(valueOf(i, 200))).toBe(true);
    } finally {
      removeDir(dir2);
    }
  });

  test('a write buffer that is full drops items and counts them, never blocks', () => {
    const { store, tier } = rig(dir, { ringSize: 2 * MiB });
    // No flusher pass: ~8 MiB evicted into a 4 MiB write buffer.
    for (let i = 0; i < 600; i++) set(store, tier, keyOf(i), valueOf(i, 20_000));
    const stats = new Map(tier.statPairs());
    expect(stats.get('extstore_wbuf_dropped')).toBeGreaterThan(0);
  });

  test('shutdown flush: every RAM item is written, and a restart serves all of them', async () => {
    const { store, tier, flusher } = rig(dir);
    for (let i = 0; i < 50; i++) set(store, tier, keyOf(i), valueOf(i, 10_000));
    // Flush as the main thread does at SIGTERM; the flusher runs between waits here by hand.
    const queued = tier.demoteAll(store, NOW, Date.now() + 5000);
    expect(queued).toBe(50);
    flusher.flushOnce();
    flusher.close();
    const r2 = rig(dir);
    for (let i = 0; i < 50; i++) expect((await get(r2.store, r2.tier, keyOf(i)))?.equals(valueOf(i, 10_000))).toBe(true);
    writeFileSync(join(dir, 'unrelated.txt'), 'ignored');
  });
});

describe('flash tier: reads under the shard lock (as the tiered store calls them)', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  test('read() and readSync() with the lock held, from the write buffer and from a file, do not deadlock', async () => {
    const r = rig(dir);
    const { store, tier, flusher } = r;
    fill(r, 0, 300, () => 20_000);
    for (let i = 300; i < 400; i++) set(store, tier, keyOf(i), valueOf(i, 20_000)); // evictions, no flush
    const underLock = (i: number, sync: boolean): Promise<Buffer | null> => {
      const key = keyOf(i);
      const h = store.hashKey(key, 0, key.length);
      const hit = new ItemLocation();
      store.lock(h);
      try {
        if (!tier.lookup(h, key, 0, key.length, NOW, hit)) return Promise.resolve(null);
        if (sync) return Promise.resolve(tier.readSync(hit, key, 0, key.length));
        return new Promise((resolve) => tier.read(hit, key, 0, key.length, (v) => resolve(v === null ? null : Buffer.from(v))));
      } finally {
        store.unlock(h);
      }
    };
    const wbuf = [];
    for (let i = 0; i < 400; i++) if (inFlash(store, tier, keyOf(i))?.file === IN_WBUF) wbuf.push(i);
    expect(wbuf.length).toBeGreaterThan(0);
    for (const i of wbuf) {
      expect((await underLock(i, true))?.equals(valueOf(i, 20_000))).toBe(true);
      expect((await underLock(i, false))?.equals(valueOf(i, 20_000))).toBe(true);
    }
    flusher.flushOnce();
    for (const i of wbuf) {
      expect((await underLock(i, true))?.equals(valueOf(i, 20_000))).toBe(true);
      expect((await underLock(i, false))?.equals(valueOf(i, 20_000))).toBe(true);
    }
  });

  test('a write-buffer hit whose record the flusher released meanwhile is a miss, never other bytes', async () => {
    const r = rig(dir);
    const { store, tier, flusher } = r;
    fill(r, 0, 300, () => 20_000);
    for (let k = 300; k < 400; k++) set(store, tier, keyOf(k), valueOf(k, 20_000));
    const i = [...Array(400).keys()].find((k) => inFlash(store, tier, keyOf(k))?.file === IN_WBUF)!;
    const hit = inFlash(store, tier, keyOf(i))!;
    flusher.flushOnce(); // moves it to a file and releases the ring bytes
    // Producers reuse the space.
    fill(r, 1000, 1400, () => 20_000);
    const v = await new Promise<Buffer | null>((resolve) => tier.read(hit, keyOf(i), 0, keyOf(i).length, (x) => resolve(x === null ? null : Buffer.from(x))));
    expect(v === null || v.equals(valueOf(i, 20_000))).toBe(true);
  });
});

describe('flash tier: reads through a reader thread (ext_threads)', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  test('inline reads: small records are read on the serving thread while reads are fast; slow ones send reads to the reader for a while', async () => {
    // inlineSlowUs -1 makes every inline read "slow": after one window of 64 the reader takes over.
    for (const slowUs of [undefined, -1]) {
      const sub = join(dir, `slow${slowUs ?? 'default'}`);
      mkdirSync(sub);
      const r = rig(sub, { readers: 1, inlineSlowUs: slowUs, paths: [{ path: sub, size: 8 * MiB }] });
      const { store, tier, flusher } = r;
      const reader = new FlashReader(r.memory, 0, 1);
      fill(r, 0, 400, (i) => 1000 + (i % 50) * 1000);
      flusher.flushOnce();
      const onFile = [...Array(400).keys()].filter((i) => !inRam(store, keyOf(i)) && (inFlash(store, tier, keyOf(i))?.file ?? IN_WBUF) !== IN_WBUF);
      expect(onFile.length).toBeGreaterThan(100);
      let served = 0;
      for (let from = 0; from < onFile.length; from += 16) {
        const batch = onFile.slice(from, from + 16);
        let settled = false;
        const all = Promise.all(batch.map((i) => get(store, tier, keyOf(i)))).then((v) => { settled = true; return v; });
        for (let n = 0; n < 1000 && !settled; n++) {
          await new Promise((res) => setImmediate(res));
          served += reader.serveOnce();
        }
        const values = await all;
        batch.forEach((i, k) => expect(values[k]?.equals(valueOf(i, 1000 + (i % 50) * 1000))).toBe(true));
      }
      const stats = new Map(tier.statPairs());
      if (slowUs === undefined) {
        expect(stats.get('extstore_inline_reads')).toBe(onFile.length);
        expect(served).toBe(0);
        expect(stats.get('extstore_inline_backoffs')).toBe(0);
      } else {
        expect(stats.get('extstore_inline_reads')).toBe(64);
        expect(stats.get('extstore_inline_backoffs')).toBe(1);
        expect(served).toBe(onFile.length - 64);
      }
      expect(stats.get('extstore_read_errors')).toBe(0);
    }
  });

  test('reads submitted to the channel land byte-exact, in any number, wrapping the arena', async () => {
    const r = rig(dir, { readers: 1, inlineReads: false });
    const { store, tier, flusher } = r;
    // The reader, driven by hand in this thread (its worker runs reader.run()).
    const reader = new FlashReader(r.memory, 0, 1);
    fill(r, 0, 400, (i) => 1000 + (i % 50) * 1000);
    flusher.flushOnce();
    const onFile = [...Array(400).keys()].filter((i) => !inRam(store, keyOf(i)) && (inFlash(store, tier, keyOf(i))?.file ?? IN_WBUF) !== IN_WBUF);
    expect(onFile.length).toBeGreaterThan(100);
    // Three rounds over every item: ~3 x 6 MiB through a 2 MiB arena, up to 64 reads in flight at once.
    let served = 0;
    for (let round = 0; round < 3; round++) {
      for (let from = 0; from < onFile.length; from += 64) {
        const batch = onFile.slice(from, from + 64);
        const pending = batch.map((i) => get(store, tier, keyOf(i)));
        let settled = false;
        const all = Promise.all(pending).then((v) => { settled = true; return v; });
        // Serve until every read of the batch landed (bounded).
        for (let n = 0; n < 1000 && !settled; n++) {
          await new Promise((res) => setImmediate(res));
          served += reader.serveOnce();
        }
        const values = await all;
        batch.forEach((i, k) => expect(values[k]?.equals(valueOf(i, 1000 + (i % 50) * 1000))).toBe(true));
      }
    }
    expect(served).toBe(3 * onFile.length); // every read went through the channel, none through the pool
    expect(new Map(tier.statPairs()).get('extstore_read_errors')).toBe(0);
  });

  test('a read of a file reclaimed after lookup() is a plain miss', async () => {
    const r = rig(dir, { readers: 1, inlineReads: false, paths: [{ path: dir, size: 3 * MiB }] });
    const reader = new FlashReader(r.memory, 0, 1);
    fill(r, 0, 300, () => 20_000);
    r.flusher.flushOnce();
    const i = [...Array(300).keys()].find((k) => !inRam(r.store, keyOf(k)) && (inFlash(r.store, r.tier, keyOf(k))?.file ?? IN_WBUF) !== IN_WBUF)!;
    const hit = inFlash(r.store, r.tier, keyOf(i))!;
    fill(r, 300, 700, () => 20_000); // the tier turns over: that file is reclaimed
    r.flusher.flushOnce();
    expect(Number(new Map(r.tier.extstoreStats()).get('oldest_page'))).toBeGreaterThan(hit.file);
    let v: Buffer | null | undefined;
    r.tier.read(hit, keyOf(i), 0, keyOf(i).length, (x) => { v = x === null ? null : Buffer.from(x); });
    for (let n = 0; n < 100 && v === undefined; n++) {
      await new Promise((res) => setImmediate(res));
      reader.serveOnce();
    }
    expect(v).toBeNull();
    expect(new Map(r.tier.statPairs()).get('extstore_read_errors')).toBe(0);
  });

  test('a reader that stalls: its reads become misses (read errors), later reads use the thread pool', async () => {
    const r = rig(dir, { readers: 1, inlineReads: false, readerStallMs: 200 });
    fill(r, 0, 400, () => 20_000);
    r.flusher.flushOnce();
    const onFile = [...Array(400).keys()].filter((k) => !inRam(r.store, keyOf(k)) && (inFlash(r.store, r.tier, keyOf(k))?.file ?? IN_WBUF) !== IN_WBUF);
    expect(onFile.length).toBeGreaterThan(10);
    // No reader ever serves this channel.
    expect(await get(r.store, r.tier, keyOf(onFile[0]))).toBeNull();
    expect(new Map(r.tier.statPairs()).get('extstore_read_errors')).toBe(1);
    // From now on the pool serves this thread's reads.
    expect((await get(r.store, r.tier, keyOf(onFile[1])))?.equals(valueOf(onFile[1], 20_000))).toBe(true);
  });
});

describe('flash tier: several ext_paths', () => {
  let dirs: string[];
  beforeEach(() => {
    dirs = [tempDir(), tempDir()];
  });
  afterEach(() => dirs.forEach(removeDir));

  test('files are spread over the paths and a restart recovers from all of them', async () => {
    const options = { paths: [{ path: dirs[0], size: 4 * MiB }, { path: dirs[1], size: 4 * MiB }] };
    const r = rig(dirs[0], options);
    fill(r, 0, 400, () => 20_000);
    r.flusher.flushOnce();
    r.flusher.close();
    expect(readdirSync(dirs[0]).length).toBeGreaterThan(0);
    expect(readdirSync(dirs[1]).length).toBeGreaterThan(0);
    const r2 = rig(dirs[0], options);
    let served = 0;
    for (let i = 0; i < 400; i++) {
      const v = await get(r2.store, r2.tier, keyOf(i));
      if (v !== null) {
        expect(v.equals(valueOf(i, 20_000))).toBe(true);
        served++;
      }
    }
    expect(served).toBe(new Map(r2.tier.statPairs()).get('extstore_recovered_objects'));
    expect(served).toBeGreaterThan(100);
  });
});

describe('flash tier: file descriptors', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  test('fds of reclaimed files are closed: a long run does not keep one per file ever read', async () => {
    const r = rig(dir, { paths: [{ path: dir, size: 3 * MiB }] });
    const { store, tier, flusher } = r;
    const fdsBefore = readdirSync('/proc/self/fd').length;
    let reads = 0;
    for (let round = 0; round < 6; round++) {
      fill(r, round * 200, round * 200 + 200, () => 20_000);
      flusher.flushOnce();
      // Read what went to flash (the newest ~4 MiB are still in RAM), so each live file gets an fd.
      for (let i = Math.max(0, round * 200 - 100); i < round * 200 + 20; i += 3) await get(store, tier, keyOf(i));
    }
    reads = new Map(tier.statPairs()).get('extstore_objects_read')!;
    expect(reads).toBeGreaterThan(50);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // 3 live files (plus slack for fds closing asynchronously), not one per file of the 6 rounds.
    expect(readdirSync('/proc/self/fd').length - fdsBefore).toBeLessThanOrEqual(5);
  });
});

describe('flash tier: the directory disappears', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  test('files cannot be created: batches are dropped and counted, entries removed, RAM keeps working', async () => {
    const r = rig(dir);
    const { store, tier, flusher } = r;
    fill(r, 0, 300, () => 20_000);
    flusher.flushOnce();
    // The directory is replaced by a plain file: no new log file can be created there.
    removeDir(dir);
    writeFileSync(dir, 'not a directory');
    expect(() => fill(r, 300, 700, () => 20_000)).not.toThrow();
    flusher.flushOnce();
    const stats = new Map(tier.statPairs());
    expect(stats.get('extstore_write_errors')).toBeGreaterThan(0);
    // Items whose batch failed are plain misses, never dangling write-buffer entries or wrong bytes.
    for (let i = 0; i < 700; i++) {
      const v = await get(store, tier, keyOf(i));
      if (v !== null) expect(v.equals(valueOf(i, 20_000))).toBe(true);
    }
    expect((await get(store, tier, keyOf(699)))?.equals(valueOf(699, 20_000))).toBe(true);
    removeDir(dir);
  });
});
