/**
 * TieredStore.sweep(): every item of both tiers is visited once, in chunks no larger than asked, and the
 * items the decision names are gone from RAM and flash (after a restart too: tombstones); an entry
 * rewritten while its key was being read from its file is left alone.
 */
import { createStoreMemory, openTieredStore, NO_ITEM, SweepCursor, SWEEP_ITEMS_PER_LOCK } from '../../../../server/src/cache/store/store.js';
import type { SweepDecision, TieredStore } from '../../../../server/src/cache/store/store.js';
import { IN_WBUF } from '../../../../server/src/cache/flash/layout.js';
import { tryLockShard, unlockShard } from '../../../../server/src/cache/store/lock.js';
import { MiB, bytes, get as getRam, set as setRam } from './helpers.js';
import { NOW, get, inFlash, inRam, keyOf, removeDir, rig, set, tempDir, valueOf, type Rig } from '../flash/helpers.js';

const dropMultiplesOf3: SweepDecision = (key, start, end) => Number(Buffer.from(key.subarray(start, end)).toString().split(':')[1]) % 3 === 0;

/** Runs a whole sweep in steps of `limit`; returns the items each step visited. Bounded by `maxSteps`. */
async function sweepAll(store: TieredStore, drop: SweepDecision, limit: number, maxSteps = 100_000): Promise<{ cursor: SweepCursor; steps: number[] }> {
  const cursor = new SweepCursor();
  const steps: number[] = [];
  for (let n = 0; n < maxSteps && !cursor.done; n++) {
    const before = cursor.visited;
    await store.sweep(cursor, limit, NOW, drop);
    steps.push(cursor.visited - before);
  }
  return { cursor, steps };
}

describe('TieredStore.sweep over RAM only', () => {
  test('visits every item once in steps of at most the limit and drops exactly the chosen ones', async () => {
    const store = openTieredStore(createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 4 }), { now: () => NOW });
    const n = 3000;
    for (let i = 0; i < n; i++) expect(setRam(store, keyOf(i), bytes(`v${i}`), NOW)).not.toBe(NO_ITEM);
    const { cursor, steps } = await sweepAll(store, dropMultiplesOf3, 50);
    expect(cursor.done).toBe(true);
    expect(cursor.visited).toBe(n);
    expect(cursor.dropped).toBe(1000);
    expect(Math.max(...steps)).toBeLessThanOrEqual(50);
    const left = [];
    for (let i = 0; i < n; i++) if (inRam(store, keyOf(i))) left.push(i);
    expect(left).toEqual([...Array(n).keys()].filter((i) => i % 3 !== 0));
    expect(store.stats().currItems).toBe(2000);
  });

  test('a limit above the per-lock chunk is still honoured, and a sweep that drops nothing changes nothing', async () => {
    const store = openTieredStore(createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 4 }), { now: () => NOW });
    for (let i = 0; i < 500; i++) setRam(store, keyOf(i), bytes('x'), NOW);
    const { cursor, steps } = await sweepAll(store, () => false, 10 * SWEEP_ITEMS_PER_LOCK);
    expect(cursor.visited).toBe(500);
    expect(cursor.dropped).toBe(0);
    expect(Math.max(...steps)).toBeLessThanOrEqual(10 * SWEEP_ITEMS_PER_LOCK);
    expect(store.stats().currItems).toBe(500);
  });

  test('RAM keys are decided without the shard lock; an item rewritten meanwhile is left alone', async () => {
    const memory = createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 4 });
    const store = openTieredStore(memory, { now: () => NOW });
    const shardLocks = new Int32Array(memory.buffers.shards!);
    for (let i = 0; i < 300; i++) setRam(store, keyOf(i), bytes(`v${i}`), NOW);
    const target = 42;
    const targetShard = store.hashKey(keyOf(target), 0, keyOf(target).length) & 3;
    let underLock = 0;
    let rewritten = false;
    const drop: SweepDecision = (key, start, end) => {
      const i = Number(Buffer.from(key.subarray(start, end)).toString().split(':')[1]);
      if (i !== target) return false;
      // Rewriting under the sweep's own lock would wait forever: check the lock is free first.
      if (!tryLockShard(shardLocks, targetShard)) {
        underLock++;
        return true;
      }
      unlockShard(shardLocks, targetShard);
      if (!rewritten) {
        rewritten = true;
        setRam(store, keyOf(target), bytes('newer'), NOW);
      }
      return true;
    };
    const cursor = new SweepCursor();
    for (let n = 0; n < 1000 && !cursor.done; n++) await store.sweep(cursor, 64, NOW, drop);
    expect(underLock).toBe(0);
    expect(rewritten).toBe(true);
    expect(cursor.dropped).toBe(0);
    expect(Buffer.from(getRam(store, keyOf(target), NOW, false) ?? []).toString()).toBe('newer');
    expect(store.stats().currItems).toBe(300);
  });

  test('an empty store is swept to the end', async () => {
    const store = openTieredStore(createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 4 }), { now: () => NOW });
    const { cursor } = await sweepAll(store, () => true, 10, 10_000);
    expect(cursor.done).toBe(true);
    expect(cursor.visited).toBe(0);
  });
});

