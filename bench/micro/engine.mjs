#!/usr/bin/env node
// Micro-benchmark of the request path without sockets: the text engine (tokenize, dispatch, store,
// reply formatting) fed pipelined requests from a pre-built buffer, the way cache/connection.ts feeds it.
// It tells how much of cachalot's CPU per request (bench/run.mjs reports the whole process's) is
// JavaScript and how much is the socket layer, and counts garbage collections per million requests, the
// visible trace of allocation per request (STYLE.md rule 4).
//
//   npm run build && node bench/micro/engine.mjs [--seconds S] [--only NAME[,NAME]]
//
// Each case runs a JIT warm-up (WARMUP_SECONDS) before the measured loop. It imports the build in dist/,
// so it measures exactly what the server runs. The engine's constructor is internal API: when it changes,
// this file changes with it.

import { PerformanceObserver, performance } from 'node:perf_hooks';
import { createStoreMemory, openTieredStore } from '../../dist/server/src/cache/store/store.js';
import { createCounterMemory, Counters } from '../../dist/server/src/cache/metrics/counters.js';
import { Clock } from '../../dist/server/src/runtime/clock.js';
import { TextEngine } from '../../dist/server/src/cache/engine/text.js';
import { Session, WANT_COMMAND, WANT_NREAD } from '../../dist/server/src/cache/engine/session.js';
import { Tokens } from '../../dist/server/src/protocol/tokenize.js';

const WARMUP_SECONDS = 1;
const KEYS = 10000;
const VALUE = 'v'.repeat(100);
const PIPELINE = 16; // requests per simulated read event, as in scenario b
const key = (i) => `key:${String(i).padStart(12, '0')}`;

