/**
 * The tiered store (store/tiered.ts) over a lower tier kept in a Map: what lookup() answers, how items move
 * between the tiers (demotion on eviction, synchronous promotion, promotion on a second read), and that a
 * key deleted or rewritten while a read is in flight is not brought back. The real flash tier under the
 * same store, driven by the engine: test/unit/cache/engine/flash-items.test.ts.
 */
import {
  ItemLocation, NO_ITEM, ON_FLASH, createStoreMemory, openTieredStore,
} from '../../../../server/src/cache/store/store.js';
import type {
  ItemRef, LowerTier, Store, SweepCounts, SweepDecision, TierReadCallback, TieredStore,
} from '../../../../server/src/cache/store/store.js';
import { MiB, bytes, set } from './helpers.js';

interface Entry { flags: number; exptime: number; cas: number; value: Buffer }

/** A lower tier in a Map, keyed by the key's bytes; reads complete on a later turn of the event loop. */
class MapTier implements LowerTier {
  readonly items = new Map<string, Entry>();
  readonly demoted: string[] = [];
  recaches = 0;
  oldestLive = 0;
  flushes = 0;
  failReads = false;
  /** roomForDemotions() answers the opposite: a flash tier whose write buffer is full. */
  full = false;
  private readonly byOffset: Entry[] = [];

  roomForDemotions(): boolean {
    return !this.full;
  }

  lookup(_hash: number, key: Uint8Array, start: number, end: number, now: number, loc: ItemLocation): boolean {
    const e = this.items.get(Buffer.from(key.subarray(start, end)).toString('latin1'));
    if (e === undefined || (e.exptime !== 0 && e.exptime <= now)) return false;
    loc.flags = e.flags;
    loc.exptime = e.exptime;
    loc.cas = e.cas;
    loc.valueLength = e.value.length;
    loc.file = 1;
    loc.offset = this.byOffset.push(e) - 1;
    loc.recordLength = e.value.length;
    return true;
  }

  invalidate(_hash: number, key: Uint8Array, start: number, end: number): void {
    this.items.delete(Buffer.from(key.subarray(start, end)).toString('latin1'));
  }

  /** Reads the record the location names, as a file read would: it is there even if the key was deleted. */
  read(loc: ItemLocation, _key: Uint8Array, _start: number, _end: number, cb: TierReadCallback): void {
    const e = this.byOffset[loc.offset]!;
    const fail = this.failReads;
    setImmediate(() => cb(fail ? null : Buffer.from(e.value)));
  }

  readSync(loc: ItemLocation): Buffer | null {
    return this.failReads ? null : Buffer.from(this.byOffset[loc.offset]!.value);
  }

  demote(_hash: number, ref: ItemRef, ram: Store, now: number): boolean {
    const exptime = ram.itemExptime(ref);
    if (exptime !== 0 && exptime <= now) return false;
    const key = Buffer.from(ram.keyView(ref)).toString('latin1');
    this.items.set(key, { flags: ram.itemFlags(ref), exptime, cas: ram.itemCas(ref), value: Buffer.from(ram.valueView(ref)) });
    this.demoted.push(key);
    return true;
  }

  flushAll(): void {
    this.flushes++;
    this.items.clear();
  }

  setOldestLive(oldestLive: number): void {
    this.oldestLive = oldestLive;
  }

  countRecache(): void {
    this.recaches++;
  }

  /** Every key as if in shard 0, in insertion order, `limit` at a time (the other shards are empty). */
  async sweep(shard: number, position: number, limit: number, _now: number, drop: SweepDecision,
    counts: SweepCounts): Promise<number> {
    if (shard !== 0) return -1;
    const keys = [...this.items.keys()];
    const end = Math.min(keys.length, position + limit);
    let kept = position;
    for (let i = position; i < end; i++) {
      const key = Buffer.from(keys[i]!, 'latin1');
      counts.visited++;
      if (drop(key, 0, key.length)) {
        this.items.delete(keys[i]!);
        counts.dropped++;
      } else {
        kept++;
      }
    }
    return end < keys.length ? kept : -1;
  }

  put(key: string, value: string, flags = 0, exptime = 0, cas = 1): void {
    this.items.set(key, { flags, exptime, cas, value: Buffer.from(value) });
  }
}

const NOW = 10;

function tiered(lower?: LowerTier, memoryLimit = 16 * MiB): TieredStore {
  return openTieredStore(createStoreMemory({ memoryLimit, maxItemSize: MiB, shards: 4 }), { lower, now: () => NOW });
}

