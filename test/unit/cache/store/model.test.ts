import { NO_ITEM } from '../../../../server/src/cache/store/store.js';
import type { Store } from '../../../../server/src/cache/store/store.js';
import { MiB, newStore, rng } from './helpers.js';

/**
 * Random operations against the store and a plain Map model. The store may forget (evict) but must never
 * answer with anything other than the model's current value: no stale version after an overwrite, no
 * resurrection after a delete or expiry, no bytes from another item after segments are compacted.
 */
interface Entry { version: number; length: number; exptime: number }

const KEY_BUF = new Uint8Array(16);
function keyOf(k: number): number {
  const s = `m${k}`;
  for (let i = 0; i < s.length; i++) KEY_BUF[i] = s.charCodeAt(i);
  return s.length;
}

const SCRATCH = new Uint8Array(4096);
function fill(dst: Uint8Array, k: number, version: number, length: number): void {
  for (let i = 0; i < length; i++) dst[i] = (k * 7 + version * 13 + i) & 255;
}
function same(src: Uint8Array, k: number, version: number, length: number): boolean {
  if (src.length !== length) return false;
  for (let i = 0; i < length; i++) if (src[i] !== ((k * 7 + version * 13 + i) & 255)) return false;
  return true;
}

function run(store: Store, ops: number, seed: number, keys: number): { hits: number; misses: number } {
  const r = rng(seed);
  const model = new Map<number, Entry>();
  let now = 2;
  let version = 0;
  let hits = 0;
  let misses = 0;
  for (let op = 0; op < ops; op++) {
    if (r() < 0.01) now++;
    const k = Math.floor(r() * keys);
    const klen = keyOf(k);
    const h = store.hashKey(KEY_BUF, 0, klen);
    const p = r();
    const live = model.get(k);
    const alive = live !== undefined && (live.exptime === 0 || live.exptime > now);
    store.lock(h);
    try {
      const ref = store.find(h, KEY_BUF, 0, klen, now);
      if (ref !== NO_ITEM) {
        // Whatever the store returns must be the model's current, unexpired value.
        if (!alive || !same(store.valueView(ref), k, live.version, live.length)) {
          throw new Error(`op ${op}: key ${k} returned a value the model does not have (alive=${alive})`);
        }
        hits++;
      } else if (alive) {
        misses++;
      }
      if (p < 0.55) {
        const length = Math.floor(Math.pow(r(), 3) * 4000);
        const exptime = r() < 0.7 ? 0 : now + 1 + Math.floor(r() * 40);
        const fresh = store.alloc(h, KEY_BUF, 0, klen, 0, exptime, length, now);
        if (fresh === NO_ITEM) throw new Error(`op ${op}: alloc failed`);
        version++;
        fill(SCRATCH, k, version, length);
        store.valueView(fresh).set(SCRATCH.subarray(0, length));
        store.link(h, fresh, now);
        model.set(k, { version, length, exptime });
      } else if (p < 0.9) {
        if (ref !== NO_ITEM) store.touchAccess(ref, now);
      } else if (p < 0.95) {
        if (ref !== NO_ITEM) store.unlink(h, ref);
        model.delete(k);
      } else if (ref !== NO_ITEM && live !== undefined) {
        const exptime = r() < 0.5 ? 0 : now + 1 + Math.floor(r() * 40);
        store.setExptime(ref, exptime);
        live.exptime = exptime;
      }
    } finally {
      store.unlock(h);
    }
  }
  // Afterwards every linked item is findable and the counters agree with what is findable.
  let found = 0;
  let bytes = 0;
  for (let k = 0; k < keys; k++) {
    const klen = keyOf(k);
    const h = store.hashKey(KEY_BUF, 0, klen);
    store.lock(h);
    const ref = store.find(h, KEY_BUF, 0, klen, now);
    if (ref !== NO_ITEM) {
      found++;
      bytes += Math.ceil((32 + klen + store.itemValueLength(ref)) / 8) * 8;
    }
    store.unlock(h);
  }
  const s = store.stats();
  expect(s.currItems).toBe(found);
  expect(s.bytes).toBe(bytes);
  expect(s.bytes).toBeLessThanOrEqual(s.limitMaxbytes);
  return { hits, misses };
}

describe('store against a model', () => {
  test('no eviction: every live key hits with its latest value', () => {
    const store = newStore({ memoryLimit: 64 * MiB, maxItemSize: 64 * 1024, shards: 4 });
    const { misses, hits } = run(store, 150_000, 11, 3000);
    expect(misses).toBe(0);
    expect(hits).toBeGreaterThan(10_000);
    expect(store.stats().evictions).toBe(0);
  });

  test('heavy eviction, expiry and compaction: never a wrong or stale value', () => {
    const store = newStore({ memoryLimit: 8 * MiB, maxItemSize: 64 * 1024, shards: 2 });
    const { misses, hits } = run(store, 150_000, 12, 20_000);
    const s = store.stats();
    expect(s.evictions).toBeGreaterThan(1000);
    expect(s.evictedActive).toBeGreaterThan(0);
    expect(s.reclaimed).toBeGreaterThan(0);
    expect(hits).toBeGreaterThan(misses / 10);
  });

  test('a 3-segment pool (one shard after clamping): never a wrong value', () => {
    const store = newStore({ memoryLimit: 3 * MiB, maxItemSize: 64 * 1024, shards: 8 });
    run(store, 60_000, 13, 5000);
    expect(store.stats().evictions).toBeGreaterThan(1000);
  });
});
