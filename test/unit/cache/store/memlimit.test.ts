import { createStoreMemory, openStore } from '../../../../server/src/cache/store/store.js';
import { NO_ITEM } from '../../../../server/src/cache/store/types.js';

const MiB = 1024 * 1024;

/** Fills the store with distinct 10 KiB items; returns how many were linked. */
function fill(store: ReturnType<typeof openStore>, prefix: string, count: number): number {
  const value = Buffer.alloc(10 * 1024, 7);
  let linked = 0;
  for (let i = 0; i < count; i++) {
    const key = Buffer.from(`${prefix}${i}`);
    const h = store.hashKey(key, 0, key.length);
    store.lock(h);
    try {
      const ref = store.alloc(h, key, 0, key.length, 0, 0, value.length, 1);
      if (ref === NO_ITEM) continue;
      store.valueView(ref).set(value);
      store.link(h, ref, 1);
      linked++;
    } finally {
      store.unlock(h);
    }
  }
  return linked;
}

describe('cache_memlimit (setMemoryLimit within the reserve)', () => {
  test('the limit can be raised up to the reserve and lowered, and item bytes follow it', () => {
    const store = openStore(createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 2, memoryReserve: 32 * MiB }));
    expect(store.stats().limitMaxbytes).toBe(16 * MiB);
    fill(store, 'a', 4000); // 40 MiB of values: far past the limit
    const atSixteen = store.stats();
    expect(atSixteen.bytes).toBeLessThanOrEqual(16 * MiB);
    expect(atSixteen.segmentsTotal - atSixteen.segmentsFree).toBeLessThanOrEqual(16);

    expect(store.setMemoryLimit(32 * MiB)).toBe(true);
    expect(store.stats().limitMaxbytes).toBe(32 * MiB);
    fill(store, 'b', 4000);
    const atThirtyTwo = store.stats();
    expect(atThirtyTwo.bytes).toBeLessThanOrEqual(32 * MiB);
    // More room is really used: clearly more than the old limit's worth of items is kept.
    expect(atThirtyTwo.bytes).toBeGreaterThan(20 * MiB);

    expect(store.setMemoryLimit(64 * MiB)).toBe(false); // past the reserve
    expect(store.setMemoryLimit(MiB)).toBe(false); // below two segments

    expect(store.setMemoryLimit(8 * MiB)).toBe(true);
    fill(store, 'c', 4000);
    const atEight = store.stats();
    expect(atEight.limitMaxbytes).toBe(8 * MiB);
    // Lowering takes effect as segments are needed: the items shrink back under the new limit.
    expect(atEight.bytes).toBeLessThanOrEqual(8 * MiB);
  });

  test('without a reserve the limit cannot grow', () => {
    const store = openStore(createStoreMemory({ memoryLimit: 8 * MiB, maxItemSize: MiB, shards: 1 }));
    expect(store.setMemoryLimit(16 * MiB)).toBe(false);
    expect(store.setMemoryLimit(8 * MiB)).toBe(true);
  });
});

describe('memoryOverhead: other structures counted inside -m (the flash tier case)', () => {
  test('the pool gets the limit less the overhead; limit_maxbytes still reports the limit', () => {
    const store = openStore(createStoreMemory({ memoryLimit: 32 * MiB, maxItemSize: MiB, shards: 2, memoryOverhead: 10 * MiB }));
    const empty = store.stats();
    expect(empty.limitMaxbytes).toBe(32 * MiB);
    expect(empty.segmentsTotal).toBe(22);
    fill(store, 'a', 6000); // 60 MiB of values
    const full = store.stats();
    expect(full.bytes).toBeLessThanOrEqual(22 * MiB);
    expect(full.bytes).toBeGreaterThan(16 * MiB);
    expect(full.segmentsTotal - full.segmentsFree).toBeLessThanOrEqual(22);
  });

  test('never less than half of the limit, and cache_memlimit keeps subtracting it', () => {
    const store = openStore(createStoreMemory({
      memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 2, memoryReserve: 64 * MiB, memoryOverhead: 12 * MiB,
    }));
    expect(store.stats().segmentsTotal).toBe(8);
    expect(store.setMemoryLimit(48 * MiB)).toBe(true);
    expect(store.stats().segmentsTotal).toBe(36);
    expect(store.stats().limitMaxbytes).toBe(48 * MiB);
    fill(store, 'b', 6000);
    expect(store.stats().bytes).toBeLessThanOrEqual(36 * MiB);
  });

  test('absent or 0: the pool is the whole limit, as memcached\'s -m', () => {
    expect(openStore(createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 2 })).stats().segmentsTotal).toBe(16);
    expect(openStore(createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 2, memoryOverhead: 0 })).stats().segmentsTotal).toBe(16);
    expect(() => createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 2, memoryOverhead: -1 })).toThrow(/memoryOverhead/);
  });
});