/** lookup() under the key's lock: the answer, and a copy of the location it filled. */
function lookup(store: TieredStore, key: string): { ref: ItemRef; loc: ItemLocation } {
  const k = bytes(key);
  const h = store.hashKey(k, 0, k.length);
  const loc = new ItemLocation();
  store.lock(h);
  try {
    return { ref: store.lookup(h, k, 0, k.length, NOW, loc), loc };
  } finally {
    store.unlock(h);
  }
}

/** The RAM item's value as a string, or null when RAM does not have the key. */
function ramValue(store: TieredStore, key: string): string | null {
  const k = bytes(key);
  const h = store.hashKey(k, 0, k.length);
  store.lock(h);
  try {
    const ref = store.find(h, k, 0, k.length, NOW);
    return ref === NO_ITEM ? null : Buffer.from(store.valueView(ref)).toString('latin1');
  } finally {
    store.unlock(h);
  }
}

/** A get as the engine does it: lookup() under the lock, readLocated() after it; resolves with the bytes. */
function read(store: TieredStore, key: string, promote: boolean, between?: () => void): Promise<string | null> {
  const k = bytes(key);
  const h = store.hashKey(k, 0, k.length);
  const loc = new ItemLocation();
  store.lock(h);
  try {
    if (store.lookup(h, k, 0, k.length, NOW, loc) !== ON_FLASH) throw new Error(`${key} is not on the lower tier`);
    const done = new Promise<string | null>((resolve) => {
      store.readLocated(h, k, 0, k.length, loc, promote, (v) => resolve(v === null ? null : v.toString('latin1')));
    });
    // The location and key may be reused at once: the read must not depend on them.
    loc.offset = -1;
    k.fill(0);
    return done.then((v) => v);
  } finally {
    store.unlock(h);
    between?.();
  }
}

function forget(store: TieredStore, key: string): void {
  const k = bytes(key);
  const h = store.hashKey(k, 0, k.length);
  store.lock(h);
  store.forget(h, k, 0, k.length);
  store.unlock(h);
}

describe('tiered store: RAM only', () => {
  test('lookup() answers a RAM ref or NO_ITEM, never ON_FLASH; findLive() is find()', () => {
    const store = tiered();
    expect(store.tiered).toBe(false);
    set(store, bytes('a'), bytes('1'), NOW);
    expect(lookup(store, 'a').ref).toBeGreaterThan(0);
    expect(lookup(store, 'b').ref).toBe(NO_ITEM);
    const k = bytes('a');
    const h = store.hashKey(k, 0, k.length);
    store.lock(h);
    expect(store.findLive(h, k, 0, k.length, NOW)).toBe(store.find(h, k, 0, k.length, NOW));
    store.forget(h, k, 0, k.length); // nothing below RAM: the RAM item stays
    store.unlock(h);
    expect(ramValue(store, 'a')).toBe('1');
    store.flushAll(NOW);
    expect(lookup(store, 'a').ref).toBe(NO_ITEM);
  });
});

