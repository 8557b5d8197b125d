/**
 * A shard's index starts small and grows a bucket at a time as it fills (layout.ts INDEX_GROW_LOAD, linear
 * hashing): every entry survives the splits (found, replaced, deleted as before), with one shard (the hash
 * read from the item) or several (the hash rebuilt from the tag), and a sweep during which the index grows
 * still visits every entry (a split only moves entries to a bucket past the one it splits).
 */
import { createStoreMemory, openStore, openTieredStore, NO_ITEM, SweepCursor } from '../../../../server/src/cache/store/store.js';
import type { StoreMemory, SweepDecision } from '../../../../server/src/cache/store/store.js';
import {
  INDEX_GROW_LOAD, MIN_BUCKETS_PER_SHARD, SHARD_I32_STRIDE, SH_INDEX_BITS, SH_INDEX_SPLIT, SLOTS_PER_BUCKET,
} from '../../../../server/src/cache/store/layout.js';
import { MiB, bytes, del, get, set } from './helpers.js';

const keyOf = (i: number): Uint8Array => bytes(`key:${i}`);

/** Buckets each shard's index uses. */
function bucketsInUse(memory: StoreMemory): number[] {
  const sh = new Int32Array(memory.buffers.shards!);
  return Array.from({ length: memory.options.shards }, (_, s) =>
    (1 << sh[s * SHARD_I32_STRIDE + SH_INDEX_BITS]) + sh[s * SHARD_I32_STRIDE + SH_INDEX_SPLIT]);
}

describe.each([1, 4])('index growth with %i shard(s)', (shards) => {
  test('every key set before and across the doublings is found with its value; replace and delete still work', () => {
    const memory = createStoreMemory({ memoryLimit: 64 * MiB, maxItemSize: MiB, shards });
    const store = openStore(memory);
    expect(bucketsInUse(memory)).toEqual(Array(shards).fill(MIN_BUCKETS_PER_SHARD));
    const n = 20000;
    for (let i = 0; i < n; i++) expect(set(store, keyOf(i), bytes(`v${i}`))).not.toBe(NO_ITEM);
    // Each shard grew to hold its share at no more than INDEX_GROW_LOAD (and not much past it).
    for (const b of bucketsInUse(memory)) {
      expect(b * SLOTS_PER_BUCKET * INDEX_GROW_LOAD).toBeGreaterThanOrEqual(n / shards * 0.8);
      expect(b * SLOTS_PER_BUCKET * INDEX_GROW_LOAD).toBeLessThanOrEqual(n / shards * 1.25);
    }
    expect(store.stats().currItems).toBe(n);
    expect(store.stats().evictions).toBe(0);
    // Stats report the index as it has grown (memcached's hash_bytes), not the whole region.
    expect(store.stats().indexSlots).toBe(bucketsInUse(memory).reduce((a, b) => a + b, 0) * SLOTS_PER_BUCKET);
    expect(store.stats().indexSlots).toBeLessThan(memory.options.memoryLimit / 128);
    for (let i = 0; i < n; i++) expect(Buffer.from(get(store, keyOf(i))!).toString()).toBe(`v${i}`);
    // Replacing a key keeps one entry; deleting it removes that entry.
    for (let i = 0; i < n; i += 2) expect(set(store, keyOf(i), bytes(`w${i}`))).not.toBe(NO_ITEM);
    for (let i = 1; i < n; i += 4) expect(del(store, keyOf(i))).toBe(true);
    expect(store.stats().currItems).toBe(n - n / 4);
    for (let i = 0; i < n; i++) {
      const v = get(store, keyOf(i));
      if (i % 2 === 0) expect(Buffer.from(v!).toString()).toBe(`w${i}`);
      else if (i % 4 === 1) expect(v).toBeNull();
      else expect(Buffer.from(v!).toString()).toBe(`v${i}`);
    }
    expect(get(store, keyOf(n))).toBeNull();
  });
});

describe('index growth during a sweep', () => {
  test('a sweep whose shard grew between two chunks still drops every chosen key', async () => {
    const memory = createStoreMemory({ memoryLimit: 64 * MiB, maxItemSize: MiB, shards: 4 });
    const store = openTieredStore(memory, { now: () => 1 });
    const drop: SweepDecision = (key, start, end) => Buffer.from(key.subarray(start, end)).toString().startsWith('old:');
    const oldKeys = 1000;
    for (let i = 0; i < oldKeys; i++) set(store, bytes(`old:${i}`), bytes('x'));
    const before = bucketsInUse(memory);
    const cursor = new SweepCursor();
    let added = 0;
    for (let step = 0; step < 10000 && !cursor.done; step++) {
      await store.sweep(cursor, 16, 1, drop);
      // Between chunks, enough new keys to double every shard's index at least once during the sweep.
      for (let k = 0; k < 100 && added < 20000; k++, added++) set(store, bytes(`new:${added}`), bytes('y'));
    }
    expect(cursor.done).toBe(true);
    const after = bucketsInUse(memory);
    for (let s = 0; s < 4; s++) expect(after[s]).toBeGreaterThan(2 * before[s]);
    for (let i = 0; i < oldKeys; i++) expect(get(store, bytes(`old:${i}`))).toBeNull();
    for (let i = 0; i < added; i++) expect(get(store, bytes(`new:${i}`))).not.toBeNull();
    expect(store.stats().currItems).toBe(added);
  });
});
