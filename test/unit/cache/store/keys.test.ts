import { NO_ITEM } from '../../../../server/src/cache/store/store.js';
import type { ItemRef, Store } from '../../../../server/src/cache/store/store.js';
import { murmur3 } from '../../../../server/src/cache/store/hash.js';
import { MAX_KEY_LENGTH } from '../../../../server/src/cache/store/layout.js';
import { bytes, newStore } from './helpers.js';

/** set with a hash chosen by the caller: two keys given one hash share a tag and a bucket. */
function setHashed(store: Store, hash: number, key: Uint8Array, value: Uint8Array): ItemRef {
  store.lock(hash);
  try {
    const ref = store.alloc(hash, key, 0, key.length, 0, 0, value.length, 1);
    if (ref === NO_ITEM) return NO_ITEM;
    store.valueView(ref).set(value);
    store.link(hash, ref, 1);
    return ref;
  } finally {
    store.unlock(hash);
  }
}

function getHashed(store: Store, hash: number, key: Uint8Array): string | null {
  store.lock(hash);
  try {
    const ref = store.find(hash, key, 0, key.length, 1);
    return ref === NO_ITEM ? null : Buffer.from(store.valueView(ref)).toString();
  } finally {
    store.unlock(hash);
  }
}

describe('store keys', () => {
  test('keys whose hashes collide are told apart by their bytes: prefix, last byte, length', () => {
    const store = newStore();
    const hash = 0x12345678;
    const keys = ['collide', 'collidf', 'collid', 'collide!', 'dollide'];
    keys.forEach((k, i) => expect(setHashed(store, hash, bytes(k), bytes(`value ${i}`))).not.toBe(NO_ITEM));
    keys.forEach((k, i) => expect(getHashed(store, hash, bytes(k))).toBe(`value ${i}`));
    expect(getHashed(store, hash, bytes('colli'))).toBeNull();
    expect(getHashed(store, hash, bytes('collidd'))).toBeNull();
    expect(store.stats().currItems).toBe(keys.length);
  });

  test('a key of MAX_KEY_LENGTH bytes (the limit of its one-byte length field) is stored and found; longer and empty keys are refused', () => {
    const store = newStore();
    const longest = bytes('k'.repeat(MAX_KEY_LENGTH));
    const h = store.hashKey(longest, 0, longest.length);
    expect(setHashed(store, h, longest, bytes('v'))).not.toBe(NO_ITEM);
    expect(getHashed(store, h, longest)).toBe('v');
    const tooLong = bytes('k'.repeat(MAX_KEY_LENGTH + 1));
    expect(setHashed(store, store.hashKey(tooLong, 0, tooLong.length), tooLong, bytes('v'))).toBe(NO_ITEM);
    expect(setHashed(store, 7, new Uint8Array(0), bytes('v'))).toBe(NO_ITEM);
  });

  test("the key hash is MurmurHash3 x86_32, matching the algorithm's published test vectors", () => {
    const h = (s: string, seed: number): number => {
      const b = Buffer.from(s, 'latin1');
      return murmur3(b, 0, b.length, seed);
    };
    expect(h('', 0)).toBe(0);
    expect(h('', 1)).toBe(0x514e28b7);
    expect(h('hello', 0)).toBe(0x248bfa47);
    expect(h('abc', 0)).toBe(0xb3dd93fa);
    expect(h('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(h('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723);
  });
});
