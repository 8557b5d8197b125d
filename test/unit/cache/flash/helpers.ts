import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ItemLocation, NO_ITEM, createStoreMemory, openTieredStore } from '../../../../server/src/cache/store/store.js';
import type { Store, StoreMemory, TieredStore } from '../../../../server/src/cache/store/store.js';
import { Flusher, LogFlashTier, createFlashMemory } from '../../../../server/src/cache/flash/flash.js';
import type { FlashMemory, FlashOptions } from '../../../../server/src/cache/flash/flash.js';

export const MiB = 1024 * 1024;
export const NOW = 100;
export const PROCESS_STARTED = 1_700_000_000;

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'cachalot-flash-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A tiered store over a flash tier, and the flusher, in one thread: the flusher is driven by hand
 * (flushOnce). The store demotes what RAM evicts, as a serving thread's does.
 */
export interface Rig {
  storeMemory: StoreMemory;
  memory: FlashMemory;
  store: TieredStore;
  tier: LogFlashTier;
  flusher: Flusher;
}

/** `now`: the rel time recovery runs at (a restart later than NOW). */
export function rig(dir: string, options: Partial<FlashOptions> = {}, memoryLimit = 4 * MiB, now = NOW): Rig {
  const storeMemory = createStoreMemory({ memoryLimit, maxItemSize: 256 * 1024, shards: 4 });
  const memory = createFlashMemory({
    paths: [{ path: dir, size: 8 * MiB }], shards: 4, wbufSize: MiB, maxItemSize: 256 * 1024, threads: 1,
    processStarted: PROCESS_STARTED, fileSize: MiB, ringSize: 4 * MiB, ...options,
  }, storeMemory);
  const flusher = new Flusher(memory);
  flusher.recover(now);
  const tier = new LogFlashTier(memory, 0);
  const store = openTieredStore(storeMemory, { lower: tier, now: () => now });
  return { storeMemory, memory, store, tier, flusher };
}

export function keyOf(i: number): Uint8Array {
  return Buffer.from(`key:${i}`);
}

const PATTERN = (() => {
  const b = Buffer.allocUnsafe(2 * MiB);
  let x = 12345;
  for (let j = 0; j < b.length; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[j] = x >>> 24;
  }
  return b;
})();

/** Deterministic value bytes for item i of length n (< 1 MiB): a window of a random pattern, stamped with i. */
export function valueOf(i: number, n: number): Buffer {
  const off = (i * 7919) % MiB;
  const b = Buffer.from(PATTERN.subarray(off, off + n));
  if (n >= 4) b.writeUInt32LE(i >>> 0, 0);
  return b;
}

export function set(store: Store, tier: LogFlashTier, key: Uint8Array, value: Uint8Array, now = NOW, exptime = 0): boolean {
  const h = store.hashKey(key, 0, key.length);
  store.lock(h);
  try {
    tier.invalidate(h, key, 0, key.length);
    const ref = store.alloc(h, key, 0, key.length, 7, exptime, value.length, now);
    if (ref === NO_ITEM) return false;
    store.valueView(ref).set(value);
    store.link(h, ref, now);
    return true;
  } finally {
    store.unlock(h);
  }
}

/** Sets items [from, to) of `size(i)` bytes, running the flusher every few items as its thread would. */
export function fill(r: Rig, from: number, to: number, size: (i: number) => number, exptime = 0, now = NOW): void {
  for (let i = from; i < to; i++) {
    if (!set(r.store, r.tier, keyOf(i), valueOf(i, size(i)), now, exptime)) throw new Error(`set ${i} failed`);
    if (i % 8 === 7) r.flusher.flushOnce();
  }
}

export function del(store: Store, tier: LogFlashTier, key: Uint8Array, now = NOW): void {
  const h = store.hashKey(key, 0, key.length);
  store.lock(h);
  const ref = store.find(h, key, 0, key.length, now);
  if (ref !== NO_ITEM) store.unlink(h, ref);
  tier.invalidate(h, key, 0, key.length);
  store.unlock(h);
}

/** get as the engine does it: RAM, then flash lookup + async read. 'ram' | Buffer (from flash) | null. */
export async function get(store: Store, tier: LogFlashTier, key: Uint8Array, now = NOW): Promise<Buffer | null> {
  const h = store.hashKey(key, 0, key.length);
  const hit = new ItemLocation();
  store.lock(h);
  const ref = store.find(h, key, 0, key.length, now);
  if (ref !== NO_ITEM) {
    const v = Buffer.from(store.valueView(ref));
    store.unlock(h);
    return v;
  }
  const found = tier.lookup(h, key, 0, key.length, now, hit);
  store.unlock(h);
  if (!found) return null;
  // The value is valid only during the callback (its buffer is reused): keep a copy.
  return new Promise((resolve) => tier.read(hit, key, 0, key.length, (v) => resolve(v === null ? null : Buffer.from(v))));
}

export function inFlash(store: Store, tier: LogFlashTier, key: Uint8Array, now = NOW): ItemLocation | null {
  const h = store.hashKey(key, 0, key.length);
  const hit = new ItemLocation();
  store.lock(h);
  const found = tier.lookup(h, key, 0, key.length, now, hit);
  store.unlock(h);
  return found ? hit : null;
}

export function inRam(store: Store, key: Uint8Array, now = NOW): boolean {
  const h = store.hashKey(key, 0, key.length);
  store.lock(h);
  const found = store.find(h, key, 0, key.length, now) !== NO_ITEM;
  store.unlock(h);
  return found;
}
