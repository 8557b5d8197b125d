import { MiB, bytes, del, get, newStore, set } from './helpers.js';

describe('store loss counters', () => {
  test('evicted_unfetched counts exactly the evicted items that were never read', () => {
    const value = new Uint8Array(1000);
    const unread = newStore({ memoryLimit: 4 * MiB, maxItemSize: 64 * 1024, shards: 1 });
    for (let i = 0; i < 12_000; i++) set(unread, bytes(`cold-${i}`), value, 10, 0);
    const u = unread.stats();
    expect(u.evictions).toBeGreaterThan(0);
    expect(u.evictedUnfetched).toBe(u.evictions);

    // Every item read once right after it is stored: whatever is evicted was fetched.
    const read = newStore({ memoryLimit: 4 * MiB, maxItemSize: 64 * 1024, shards: 1 });
    for (let i = 0; i < 12_000; i++) {
      set(read, bytes(`warm-${i}`), value, 10, 0);
      expect(get(read, bytes(`warm-${i}`), 10)).not.toBeNull();
    }
    const r = read.stats();
    expect(r.evictions).toBeGreaterThan(0);
    expect(r.evictedUnfetched).toBe(0);
  });

  test('expired_unfetched counts unread items whose TTL ran out, not items without one that flush_all hid', () => {
    const store = newStore();
    for (let i = 0; i < 10; i++) set(store, bytes(`forever-${i}`), bytes('v'), 1, 0);
    store.flushAll(2);
    for (let i = 0; i < 10; i++) set(store, bytes(`ttl-${i}`), bytes('v'), 2, 5);
    // Lookups reclaim what they find dead.
    for (let i = 0; i < 10; i++) expect(get(store, bytes(`forever-${i}`), 3)).toBeNull();
    let s = store.stats();
    expect(s.reclaimed).toBe(10);
    expect(s.expiredUnfetched).toBe(0);
    for (let i = 0; i < 10; i++) expect(get(store, bytes(`ttl-${i}`), 5)).toBeNull();
    s = store.stats();
    expect(s.reclaimed).toBe(20);
    expect(s.expiredUnfetched).toBe(10);
  });
});

describe('store eviction keeps what is read', () => {
  test('items read since they were written survive the eviction of their segment, found at their new place', () => {
    const store = newStore({ memoryLimit: 4 * MiB, maxItemSize: 64 * 1024, shards: 1 });
    const valueOf = (i: number): Uint8Array => bytes(`hot value ${i} `.repeat(60));
    const filler = new Uint8Array(1000);
    // Cold before hot; the cold ones deleted: the segment has the fewest live bytes (the next victim), and
    // each kept hot item moves towards the segment's start.
    for (let i = 0; i < 200; i++) {
      set(store, bytes(`cold-${i}`), filler, 1, 0);
      set(store, bytes(`hot-${i}`), valueOf(i), 1, 0);
      expect(get(store, bytes(`hot-${i}`), 1)).not.toBeNull();
    }
    for (let i = 0; i < 200; i++) expect(del(store, bytes(`cold-${i}`), 1)).toBe(true);
    let flood = 0;
    for (; flood < 20_000 && store.stats().evictedActive === 0; flood++) set(store, bytes(`flood-${flood}`), filler, 2, 0);
    expect(store.stats().evictedActive).toBe(200); // every hot item kept, none evicted
    // More writes after the compaction reuse the space the hot items moved out of.
    for (let k = 0; k < 300; k++) set(store, bytes(`after-${k}`), filler, 2, 0);
    for (let i = 0; i < 200; i++) expect(get(store, bytes(`hot-${i}`), 2)).toEqual(valueOf(i));
  });
});
