import { SegmentPretoucher, createStoreMemory, openStore } from '../../../../server/src/cache/store/store.js';
import { MiB, bytes, get, set } from './helpers.js';

/**
 * The main thread faults segment pages in ahead of the workers (store/pretouch.ts): only up to its window
 * past the segments handed out so far and never past the memory limit, without changing a byte of what
 * the workers stored.
 */
describe('segment pre-touching', () => {
  test('stays a window ahead of the segments handed out, within the memory limit', () => {
    const memory = createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 1, memoryReserve: 32 * MiB });
    const toucher = new SegmentPretoucher(memory, 4 * MiB);
    let steps = 0;
    while (toucher.step(MiB / 2) && steps < 100) steps++;
    expect(toucher.touchedBytes).toBe(4 * MiB);
    expect(steps).toBe(7); // 8 half-MiB steps, the last one answering "done"
    const store = openStore(memory);
    // 6 segments' worth of 900 KB values: the frontier moves to 6 segments, the target to 10.
    for (let i = 0; i < 6; i++) expect(set(store, bytes(`k${i}`), new Uint8Array(900_000).fill(i))).toBeGreaterThan(0);
    expect(toucher.target()).toBe(10 * MiB);
    while (toucher.step() && steps < 200) steps++;
    expect(toucher.touchedBytes).toBe(10 * MiB);
    // Past the limit nothing is touched, whatever the window: the rest of the reserve stays unresident.
    for (let i = 6; i < 40; i++) set(store, bytes(`k${i}`), new Uint8Array(900_000).fill(i));
    while (toucher.step() && steps < 300) steps++;
    expect(toucher.touchedBytes).toBe(16 * MiB);
  });

  test('touching leaves stored bytes as they are', () => {
    const memory = createStoreMemory({ memoryLimit: 16 * MiB, maxItemSize: MiB, shards: 1 });
    const store = openStore(memory);
    const value = new Uint8Array(700_000);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 255;
    set(store, bytes('kept'), value);
    const toucher = new SegmentPretoucher(memory, 16 * MiB);
    let steps = 0;
    while (toucher.step() && steps < 100) steps++;
    expect(toucher.touchedBytes).toBe(16 * MiB);
    expect(get(store, bytes('kept'))).toEqual(value);
  });
});
