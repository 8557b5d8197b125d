#!/usr/bin/env node
// Flash tier benchmark, standalone: starts cachalot-server (dist/, `npm run build` first) with a
// small RAM tier and a flash tier in a temp dir, and measures
//   a. get throughput and latency (p50/p99) when nearly every hit comes from flash,
//   b. the serving threads' event-loop delay p99 meanwhile (the server's own monitor, via /metrics),
//   c. restart time (spawn to /readyz 200) and recovered items for a full 1 GiB flash tier.
// Records its report in bench/RESULTS.md, replacing the same command's last one (unless --no-append).
//
//   node bench/flash.mjs [--quick] [--no-append] [--duration S] [--conns N] [--depth N] [--value-size B]
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { recordReport } from './report.mjs';
import net from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'dist', 'server', 'src', 'cache', 'main.js');
const MiB = 1024 * 1024;

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : def;
};
/** Every value of a repeatable string option. */
const opts = (name) => args.flatMap((a, i) => (a === name && i + 1 < args.length ? [args[i + 1]] : []));
// Profiling aids: node flags for the server (e.g. --node-arg --cpu-prof), its log copied to a file, part c
// skipped.
const NODE_ARGS = opts('--node-arg');
const SERVER_LOG = opts('--server-log')[0];
const SKIP_RESTART = flag('--skip-restart');
// Extra server flags, e.g. --server-arg -o --server-arg ext_threads=0
const SERVER_ARGS = opts('--server-arg');
const QUICK = flag('--quick');
const DURATION = opt('--duration', QUICK ? 5 : 15);
const CONNS = opt('--conns', 16);
const DEPTH = opt('--depth', 4);
const VALUE = opt('--value-size', 4096);
const RATE = opt('--rate', 0); // gets/s, open loop; 0 = closed loop (--conns x --depth in flight)
const RAM_MB = 16;
const FILL = (QUICK ? 256 : 512) * MiB; // data set for a/b: 16x / 32x the RAM tier
const TIER = QUICK ? 256 * MiB : 1024 * MiB; // c: the tier filled and recovered
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function http(port, path) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('error', () => resolve({ status: 0, body: '' }));
    sock.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d+)/.exec(data);
      resolve({ status: m ? Number(m[1]) : 0, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

async function metrics(s) {
  const { body } = await http(s.mport, '/metrics');
  const m = new Map();
  for (const line of body.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

async function start(dir, tier) {
  const port = await freePort();
  const mport = await freePort();
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [...NODE_ARGS, MAIN, '-p', String(port), '-l', '127.0.0.1', '-t', '2', '-m', String(RAM_MB),
    '-U', '0', '-o', `ext_path=${dir}:${Math.round(tier / MiB)}m`, '--metrics-port', String(mport),
    '--metrics-listen', '127.0.0.1', ...SERVER_ARGS], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const cap = SERVER_LOG ? 64e6 : 1e6;
  child.stdout.on('data', (d) => { if (out.length < cap) out += d; });
  child.stderr.on('data', (d) => { if (out.length < cap) out += d; });
  const s = { port, mport, child, out: () => out };
  for (let i = 0; i < 6000; i++) {
    if (child.exitCode !== null) break;
    if ((await http(mport, '/readyz')).status === 200) {
      s.readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
      return s;
    }
    await sleep(10);
  }
  child.kill('SIGKILL');
  throw new Error(`server did not become ready:\n${out}`);
}

function stop(s, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    const done = () => {
      if (SERVER_LOG) appendFileSync(SERVER_LOG, s.out());
      resolve();
    };
    if (s.child.exitCode !== null) return done();
    const t = setTimeout(() => s.child.kill('SIGKILL'), 120_000);
    s.child.once('exit', () => { clearTimeout(t); done(); });
    s.child.kill(signal);
  });
}

/** One connection: requests pipelined up to `depth`, replies matched in order, latency per request. */
class Conn {
  constructor(port) {
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.setNoDelay(true);
    this.chunks = [];
    this.buf = Buffer.alloc(0);
    this.pending = [];
    this.sock.on('data', (d) => this.onData(d));
    this.ready = new Promise((r) => this.sock.once('connect', r));
  }
  onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const p = this.pending[0];
      if (!p) return;
      const used = p.parse(this.buf);
      if (used < 0) return;
      this.buf = this.buf.subarray(used);
      this.pending.shift();
      p.done(used);
    }
  }
  send(data, parse) {
    return new Promise((resolve) => {
      this.pending.push({ parse, done: resolve });
      this.sock.write(data);
    });
  }
}

