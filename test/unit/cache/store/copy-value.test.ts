import { NO_ITEM } from '../../../../server/src/cache/store/store.js';
import { bytes, newStore, rng, set } from './helpers.js';

describe('copyValue', () => {
  test('with and without a DataView over the destination, every length and offset copies exactly', () => {
    const store = newStore();
    const random = rng(7);
    // Lengths around the byte-loop, word-copy and set() boundaries, odd keys so values start unaligned.
    const lengths = [0, 1, 7, 8, 23, 24, 25, 31, 32, 33, 100, 101, 255, 511, 512, 513, 1000];
    for (const len of lengths) {
      for (const key of ['k', 'ke', 'key', 'key:0001']) {
        const value = new Uint8Array(len);
        for (let i = 0; i < len; i++) value[i] = Math.floor(random() * 256);
        const ref = set(store, bytes(`${key}/${len}`), value);
        expect(ref).not.toBe(NO_ITEM);
        for (const at of [0, 1, 3, 6]) {
          const dst = Buffer.alloc(at + len + 9, 0xee);
          const view = new DataView(dst.buffer, dst.byteOffset, dst.length);
          store.copyValue(ref, dst, at, view);
          expect(dst.subarray(at, at + len)).toEqual(Buffer.from(value));
          // Nothing written outside [at, at + len).
          expect([...dst.subarray(0, at)].every((b) => b === 0xee)).toBe(true);
          expect([...dst.subarray(at + len)].every((b) => b === 0xee)).toBe(true);
          const plain = Buffer.alloc(at + len, 0);
          store.copyValue(ref, plain, at);
          expect(plain.subarray(at)).toEqual(Buffer.from(value));
        }
      }
    }
  });

  test('a DataView over a Buffer that starts inside a larger ArrayBuffer writes at the Buffer\'s offsets', () => {
    const store = newStore();
    const value = new Uint8Array(100).map((_, i) => i + 1);
    const ref = set(store, bytes('pooled'), value);
    const backing = Buffer.alloc(400, 0);
    const dst = backing.subarray(13, 300);
    store.copyValue(ref, dst, 5, new DataView(dst.buffer, dst.byteOffset, dst.length));
    expect(backing.subarray(18, 118)).toEqual(Buffer.from(value));
    expect(backing[17]).toBe(0);
    expect(backing[118]).toBe(0);
  });
});