describe('TieredStore.sweep over RAM and flash', () => {
  let dir: string;
  let r: Rig;
  const N = 300;
  /** Keys [0, 100) in RAM, [100, 200) in flash files, [200, 300) in the flash write buffer. */
  const evict = (i: number): void => {
    const key = keyOf(i);
    const h = r.store.hashKey(key, 0, key.length);
    r.store.lock(h);
    const ref = r.store.find(h, key, 0, key.length, NOW);
    if (ref === NO_ITEM || !r.tier.demote(h, ref, r.store, NOW)) throw new Error(`cannot demote ${i}`);
    r.store.unlink(h, ref);
    r.store.unlock(h);
  };

  beforeEach(() => {
    dir = tempDir();
    r = rig(dir);
    for (let i = 0; i < N; i++) set(r.store, r.tier, keyOf(i), valueOf(i, 200));
    for (let i = 100; i < 200; i++) evict(i);
    r.flusher.flushOnce();
    for (let i = 200; i < N; i++) evict(i);
  });
  afterEach(() => removeDir(dir));

  test('the rig puts items in RAM, in files and in the write buffer', () => {
    expect(inRam(r.store, keyOf(5))).toBe(true);
    expect(inFlash(r.store, r.tier, keyOf(150))?.file).not.toBe(IN_WBUF);
    expect(inRam(r.store, keyOf(150))).toBe(false);
    expect(inFlash(r.store, r.tier, keyOf(250))?.file).toBe(IN_WBUF);
  });

  test('chosen items are gone from every tier, the others keep their values, and a restart brings none back', async () => {
    const { cursor, steps } = await sweepAll(r.store, dropMultiplesOf3, 16);
    expect(cursor.visited).toBe(N);
    expect(cursor.dropped).toBe(100);
    expect(Math.max(...steps)).toBeLessThanOrEqual(16);
    const wrong: string[] = [];
    for (let i = 0; i < N; i++) {
      const v = await get(r.store, r.tier, keyOf(i));
      if (i % 3 === 0 && v !== null) wrong.push(`${i} still there`);
      if (i % 3 !== 0 && (v === null || !v.equals(valueOf(i, 200)))) wrong.push(`${i} lost`);
    }
    expect(wrong).toEqual([]);
    const keptOnFlash = [...Array(N - 100).keys()].map((i) => i + 100).filter((i) => i % 3 !== 0);
    expect(new Map(r.tier.statPairs()).get('extstore_objects_used')).toBe(keptOnFlash.length);
    // The tombstones reach the files; a restart on the same directory recovers only what was kept.
    r.flusher.flushOnce();
    const again = rig(dir);
    const recovered = [];
    for (let i = 100; i < N; i++) if (inFlash(again.store, again.tier, keyOf(i)) !== null) recovered.push(i);
    expect(recovered).toEqual(keptOnFlash);
  });

  test('a flash entry rewritten while its key is read from the file is left alone', async () => {
    const target = 102; // on file, chosen by the decision
    let rewritten = false;
    const drop: SweepDecision = (key, start, end) => {
      const i = Number(Buffer.from(key.subarray(start, end)).toString().split(':')[1]);
      if (i === target && !rewritten) {
        // Decided without the lock (file entries): a client stores the key again and RAM evicts it.
        rewritten = true;
        set(r.store, r.tier, keyOf(target), Buffer.from('newer'));
        evict(target);
      }
      return i === target;
    };
    const { cursor } = await sweepAll(r.store, drop, 16);
    expect(rewritten).toBe(true);
    expect(cursor.dropped).toBe(0);
    expect(await get(r.store, r.tier, keyOf(target))).toEqual(Buffer.from('newer'));
  });
});
