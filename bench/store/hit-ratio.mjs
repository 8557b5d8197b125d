#!/usr/bin/env node
// Hit ratio of the store against stock memcached (segmented LRU) on the same Zipf trace and memory limit.
// Each request is get-or-set with a 100-byte value. Runs on the build:
//   npm run build && node bench/store/hit-ratio.mjs [--keys 1000000] [--requests 1000000] [--mib 16] [--alpha 0.99]
// memcached is driven over loopback with meta commands in pipelined batches: a key repeated inside a batch
// after a miss counts as a hit, as it would have in sequential order.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createStoreMemory, openStore, NO_ITEM } from '../../dist/server/src/cache/store/store.js';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const KEYS = arg('keys', 1_000_000);
const REQUESTS = arg('requests', 1_000_000);
const MIB = arg('mib', 16);
const ALPHA = arg('alpha', 0.99);
const BATCH = 64;
const VALUE_LEN = arg('value', 100);

function zipfTrace() {
  const cdf = new Float64Array(KEYS);
  let sum = 0;
  for (let i = 0; i < KEYS; i++) cdf[i] = (sum += 1 / Math.pow(i + 1, ALPHA));
  let seed = 42;
  const trace = new Int32Array(REQUESTS);
  for (let r = 0; r < REQUESTS; r++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const u = (seed / 4294967296) * sum;
    let lo = 0;
    let hi = KEYS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    trace[r] = lo;
  }
  return trace;
}

const keyString = (k) => `k${String(k).padStart(8, '0')}`;

function storeHitRatio(trace) {
  const store = openStore(createStoreMemory({ memoryLimit: MIB << 20, maxItemSize: 1 << 20, shards: 4 }));
  const key = new Uint8Array(9);
  let hits = 0;
  for (let r = 0; r < trace.length; r++) {
    const s = keyString(trace[r]);
    for (let j = 0; j < 9; j++) key[j] = s.charCodeAt(j);
    const h = store.hashKey(key, 0, 9);
    store.lock(h);
    const ref = store.find(h, key, 0, 9, 1);
    if (ref !== NO_ITEM) {
      store.touchAccess(ref, 1);
      hits++;
    } else {
      const fresh = store.alloc(h, key, 0, 9, 0, 0, VALUE_LEN, 1);
      if (fresh !== NO_ITEM) store.link(h, fresh, 1);
    }
    store.unlock(h);
  }
  return { hits: hits / trace.length, items: store.stats().currItems };
}

async function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Reads replies: resolves after `count` reply heads, returning for each whether it was a hit (VA). */
function replyReader(sock) {
  let buf = Buffer.alloc(0);
  let want = 0;
  let results = [];
  let done = null;
  sock.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (want === 0) return;
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      const line = buf.toString('latin1', 0, nl);
      if (line.startsWith('VA ')) {
        const len = Number(line.split(' ')[1]);
        if (buf.length < nl + 2 + len + 2) return;
        buf = buf.subarray(nl + 2 + len + 2);
        results.push(true);
      } else {
        buf = buf.subarray(nl + 2);
        results.push(false);
      }
      if (--want === 0) {
        const r = results;
        results = [];
        done(r);
      }
    }
  });
  return (count) => new Promise((resolve) => {
    want = count;
    done = resolve;
    sock.emit('data', Buffer.alloc(0));
  });
}

async function memcachedHitRatio(trace) {
  const port = await freePort();
  const args = ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '1', '-m', String(MIB)];
  // memcached refuses to run as root without -u.
  if (process.getuid?.() === 0) args.push('-u', 'root');
  const mc = spawn('memcached', args, { stdio: 'ignore' });
  try {
    let sock;
    for (let attempt = 0; attempt < 50 && !sock; attempt++) {
      sock = await new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', () => resolve(undefined));
      });
      if (!sock) await new Promise((r) => setTimeout(r, 100));
    }
    if (!sock) throw new Error('memcached did not start');
    sock.setNoDelay(true);
    const read = replyReader(sock);
    const value = 'v'.repeat(VALUE_LEN);
    let hits = 0;
    for (let b = 0; b < trace.length; b += BATCH) {
      const keys = Array.from(trace.subarray(b, Math.min(trace.length, b + BATCH)), keyString);
      sock.write(keys.map((k) => `mg ${k} v\r\n`).join(''));
      const got = await read(keys.length);
      const setNow = new Set();
      let sets = '';
      for (let i = 0; i < keys.length; i++) {
        if (got[i] || setNow.has(keys[i])) hits++;
        else {
          setNow.add(keys[i]);
          sets += `ms ${keys[i]} ${VALUE_LEN}\r\n${value}\r\n`;
        }
      }
      if (setNow.size > 0) {
        sock.write(sets);
        await read(setNow.size);
      }
    }
    sock.write('stats\r\n');
    const stats = await new Promise((resolve) => {
      let text = '';
      sock.removeAllListeners('data');
      sock.on('data', (c) => {
        text += c.toString('latin1');
        if (text.endsWith('END\r\n')) resolve(text);
      });
    });
    sock.destroy();
    const items = Number(/STAT curr_items (\d+)/.exec(stats)?.[1] ?? NaN);
    return { hits: hits / trace.length, items };
  } finally {
    mc.kill('SIGTERM');
  }
}

const trace = zipfTrace();
const ours = storeHitRatio(trace);
const theirs = await memcachedHitRatio(trace);
console.log(`Zipf(${ALPHA}) keys=${KEYS} requests=${REQUESTS} memory=${MIB} MiB, ${VALUE_LEN} B values`);
console.log(`  store (FIFO + re-insertion): hit ratio ${ours.hits.toFixed(4)}  items ${ours.items}`);
console.log(`  memcached 1.6 (segmented LRU): hit ratio ${theirs.hits.toFixed(4)}  items ${theirs.items}`);
