#!/usr/bin/env node
// Closed-loop (or, with --rate, paced) memcached text-protocol load generator for what memcaslap cannot do: pipelining depth N,
// Zipf key choice, mixed value sizes, 1 MB values, a get-then-set-on-miss trace, and fills.
//
// It is one process with many connections, run by bench/run.mjs as a child so that it never shares an
// event loop with the harness. The hot path follows STYLE.md rule 4:
// - no Promise or closure per request: each connection is one object whose onRead is bound once;
// - reads land in one fixed buffer per connection (net `onread`), so Node allocates no Buffer per read;
// - a batch of requests is written into a per-connection scratch buffer (values up to INLINE_VALUE_MAX are
//   copied in, larger ones are written from one shared value buffer by reference), one write per batch;
// - replies are parsed by scanning for "\n" with the native Buffer.indexOf and skipping value bytes by
//   count, never by converting to strings;
// - one clock read per batch sent and one per read event; latencies go into a log-linear histogram.
//
// Output: one JSON object on stdout (progress and errors on stderr). Usage: see USAGE below.

import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const USAGE = `usage: node bench/loadgen.mjs --port P[,P...] [options]
  --host H            server address (127.0.0.1)
  --port P[,P...]     server port; with several, connections are spread over them in turn, each with the
                      keys of its server (key number mod the number of ports), unless --route ketama
  --route R           partition | ketama (partition). ketama, with several ports in load mode: each connection
                      is one socket per server and picks keys from the whole key space; a batch is split by
                      the key's ketama owner (the continuum cachalot-sidecar computes, 40 points per member:
                      a ring of 127.0.0.1:PORT members) into one write per server, as an application's ketama
                      client does, and is complete when every server answered its share
  --mode M            load | trace | fill | scan (load); scan gets every key once, in order
  --conns N           connections (50)
  --depth N           requests per batch written at once; 1 = no pipelining (1)
  --keys N            key space (100000)
  --dist D            uniform | zipf (uniform)        --zipf-s S   Zipf exponent (0.99)
  --set-ratio R       fraction of sets in load mode (0.0909 = 1:10 set:get)
  --value-size B      fixed value size (100)
  --value-min B --value-max B   per-key sizes drawn log-uniformly in [min, max] instead
  --no-populate       load mode: do not set every key once before the warm-up
  --warmup S          load mode: seconds of load before measuring (3)
  --duration S        load mode: measured seconds (10)
  --rate R            load mode: offer R requests/s in total (paced): each connection sends its batches on a
                      fixed schedule (conns x depth / R apart) instead of right after the last reply, so two
                      systems can be compared at the same load below saturation; 0 = closed loop (0)
  --requests N        trace mode: gets in the trace (1000000)
  --count N           fill mode: stop after N sets
  --bytes N           fill mode: stop after N value bytes sent
  --seed N            PRNG seed (1)
  --tls-ca FILE       connect over TLS, trusting this CA (a server started with -Z); replies arrive as
                      'data' chunks instead of reads into the fixed buffer
  --cpu-pid PID[,PID...]  report utime+stime ticks of these processes over the measured window
  --max-seconds S     hard bound on the whole run (default: computed from the options)`;

// Values up to this size are copied into the batch buffer; larger ones are written from the shared
// value buffer without a copy (1 MB values would otherwise cost a 1 MB memcpy per set).
const INLINE_VALUE_MAX = 4096;
const KEY_DIGITS = 12; // 16-byte keys, memcaslap's minimum, so both generators send the same key size
const KEY_PREFIX = 'key:';
const KEY_LEN = KEY_PREFIX.length + KEY_DIGITS;
const HEADER_MAX = 64; // "set " + key + " 0 0 " + size + "\r\n" < 64 bytes
const READ_BUFFER_SIZE = 256 * 1024;
const LINE_MAX = 4096;
// Populating before a load run is setup, not measurement: pipeline it whatever the load's depth.
const POPULATE_DEPTH = 16;
// No reply at all for this long, with requests outstanding, means the server stalled (see the watchdog).
const STALL_SECONDS = 30;
// After a timed load stops issuing, how long the last batches may take to be answered before the run
// reports them as unanswered instead of waiting.
const DRAIN_SECONDS = 10; // longest reply line kept across reads (memcached's are < 2048 bytes)

const KETAMA_KEYS_MAX = 50_000_000;

const OP_GET = 1;
const OP_SET = 2;

const CH_CR = 13;
const CH_LF = 10;
const CH_SPACE = 32;
const CH_0 = 48;

