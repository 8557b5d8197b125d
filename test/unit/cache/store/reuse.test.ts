import { createStoreMemory, openStore } from '../../../../server/src/cache/store/store.js';
import { MiB, bytes, get, rng, set } from './helpers.js';

/**
 * While the store still has untouched memory, a new segment is made from one of the shard's oldest
 * segments that holds mostly overwritten items (compacted, every live item kept) rather than taken from
 * the untouched pool, whose pages would each fault on first write (segmentstore.ts compactSparse).
 */
describe('segment reuse before untouched memory', () => {
  const pattern = new Uint8Array(MiB);
  const fill = rng(1);
  for (let i = 0; i < pattern.length; i++) pattern[i] = Math.floor(fill() * 256);
  /** A value that differs per key and version: a window of the random pattern. */
  function valueOf(key: number, version: number, size: number): Uint8Array {
    const at = (key * 131 + version * 17) % (pattern.length - size);
    return pattern.subarray(at, at + size);
  }
  /** Whether the store returns exactly `want` (jest's toEqual walks 100 KB arrays element by element). */
  function holds(got: Uint8Array | null, want: Uint8Array): boolean {
    return got !== null && Buffer.compare(got, want) === 0;
  }

  test('overwriting a few keys reuses their dead segments instead of filling the pool', () => {
    const store = openStore(createStoreMemory({ memoryLimit: 64 * MiB, maxItemSize: MiB, shards: 1 }));
    const total = store.stats().segmentsTotal;
    const keys = 8;
    const size = 100_000;
    const version = new Array<number>(keys).fill(0);
    // 2,000 sets of 100 KB: 200 MB written through 64 MiB, 800 KB of it live at any time.
    for (let n = 0; n < 2000; n++) {
      const k = n % keys;
      version[k] = n;
      expect(set(store, bytes(`key${k}`), valueOf(k, n, size))).toBeGreaterThan(0);
    }
    const stats = store.stats();
    expect(stats.evictions).toBe(0);
    // Without reuse every segment would have been taken before the first one came back.
    expect(total - stats.segmentsFree).toBeLessThan(total / 4);
    for (let k = 0; k < keys; k++) expect(holds(get(store, bytes(`key${k}`)), valueOf(k, version[k], size))).toBe(true);
  });

  test('items never overwritten survive the compactions, byte for byte', () => {
    const store = openStore(createStoreMemory({ memoryLimit: 32 * MiB, maxItemSize: MiB, shards: 2 }));
    const random = rng(7);
    const latest = new Map<string, { version: number; size: number }>();
    // 300 keys written once and left alone, among 5,000 overwrites of 40 hot keys.
    for (let n = 0; n < 5300; n++) {
      const cold = n % 18 === 0 && latest.size < 340;
      const k = cold ? 1000 + n : Math.floor(random() * 40);
      const size = 200 + Math.floor(random() * 20_000);
      expect(set(store, bytes(`k${k}`), valueOf(k, n, size))).toBeGreaterThan(0);
      latest.set(`k${k}`, { version: n, size });
    }
    expect(store.stats().evictions).toBe(0);
    for (const [key, { version, size }] of latest) {
      expect(holds(get(store, bytes(key)), valueOf(Number(key.slice(1)), version, size))).toBe(true);
    }
    expect(store.stats().currItems).toBe(latest.size);
  });

  test('segments that are mostly live are not compacted: distinct keys take untouched memory', () => {
    const store = openStore(createStoreMemory({ memoryLimit: 64 * MiB, maxItemSize: MiB, shards: 1 }));
    const total = store.stats().segmentsTotal;
    // ~24 MB of distinct keys, then a third of them overwritten: no segment falls under a quarter live.
    for (let k = 0; k < 240; k++) set(store, bytes(`key${k}`), valueOf(k, 0, 100_000));
    const used = total - store.stats().segmentsFree;
    for (let k = 0; k < 240; k += 3) set(store, bytes(`key${k}`), valueOf(k, 1, 100_000));
    expect(total - store.stats().segmentsFree).toBeGreaterThan(used);
    let intact = 0;
    for (let k = 0; k < 240; k++) if (holds(get(store, bytes(`key${k}`)), valueOf(k, k % 3 === 0 ? 1 : 0, 100_000))) intact++;
    expect(intact).toBe(240);
  });
});
