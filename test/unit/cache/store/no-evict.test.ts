// StoreOptions.noEvict (-M): a full store refuses writes and never drops a live item; dead bytes (deleted,
// replaced, expired) are reclaimed by compacting segments in place.
import { NO_ITEM } from '../../../../server/src/cache/store/store.js';
import { MiB, bytes, del, get, newStore, set } from './helpers.js';

const VALUE = new Uint8Array(10_000).fill(7);
/** 16 MiB holds fewer than 1700 values of 10 KB; the fill stops at the first refusal. */
const MAX_KEYS = 4000;

function fill(store: ReturnType<typeof newStore>, prefix: string, exptime = 0): number {
  for (let i = 0; i < MAX_KEYS; i++) {
    if (set(store, bytes(`${prefix}${i}`), VALUE, 1, exptime) === NO_ITEM) return i;
  }
  return MAX_KEYS;
}

describe('noEvict store', () => {
  test('refuses once full and keeps every item it stored', () => {
    const store = newStore({ shards: 1, noEvict: true });
    const stored = fill(store, 'k');
    expect(stored).toBeGreaterThan(1000);
    expect(stored).toBeLessThan(MAX_KEYS);
    expect(set(store, bytes('one-more'), VALUE)).toBe(NO_ITEM);
    let missing = 0;
    for (let i = 0; i < stored; i++) if (get(store, bytes(`k${i}`)) === null) missing++;
    expect({ missing, evictions: store.stats().evictions, items: store.stats().currItems })
      .toEqual({ missing: 0, evictions: 0, items: stored });
  });

  test('without noEvict the same fill evicts instead (the control)', () => {
    const store = newStore({ shards: 1 });
    expect(fill(store, 'k')).toBe(MAX_KEYS);
    expect(store.stats().evictions).toBeGreaterThan(0);
  });

  test('deleted and expired items make room again', () => {
    const store = newStore({ shards: 1, noEvict: true, memoryLimit: 16 * MiB });
    const stored = fill(store, 'k');
    for (let i = 0; i < 50; i++) expect(del(store, bytes(`k${i}`))).toBe(true);
    let again = 0;
    for (let i = 0; i < 100 && set(store, bytes(`n${i}`), VALUE) !== NO_ITEM; i++) again++;
    expect(again).toBeGreaterThanOrEqual(45);
    expect(again).toBeLessThan(100);
    expect(get(store, bytes(`k${stored - 1}`))).toEqual(VALUE);
    expect(store.stats().evictions).toBe(0);
  });

  test('items past their TTL are reclaimed, live ones kept', () => {
    const store = newStore({ shards: 1, noEvict: true });
    const shortLived = fill(store, 't', 100);
    // At time 200 every item of the fill has expired: the whole pool is reusable.
    let later = 0;
    for (let i = 0; i < shortLived && set(store, bytes(`l${i}`), VALUE, 200) !== NO_ITEM; i++) later++;
    expect(later).toBe(shortLived);
    expect(store.stats().evictions).toBe(0);
  });
});
