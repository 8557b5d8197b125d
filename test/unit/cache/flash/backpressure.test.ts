/**
 * The write buffer's backpressure (flash/backpressure.ts) with the flusher driven by hand, so it is as
 * slow as the test makes it: writes that wait when the gate says so keep every item they evict; writes
 * that ignore it lose some (what the gate is for); a flusher that makes no progress releases the waiters
 * after its bound, drops are counted, and holds start again once the flusher releases something.
 */
import { WriteBufferGate } from '../../../../server/src/cache/flash/flash.js';
import { MiB, get, keyOf, removeDir, rig, set, tempDir, valueOf, type Rig } from './helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** 4 MiB of RAM, a 4 MiB write buffer and a 64 MiB tier: 12 MiB of sets push 8 MiB through the files. */
function slowRig(wbufWaitMs: number): Rig {
  const dir = tempDir();
  dirs.push(dir);
  return rig(dir, { paths: [{ path: dir, size: 64 * MiB }], wbufWaitMs });
}

const ITEMS = 6000;
const SIZE = 2048;

function stat(r: Rig, name: string): number {
  return new Map(r.tier.statPairs()).get(name)!;
}

/** The flusher, deliberately slow: one batch per timer tick (a real one drains the ring when woken). */
function slowFlusher(r: Rig): () => void {
  const timer = setInterval(() => r.flusher.flushOnce(), 1);
  return () => clearInterval(timer);
}

async function readAll(r: Rig): Promise<number[]> {
  const wrong: number[] = [];
  for (let i = 0; i < ITEMS; i++) {
    const v = await get(r.store, r.tier, keyOf(i));
    if (v === null || !v.equals(valueOf(i, SIZE))) wrong.push(i);
  }
  return wrong;
}

describe('write buffer backpressure', () => {
  test('writes that wait while the gate says so keep every item through a slow flusher', async () => {
    const r = slowRig(60_000);
    const gate = new WriteBufferGate(r.tier);
    const stop = slowFlusher(r);
    let held = 0;
    try {
      for (let i = 0; i < ITEMS; i++) {
        // As a connection does before each data block (connection.ts holdForFlash).
        if (gate.mustWait()) {
          held++;
          await new Promise<void>((resolve) => gate.wait(resolve));
        }
        expect(set(r.store, r.tier, keyOf(i), valueOf(i, SIZE))).toBe(true);
      }
    } finally {
      stop();
    }
    for (let n = 0; n < 100 && r.flusher.flushOnce() > 0; n++);
    expect(held).toBeGreaterThan(0);
    expect(stat(r, 'extstore_wbuf_waits')).toBeGreaterThanOrEqual(held);
    expect(stat(r, 'extstore_wbuf_wait_timeouts')).toBe(0);
    expect(stat(r, 'extstore_wbuf_dropped')).toBe(0);
    expect(await readAll(r)).toEqual([]);
  });

  test('the same writes ignoring the gate lose evicted items to the full write buffer', async () => {
    const r = slowRig(60_000);
    for (let i = 0; i < ITEMS; i++) {
      expect(set(r.store, r.tier, keyOf(i), valueOf(i, SIZE))).toBe(true);
      // The slow flusher: one 2 MiB batch per 4 MiB of sets.
      if (i % 2000 === 1999) r.flusher.flushOnce();
    }
    for (let n = 0; n < 100 && r.flusher.flushOnce() > 0; n++);
    const dropped = stat(r, 'extstore_wbuf_dropped');
    expect(dropped).toBeGreaterThan(0);
    expect((await readAll(r)).length).toBe(dropped);
  });

  test('a flusher that makes no progress: waiters go on after the bound, drops are counted, holds resume after a release', async () => {
    const r = slowRig(50);
    const gate = new WriteBufferGate(r.tier);
    let i = 0;
    // No flusher: fill until the gate closes.
    for (; i < ITEMS && !gate.mustWait(); i++) set(r.store, r.tier, keyOf(i), valueOf(i, SIZE));
    expect(gate.mustWait()).toBe(true);
    const resumed: string[] = [];
    gate.wait(() => resumed.push('a'));
    gate.wait(() => resumed.push('b'));
    expect(resumed).toEqual([]); // never synchronously
    await new Promise<void>((resolve) => gate.wait(() => {
      resumed.push('c');
      resolve();
    }));
    expect(resumed).toEqual(['a', 'b', 'c']);
    expect(stat(r, 'extstore_wbuf_wait_timeouts')).toBe(1);
    // Stuck: writes no longer wait, and what they evict into the full buffer is dropped and counted.
    expect(gate.mustWait()).toBe(false);
    const droppedBefore = stat(r, 'extstore_wbuf_dropped');
    for (let n = 0; n < 1000; n++, i++) set(r.store, r.tier, keyOf(i), valueOf(i, SIZE));
    expect(gate.mustWait()).toBe(false);
    expect(stat(r, 'extstore_wbuf_dropped')).toBeGreaterThan(droppedBefore);
    // The flusher releases one batch: the gate judges by room again, and closes once the room is used.
    r.flusher.flushOnce();
    for (; i < ITEMS && !gate.mustWait(); i++) set(r.store, r.tier, keyOf(i), valueOf(i, SIZE));
    expect(gate.mustWait()).toBe(true);
    // A waiter is released by the flusher's next release, not by the bound.
    let released = false;
    gate.wait(() => {
      released = true;
    });
    for (let n = 0; n < 100 && r.flusher.flushOnce() > 0; n++);
    for (let n = 0; n < 100 && !released; n++) await new Promise((resolve) => setImmediate(resolve));
    expect(released).toBe(true);
    expect(stat(r, 'extstore_wbuf_wait_timeouts')).toBe(1);
  });

  test('ext_wbuf_wait_ms=0: nothing ever waits', () => {
    const r = slowRig(0);
    const gate = new WriteBufferGate(r.tier);
    for (let i = 0; i < 4000; i++) set(r.store, r.tier, keyOf(i), valueOf(i, SIZE));
    expect(r.tier.roomForDemotions()).toBe(false);
    expect(gate.mustWait()).toBe(false);
  });
});