// ---------------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = {
    host: '127.0.0.1', port: 0, mode: 'load', conns: 50, depth: 1, keys: 100000, dist: 'uniform', zipfS: 0.99,
    setRatio: 1 / 11, valueSize: 100, valueMin: 0, valueMax: 0, populate: true, warmup: 3, duration: 10,
    requests: 1000000, count: 0, bytes: 0, seed: 1, cpuPids: [], maxSeconds: 0, ports: [], rate: 0, route: 'partition',
    tlsCa: '',
  };
  const num = (name, v, min, max) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || n > max) {
      throw new Error(`${name} must be a number from ${min} to ${max}, got ${v}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--host': o.host = v; i++; break;
      case '--port': o.ports = String(v).split(',').map((p) => num(a, p, 1, 65535)); i++; break;
      case '--mode':
        if (!['load', 'trace', 'fill', 'scan'].includes(v)) throw new Error(`--mode must be load, trace, fill or scan, got ${v}`);
        o.mode = v; i++; break;
      case '--conns': o.conns = num(a, v, 1, 10000); i++; break;
      case '--depth': o.depth = num(a, v, 1, 1024); i++; break;
      case '--keys': o.keys = num(a, v, 1, 1e9); i++; break;
      case '--dist':
        if (v !== 'uniform' && v !== 'zipf') throw new Error(`--dist must be uniform or zipf, got ${v}`);
        o.dist = v; i++; break;
      case '--zipf-s': o.zipfS = num(a, v, 0, 10); i++; break;
      case '--set-ratio': o.setRatio = num(a, v, 0, 1); i++; break;
      case '--value-size': o.valueSize = num(a, v, 0, 64 * 1024 * 1024); i++; break;
      case '--value-min': o.valueMin = num(a, v, 1, 64 * 1024 * 1024); i++; break;
      case '--value-max': o.valueMax = num(a, v, 1, 64 * 1024 * 1024); i++; break;
      case '--no-populate': o.populate = false; break;
      case '--warmup': o.warmup = num(a, v, 0, 3600); i++; break;
      case '--duration': o.duration = num(a, v, 0.1, 3600); i++; break;
      case '--requests': o.requests = num(a, v, 1, 1e10); i++; break;
      case '--count': o.count = num(a, v, 1, 1e10); i++; break;
      case '--bytes': o.bytes = num(a, v, 1, 1e13); i++; break;
      case '--seed': o.seed = num(a, v, 0, 2 ** 31); i++; break;
      case '--rate': o.rate = num(a, v, 0, 1e9); i++; break;
      case '--route':
        if (v !== 'partition' && v !== 'ketama') throw new Error(`--route must be partition or ketama, got ${v}`);
        o.route = v; i++; break;
      case '--cpu-pid': o.cpuPids = String(v).split(',').map((p) => num(a, p, 1, 2 ** 31)); i++; break;
      case '--tls-ca': o.tlsCa = readFileSync(v); i++; break;
      case '--max-seconds': o.maxSeconds = num(a, v, 1, 86400); i++; break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  if (!o.ports.length) throw new Error(`--port is required\n${USAGE}`);
  if ((o.valueMin > 0) !== (o.valueMax > 0) || o.valueMin > o.valueMax) {
    throw new Error('--value-min and --value-max go together, with min <= max');
  }
  if (o.keys < o.ports.length) throw new Error('--keys must be at least the number of ports');
  if (o.ports.length > 1 && (o.mode === 'trace' || o.mode === 'scan')) throw new Error(`--mode ${o.mode} takes one port`);
  if (o.mode === 'fill' && !o.count && !o.bytes) throw new Error('--mode fill needs --count or --bytes');
  if (o.rate > 0 && o.mode !== 'load') throw new Error('--rate is for --mode load');
  if (o.route === 'ketama' && (o.mode !== 'load' || o.ports.length < 2)) throw new Error('--route ketama is for --mode load with several ports');
  // The owner of every key is computed once, into a table of 2 bytes per key.
  if (o.route === 'ketama' && (o.keys > KETAMA_KEYS_MAX || o.ports.length > 65535)) throw new Error(`--route ketama takes --keys up to ${KETAMA_KEYS_MAX}`);
  o.routed = o.route === 'ketama';
  if (!o.maxSeconds) {
    o.maxSeconds = o.mode === 'load' ? o.warmup + o.duration + 120 : 1800;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------------
// Deterministic random numbers and key/size choice

/** xorshift32 in a plain number: cheap and seeded, so a trace is the same for both servers. */
class Rng {
  constructor(seed) { this.s = (seed * 2654435761 + 0x9e3779b9) >>> 0 || 1; }
  /** uniform in [0, 1) */
  next() {
    let x = this.s;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.s = x;
    return x / 4294967296;
  }
}

/** Zipf(s) over ranks 1..n by inverse CDF (binary search in a precomputed table). */
class Zipf {
  constructor(n, s) {
    this.n = n;
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) { sum += 1 / Math.pow(i + 1, s); this.cdf[i] = sum; }
    for (let i = 0; i < n; i++) this.cdf[i] /= sum;
    // Rank r is stored under key (r * mult) mod n, so the hottest keys are not neighbours; mult is a prime
    // that does not divide n, which makes the mapping a permutation.
    this.mult = n % 999983 === 0 ? 1000003 : 999983;
  }
  sample(u) {
    const cdf = this.cdf;
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1; else hi = mid;
    }
    return (lo * this.mult) % this.n;
  }
}

/** Size of key id's value: fixed, or log-uniform in [min, max] derived from a hash of the id. */
function makeSizeFor(o) {
  if (!o.valueMin) {
    const size = o.valueSize;
    return () => size;
  }
  const lmin = Math.log(o.valueMin);
  const span = Math.log(o.valueMax) - lmin;
  const max = o.valueMax;
  return (id) => {
    let h = Math.imul(id ^ 0x5bd1e995, 0x9e3779b1);
    h ^= h >>> 15; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13;
    const u = (h >>> 0) / 4294967296;
    return Math.min(max, Math.floor(Math.exp(lmin + u * span)));
  };
}

// ---------------------------------------------------------------------------------------------------
// Latency histogram: log-linear, 128 sub-buckets per power of two (< 1% error), in units of 0.1 µs.

const HIST_SUB_BITS = 7;
const HIST_SIZE = 4096;

function histIndex(v) {
  if (v < 256) return v < 0 ? 0 : v;
  const shift = 31 - Math.clz32(v) - HIST_SUB_BITS;
  return (shift << HIST_SUB_BITS) + (v >>> shift);
}

function histLow(idx) {
  if (idx < 256) return idx;
  const shift = (idx >>> HIST_SUB_BITS) - 1;
  return (idx - (shift << HIST_SUB_BITS)) * 2 ** shift;
}

function histSummary(h) {
  let n = 0;
  for (let i = 0; i < HIST_SIZE; i++) n += h[i];
  if (n === 0) return { count: 0, p50: null, p99: null, p999: null, max: null };
  const out = { count: n, p50: 0, p99: 0, p999: 0, max: 0 };
  const want = [['p50', 0.5], ['p99', 0.99], ['p999', 0.999]];
  let cum = 0;
  let w = 0;
  for (let i = 0; i < HIST_SIZE; i++) {
    if (h[i] === 0) continue;
    cum += h[i];
    // midpoint of the bucket, 0.1 µs units -> µs
    const mid = (histLow(i) + histLow(i + 1)) / 2 / 10;
    while (w < want.length && cum >= want[w][1] * n) { out[want[w][0]] = round1(mid); w++; }
    out.max = round1(mid);
  }
  return out;
}

function round1(x) { return Math.round(x * 10) / 10; }

// ---------------------------------------------------------------------------------------------------
// Shared run state

const stats = {
  measuring: false,
  replies: 0, // every reply, measured or not: the stall watchdog's progress counter
  ops: 0, gets: 0, sets: 0, hits: 0, misses: 0, setFailed: 0, errors: 0, valueBytes: 0,
  hist: new Uint32Array(HIST_SIZE),
  lastError: '',
};

function noteError(line) {
  stats.errors++;
  if (!stats.lastError) stats.lastError = line;
}

// ---------------------------------------------------------------------------------------------------
// Request sources: each fills batch slots for a connection and may react to replies.

// With several servers (--port P1,P2,...) key id belongs to server id % servers, as a client-side hash
// would place it, and a connection to server k only uses the keys of k; so gets hit what was populated.

/** Sets every key once, in order, split over the connections (each over its server's keys). */
class PopulateSource {
  constructor(keys, sizeFor, parts) {
    this.next_ = new Float64Array(parts); // per server: how many of its keys were handed out
    this.parts = parts;
    this.keys = keys;
    this.sizeFor = sizeFor;
  }
  fill(conn, slot) {
    const id = conn.part + this.parts * this.next_[conn.part];
    if (id >= this.keys) return false;
    this.next_[conn.part]++;
    conn.setSlot(slot, OP_SET, id, this.sizeFor(id));
    return true;
  }
  onReply() {}
}

/** Gets every key once, in order (counts what survived, e.g. a restart). */
class ScanSource {
  constructor(keys) { this.next_ = 0; this.keys = keys; }
  fill(conn, slot) {
    if (this.next_ >= this.keys) return false;
    conn.setSlot(slot, OP_GET, this.next_++, 0);
    return true;
  }
  onReply() {}
}

/** Random gets and sets over the key space until stopped. */
class LoadSource {
  constructor(o, sizeFor, zipf) {
    this.stopped = false;
    this.setRatio = o.setRatio;
    this.parts = o.routed ? 1 : o.ports.length;
    this.keys = o.keys;
    this.sizeFor = sizeFor;
    this.zipf = zipf;
  }
  fill(conn, slot) {
    if (this.stopped) return false;
    const rng = conn.rng;
    let id = this.zipf ? this.zipf.sample(rng.next()) : Math.floor(rng.next() * this.keys);
    if (this.parts > 1) { // move the key to this connection's server, keeping it in range
      id = id - (id % this.parts) + conn.part;
      if (id >= this.keys) id -= this.parts;
    }
    if (rng.next() < this.setRatio) conn.setSlot(slot, OP_SET, id, this.sizeFor(id));
    else conn.setSlot(slot, OP_GET, id, 0);
    return true;
  }
  onReply() {}
}

/**
 * A fixed Zipf trace: each request is a get; a miss is followed by a set of that key (the look-aside
 * cache pattern). The trace is one seeded sequence consumed by all connections, so both servers see the
 * same keys in nearly the same order.
 */
class TraceSource {
  constructor(o, sizeFor, zipf) {
    this.remaining = o.requests;
    this.rng = new Rng(o.seed);
    this.sizeFor = sizeFor;
    this.zipf = zipf;
  }
  fill(conn, slot) {
    if (conn.pendingSets > 0) {
      const id = conn.pendingSet[--conn.pendingSets];
      conn.setSlot(slot, OP_SET, id, this.sizeFor(id));
      return true;
    }
    if (this.remaining <= 0) return false;
    this.remaining--;
    conn.setSlot(slot, OP_GET, this.zipf.sample(this.rng.next()), 0);
    return true;
  }
  onReply(conn, slot, hit) {
    if (conn.slotOp[slot] === OP_GET && !hit) conn.pendingSet[conn.pendingSets++] = conn.slotKey[slot];
  }
}

/** Sets of distinct keys (fixed or random sizes) until a count or a byte total is reached. */
class FillSource {
  constructor(o, sizeFor) {
    this.id = 0;
    this.count = o.count || Infinity;
    this.bytes = o.bytes || Infinity;
    this.sent = 0;
    this.sizeFor = sizeFor;
  }
  fill(conn, slot) {
    if (this.id >= this.count || this.sent >= this.bytes) return false;
    const id = this.id++;
    const size = this.sizeFor(id);
    this.sent += size;
    conn.setSlot(slot, OP_SET, id, size);
    return true;
  }
  onReply() {}
}

// ---------------------------------------------------------------------------------------------------
// Connection

let valueBuf = Buffer.alloc(0);

/**
 * What the load sources see of a connection: its batch of slots, filled by source.fill(this, slot), and its
 * pacing. A Conn writes the batch to its socket; a RoutedConn (--route ketama) splits it over its Conns.
 */
class Batcher {
  constructor(o, index, part) {
    this.o = o;
    this.part = part;
    this.depth = o.depth;
    this.onIdle = null;
    this.rng = new Rng(o.seed * 7919 + index + 1);
    this.source = null;
    const slots = Math.max(o.depth, POPULATE_DEPTH);
    this.slotOp = new Uint8Array(slots);
    this.slotKey = new Int32Array(slots);
    this.slotSize = new Int32Array(slots);
    this.idle = true;
    /** --route ketama: the RoutedConn this socket is one server's share of (null: a connection of its own). */
    this.parent = null;
    // --rate: ms between this connection's batches (0: closed loop) and when the next one is due.
    this.interval = 0;
    this.nextAt = 0;
    this.sendDue = () => this.sendBatch();
  }

  setSlot(slot, op, id, size) {
    this.slotOp[slot] = op;
    this.slotKey[slot] = id;
    this.slotSize[slot] = size;
  }

  /** Fills up to `depth` slots from the source; 0 (and idle) when the source is done. */
  fill() {
    const src = this.source;
    let n = 0;
    while (n < this.depth && src.fill(this, n)) n++;
    if (n === 0) {
      this.idle = true;
      this.onIdle(this);
    }
    return n;
  }

  /** The batch is answered: the next one now (closed loop), or when it is due (paced; at once if late). */
  next() {
    if (this.parent !== null) {
      this.parent.childDone();
      return;
    }
    if (this.interval === 0) {
      this.sendBatch();
      return;
    }
    this.nextAt += this.interval;
    const wait = this.nextAt - performance.now();
    if (wait > 0) setTimeout(this.sendDue, wait);
    else this.sendBatch();
  }
}

class Conn extends Batcher {
  constructor(o, index) {
    super(o, index, index % o.ports.length);
    this.port = o.ports[this.part];
    const slots = this.slotOp.length;
    this.pendingSet = new Int32Array(slots);
    this.pendingSets = 0;
    this.batchLen = 0;
    this.cursor = 0;
    this.sentAt = 0;
    this.gotValue = false;
    this.skip = 0;
    const inlineMax = Math.min(INLINE_VALUE_MAX, maxValueSize(o));
    this.scratch = Buffer.allocUnsafe(slots * (HEADER_MAX + inlineMax + 2));
    this.line = Buffer.allocUnsafe(LINE_MAX);
    this.lineLen = 0;
    this.readBuf = Buffer.allocUnsafe(READ_BUFFER_SIZE);
    this.onRead = this.onRead.bind(this);
    this.socket = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const secure = this.o.tlsCa !== '';
      const s = secure
        ? tls.connect({ host: this.o.host, port: this.port, ca: this.o.tlsCa })
        : net.connect({
          host: this.o.host, port: this.port, noDelay: true,
          onread: { buffer: this.readBuf, callback: this.onRead },
        });
      if (secure) s.on('data', (chunk) => this.onRead(chunk.length, chunk));
      s.once(secure ? 'secureConnect' : 'connect', () => { s.setNoDelay(true); resolve(); });
      s.once('error', (err) => reject(err));
      s.on('error', (err) => fatal(`connection error: ${err.message}`));
      s.on('close', () => { if (!closing) fatal('server closed a connection'); });
      this.socket = s;
    });
  }

  /** Starts a batch from the source; returns false (and goes idle) when the source is done. */
  sendBatch() {
    const n = this.fill();
    if (n === 0) {
      this.batchLen = this.cursor = 0;
      return false;
    }
    this.writeBatch(n);
    return true;
  }

  /** Writes slots [0, n) as one batch. */
  writeBatch(n) {
    this.batchLen = n;
    this.cursor = 0;
    this.idle = false;
    const buf = this.scratch;
    const sock = this.socket;
    let pos = 0;
    let flushed = 0; // scratch bytes before this offset were already handed to the socket
    let corked = false;
    for (let i = 0; i < n; i++) {
      if (this.slotOp[i] === OP_GET) {
        buf[pos] = 103; buf[pos + 1] = 101; buf[pos + 2] = 116; buf[pos + 3] = CH_SPACE; // "get "
        pos = writeKey(buf, pos + 4, this.slotKey[i]);
        buf[pos] = CH_CR; buf[pos + 1] = CH_LF;
        pos += 2;
      } else {
        const size = this.slotSize[i];
        buf[pos] = 115; buf[pos + 1] = 101; buf[pos + 2] = 116; buf[pos + 3] = CH_SPACE; // "set "
        pos = writeKey(buf, pos + 4, this.slotKey[i]);
        buf[pos] = CH_SPACE; buf[pos + 1] = CH_0; buf[pos + 2] = CH_SPACE; buf[pos + 3] = CH_0; buf[pos + 4] = CH_SPACE;
        pos = writeUint(buf, pos + 5, size);
        buf[pos] = CH_CR; buf[pos + 1] = CH_LF;
        pos += 2;
        if (size <= INLINE_VALUE_MAX) {
          valueBuf.copy(buf, pos, 0, size); // no view object per request, unlike set(subarray())
          pos += size;
        } else {
          // Large value: hand over what is built so far, then the value by reference; cork makes the
          // pieces one writev. Later bytes of the batch go after `pos`, so the views stay intact.
          if (!corked) { sock.cork(); corked = true; }
          sock.write(buf.subarray(flushed, pos));
          sock.write(valueBuf.subarray(0, size));
          flushed = pos;
        }
        buf[pos] = CH_CR; buf[pos + 1] = CH_LF;
        pos += 2;
        stats.valueBytes += size;
      }
    }
    this.sentAt = performance.now();
    // Reusing the scratch buffer is safe: it is rewritten only after every reply of this batch has
    // arrived, and the server cannot answer a request whose bytes are still queued on our side.
    if (corked) {
      if (pos > flushed) sock.write(buf.subarray(flushed, pos));
      sock.uncork();
    } else {
      sock.write(buf.subarray(0, pos));
    }
  }

  onRead(nread, whole) {
    const now = performance.now();
    // One view per read (not per reply), so that indexOf never scans stale bytes past nread.
    const buf = nread === whole.length ? whole : whole.subarray(0, nread);
    let i = 0;
    while (i < nread) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, nread - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const j = buf.indexOf(CH_LF, i);
      if (j < 0) {
        this.appendLine(buf, i, nread);
        break;
      }
      if (this.lineLen > 0) {
        this.appendLine(buf, i, j + 1);
        this.handleLine(this.line, 0, this.lineLen, now);
        this.lineLen = 0;
      } else {
        this.handleLine(buf, i, j + 1, now);
      }
      i = j + 1;
    }
  }

  appendLine(buf, from, to) {
    const n = to - from;
    if (this.lineLen + n > LINE_MAX) fatal('reply line longer than 4096 bytes');
    buf.copy(this.line, this.lineLen, from, to);
    this.lineLen += n;
  }

  /** One reply line buf[start, end) ending in "\n". */
  handleLine(buf, start, end, now) {
    if (this.cursor >= this.batchLen) {
      noteError(`unexpected reply: ${buf.toString('latin1', start, end).trim()}`);
      return;
    }
    const op = this.slotOp[this.cursor];
    const c0 = buf[start];
    const c1 = buf[start + 1];
    let ok = true;
    let hit = false;
    if (op === OP_GET) {
      if (c0 === 86 && c1 === 65) { // "VALUE key flags bytes"
        this.skip = parseLastUint(buf, start, end) + 2;
        this.gotValue = true;
        return;
      }
      if (c0 === 69 && c1 === 78) { // "END"
        hit = this.gotValue;
        this.gotValue = false;
      } else {
        ok = false;
        noteError(buf.toString('latin1', start, end).trim());
      }
    } else if (c0 === 83 && c1 === 84) { // "STORED"
      // ok
    } else if (c0 === 78 || (c0 === 83 && c1 === 69)) { // NOT_STORED, SERVER_ERROR (e.g. out of memory)
      stats.setFailed++;
      if (!stats.lastSetFailure) stats.lastSetFailure = buf.toString('latin1', start, end).trim();
    } else {
      ok = false;
      noteError(buf.toString('latin1', start, end).trim());
    }
    this.source.onReply(this, this.cursor, hit);
    stats.replies++;
    if (stats.measuring) {
      stats.ops++;
      if (op === OP_GET) {
        stats.gets++;
        if (hit) stats.hits++; else if (ok) stats.misses++;
      } else {
        stats.sets++;
      }
      const v = Math.round((now - this.sentAt) * 10000); // ms -> 0.1 µs
      stats.hist[histIndex(v > 0x7fffffff ? 0x7fffffff : v)]++;
    }
    if (++this.cursor === this.batchLen) this.next();
  }
}

/**
 * --route ketama: one application connection made of one socket (a Conn) per server. A batch is filled from
 * the source as a Conn's would be, split by each key's owner (ketamaOwner), written as one batch per server
 * that has keys in it, and complete when all of those answered. Latency is per request, as for a Conn: from
 * its share's write to its reply.
 */
class RoutedConn extends Batcher {
  constructor(o, index) {
    super(o, index, 0);
    this.subs = o.ports.map((port, s) => {
      const c = new Conn(o, s);
      c.parent = this;
      return c;
    });
    this.counts = new Int32Array(this.subs.length);
    this.waiting = 0;
  }

  connect() { return Promise.all(this.subs.map((c) => c.connect())); }

  sendBatch() {
    const n = this.fill();
    if (n === 0) return false;
    this.idle = false;
    const src = this.source;
    const subs = this.subs;
    const counts = this.counts;
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const id = this.slotKey[i];
      const s = ketamaOwner[id];
      const c = subs[s];
      c.setSlot(counts[s]++, this.slotOp[i], id, this.slotSize[i]);
    }
    this.waiting = 0;
    for (let s = 0; s < subs.length; s++) {
      if (counts[s] > 0) {
        this.waiting++;
        subs[s].source = src;
        subs[s].writeBatch(counts[s]);
      }
    }
    return true;
  }

  /** One server's share is answered. */
  childDone() {
    if (--this.waiting === 0) this.next();
  }
}

/** --route ketama: the owning server (index into --port) of every key number. */
let ketamaOwner = new Uint16Array(0);

async function computeKetamaOwners(o) {
  // The product's continuum (libmemcached-compatible, tested against python3-pylibmc): needs `npm run build`.
  const { Continuum } = await import('../dist/server/src/ring/continuum.js');
  const continuum = new Continuum(o.ports.map((port) => ({ host: o.host, port, weight: 1 })), 40);
  const owners = new Uint16Array(o.keys);
  const key = Buffer.alloc(KEY_LEN);
  for (let id = 0; id < o.keys; id++) {
    writeKey(key, 0, id);
    owners[id] = continuum.ownerOf(key, 0, KEY_LEN);
  }
  return owners;
}

function maxValueSize(o) { return o.valueMin ? o.valueMax : o.valueSize; }

const KEY_PREFIX_BYTES = Buffer.from(KEY_PREFIX, 'latin1');

function writeKey(buf, pos, id) {
  for (let k = 0; k < KEY_PREFIX_BYTES.length; k++) buf[pos + k] = KEY_PREFIX_BYTES[k];
  let p = pos + KEY_LEN - 1;
  let x = id;
  for (let d = 0; d < KEY_DIGITS; d++) {
    buf[p--] = CH_0 + (x % 10);
    x = Math.floor(x / 10);
  }
  return pos + KEY_LEN;
}

function writeUint(buf, pos, n) {
  if (n === 0) { buf[pos] = CH_0; return pos + 1; }
  let len = 0;
  for (let x = n; x > 0; x = Math.floor(x / 10)) len++;
  let p = pos + len - 1;
  for (let x = n; x > 0; x = Math.floor(x / 10)) buf[p--] = CH_0 + (x % 10);
  return pos + len;
}

/** The last space-separated decimal number on the line buf[start, end) (which ends "\r\n" or "\n"). */
function parseLastUint(buf, start, end) {
  let e = end - 1;
  if (buf[e] === CH_LF) e--;
  if (buf[e] === CH_CR) e--;
  let b = e;
  while (b > start && buf[b - 1] !== CH_SPACE) b--;
  let n = 0;
  for (let k = b; k <= e; k++) n = n * 10 + (buf[k] - CH_0);
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Process CPU from /proc (ticks), so the harness can compute the server's CPU over our measured window.

function procTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // after ")": state(3) ppid(4) ... utime(14) stime(15) -> indices 11, 12 counting from field 3
  return Number(f[11]) + Number(f[12]);
}

// ---------------------------------------------------------------------------------------------------
// Run

let closing = false;
let conns = [];

function fatal(msg) {
  if (closing) return;
  closing = true;
  process.stderr.write(`loadgen: ${msg}\n`);
  for (const c of sockets()) c.socket?.destroy();
  process.exit(1);
}

/** Every Conn with a socket: the connections, or with --route ketama their per-server sockets. */
function sockets() {
  return conns.flatMap((c) => (c.subs ? c.subs : [c]));
}

/** Requests written whose replies have not arrived, and on how many sockets. */
function outstanding() {
  let requests = 0;
  let onConns = 0;
  for (const c of sockets()) {
    if (!c.idle && c.cursor < c.batchLen) { requests += c.batchLen - c.cursor; onConns++; }
  }
  return { requests, onConns };
}

/**
 * A server that stops answering would otherwise look like a slow run until --max-seconds: fail early and
 * say so when no reply at all has arrived for STALL_SECONDS while requests are outstanding.
 */
function startStallWatchdog() {
  let last = stats.replies;
  let quietSince = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (stats.replies !== last) { last = stats.replies; quietSince = now; return; }
    const out = outstanding();
    if (out.requests === 0) { quietSince = now; return; }
    if (now - quietSince > STALL_SECONDS * 1000) {
      fatal(`server stopped answering: no reply for ${STALL_SECONDS} s with ${out.requests} requests outstanding on ${out.onConns} connections`);
    }
  }, 1000);
  timer.unref();
  return timer;
}

/** Runs a source on every connection, `depth` requests per batch, until the source runs dry on all of them. */
function runPhase(source, { limitMs, depth, rate = 0 }) {
  return new Promise((resolve) => {
    let idle = 0;
    const timer = setTimeout(() => fatal(`phase did not finish within ${limitMs / 1000} s`), limitMs);
    const onIdle = () => {
      if (++idle === conns.length) { clearTimeout(timer); resolve(); }
    };
    for (const c of conns) { c.source = source; c.onIdle = onIdle; c.depth = depth; }
    if (rate > 0) {
      // Paced: each connection's first batch at its own offset within one interval, so the load is even.
      const interval = (conns.length * depth * 1000) / rate;
      const t0 = performance.now();
      conns.forEach((c, i) => {
        c.interval = interval;
        c.nextAt = t0 + (interval * i) / conns.length;
        setTimeout(c.sendDue, c.nextAt - t0);
      });
    } else {
      for (const c of conns) c.interval = 0;
      for (const c of conns) c.sendBatch();
    }
  });
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const hard = setTimeout(() => fatal(`run exceeded --max-seconds ${o.maxSeconds}`), o.maxSeconds * 1000);
  hard.unref();

  valueBuf = Buffer.alloc(maxValueSize(o), 'abcdefghijklmnopqrstuvwxyz0123456789');
  const sizeFor = makeSizeFor(o);
  const zipf = o.dist === 'zipf' || o.mode === 'trace' ? new Zipf(o.keys, o.zipfS) : null;

  conns = [];
  if (o.routed) ketamaOwner = await computeKetamaOwners(o);
  for (let i = 0; i < o.conns; i++) conns.push(o.routed ? new RoutedConn(o, i) : new Conn(o, i));
  await Promise.all(conns.map((c) => c.connect()));

  const result = { mode: o.mode, conns: o.conns, depth: o.depth, rate: o.rate, unanswered: 0 };
  startStallWatchdog();
  const phaseLimit = (o.maxSeconds * 1000) | 0;

  if (o.mode === 'load' && o.populate) {
    const t = performance.now();
    await runPhase(new PopulateSource(o.keys, sizeFor, o.routed ? 1 : o.ports.length), { limitMs: phaseLimit, depth: POPULATE_DEPTH });
    result.populateSeconds = round3((performance.now() - t) / 1000);
  }

  let src;
  if (o.mode === 'load') src = new LoadSource(o, sizeFor, o.dist === 'zipf' ? zipf : null);
  else if (o.mode === 'trace') src = new TraceSource(o, sizeFor, zipf);
  else if (o.mode === 'scan') src = new ScanSource(o.keys);
  else src = new FillSource(o, sizeFor);

  let cpu0 = null;
  let tick0 = [];
  let t0 = 0;
  const begin = () => {
    stats.ops = stats.gets = stats.sets = stats.hits = stats.misses = stats.setFailed = stats.errors = 0;
    stats.valueBytes = 0;
    stats.hist.fill(0);
    cpu0 = process.cpuUsage();
    tick0 = o.cpuPids.map(procTicks);
    t0 = performance.now();
    stats.measuring = true;
  };

  let t1;
  let tick1;
  let cpu1;
  const end = () => {
    stats.measuring = false;
    t1 = performance.now();
    tick1 = o.cpuPids.map(procTicks);
    cpu1 = process.cpuUsage(cpu0);
  };
  if (o.mode === 'load') {
    const done = runPhase(src, { limitMs: phaseLimit, depth: o.depth, rate: o.rate });
    await sleep(o.warmup * 1000);
    begin();
    await sleep(o.duration * 1000);
    end();
    src.stopped = true;
    const drained = await Promise.race([done.then(() => true), sleep(DRAIN_SECONDS * 1000).then(() => false)]);
    if (!drained) {
      const out = outstanding();
      result.unanswered = out.requests;
      process.stderr.write(`loadgen: ${out.requests} requests on ${out.onConns} connections still unanswered ${DRAIN_SECONDS} s after the load stopped\n`);
    }
  } else {
    begin();
    await runPhase(src, { limitMs: phaseLimit, depth: o.depth });
    end();
  }

  const seconds = (t1 - t0) / 1000;
  Object.assign(result, {
    seconds: round3(seconds),
    ops: stats.ops,
    opsPerSec: Math.round(stats.ops / seconds),
    gets: stats.gets,
    sets: stats.sets,
    hits: stats.hits,
    misses: stats.misses,
    hitRatio: stats.gets ? stats.hits / stats.gets : null,
    setFailed: stats.setFailed,
    errors: stats.errors,
    lastError: stats.lastError || undefined,
    lastSetFailure: stats.lastSetFailure || undefined,
    valueBytes: stats.valueBytes,
    latencyUs: histSummary(stats.hist),
    genCpuSeconds: round3((cpu1.user + cpu1.system) / 1e6),
    serverTicks: o.cpuPids.length ? tick1.reduce((sum, t, k) => sum + t - tick0[k], 0) : null,
    ticksByPid: Object.fromEntries(o.cpuPids.map((pid, k) => [pid, tick1[k] - tick0[k]])),
  });
  closing = true;
  for (const c of sockets()) c.socket.end();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Sockets are ended; do not wait for the server to close them.
  setTimeout(() => process.exit(0), 50).unref();
}

function round3(x) { return Math.round(x * 1000) / 1000; }

main().catch((err) => fatal(err.message));
