import { NO_ITEM, createStoreMemory, openStore } from '../../../../server/src/cache/store/store.js';
import { MiB, bytes, get, newStore, rng, set } from './helpers.js';

/**
 * A value that carries its own identity: byte i = (seed + i * 31) & 255. Precomputed once and sliced,
 * because generating and checking megabytes per item byte by byte would dominate the test's time.
 */
const PERIODIC = new Uint8Array(MiB + 256);
for (let j = 0; j < PERIODIC.length; j++) PERIODIC[j] = (j * 31) & 255;
// 223 is the inverse of 31 mod 256, so (j * 31) & 255 === (seed + i * 31) & 255 for j = i + seed * 223.
function pattern(seed: number, length: number): Uint8Array {
  const o = (seed * 223) & 255;
  return PERIODIC.subarray(o, o + length);
}

function matches(v: Uint8Array, seed: number, length: number): boolean {
  return v.length === length && Buffer.compare(v, pattern(seed, length)) === 0;
}

describe('store eviction', () => {
  test('memory bound: random sizes 10 B..1 MiB at 16 MiB never exceed limit_maxbytes; recent items stay', () => {
    const store = newStore({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 4 });
    const r = rng(7);
    const sizes: number[] = [];
    let missesOfLast = 0;
    let missesOfRecent = 0;
    const N = 2000;
    for (let i = 0; i < N; i++) {
      const key = bytes(`item-${i}`);
      // Log-uniform sizes: most items small, some near the 1 MiB limit, as real caches see them.
      const size = Math.min(Math.floor(10 * Math.pow(MiB / 10, r())), store.maxValueLength(key.length));
      sizes.push(size);
      expect(set(store, key, pattern(i, size), 1 + (i >> 8))).not.toBe(NO_ITEM);
      const s = store.stats();
      expect(s.bytes).toBeLessThanOrEqual(s.limitMaxbytes);
      expect(s.bytes).toBeGreaterThan(0);
      const last = get(store, key, 1 + (i >> 8), false);
      if (last === null || !matches(last, i, size)) missesOfLast++;
      if (i >= 8 && i % 16 === 0) {
        for (let j = i - 4; j < i; j++) {
          const v = get(store, bytes(`item-${j}`), 1 + (i >> 8), false);
          if (v === null) missesOfRecent++;
          else expect(matches(v, j, sizes[j])).toBe(true);
        }
      }
    }
    const s = store.stats();
    expect(missesOfLast).toBe(0);
    // The 4 items before the newest are each in a shard that has at least its fair share of 16 segments.
    expect(missesOfRecent).toBeLessThan((N / 16) * 4 * 0.05);
    expect(s.evictions).toBeGreaterThan(0);
    expect(s.currItems).toBeLessThan(N);
    // Segments are exactly -I (1 MiB) since the engine's memcached size check leaves room for the header.
    expect(s.segmentSize).toBe(1024 * 1024);
    expect(s.segmentsTotal).toBe(16);
    // Everything still readable is byte-exact.
    let readable = 0;
    for (let i = 0; i < N; i++) {
      const v = get(store, bytes(`item-${i}`), 100, false);
      if (v !== null) {
        readable++;
        expect(matches(v, i, sizes[i])).toBe(true);
      }
    }
    expect(readable).toBe(store.stats().currItems);
  });

  test('a scan of cold keys does not evict a repeatedly read hot set', () => {
    const store = newStore({ memoryLimit: 8 * MiB, maxItemSize: 64 * 1024, shards: 2 });
    const HOT = 1000;
    const COLD = 150_000;
    for (let h = 0; h < HOT; h++) set(store, bytes(`hot-${h}`), pattern(h, 100));
    let hotMisses = 0;
    let next = 0;
    for (let c = 0; c < COLD; c++) {
      set(store, bytes(`cold-${c}`), pattern(c, 100));
      if (c % 10 === 0) {
        const h = next++ % HOT;
        const v = get(store, bytes(`hot-${h}`));
        if (v === null) {
          hotMisses++;
          set(store, bytes(`hot-${h}`), pattern(h, 100));
        } else {
          expect(matches(v, h, 100)).toBe(true);
        }
      }
    }
    const s = store.stats();
    // 150k cold items are ~21 MiB: the 8 MiB pool turned over more than twice.
    expect(s.evictions).toBeGreaterThan(COLD / 2);
    expect(s.evictedActive).toBeGreaterThan(0);
    let hotPresent = 0;
    for (let h = 0; h < HOT; h++) if (get(store, bytes(`hot-${h}`), 1, false) !== null) hotPresent++;
    let coldPresent = 0;
    for (let c = 0; c < COLD; c += 100) if (get(store, bytes(`cold-${c}`), 1, false) !== null) coldPresent++;
    expect(hotPresent / HOT).toBeGreaterThan(0.98);
    expect(hotMisses / (COLD / 10)).toBeLessThan(0.02);
    expect(coldPresent / (COLD / 100)).toBeLessThan(0.4);
  });

  test('expired segments are dropped whole and their space reused before anything live is evicted', () => {
    const store = newStore({ memoryLimit: 16 * MiB, maxItemSize: 64 * 1024, shards: 2 });
    const value = new Uint8Array(1000);
    // ~12 MiB that expires at 50, then ~12 MiB that never expires.
    for (let i = 0; i < 12_000; i++) set(store, bytes(`short-${i}`), value, 10, 50);
    for (let i = 0; i < 12_000; i++) set(store, bytes(`long-${i}`), value, 60, 0);
    const s = store.stats();
    expect(s.evictions).toBe(0);
    expect(s.reclaimed).toBeGreaterThan(0);
    for (let i = 0; i < 12_000; i += 50) expect(get(store, bytes(`long-${i}`), 61, false)).not.toBeNull();
  });

  // memcached's touch / gat with a new exptime: 0 removes the expiry, 1000 keeps one, only a later one.
  test.each([
    [0, 'removes an expiry'],
    [1000, "extends an item's TTL"],
  ])('a touch that sets exptime %i (%s) keeps the item alive when its TTL segment expires', (exptime) => {
    const value = new Uint8Array(1000);
    const key = bytes('touched');
    for (const touch of [false, true]) {
      const store = newStore({ memoryLimit: 16 * MiB, maxItemSize: 64 * 1024, shards: 1 });
      set(store, key, bytes('keep me'), 10, 20);
      for (let i = 0; i < 500; i++) set(store, bytes(`short-${i}`), value, 10, 20);
      const h = store.hashKey(key, 0, key.length);
      store.lock(h);
      if (touch) store.setExptime(store.find(h, key, 0, key.length, 11), exptime);
      store.unlock(h);
      // Past 20, ~10 MiB of new items: segments are allocated, so expired ones are dropped; nothing is evicted.
      for (let i = 0; i < 10_000; i++) set(store, bytes(`later-${i}`), value, 30, 0);
      const s = store.stats();
      expect(s.evictions).toBe(0);
      if (touch) {
        expect(get(store, key, 31)).toEqual(bytes('keep me'));
      } else {
        // Without the touch the whole segment was dropped as expired, its items counted as reclaimed.
        expect(get(store, key, 31)).toBeNull();
        expect(s.reclaimed).toBe(501);
        expect(s.currItems).toBe(10_000);
      }
    }
  });

  test('a shard that finds memory owned by another shard steals its oldest segments', () => {
    const store = newStore({ memoryLimit: 16 * MiB, maxItemSize: 64 * 1024, shards: 4 });
    const keysOf = (shard: number, n: number, prefix: string): Uint8Array[] => {
      const out: Uint8Array[] = [];
      for (let i = 0; out.length < n; i++) {
        const k = bytes(`${prefix}-${i}`);
        if ((store.hashKey(k, 0, k.length) & 3) === shard) out.push(k);
      }
      return out;
    };
    const value = new Uint8Array(2000);
    const first = keysOf(1, 12_000, 'a');
    for (const k of first) set(store, k, value);
    expect(store.stats().segmentsFree).toBe(0);
    const second = keysOf(2, 6000, 'b');
    for (const k of second) set(store, k, value);
    // Shard 2 took segments from shard 1 (evicting its oldest), so at least its fair share of 4 of the 16
    // segments (~2000 items of 2 KiB) hold shard-2 keys: the last 1500 written are all readable.
    for (let i = second.length - 1500; i < second.length; i++) expect(get(store, second[i], 1, false)).not.toBeNull();
    expect(get(store, first[0], 1, false)).toBeNull();
    expect(get(store, first[first.length - 1], 1, false)).not.toBeNull();
    const s = store.stats();
    expect(s.bytes).toBeLessThanOrEqual(s.limitMaxbytes);
    expect(s.segmentsFree).toBe(0);
  });

  test('a tiny pool with many shards uses fewer shards, each with segments enough to keep items', () => {
    const memory = createStoreMemory({ memoryLimit: 12 * MiB, maxItemSize: 64 * 1024, shards: 16 });
    expect(memory.options.shards).toBe(2);
    expect(createStoreMemory({ memoryLimit: 64 * MiB, maxItemSize: 64 * 1024, shards: 16 }).options.shards).toBe(16);
    const store = openStore(memory);
    const value = new Uint8Array(3000);
    for (let i = 0; i < 5000; i++) {
      const key = bytes(`few-${i}`);
      expect(set(store, key, value)).not.toBe(NO_ITEM);
      expect(get(store, key, 1, false)).not.toBeNull();
    }
    const s = store.stats();
    expect(s.bytes).toBeLessThanOrEqual(s.limitMaxbytes);
    // 15 MB written through 12 MiB: most of the pool holds items (not one segment per shard being stolen).
    expect(s.bytes).toBeGreaterThan(8 * MiB);
  });

  test('an item found before an alloc survives that alloc (append-style compose)', () => {
    const store = newStore({ memoryLimit: 4 * MiB, maxItemSize: 64 * 1024, shards: 1 });
    const key = bytes('base');
    set(store, key, pattern(5, 5000));
    get(store, key);
    for (let round = 0; round < 200; round++) {
      const h = store.hashKey(key, 0, key.length);
      store.lock(h);
      const old = store.find(h, key, 0, key.length, 1);
      expect(old).not.toBe(NO_ITEM);
      // Fill the rest of the pool from inside the same lock hold, forcing evictions.
      for (let j = 0; j < 40; j++) {
        const k = bytes(`fill-${round}-${j}`);
        const r = store.alloc(h, k, 0, k.length, 0, 0, 30_000, 1);
        if (r !== NO_ITEM) store.link(h, r, 1);
      }
      const fresh = store.alloc(h, key, 0, key.length, 0, 0, 5000, 1);
      expect(fresh).not.toBe(NO_ITEM);
      const before = new Uint8Array(5000);
      store.copyValue(old, before, 0);
      expect(matches(before, 5, 5000)).toBe(true);
      store.valueView(fresh).set(before);
      store.link(h, fresh, 1);
      store.touchAccess(fresh, 1);
      store.unlock(h);
    }
    expect(matches(get(store, key) as Uint8Array, 5, 5000)).toBe(true);
  });
});
