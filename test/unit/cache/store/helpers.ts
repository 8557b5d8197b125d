import { NO_ITEM, createStoreMemory, openStore } from '../../../../server/src/cache/store/store.js';
import type { ItemRef, Store, StoreOptions } from '../../../../server/src/cache/store/store.js';

export const MiB = 1024 * 1024;

export function newStore(options: Partial<StoreOptions> = {}): Store {
  return openStore(createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 4, ...options }));
}

const enc = new TextEncoder();
export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

/** set: alloc + value copy + link under the key's lock, as the engine composes it. */
export function set(store: Store, key: Uint8Array, value: Uint8Array, now = 1, exptime = 0, flags = 0): ItemRef {
  const h = store.hashKey(key, 0, key.length);
  store.lock(h);
  try {
    const ref = store.alloc(h, key, 0, key.length, flags, exptime, value.length, now);
    if (ref === NO_ITEM) return NO_ITEM;
    store.valueView(ref).set(value);
    store.link(h, ref, now);
    return ref;
  } finally {
    store.unlock(h);
  }
}

/** get: find + touchAccess + copy; null on a miss. */
export function get(store: Store, key: Uint8Array, now = 1, touch = true): Uint8Array | null {
  const h = store.hashKey(key, 0, key.length);
  store.lock(h);
  try {
    const ref = store.find(h, key, 0, key.length, now);
    if (ref === NO_ITEM) return null;
    if (touch) store.touchAccess(ref, now);
    const out = new Uint8Array(store.itemValueLength(ref));
    store.copyValue(ref, out, 0);
    return out;
  } finally {
    store.unlock(h);
  }
}

export function del(store: Store, key: Uint8Array, now = 1): boolean {
  const h = store.hashKey(key, 0, key.length);
  store.lock(h);
  try {
    const ref = store.find(h, key, 0, key.length, now);
    if (ref === NO_ITEM) return false;
    store.unlink(h, ref);
    return true;
  } finally {
    store.unlock(h);
  }
}

/** Deterministic PRNG (mulberry32): tests must fail the same way twice. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