function parseArgs(argv) {
  const o = { seconds: 2, only: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') o.seconds = Number(argv[++i]);
    else if (argv[i] === '--only') o.only = argv[++i].split(',');
    else if (argv[i] === '--help' || argv[i] === '-h') {
      process.stdout.write('usage: node bench/micro/engine.mjs [--seconds S] [--only NAME[,NAME]]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!(o.seconds > 0 && o.seconds <= 600)) throw new Error('--seconds must be from 0 to 600');
  return o;
}

function makeEngine() {
  const counters = new Counters(createCounterMemory(1), 0);
  const noStats = { general: () => [], settings: () => [], items: () => [], slabs: () => [], conns: () => [], reset() {} };
  // The server's workers keep a ticking clock (runtime/clock.ts): so does the benchmark.
  const clock = Clock.startingNow();
  clock.startTicking();
  // A RAM-only server's store (no flash tier), as worker.ts opens it.
  const memory = createStoreMemory({ memoryLimit: 256 * 1024 * 1024, maxItemSize: 1024 * 1024, shards: 16 });
  const store = openTieredStore(memory, { now: () => clock.now() });
  return new TextEngine(store, counters, clock, {
    maxItemSize: 1024 * 1024, shutdownEnabled: false, flushEnabled: true,
  }, { shutdown() {}, setVerbosity() {} }, noStats);
}

/** The loop of Connection.process() without a socket; returns requests executed. */
function feed(engine, s, buf) {
  let pos = 0;
  let n = 0;
  const end = buf.length;
  while (pos < end) {
    if (s.want === WANT_NREAD) {
      s.want = WANT_COMMAND;
      engine.completeNread(s, buf, pos);
      pos += s.nreadBytes;
      continue;
    }
    const nl = buf.indexOf(10, pos);
    const lineEnd = buf[nl - 1] === 13 ? nl - 1 : nl;
    engine.processLine(s, buf, pos, lineEnd);
    pos = nl + 1;
    n++;
  }
  return n;
}

const RANDOM_KEYS = 400000;
const RANDOM_LINES = 20000;
let seed = 12345;
/** A fixed pseudo-random key number in [0, RANDOM_KEYS) (xorshift32: the same lines every run). */
function randomKey() {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) % RANDOM_KEYS;
}

/** A buffer of PIPELINE requests per "read", cycling over `count` requests made by make(i). */
function requests(count, make) {
  const parts = [];
  for (let i = 0; i < count; i++) parts.push(make(i));
  return parts;
}

const CASES = {
  'get-hit': { reqs: requests(KEYS, (i) => `get ${key(i)}\r\n`), preload: true },
  'get-miss': { reqs: requests(KEYS, (i) => `get ${key(i + KEYS)}\r\n`), preload: true },
  'set-100B': { reqs: requests(KEYS, (i) => `set ${key(i)} 0 0 100\r\n${VALUE}\r\n`), preload: false },
  'mixed-1:10': {
    reqs: requests(KEYS, (i) => (i % 11 === 0 ? `set ${key(i)} 0 0 100\r\n${VALUE}\r\n` : `get ${key(i)}\r\n`)),
    preload: true,
  },
  'mg-hit': { reqs: requests(KEYS, (i) => `mg ${key(i)} v f t\r\n`), preload: true },
  'get-10-keys': {
    reqs: requests(KEYS / 10, (i) => `get ${Array.from({ length: 10 }, (_, k) => key(i * 10 + k)).join(' ')}\r\n`),
    preload: true,
  },
  // As a sidecar's coalesced get lines are: keys in random order over a store larger than the CPU caches
  // (RANDOM_KEYS items, each line 10 of them picked at random), so that most lookups miss the caches.
  'get-10-keys-random': {
    reqs: requests(RANDOM_LINES, () => `get ${Array.from({ length: 10 }, () => key(randomKey())).join(' ')}\r\n`),
    preload: RANDOM_KEYS,
  },
};

let gcCount = 0;
new PerformanceObserver((list) => { gcCount += list.getEntries().length; }).observe({ entryTypes: ['gc'] });
// GC entries reach the observer asynchronously; the measured loops are synchronous.
const gcEntriesDelivered = () => new Promise((r) => setTimeout(r, 20));

async function runCase(name, spec, seconds) {
  const engine = makeEngine();
  const s = new Session();
  if (spec.preload) {
    // Preloaded in chunks: the reply buffer is emptied after each, as a socket write would.
    const count = spec.preload === true ? KEYS : spec.preload;
    for (let from = 0; from < count; from += KEYS) {
      const load = Buffer.from(requests(Math.min(KEYS, count - from), (i) => `set ${key(from + i)} 0 0 100\r\n${VALUE}\r\n`).join(''), 'latin1');
      feed(engine, s, load);
      s.out.pos = 0;
    }
  }
  // Reads of PIPELINE requests each, so replies accumulate per read as in the server; the reply buffer is
  // emptied after every read, as a socket write would.
  const reads = [];
  for (let i = 0; i < spec.reqs.length; i += PIPELINE) reads.push(Buffer.from(spec.reqs.slice(i, i + PIPELINE).join(''), 'latin1'));
  const loop = (ms) => {
    const until = performance.now() + ms;
    let n = 0;
    let bytes = 0;
    while (performance.now() < until) {
      for (let r = 0; r < reads.length; r++) {
        n += feed(engine, s, reads[r]);
        bytes += s.out.pos;
        s.out.pos = 0;
      }
    }
    return { n, bytes };
  };
  loop(WARMUP_SECONDS * 1000);
  await gcEntriesDelivered();
  const gc0 = gcCount;
  const t0 = performance.now();
  const { n, bytes } = loop(seconds * 1000);
  const secs = (performance.now() - t0) / 1000;
  await gcEntriesDelivered();
  const gcs = gcCount - gc0;
  return { name, requests: n, nsPerRequest: (secs * 1e9) / n, requestsPerSec: n / secs, gcPerMillion: (gcs / n) * 1e6, replyBytes: bytes };
}

async function runTokenize(seconds) {
  const t = new Tokens();
  const line = Buffer.from(`set ${key(1)} 0 0 100 noreply`, 'latin1');
  const loop = (ms) => {
    const until = performance.now() + ms;
    let n = 0;
    while (performance.now() < until) {
      for (let k = 0; k < 10000; k++) t.tokenize(line, 0, line.length);
      n += 10000;
    }
    return n;
  };
  loop(WARMUP_SECONDS * 1000);
  await gcEntriesDelivered();
  const gc0 = gcCount;
  const t0 = performance.now();
  const n = loop(seconds * 1000);
  const secs = (performance.now() - t0) / 1000;
  await gcEntriesDelivered();
  return { name: 'tokenize(set line)', requests: n, nsPerRequest: (secs * 1e9) / n, requestsPerSec: n / secs, gcPerMillion: ((gcCount - gc0) / n) * 1e6 };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const rows = [];
  for (const [name, spec] of Object.entries(CASES)) {
    if (o.only && !o.only.includes(name)) continue;
    rows.push(await runCase(name, spec, o.seconds));
  }
  if (!o.only || o.only.includes('tokenize')) rows.push(await runTokenize(o.seconds));
  process.stdout.write(`engine micro-benchmark, node ${process.version}, ${PIPELINE} requests per read, ${o.seconds} s per case after ${WARMUP_SECONDS} s warm-up\n\n`);
  process.stdout.write('| case | requests/s | ns per request | GCs per M requests |\n|---|---:|---:|---:|\n');
  for (const r of rows) {
    process.stdout.write(`| ${r.name} | ${Math.round(r.requestsPerSec).toLocaleString('en-US')} | ${r.nsPerRequest.toFixed(0)} | ${r.gcPerMillion.toFixed(1)} |\n`);
  }
}

main().catch((err) => { process.stderr.write(`${err.stack}\n`); process.exit(1); });
