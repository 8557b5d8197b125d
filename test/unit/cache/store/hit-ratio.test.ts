import { NO_ITEM } from '../../../../server/src/cache/store/store.js';
import type { Store } from '../../../../server/src/cache/store/store.js';
import { MiB, newStore, rng } from './helpers.js';

/** Zipf(s) sampler over ranks 0..n-1 by inverse CDF: one binary search per draw. */
function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / Math.pow(i + 1, s);
    cdf[i] = sum;
  }
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Plain FIFO with a capacity in items: the baseline that segment eviction without re-insertion is. */
function fifoHitRatio(trace: Int32Array, capacity: number): number {
  const present = new Uint8Array(1 << 21);
  const queue = new Int32Array(capacity);
  let head = 0;
  let size = 0;
  let hits = 0;
  for (let i = 0; i < trace.length; i++) {
    const k = trace[i];
    if (present[k]) {
      hits++;
      continue;
    }
    if (size === capacity) {
      present[queue[head]] = 0;
      queue[head] = k;
      head = (head + 1) % capacity;
    } else {
      queue[(head + size) % capacity] = k;
      size++;
    }
    present[k] = 1;
  }
  return hits / trace.length;
}

/**
 * LRU with the same capacity, for the report only (memcached's policy, roughly). A doubly linked list in
 * typed arrays: evicting through a Map's iterator is quadratic once the Map holds many deleted entries.
 */
function lruHitRatio(trace: Int32Array, capacity: number, keys: number): number {
  const prev = new Int32Array(keys).fill(-1);
  const next = new Int32Array(keys).fill(-1);
  const present = new Uint8Array(keys);
  let head = -1; // most recent
  let tail = -1; // least recent
  let size = 0;
  let hits = 0;
  const remove = (k: number): void => {
    if (prev[k] >= 0) next[prev[k]] = next[k];
    else head = next[k];
    if (next[k] >= 0) prev[next[k]] = prev[k];
    else tail = prev[k];
  };
  for (let i = 0; i < trace.length; i++) {
    const k = trace[i];
    if (present[k]) {
      hits++;
      remove(k);
    } else if (size === capacity) {
      const victim = tail;
      remove(victim);
      present[victim] = 0;
    } else {
      size++;
    }
    present[k] = 1;
    prev[k] = -1;
    next[k] = head;
    if (head >= 0) prev[head] = k;
    head = k;
    if (tail < 0) tail = k;
  }
  return hits / trace.length;
}

/** get-or-set over the trace with fixed 100-byte values; keys are the decimal rank, 8 bytes, zero-padded. */
function storeHitRatio(store: Store, trace: Int32Array): number {
  const key = new Uint8Array(8);
  let hits = 0;
  for (let i = 0; i < trace.length; i++) {
    let k = trace[i];
    for (let j = 7; j >= 0; j--) {
      key[j] = 48 + (k % 10);
      k = Math.floor(k / 10);
    }
    const h = store.hashKey(key, 0, 8);
    store.lock(h);
    const ref = store.find(h, key, 0, 8, 1);
    if (ref !== NO_ITEM) {
      store.touchAccess(ref, 1);
      hits++;
    } else {
      const fresh = store.alloc(h, key, 0, 8, 0, 0, 100, 1);
      if (fresh !== NO_ITEM) store.link(h, fresh, 1);
    }
    store.unlock(h);
  }
  return hits / trace.length;
}

describe('store hit ratio', () => {
  test('Zipf(0.99): FIFO with re-insertion beats plain FIFO given the whole memory as item slots', () => {
    const KEYS = 1_000_000;
    const REQUESTS = 600_000;
    const memoryLimit = 16 * MiB;
    const draw = zipf(KEYS, 0.99, rng(42));
    const trace = new Int32Array(REQUESTS);
    for (let i = 0; i < REQUESTS; i++) trace[i] = draw();

    const store = newStore({ memoryLimit, maxItemSize: 64 * 1024, shards: 4 });
    const ours = storeHitRatio(store, trace);
    const itemBytes = 32 + 8 + 100 + 4; // header + key + value, rounded to 8
    // Generous to the baseline: every byte of the limit holds items, no index or segment overhead.
    const fifo = fifoHitRatio(trace, Math.floor(memoryLimit / itemBytes));
    const lru = lruHitRatio(trace, Math.floor(memoryLimit / itemBytes), KEYS);
    const s = store.stats();
    process.stdout.write(`zipf(0.99) keys=${KEYS} requests=${REQUESTS} memory=16MiB: store ${ours.toFixed(4)} ` +
      `plain FIFO ${fifo.toFixed(4)} LRU ${lru.toFixed(4)} items=${s.currItems} evictions=${s.evictions} ` +
      `kept=${s.evictedActive}\n`);
    expect(s.evictions).toBeGreaterThan(0);
    expect(ours).toBeGreaterThan(fifo);
  });
});
