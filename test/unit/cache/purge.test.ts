/**
 * RingPurger (cache/purge.ts) over a RAM store: which documents start a sweep, what the sweep drops and
 * counts, and the state and version the workers' `stats` read from the gauges; over RAM and flash: items
 * that RAM evicted to flash are dropped there and counted too.
 */
import pino from 'pino';
import { RingPurger } from '../../../server/src/cache/purge.js';
import { createStoreMemory, openTieredStore, type TieredStore } from '../../../server/src/cache/store/store.js';
import { C, Counters, createCounterMemory, GAUGE_RING_STATE, GAUGE_RING_VERSION, RING_STATES } from '../../../server/src/cache/metrics/counters.js';
import { Continuum } from '../../../server/src/ring/continuum.js';
import { parseRingDocument, type RingSpec } from '../../../server/src/ring/document.js';
import { MiB, bytes, get, set } from './store/helpers.js';
import * as flash from './flash/helpers.js';

const NOW = 10;
const N = 2000;
const key = (i: number): Uint8Array => bytes(`k:${i}`);
const member = (name: string, state = 'active') => ({ name, host: `${name}.svc`, port: 11211, state });
const ring = (version: number, members: object[], extra: object = {}): RingSpec =>
  parseRingDocument(JSON.stringify({ version, members, ...extra }));

function setup(rate = 1_000_000): { store: TieredStore; counters: Counters; purger: RingPurger; logs: string[] } {
  const store = openTieredStore(createStoreMemory({ memoryLimit: 32 * MiB, maxItemSize: MiB, shards: 8 }), { now: () => NOW });
  for (let i = 0; i < N; i++) set(store, key(i), bytes(`v${i}`), NOW);
  const counters = new Counters(createCounterMemory(1), 1);
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line).msg) });
  const purger = new RingPurger(store, counters, () => NOW, log, { member: 'web-1', ratePerSecond: rate });
  return { store, counters, purger, logs };
}

const state = (c: Counters): string => RING_STATES[Atomics.load(c.gauges, GAUGE_RING_STATE)]!;
/** Waits (bounded) until the purger leaves `purging`. */
async function settled(c: Counters): Promise<void> {
  for (let i = 0; i < 2000 && state(c) === 'purging'; i++) await new Promise((r) => setTimeout(r, 5));
}
const left = (store: TieredStore): number[] => [...Array(N).keys()].filter((i) => get(store, key(i), NOW, false) !== null);

describe('RingPurger', () => {
  test('before any document: waiting, version -1', () => {
    const { counters } = setup();
    expect(state(counters)).toBe('waiting');
    expect(Atomics.load(counters.gauges, GAUGE_RING_VERSION)).toBe(-1);
  });

  test('a ring without previous drops exactly the keys of the other members and counts them', async () => {
    const { store, counters, purger } = setup();
    purger.start();
    const spec = ring(7, [member('web-0'), member('web-1'), member('web-2')]);
    purger.ring(spec, 'test');
    expect(state(counters)).toBe('purging');
    expect(Atomics.load(counters.gauges, GAUGE_RING_VERSION)).toBe(7);
    await settled(counters);
    expect(state(counters)).toBe('done');
    const continuum = new Continuum(spec.members, spec.vnodes);
    const owned = [...Array(N).keys()].filter((i) => continuum.ownerOf(key(i)) === 1);
    expect(left(store)).toEqual(owned);
    expect(counters.row[C.ring_purged_items]).toBe(N - owned.length);
  });

  test('with previous, or without the member, nothing is dropped; the not-member warning is logged once', async () => {
    const { store, counters, purger, logs } = setup();
    purger.start();
    purger.ring(ring(8, [member('web-0'), member('web-1')], { previous: { version: 7, members: [member('web-1')] } }), 'test');
    expect(state(counters)).toBe('transition');
    purger.ring(ring(9, [member('web-0')]), 'test');
    purger.ring(ring(10, [member('web-0'), member('web-2')]), 'test');
    expect(state(counters)).toBe('not_member');
    expect(Atomics.load(counters.gauges, GAUGE_RING_VERSION)).toBe(10);
    expect(left(store).length).toBe(N);
    expect(counters.row[C.ring_purged_items]).toBe(0);
    expect(logs.filter((m) => m.includes('not a member')).length).toBe(1);
  });

  test('no sweep before start(); a draining member drops everything once started', async () => {
    const { store, counters, purger } = setup();
    purger.ring(ring(3, [member('web-0'), member('web-1', 'draining')]), 'test');
    expect(state(counters)).toBe('purging');
    // A started sweep runs its first RAM chunks before ring() returns; none ran.
    expect(left(store).length).toBe(N);
    purger.start();
    await settled(counters);
    expect(left(store)).toEqual([]);
    expect(counters.row[C.ring_purged_items]).toBe(N);
  });

  test('a new version is never read with the previous document\'s state (a draining document after a done sweep)', async () => {
    const { counters, purger } = setup();
    purger.start();
    purger.ring(ring(7, [member('web-0'), member('web-1'), member('web-2')]), 'test');
    await settled(counters);
    expect(state(counters)).toBe('done');
    // What a worker answering `stats` would read while the purger takes the next document in.
    const seen: Array<[number, string]> = [];
    const next = ring(8, [member('web-0'), member('web-1', 'draining'), member('web-2')]);
    const watched = Object.create(next, {
      members: { get: () => (seen.push([Atomics.load(counters.gauges, GAUGE_RING_VERSION), state(counters)]), next.members) },
    }) as RingSpec;
    purger.ring(watched, 'test');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter(([version, s]) => version === 8 && s === 'done')).toEqual([]);
    await settled(counters);
    expect(state(counters)).toBe('done');
    expect(Atomics.load(counters.gauges, GAUGE_RING_VERSION)).toBe(8);
  });

  test('ring_purge_rate=0 follows the ring without dropping; the only active member has nothing to drop', () => {
    const off = setup(0);
    off.purger.start();
    off.purger.ring(ring(4, [member('web-0'), member('web-1')]), 'test');
    expect(state(off.counters)).toBe('disabled');
    const only = setup();
    only.purger.start();
    only.purger.ring(ring(4, [member('web-1'), member('web-0', 'draining')]), 'test');
    expect(state(only.counters)).toBe('done');
    expect(left(only.store).length).toBe(N);
  });
});