const parseLine = (b) => { const e = b.indexOf('\r\n'); return e < 0 ? -1 : e + 2; };
function parseGet(b) {
  if (b.length >= 5 && b[0] === 0x45) return b.indexOf('END\r\n') === 0 ? 5 : -1;
  const e = b.indexOf('\r\n');
  if (e < 0) return -1;
  const n = Number(b.subarray(0, e).toString('latin1').split(' ')[3]);
  const total = e + 2 + n + 2 + 5;
  return b.length >= total ? total : -1;
}

async function fill(port, from, count, size, conns = 8) {
  const cs = Array.from({ length: conns }, () => new Conn(port));
  await Promise.all(cs.map((c) => c.ready));
  const value = Buffer.alloc(size, 0x61);
  let next = from;
  const end = from + count;
  await Promise.all(cs.map(async (c) => {
    while (next < end) {
      const i = next++;
      value.writeUInt32LE(i, 0);
      await c.send(Buffer.concat([Buffer.from(`set key:${i} 0 0 ${size}\r\n`), value, Buffer.from('\r\n')]), parseLine);
    }
  }));
  for (const c of cs) c.sock.destroy();
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function getLoad(s, keys, seconds) {
  const cs = Array.from({ length: CONNS }, () => new Conn(s.port));
  await Promise.all(cs.map((c) => c.ready));
  const lat = [];
  let ops = 0;
  let misses = 0;
  let stopAt = 0;
  let x = 12345;
  const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x; };
  const lane = async (c) => {
    while (Date.now() < stopAt) {
      const t0 = process.hrtime.bigint();
      const used = await c.send(`get key:${rnd() % keys}\r\n`, parseGet);
      if (used === 5) misses++;
      lat.push(Number(process.hrtime.bigint() - t0) / 1000);
      ops++;
    }
  };
  // --rate R: open loop, R gets/s spread over the connections whatever the replies do (no depth limit);
  // latency counts from when a request was due, so a stalled server or client is not hidden.
  const openLoop = () => new Promise((resolve) => {
    const start = performance.now();
    let sent = 0;
    let inflight = 0;
    let ending = false;
    const timer = setInterval(() => {
      if (Date.now() >= stopAt) {
        ending = true;
        clearInterval(timer);
        if (inflight === 0) resolve();
        return;
      }
      const due = Math.floor(((performance.now() - start) * RATE) / 1000);
      for (; sent < due; sent++) {
        const intended = start + (sent * 1000) / RATE;
        inflight++;
        cs[sent % cs.length].send(`get key:${rnd() % keys}\r\n`, parseGet).then((used) => {
          if (used === 5) misses++;
          lat.push((performance.now() - intended) * 1000);
          ops++;
          if (--inflight === 0 && ending) resolve();
        });
      }
    }, 1);
  });
  const drive = () => (RATE > 0 ? openLoop() : Promise.all(cs.flatMap((c) => Array.from({ length: DEPTH }, () => lane(c)))));
  // warm-up 1 s (JIT, fd caches), then the measured window with /metrics sampled every second
  stopAt = Date.now() + 1000;
  await drive();
  lat.length = 0;
  ops = 0;
  misses = 0;
  const before = await metrics(s);
  const loopP99 = [];
  const loopMax = [];
  const runq = [];
  stopAt = Date.now() + seconds * 1000;
  const sampler = (async () => {
    while (Date.now() < stopAt) {
      await sleep(1000);
      const m = await metrics(s);
      loopP99.push(m.get('cachalot_serving_eventloop_delay_p99_seconds') * 1000);
      loopMax.push(m.get('cachalot_serving_eventloop_delay_max_seconds') * 1000);
      runq.push((m.get('cachalot_serving_runqueue_wait_seconds') ?? NaN) * 1000);
    }
  })();
  const cpu0 = process.cpuUsage();
  const srv0 = serverCpuTicks(s.child.pid);
  const t0 = Date.now();
  await drive();
  const elapsed = (Date.now() - t0) / 1000;
  const cpu1 = process.cpuUsage(cpu0);
  const srv1 = serverCpuTicks(s.child.pid);
  await sampler;
  const after = await metrics(s);
  for (const c of cs) c.sock.destroy();
  lat.sort((a, b) => a - b);
  const d = (name) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const hits = d('memcached_commands_total{command="get",status="hit"}');
  return {
    ops, seconds: elapsed, rate: ops / elapsed, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99),
    p999: percentile(lat, 0.999), misses, flashHits: d('cachalot_flash_gets_total'), hits,
    flashReadP: histQuantiles(before, after),
    loopWindowP: histQuantiles(before, after, 'cachalot_serving_eventloop_delay_seconds'),
    flashWrites: d('memcached_extstore_objects_written_total'), dropped: d('cachalot_flash_wbuf_dropped_total'),
    loopP99: loopP99.sort((a, b) => a - b), loopMax: loopMax.sort((a, b) => a - b), runq: runq.sort((a, b) => a - b),
    // CPU used in the window, in cores: this generator, and the server (all its threads).
    clientCores: (cpu1.user + cpu1.system) / 1e6 / elapsed,
    serverCores: srv0 >= 0 && srv1 >= 0 ? (srv1 - srv0) / 100 / elapsed : NaN,
  };
}

