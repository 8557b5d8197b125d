import { MiB, bytes, get, newStore, set } from './helpers.js';

describe('store expiry by segment', () => {
  test("a touch that extends an item's TTL keeps it past the time its segment would have expired", () => {
    const value = new Uint8Array(1000);
    const key = bytes('extended');
    for (const touch of [false, true]) {
      const store = newStore({ memoryLimit: 16 * MiB, maxItemSize: 64 * 1024, shards: 1 });
      set(store, key, bytes('keep me'), 10, 20);
      for (let i = 0; i < 500; i++) set(store, bytes(`short-${i}`), value, 10, 20);
      const h = store.hashKey(key, 0, key.length);
      store.lock(h);
      // 20 -> 1000: still a TTL, only a later one (memcached's touch / gat with a new exptime).
      if (touch) store.setExptime(store.find(h, key, 0, key.length, 11), 1000);
      store.unlock(h);
      // Past 20, ~10 MiB of new items: segments are allocated, so expired ones are dropped.
      for (let i = 0; i < 10_000; i++) set(store, bytes(`later-${i}`), value, 30, 0);
      expect(store.stats().evictions).toBe(0);
      expect(get(store, key, 31)).toEqual(touch ? bytes('keep me') : null);
    }
  });
});
