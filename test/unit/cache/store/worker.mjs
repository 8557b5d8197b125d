// A worker thread for threads.test.ts: opens the shared store and hammers it. Plain JavaScript so that it
// runs as-is in a worker; it imports the store from the directory the test transpiled it into.
import { parentPort, workerData } from 'node:worker_threads';

const { storeUrl, memory, mode, id, iterations, timeLimitMs, keys, seed } = workerData;
const { openStore, NO_ITEM } = await import(storeUrl);
const store = openStore(memory);

let state = seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function fnv(buf, start, end) {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

const enc = new TextEncoder();
const keyBytes = [];
for (let k = 0; k < keys; k++) keyBytes.push(enc.encode(`${mode}-key-${k}`));

// Value: [key][u32 count][u32 writer][filler][u32 fnv of everything before]
function valueLength(key, filler) { return key.length + 8 + filler + 4; }

function writeValue(dst, key, count, writer, filler) {
  dst.set(key, 0);
  let p = key.length;
  const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  view.setUint32(p, count, true);
  view.setUint32(p + 4, writer, true);
  p += 8;
  for (let i = 0; i < filler; i++) dst[p + i] = (count + i) & 255;
  p += filler;
  view.setUint32(p, fnv(dst, 0, p), true);
}

/** The count stored in a value, or -1 if the value is not intact for this key. */
function readValue(src, key) {
  if (src.length < key.length + 12) return -1;
  for (let i = 0; i < key.length; i++) if (src[i] !== key[i]) return -1;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const end = src.length - 4;
  if (view.getUint32(end, true) !== fnv(src, 0, end)) return -1;
  return view.getUint32(key.length, true);
}

const increments = new Array(keys).fill(0);
let torn = 0;
let misses = 0;
let hits = 0;
let ops = 0;
let overLimit = 0;
const deadline = Date.now() + timeLimitMs;
for (let i = 0; i < iterations && (i & 255 || Date.now() < deadline); i++) {
  const k = Math.floor(random() * keys);
  const key = keyBytes[k];
  const h = store.hashKey(key, 0, key.length);
  const filler = Math.floor(random() * (mode === 'churn' ? 20000 : 300));
  store.lock(h);
  const ref = store.find(h, key, 0, key.length, 1);
  let count = 0;
  if (ref !== NO_ITEM) {
    store.touchAccess(ref, 1);
    count = readValue(store.valueView(ref), key);
    if (count < 0) torn++;
    hits++;
  } else {
    misses++;
  }
  if (mode === 'counter' || random() < 0.5) {
    const fresh = store.alloc(h, key, 0, key.length, 0, 0, valueLength(key, filler), 1);
    if (fresh !== NO_ITEM) {
      writeValue(store.valueView(fresh), key, count + 1, id, filler);
      store.link(h, fresh, 1);
      increments[k]++;
    }
  }
  store.unlock(h);
  ops++;
  if ((i & 1023) === 0) {
    const s = store.stats();
    if (s.bytes > s.limitMaxbytes) overLimit++;
  }
}
parentPort.postMessage({ increments, torn, misses, hits, ops, overLimit });