/** utime + stime of a process in clock ticks (USER_HZ = 100 on Linux), or -1. */
function serverCpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return -1;
  }
}

/** p50/p99 of one of the server's histograms over the window (bucket upper bounds, ms). */
function histQuantiles(before, after, name = 'cachalot_flash_read_duration_seconds') {
  const buckets = [];
  const re = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`);
  for (const [k, v] of after) {
    const m = re.exec(k);
    if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), v - (before.get(k) ?? 0)]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  const q = (p) => buckets.find(([, c]) => c >= total * p)?.[0] * 1000;
  return { count: total, p50: q(0.5), p99: q(0.99) };
}

function fmt(n, d = 0) {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : String(n);
}

async function main() {
  const load0 = loadavg().map((l) => l.toFixed(2)).join(' ');
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch { /* not a git checkout */ }
  readFileSync(MAIN); // fails early with a clear error when dist/ is not built
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-flash-bench-'));
  const results = {};
  try {
    // a + b
    let s = await start(dir, Math.max(TIER, 2 * FILL));
    const keys = Math.floor(FILL / VALUE);
    const t0 = Date.now();
    await fill(s.port, 0, keys, VALUE);
    results.fill = { keys, seconds: (Date.now() - t0) / 1000 };
    await sleep(500);
    results.get = await getLoad(s, keys, DURATION);
    // A profiled server (--node-arg) writes its profiles on a clean exit only.
    await stop(s, NODE_ARGS.length > 0 ? 'SIGTERM' : 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    if (!SKIP_RESTART) await restartRun(dir, results);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report(results, load0, commit);
}

/** c: fill the tier, SIGTERM (writes RAM too), restart and time recovery. */
async function restartRun(dir, results) {
  {
    let s = await start(dir, TIER);
    const items = Math.floor((TIER * 0.9) / 16384);
    await fill(s.port, 0, items, 16384);
    const t1 = Date.now();
    await stop(s, 'SIGTERM');
    results.stopMs = Date.now() - t1;
    s = await start(dir, TIER);
    const m = await metrics(s);
    results.restart = {
      readyMs: s.readyMs, recovered: m.get('cachalot_flash_recovered_objects'), items,
      recoveryMs: Number((/"ms":(\d+),"msg":"flash tier recovered"/.exec(s.out()) ?? [])[1]),
      bytes: m.get('memcached_extstore_bytes_used'),
    };
    await stop(s, 'SIGKILL');
  }
}

function report(results, load0, commit) {
  const g = results.get;
  const r = results.restart;
  const load1 = loadavg().map((l) => l.toFixed(2)).join(' ');
  const lines = [
    '',
    `## ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} — \`node bench/flash.mjs${args.length ? ' ' + args.join(' ') : ''}\``,
    '',
    `- machine: ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM; node ${process.version}; commit ${commit}`,
    `- server: cachalot-server \`-t 2 -m ${RAM_MB} -o ext_path=DIR:SIZE${SERVER_ARGS.length ? ' ' + SERVER_ARGS.join(' ') : ''}\`, DIR under ${tmpdir()} (a disk file system; the page cache holds most of the files, so most reads do not reach the device)`,
    `- load average (1/5/15 min) at start: ${load0}; at end: ${load1} (other work on this machine makes the numbers noisy)`,
    '',
    `### a/b. gets with nearly all hits from flash: ${fmt(results.fill.keys)} keys x ${VALUE} B (${Math.round(FILL / MiB)} MiB, ${Math.round(FILL / MiB / RAM_MB)}x the RAM tier), uniform random, ${RATE > 0 ? `open loop at ${fmt(RATE)} gets/s over ${CONNS} connections` : `${CONNS} connections x depth ${DEPTH}`}, ${DURATION} s after 1 s warm-up`,
    '',
    '| | value |',
    '|---|---:|',
    `| get throughput (ops/s) | ${fmt(g.rate)} |`,
    `| client latency p50 / p99 / p99.9 (µs) | ${fmt(g.p50)} / ${fmt(g.p99)} / ${fmt(g.p999)} |`,
    `| hits served from flash | ${fmt(g.flashHits)} of ${fmt(g.hits)} hits (${fmt((100 * g.flashHits) / Math.max(1, g.hits), 1)}%) |`,
    `| misses | ${fmt(g.misses)} of ${fmt(g.ops)} |`,
    `| items written to flash meanwhile (flash hits promoted to RAM evict other items) / dropped | ${fmt(g.flashWrites)} / ${fmt(g.dropped)} |`,
    `| server flash read latency p50 / p99 (ms, histogram bucket bound) | ${g.flashReadP.p50} / ${g.flashReadP.p99} |`,
    `| serving threads' event-loop delay p99 over the whole window (ms, histogram bucket bound; ${fmt(g.loopWindowP.count)} samples of a 5 ms timer) | ${g.loopWindowP.p99} |`,
    `| serving threads' event-loop delay p99, per-second samples: median / worst (ms) | ${fmt(percentile(g.loopP99, 0.5), 2)} / ${fmt(g.loopP99[g.loopP99.length - 1], 2)} |`,
    `| serving threads' event-loop delay max, worst second (ms) | ${fmt(g.loopMax[g.loopMax.length - 1], 2)} |`,
    `| serving thread's run-queue wait per second (runnable, no CPU): median / worst (ms) | ${fmt(percentile(g.runq, 0.5), 1)} / ${fmt(g.runq[g.runq.length - 1], 1)} |`,
    `| CPU in the window: load generator / server, in cores of ${cpus().length} | ${fmt(g.clientCores, 2)} / ${fmt(g.serverCores, 2)} |`,
    `| fill (sets, 8 connections) | ${fmt(results.fill.seconds, 1)} s |`,
    '',
  ];
  if (r !== undefined) lines.push(
    `### c. restart of a full ${Math.round(TIER / MiB)} MiB flash tier`,
    '',
    '| | value |',
    '|---|---:|',
    `| items written (16 KiB values) | ${fmt(r.items)} |`,
    `| SIGTERM to exit (drain + RAM to flash + sync) | ${fmt(results.stopMs)} ms |`,
    `| restart: spawn to /readyz 200 | ${fmt(r.readyMs)} ms |`,
    `| of which index rebuild (scan + crc32 of every record) | ${fmt(r.recoveryMs)} ms |`,
    `| items recovered | ${fmt(r.recovered)} (${fmt((100 * r.recovered) / r.items, 1)}% of those written; the rest were reclaimed with the oldest files) |`,
    `| flash bytes in use after recovery | ${fmt(r.bytes / MiB)} MiB |`,
    '',
  );
  const text = lines.join('\n');
  process.stdout.write(text + '\n');
  if (!flag('--no-append')) recordReport(join(ROOT, 'bench', 'RESULTS.md'), text);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
