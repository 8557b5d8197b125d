import { createStoreMemory } from '../../../../server/src/cache/store/store.js';
import { createFlashMemory, flashGeometry } from '../../../../server/src/cache/flash/memory.js';
import { FlashIndex } from '../../../../server/src/cache/flash/index.js';
import { E_FILE, E_HASH, E_TAG } from '../../../../server/src/cache/flash/layout.js';
import { MiB, PROCESS_STARTED } from './helpers.js';

function openIndex(slots: number): FlashIndex {
  const store = createStoreMemory({ memoryLimit: 4 * MiB, maxItemSize: 64 * 1024, shards: 4 });
  const memory = createFlashMemory({
    paths: [{ path: '/nonexistent', size: 64 * MiB }], shards: 4, wbufSize: MiB, maxItemSize: 65 * 1024, threads: 1,
    processStarted: PROCESS_STARTED, indexSlots: slots, ringSize: MiB,
  }, store);
  return new FlashIndex(memory, flashGeometry(memory.options));
}

describe('flash index: entries referenced from buckets, handed out densely', () => {
  test('random places and clears agree with a model; entries handed out follow the live count, not the slots', () => {
    const index = openIndex(4096);
    const model = new Map<number, number>(); // hash -> file number written into its entry
    let x = 7;
    const rnd = (): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x;
    };
    const placed = { victim: false, found: false };
    let maxLive = 0;
    for (let step = 0; step < 20_000; step++) {
      // Few hashes at once (at most 300 live of 4096 slots), so that clears recycle entries.
      const hash = (rnd() % 600) * 2654435761 >>> 0;
      const op = rnd() % 5;
      if (op === 4) {
        // A demotion whose write failed: place(), then unplace() unless it found the key's own entry.
        const i = index.place(hash, placed);
        expect(placed.found).toBe(model.has(hash));
        if (!placed.found) index.unplace(hash, i);
        expect(index.find(hash) >= 0).toBe(model.has(hash));
      } else if (op < 2) {
        const i = index.place(hash, placed);
        if (index.e[i + E_TAG] !== 0 && index.e[i + E_TAG] !== ((hash | 1) >>> 0)) model.delete(index.e[i + E_HASH]);
        index.e[i + E_HASH] = hash;
        index.e[i + E_FILE] = step + 1;
        index.e[i + E_TAG] = (hash | 1) >>> 0;
        model.set(hash, step + 1);
      } else {
        const i = index.find(hash);
        expect(i >= 0).toBe(model.has(hash));
        if (i >= 0) {
          expect(index.e[i + E_FILE]).toBe(model.get(hash));
          index.clear(i);
          model.delete(hash);
          expect(index.find(hash)).toBe(-1);
        }
      }
      maxLive = Math.max(maxLive, model.size);
    }
    for (const [hash, file] of model) {
      const i = index.find(hash);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(index.e[i + E_FILE]).toBe(file);
    }
    let handedOut = 0;
    for (let s = 0; s < index.shards; s++) handedOut += index.highWater(s);
    expect(handedOut).toBeLessThanOrEqual(maxLive + index.shards);
    expect(handedOut).toBeLessThan(4096 / 4);
  });

  test('a full bucket pair hands back the oldest file\'s entry as the victim, and the victim\'s key is gone', () => {
    const index = openIndex(4 * 8 * 16); // the minimum: 16 buckets of 8 per shard
    const placed = { victim: false, found: false };
    // More keys of shard 0 than its buckets hold (the store picks the shard count).
    const perShard = index.slotsPerShard;
    const keys = perShard + 72;
    const hashes: number[] = [];
    for (let k = 1; k <= keys; k++) hashes.push((Math.imul(k, 2654435761) & ~(index.shards - 1)) >>> 0);
    let victims = 0;
    hashes.forEach((hash, n) => {
      const i = index.place(hash, placed);
      if (index.e[i + E_TAG] !== 0) victims++;
      index.e[i + E_HASH] = hash;
      index.e[i + E_FILE] = n + 1;
      index.e[i + E_TAG] = (hash | 1) >>> 0;
      expect(index.find(hash)).toBe(i);
    });
    expect(victims).toBeGreaterThanOrEqual(keys - perShard);
    expect(index.highWater(0)).toBe(perShard);
    let found = 0;
    for (const hash of hashes) if (index.find(hash) >= 0) found++;
    expect(found).toBe(hashes.length - victims);
    // A victim handed out for a write that then failed: its own key finds it again.
    const newcomer = (Math.imul(keys + 1, 2654435761) & ~(index.shards - 1)) >>> 0;
    const i = index.place(newcomer, placed);
    expect(placed.found).toBe(false);
    const owner = index.e[i + E_HASH];
    expect(index.find(owner)).toBe(-1);
    index.unplace(newcomer, i);
    expect(index.find(owner)).toBe(i);
    expect(index.find(newcomer)).toBe(-1);
  });
});
