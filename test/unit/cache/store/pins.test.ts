import { NO_ITEM } from '../../../../server/src/cache/store/store.js';
import { MiB, bytes, get, newStore, set } from './helpers.js';

/**
 * Reader pins (pinValue / unpinSegment): a zero-copy get writes a value to its socket straight from shared
 * memory after the shard lock is released, so the segment holding it must stay where it is until the
 * write completes, whatever the other connections store meanwhile.
 */
function pinned(store: ReturnType<typeof newStore>, key: Uint8Array): { seg: number; view: Uint8Array } {
  const h = store.hashKey(key, 0, key.length);
  store.lock(h);
  try {
    const ref = store.find(h, key, 0, key.length, 1);
    expect(ref).not.toBe(NO_ITEM);
    const seg = store.pinValue(ref);
    return { seg, view: store.valueView(ref) };
  } finally {
    store.unlock(h);
  }
}

function fill(_n: number, size: number, seed: number): Uint8Array {
  const v = new Uint8Array(size);
  for (let i = 0; i < size; i++) v[i] = (seed + i * 7) & 255;
  return v;
}

describe('store reader pins', () => {
  test('a pinned value survives overwrite, delete and 8 x memory of new items byte-exact; unpinned it is reclaimed', () => {
    const store = newStore({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 1 });
    const key = bytes('big');
    const value = fill(0, 700 * 1024, 3);
    expect(set(store, key, value)).not.toBe(NO_ITEM);
    const { seg, view } = pinned(store, key);
    expect(seg).toBeGreaterThanOrEqual(0);
    // Overwrite the key itself, then push 128 MiB of other items through a 16 MiB store.
    expect(set(store, key, fill(0, 700 * 1024, 99))).not.toBe(NO_ITEM);
    for (let i = 0; i < 256; i++) expect(set(store, bytes(`other-${i}`), fill(0, 512 * 1024, i))).not.toBe(NO_ITEM);
    expect(Buffer.compare(view, value)).toBe(0);
    const s = store.stats();
    expect(s.bytes).toBeLessThanOrEqual(s.limitMaxbytes);
    // The newest version of the key is what a get sees.
    expect(Buffer.compare(get(store, key)!, fill(0, 700 * 1024, 99)) === 0 || get(store, key) === null).toBe(true);

    store.unpinSegment(seg);
    for (let i = 0; i < 256; i++) set(store, bytes(`again-${i}`), fill(0, 512 * 1024, i + 1));
    // Released, the segment went back into circulation and its bytes were overwritten.
    expect(Buffer.compare(view, value)).not.toBe(0);
  });

  test('at most a quarter of the segments can be pinned; the rest of the store keeps storing', () => {
    const store = newStore({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 2 });
    const pins: number[] = [];
    let refused = 0;
    for (let i = 0; i < 16; i++) {
      const key = bytes(`k${i}`);
      expect(set(store, key, fill(0, 900 * 1024, i))).not.toBe(NO_ITEM);
      const { seg } = pinned(store, key);
      if (seg < 0) refused++;
      else pins.push(seg);
    }
    // 16 MiB of 1 MiB segments: 4 pins allowed.
    expect(pins.length).toBe(4);
    expect(refused).toBe(12);
    for (let i = 0; i < 200; i++) expect(set(store, bytes(`n${i}`), fill(0, 300 * 1024, i))).not.toBe(NO_ITEM);
    for (const p of pins) store.unpinSegment(p);
    const { seg } = pinned(store, bytes('n199'));
    expect(seg).toBeGreaterThanOrEqual(0);
    store.unpinSegment(seg);
  });

  test('valueShared tells an in-place update that a reply is still reading the bytes', () => {
    const store = newStore();
    const key = bytes('counter');
    set(store, key, bytes('12345'));
    const h = store.hashKey(key, 0, key.length);
    store.lock(h);
    const ref = store.find(h, key, 0, key.length, 1);
    expect(store.valueShared(ref)).toBe(false);
    const seg = store.pinValue(ref);
    expect(store.valueShared(ref)).toBe(true);
    store.unpinSegment(seg);
    expect(store.valueShared(ref)).toBe(false);
    store.unlock(h);
  });
});