describe('tiered store: RAM over a lower tier', () => {
  test('lookup(): RAM first; a lower-tier item is ON_FLASH with its header in the location; else a miss', () => {
    const lower = new MapTier();
    const store = tiered(lower);
    expect(store.tiered).toBe(true);
    lower.put('both', 'old');
    set(store, bytes('both'), bytes('new'), NOW);
    lower.put('down', 'value-below', 42, 500, 77);
    expect(lookup(store, 'both').ref).toBeGreaterThan(0);
    const { ref, loc } = lookup(store, 'down');
    expect(ref).toBe(ON_FLASH);
    expect([loc.flags, loc.exptime, loc.cas, loc.valueLength]).toEqual([42, 500, 77, 'value-below'.length]);
    expect(lookup(store, 'none').ref).toBe(NO_ITEM);
  });

  test('findLive() brings a lower-tier item into RAM with its flags, exptime and CAS, and drops the copy below', () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('k', 'payload', 9, 900, 12345);
    const k = bytes('k');
    const h = store.hashKey(k, 0, k.length);
    store.lock(h);
    const ref = store.findLive(h, k, 0, k.length, NOW);
    expect(ref).toBeGreaterThan(0);
    expect([store.itemFlags(ref), store.itemExptime(ref), store.itemCas(ref)]).toEqual([9, 900, 12345]);
    expect(Buffer.from(store.valueView(ref)).toString()).toBe('payload');
    store.unlock(h);
    expect(lower.items.has('k')).toBe(false);
    expect(lower.recaches).toBe(1);
    expect(lookup(store, 'k').ref).toBeGreaterThan(0);
  });

  test('a promotion whose read fails is a miss, and the unreadable copy is dropped', () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('k', 'payload');
    lower.failReads = true;
    const k = bytes('k');
    const h = store.hashKey(k, 0, k.length);
    store.lock(h);
    expect(store.findLive(h, k, 0, k.length, NOW)).toBe(NO_ITEM);
    store.unlock(h);
    expect(lower.items.has('k')).toBe(false);
    expect(lower.recaches).toBe(0);
  });

  test('reads: the first leaves the item below, the second within the window promotes it; without promote never', async () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('hot', 'hot-value', 3, 0, 555);
    lower.put('cold', 'cold-value');
    expect(await read(store, 'hot', true)).toBe('hot-value');
    expect(ramValue(store, 'hot')).toBeNull();
    expect(await read(store, 'hot', true)).toBe('hot-value');
    expect(ramValue(store, 'hot')).toBe('hot-value');
    const { ref } = lookup(store, 'hot');
    expect(store.itemCas(ref)).toBe(555);
    expect(store.itemFlags(ref)).toBe(3);
    expect(lower.recaches).toBe(1);
    for (let i = 0; i < 3; i++) expect(await read(store, 'cold', false)).toBe('cold-value');
    expect(ramValue(store, 'cold')).toBeNull();
  });

  test('a read does not promote while the lower tier has no room for demotions; it does once there is', async () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('hot', 'hot-value');
    lower.full = true;
    for (let i = 0; i < 3; i++) expect(await read(store, 'hot', true)).toBe('hot-value');
    expect(ramValue(store, 'hot')).toBeNull();
    expect(lower.recaches).toBe(0);
    lower.full = false;
    expect(await read(store, 'hot', true)).toBe('hot-value');
    expect(ramValue(store, 'hot')).toBe('hot-value');
    expect(lower.recaches).toBe(1);
  });

  test('a failed read is null and promotes nothing', async () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('k', 'v');
    await read(store, 'k', true);
    lower.failReads = true;
    expect(await read(store, 'k', true)).toBeNull();
    expect(ramValue(store, 'k')).toBeNull();
  });

  test('a key deleted while its read is in flight is not brought back by the promotion', async () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('k', 'old');
    await read(store, 'k', true);
    // Second read (admitted), and a delete of the key before the read completes.
    expect(await read(store, 'k', true, () => forget(store, 'k'))).toBe('old');
    expect(ramValue(store, 'k')).toBeNull();
    expect(lookup(store, 'k').ref).toBe(NO_ITEM);
  });

  test('a key rewritten while its read is in flight keeps the new value', async () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('k', 'old');
    await read(store, 'k', true);
    expect(await read(store, 'k', true, () => set(store, bytes('k'), bytes('new'), NOW))).toBe('old');
    expect(ramValue(store, 'k')).toBe('new');
  });

  test('a key rewritten and demoted again while its read is in flight: the old bytes are not promoted', async () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('k', 'old', 0, 0, 1);
    await read(store, 'k', true);
    expect(await read(store, 'k', true, () => lower.put('k', 'newer', 0, 0, 2))).toBe('old');
    expect(ramValue(store, 'k')).toBeNull();
    expect(lookup(store, 'k').loc.cas).toBe(2);
  });

  test('eviction demotes live items to the lower tier, where lookup() finds them with their bytes', () => {
    const lower = new MapTier();
    const store = tiered(lower, 4 * MiB);
    const value = Buffer.alloc(10_000, 0x61);
    const N = 1000; // 10 MB of values through a 4 MiB RAM tier
    for (let i = 0; i < N; i++) {
      value.writeUInt32LE(i, 0);
      expect(set(store, bytes(`item-${i}`), value, NOW)).not.toBe(NO_ITEM);
    }
    expect(lower.demoted.length).toBeGreaterThan(N / 2);
    let below = 0;
    for (let i = 0; i < N; i++) {
      const { ref, loc } = lookup(store, `item-${i}`);
      if (ref !== ON_FLASH) continue;
      below++;
      expect(loc.valueLength).toBe(10_000);
      expect(lower.items.get(`item-${i}`)!.value.readUInt32LE(0)).toBe(i);
    }
    expect(below).toBeGreaterThan(N / 2);
  });

  test('flush_all, now or delayed, reaches the lower tier', () => {
    const lower = new MapTier();
    const store = tiered(lower);
    lower.put('k', 'v');
    store.setOldestLive(NOW + 5);
    expect(lower.oldestLive).toBe(NOW + 5);
    store.flushAll(NOW);
    expect(lower.flushes).toBe(1);
    expect(lookup(store, 'k').ref).toBe(NO_ITEM);
  });
});