describe('RingPurger over RAM and flash', () => {
  let dir: string;
  afterEach(() => flash.removeDir(dir));

  test('items RAM evicted to flash that the member does not own are dropped there and counted; owned ones keep their values', async () => {
    dir = flash.tempDir();
    const r = flash.rig(dir);
    // 4 MiB of RAM, 1,200 items of 8 KiB: most of them are evicted to flash (files and write buffer) on the way.
    const n = 1200;
    const size = (): number => 8 * 1024;
    flash.fill(r, 0, n, size);
    const spec = ring(5, [member('web-0'), member('web-1'), member('web-2')]);
    const continuum = new Continuum(spec.members, spec.vnodes);
    const owned = (i: number): boolean => continuum.ownerOf(flash.keyOf(i)) === 1;
    const onFlash = [...Array(n).keys()].filter((i) => !flash.inRam(r.store, flash.keyOf(i)) && flash.inFlash(r.store, r.tier, flash.keyOf(i)) !== null);
    const notOwnedOnFlash = onFlash.filter((i) => !owned(i));
    expect(notOwnedOnFlash.length).toBeGreaterThan(300);
    const flashBefore = new Map(r.tier.statPairs()).get('extstore_objects_used')!;
    const present: number[] = [];
    for (let i = 0; i < n; i++) if ((await flash.get(r.store, r.tier, flash.keyOf(i))) !== null) present.push(i);
    expect(present.length).toBe(n);

    const counters = new Counters(createCounterMemory(1), 1);
    const purger = new RingPurger(r.store, counters, () => flash.NOW, pino({ level: 'silent' }), { member: 'web-1', ratePerSecond: 1_000_000 });
    purger.start();
    purger.ring(spec, 'test');
    await settled(counters);
    expect(state(counters)).toBe('done');

    const wrong: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = flash.keyOf(i);
      if (!owned(i)) {
        if (flash.inRam(r.store, key) || flash.inFlash(r.store, r.tier, key) !== null) wrong.push(`${i} still held`);
      } else if (!(await flash.get(r.store, r.tier, key))?.equals(flash.valueOf(i, size()))) {
        wrong.push(`${i} lost`);
      }
    }
    expect(wrong).toEqual([]);
    expect(counters.row[C.ring_purged_items]).toBe(present.filter((i) => !owned(i)).length);
    const flashAfter = new Map(r.tier.statPairs()).get('extstore_objects_used')!;
    expect(flashBefore - flashAfter).toBe(notOwnedOnFlash.length);
  });
});
