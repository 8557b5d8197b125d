import { ITEM_FETCHED, ITEM_STALE, NO_ITEM, StoreOptionsError, createStoreMemory, openStore }
  from '../../../../server/src/cache/store/store.js';
import { MiB, bytes, del, get, newStore, rng, set } from './helpers.js';

describe('store basics', () => {
  test('set/get round trip is byte-exact, including every byte value and empty values', () => {
    const store = newStore();
    const all = new Uint8Array(256 * 3);
    for (let i = 0; i < all.length; i++) all[i] = i & 255;
    expect(set(store, bytes('k'), all)).not.toBe(NO_ITEM);
    expect(get(store, bytes('k'))).toEqual(all);
    expect(set(store, bytes('empty'), new Uint8Array(0))).not.toBe(NO_ITEM);
    expect(get(store, bytes('empty'))).toEqual(new Uint8Array(0));
    expect(get(store, bytes('missing'))).toBeNull();
  });

  test('keys that differ in one byte or in length are distinct', () => {
    const store = newStore();
    set(store, bytes('abc'), bytes('1'));
    set(store, bytes('abd'), bytes('2'));
    set(store, bytes('abcd'), bytes('3'));
    set(store, bytes('ab'), bytes('4'));
    expect(get(store, bytes('abc'))).toEqual(bytes('1'));
    expect(get(store, bytes('abd'))).toEqual(bytes('2'));
    expect(get(store, bytes('abcd'))).toEqual(bytes('3'));
    expect(get(store, bytes('ab'))).toEqual(bytes('4'));
  });

  test('a key given as a slice of a larger buffer is found', () => {
    const store = newStore();
    set(store, bytes('user:42'), bytes('v'));
    const line = bytes('get user:42\r\n');
    const h = store.hashKey(line, 4, 11);
    store.lock(h);
    const ref = store.find(h, line, 4, 11, 1);
    store.unlock(h);
    expect(ref).not.toBe(NO_ITEM);
  });

  test('overwrite replaces the value and the item count stays 1', () => {
    const store = newStore();
    set(store, bytes('k'), bytes('first value'));
    set(store, bytes('k'), bytes('second'));
    expect(get(store, bytes('k'))).toEqual(bytes('second'));
    const s = store.stats();
    expect(s.currItems).toBe(1);
    expect(s.totalItems).toBe(2);
    expect(s.bytes).toBe(Math.ceil((32 + 1 + 6) / 8) * 8);
  });

  test('unlink removes; a second unlink of the same ref is a no-op', () => {
    const store = newStore();
    set(store, bytes('k'), bytes('v'));
    const key = bytes('k');
    const h = store.hashKey(key, 0, 1);
    store.lock(h);
    const ref = store.find(h, key, 0, 1, 1);
    store.unlink(h, ref);
    store.unlink(h, ref);
    store.unlock(h);
    expect(get(store, key)).toBeNull();
    expect(store.stats().currItems).toBe(0);
    expect(store.stats().bytes).toBe(0);
  });

  test('alloc without link is invisible and does not count', () => {
    const store = newStore();
    const key = bytes('k');
    const h = store.hashKey(key, 0, 1);
    store.lock(h);
    const ref = store.alloc(h, key, 0, 1, 0, 0, 10, 1);
    store.unlock(h);
    expect(ref).not.toBe(NO_ITEM);
    expect(get(store, key)).toBeNull();
    expect(store.stats().currItems).toBe(0);
  });

  test('header fields: flags (full u32), exptime, time, bits, value length', () => {
    const store = newStore();
    const key = bytes('meta');
    set(store, key, bytes('12345'), 7, 100, 0xfffffffe);
    const h = store.hashKey(key, 0, key.length);
    store.lock(h);
    const ref = store.find(h, key, 0, key.length, 8);
    expect(store.itemFlags(ref)).toBe(0xfffffffe);
    expect(store.itemExptime(ref)).toBe(100);
    expect(store.itemTime(ref)).toBe(7);
    expect(store.itemValueLength(ref)).toBe(5);
    expect(store.itemBits(ref)).toBe(0);
    store.touchAccess(ref, 9);
    expect(store.itemBits(ref)).toBe(ITEM_FETCHED);
    expect(store.itemTime(ref)).toBe(9);
    store.setBits(ref, ITEM_STALE);
    expect(store.itemBits(ref)).toBe(ITEM_STALE);
    store.setExptime(ref, 0);
    expect(store.itemExptime(ref)).toBe(0);
    store.unlock(h);
  });

  test('expiry is by now: visible before exptime, gone at exptime, and counted as reclaimed', () => {
    const store = newStore();
    set(store, bytes('t'), bytes('v'), 10, 20);
    expect(get(store, bytes('t'), 19, false)).toEqual(bytes('v'));
    expect(get(store, bytes('t'), 20)).toBeNull();
    const s = store.stats();
    expect(s.currItems).toBe(0);
    expect(s.reclaimed).toBe(1);
    expect(s.expiredUnfetched).toBe(1);
  });

  test('flush via oldestLive hides items stored at or before it once now reaches it', () => {
    const store = newStore();
    set(store, bytes('old'), bytes('1'), 5);
    store.setOldestLive(6);
    set(store, bytes('mid'), bytes('2'), 6);
    expect(get(store, bytes('old'), 5, false)).toEqual(bytes('1'));
    set(store, bytes('new'), bytes('3'), 7);
    expect(get(store, bytes('old'), 6)).toBeNull();
    expect(get(store, bytes('mid'), 6)).toBeNull();
    expect(get(store, bytes('new'), 7)).toEqual(bytes('3'));
    store.setOldestLive(0);
    expect(get(store, bytes('new'), 8)).toEqual(bytes('3'));
  });

  test('flushAll hides everything linked before it, in every shard, but not what is linked after it', () => {
    const store = newStore({ shards: 8 });
    for (let i = 0; i < 100; i++) set(store, bytes(`before-${i}`), bytes('x'), 5);
    store.flushAll(5);
    set(store, bytes('after'), bytes('y'), 5);
    set(store, bytes('before-7'), bytes('z'), 5);
    let visible = 0;
    for (let i = 0; i < 100; i++) if (get(store, bytes(`before-${i}`), 5) !== null) visible++;
    expect(visible).toBe(1);
    expect(get(store, bytes('before-7'), 5)).toEqual(bytes('z'));
    expect(get(store, bytes('after'), 5)).toEqual(bytes('y'));
    expect(store.stats().currItems).toBe(2);
  });

  test('CAS is unique and increasing per link', () => {
    const store = newStore({ shards: 8 });
    const seen = new Set<number>();
    let last = 0;
    const key = bytes('same');
    for (let i = 0; i < 1000; i++) {
      set(store, key, bytes(String(i)));
      const h = store.hashKey(key, 0, key.length);
      store.lock(h);
      const cas = store.itemCas(store.find(h, key, 0, key.length, 1));
      store.unlock(h);
      expect(cas).toBeGreaterThan(last);
      last = cas;
      seen.add(cas);
    }
    for (let i = 0; i < 1000; i++) {
      const k = bytes(`k${i}`);
      set(store, k, bytes('v'));
      const h = store.hashKey(k, 0, k.length);
      store.lock(h);
      seen.add(store.itemCas(store.find(h, k, 0, k.length, 1)));
      store.unlock(h);
    }
    expect(seen.size).toBe(2000);
  });

  test('renewCas gives a linked item a fresh, larger CAS in place without touching its value', () => {
    const store = newStore({ shards: 4 });
    const key = bytes('counter');
    set(store, key, bytes('41'));
    set(store, bytes('other'), bytes('x'));
    const h = store.hashKey(key, 0, key.length);
    store.lock(h);
    const ref = store.find(h, key, 0, key.length, 1);
    const before = store.itemCas(ref);
    store.valueView(ref).set(bytes('42'));
    store.renewCas(h, ref);
    const after = store.itemCas(ref);
    expect(store.find(h, key, 0, key.length, 1)).toBe(ref);
    store.unlock(h);
    expect(after).toBeGreaterThan(before);
    expect(get(store, key)).toEqual(bytes('42'));
    expect(store.stats().currItems).toBe(2);
  });

  test('items larger than a segment are refused; maxValueLength follows maxItemSize', () => {
    const store = newStore();
    const s = store.stats();
    const key = bytes('big');
    const h = store.hashKey(key, 0, key.length);
    store.lock(h);
    expect(store.alloc(h, key, 0, 3, 0, 0, s.segmentSize, 1)).toBe(NO_ITEM);
    expect(store.alloc(h, key, 0, 3, 0, 0, store.maxValueLength(3), 1)).not.toBe(NO_ITEM);
    store.unlock(h);
    expect(store.maxValueLength(3)).toBe(MiB - 32 - 3);
  });

  test('stats return to the same numbers after deleting everything', () => {
    const store = newStore();
    const before = store.stats();
    const r = rng(1);
    for (let i = 0; i < 5000; i++) set(store, bytes(`key-${i}`), new Uint8Array(Math.floor(r() * 300)));
    const full = store.stats();
    expect(full.currItems).toBe(5000);
    for (let i = 0; i < 5000; i++) expect(del(store, bytes(`key-${i}`))).toBe(true);
    const after = store.stats();
    expect(after.currItems).toBe(before.currItems);
    expect(after.bytes).toBe(before.bytes);
    expect(after.evictions).toBe(0);
    // The index grew with the items (up to 16 MiB / 128 B per slot) and, as memcached's hash table, keeps
    // its size when they go.
    expect(full.indexSlots!).toBeGreaterThan(before.indexSlots!);
    expect(full.indexSlots!).toBeLessThanOrEqual(131072);
    expect(after.indexSlots).toBe(full.indexSlots);
  });

  test('options are validated with messages that name the option', () => {
    expect(() => createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 3 }))
      .toThrow(StoreOptionsError);
    expect(() => createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 3 }))
      .toThrow(/shards must be a power of two/);
    expect(() => createStoreMemory({ memoryLimit: MiB, maxItemSize: MiB, shards: 1 }))
      .toThrow(/memoryLimit must be an integer from/);
  });

  test('a second openStore on the same memory sees the same items', () => {
    const memory = createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 4 });
    const a = openStore(memory);
    const b = openStore(memory);
    set(a, bytes('shared'), bytes('yes'));
    expect(get(b, bytes('shared'))).toEqual(bytes('yes'));
  });
});
