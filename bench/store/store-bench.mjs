#!/usr/bin/env node
// Store micro-benchmark: sets/s and gets/s for 1M keys of 32 B with 100 B values, one thread, against a
// Map<string, Buffer> baseline. Runs on the build: `npm run build && node bench/store/store-bench.mjs`.
// Options: --keys N (default 1000000), --rounds N (default 3), --shards N (default 16), --memory MiB.
import { createStoreMemory, openStore, NO_ITEM } from '../../dist/server/src/cache/store/store.js';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const KEYS = arg('keys', 1_000_000);
const ROUNDS = arg('rounds', 3);
const SHARDS = arg('shards', 16);
const MEMORY = arg('memory', 512) * 1024 * 1024;
const KEY_LEN = 32;
const VALUE_LEN = 100;
const WARMUP = 200_000;

// All keys in one buffer, as a connection's read buffer would hold them: no key object per operation.
const keys = new Uint8Array(KEYS * KEY_LEN);
for (let i = 0; i < KEYS; i++) {
  const s = `key:${String(i).padStart(12, '0')}:${'x'.repeat(KEY_LEN - 17)}`;
  for (let j = 0; j < KEY_LEN; j++) keys[i * KEY_LEN + j] = s.charCodeAt(j);
}
const value = new Uint8Array(VALUE_LEN).fill(0x61);
const scratch = new Uint8Array(1024);
// Random order: every get lands on a cold cache line, like real traffic; one Fisher-Yates permutation.
const order = new Int32Array(KEYS);
for (let i = 0; i < KEYS; i++) order[i] = i;
let seed = 12345;
for (let i = KEYS - 1; i > 0; i--) {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  const j = seed % (i + 1);
  const t = order[i]; order[i] = order[j]; order[j] = t;
}

function storeSets(store, n) {
  for (let i = 0; i < n; i++) {
    const k = order[i % KEYS] * KEY_LEN;
    const h = store.hashKey(keys, k, k + KEY_LEN);
    store.lock(h);
    const ref = store.alloc(h, keys, k, k + KEY_LEN, 0, 0, VALUE_LEN, 1);
    if (ref !== NO_ITEM) {
      store.valueView(ref).set(value);
      store.link(h, ref, 1);
    }
    store.unlock(h);
  }
}

function storeGets(store, n) {
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const k = order[(i * 7919) % KEYS] * KEY_LEN;
    const h = store.hashKey(keys, k, k + KEY_LEN);
    store.lock(h);
    const ref = store.find(h, keys, k, k + KEY_LEN, 1);
    if (ref !== NO_ITEM) {
      store.touchAccess(ref, 1);
      store.copyValue(ref, scratch, 0);
      hits++;
    }
    store.unlock(h);
  }
  return hits;
}

// Baseline: what a cache in plain JS objects does: a string key per request, a Buffer copy per value.
const keyBuf = Buffer.from(keys.buffer, keys.byteOffset, keys.byteLength);
function mapSets(map, n) {
  for (let i = 0; i < n; i++) {
    const k = order[i % KEYS] * KEY_LEN;
    const v = Buffer.allocUnsafe(VALUE_LEN);
    v.set(value);
    map.set(keyBuf.latin1Slice(k, k + KEY_LEN), v);
  }
}
function mapGets(map, n) {
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const k = order[(i * 7919) % KEYS] * KEY_LEN;
    const v = map.get(keyBuf.latin1Slice(k, k + KEY_LEN));
    if (v !== undefined) {
      scratch.set(v, 0);
      hits++;
    }
  }
  return hits;
}

// CPU time of this (single) thread, not wall time: the machines that run this are shared, and a
// runnable-but-descheduled thread would otherwise count as a slow store. Wall time is reported beside it.
function time(fn) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { seconds: (c.user + c.system) / 1e6, wall, result: r };
}
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
const fmt = (x) => `${(x / 1e6).toFixed(2)} M/s`;

const results = { store: { set: [], get: [] }, map: { set: [], get: [] }, wall: { store: [], map: [] } };
for (let round = 0; round < ROUNDS; round++) {
  {
    // A fresh store each round; the warm-up on a throwaway store lets the JIT settle before timing.
    if (round === 0) {
      const warm = openStore(createStoreMemory({ memoryLimit: 64 << 20, maxItemSize: 1 << 20, shards: SHARDS }));
      storeSets(warm, WARMUP);
      storeGets(warm, WARMUP);
    }
    const store = openStore(createStoreMemory({ memoryLimit: MEMORY, maxItemSize: 1 << 20, shards: SHARDS }));
    const s = time(() => storeSets(store, KEYS));
    const g = time(() => storeGets(store, KEYS));
    if (g.result !== KEYS) throw new Error(`store lost keys: ${g.result} of ${KEYS} hits`);
    results.store.set.push(KEYS / s.seconds);
    results.store.get.push(KEYS / g.seconds);
    results.wall.store.push(`${fmt(KEYS / s.wall)}/${fmt(KEYS / g.wall)}`);
  }
  {
    if (round === 0) {
      const warm = new Map();
      mapSets(warm, WARMUP);
      mapGets(warm, WARMUP);
    }
    const map = new Map();
    const s = time(() => mapSets(map, KEYS));
    const g = time(() => mapGets(map, KEYS));
    if (g.result !== KEYS) throw new Error('map lost keys');
    results.map.set.push(KEYS / s.seconds);
    results.map.get.push(KEYS / g.seconds);
    results.wall.map.push(`${fmt(KEYS / s.wall)}/${fmt(KEYS / g.wall)}`);
    if (round === ROUNDS - 1) {
      globalThis.gc?.();
      results.mapHeapMiB = process.memoryUsage().heapUsed / 1048576;
    }
  }
}
console.log(`store bench: ${KEYS} keys x ${KEY_LEN} B, ${VALUE_LEN} B values, ${SHARDS} shards, ` +
  `${ROUNDS} rounds, median ops per CPU-second`);
const rates = (r) => `set ${fmt(median(r.set))}  get ${fmt(median(r.get))}`;
console.log(`  store (SharedArrayBuffer): ${rates(results.store)}`);
console.log(`  Map<string, Buffer>:       ${rates(results.map)}  heap used ${results.mapHeapMiB.toFixed(0)} MiB`);
console.log(`  wall-clock set/get per round: store ${results.wall.store.join(', ')}; ` +
  `map ${results.wall.map.join(', ')}`);
