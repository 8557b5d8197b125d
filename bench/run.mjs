#!/usr/bin/env node
// Macro benchmark: Debian's memcached -t 1 against cachalot-server -t 1, one after the other in the same
// run and under the same load, reported side by side with their ratio (STYLE.md rule 10).
//
// Plain ESM JavaScript so that it runs without a build. Each scenario starts a fresh server, drives it with
// a load generator in its own process (memcaslap, a C tool, where it fits; bench/loadgen.mjs for
// pipelining, mixed and large values, Zipf traces and fills), and reads the server's CPU time from
// /proc/PID/stat over the measured window: on a 2-core machine the generator may saturate before the
// server does, so CPU seconds per million operations is the fairer comparison, and the generator's own CPU
// is reported beside it. The report replaces the same command's section in bench/RESULTS.md. `--help` lists the options.
// Two scenarios run only when asked for: x (the flash tier, against memcached's extstore) and s (the
// sidecar: the same servers straight and through it). docs/benchmarks.md describes them all.
// `--baseline FILE` adds a third side, another build's server entry point, run in the same rounds: a
// before/after comparison whose ratios both come from this run.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { RUN_DEFAULT_SCENARIOS, recordReport } from './report.mjs';
import { availableParallelism, tmpdir, cpus, loadavg, totalmem } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import http from 'node:http';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOADGEN = join(ROOT, 'bench', 'loadgen.mjs');
const DEFAULT_CACHALOT_MAIN = join(ROOT, 'dist', 'server', 'src', 'cache', 'main.js');
const DEFAULT_SIDECAR_MAIN = join(ROOT, 'dist', 'server', 'src', 'sidecar', 'main.js');
const RESULTS = join(ROOT, 'bench', 'RESULTS.md');
const MEMCACHED = '/usr/bin/memcached';
const MEMASLAP = 'memcaslap'; // Debian's name for libmemcached's memaslap
const MIB = 1024 * 1024;
const DEFAULT_METRICS_PORT = 9150;
// memcached -I defaults to 1 MiB per item including its header, so "1 MiB" fill values stop 1 KiB short.
const FILL_VALUE_MAX = MIB - 1024;
const SERVER_START_TIMEOUT_MS = 20000;
const SERVER_STOP_TIMEOUT_MS = 5000;

const USAGE = `usage: node bench/run.mjs [options]      (npm run bench -- [options])
  --quick               short run: 2 s warm-up + 5 s per side, 1 M trace requests, 1 M items (about 2-3 min)
  --scenarios LIST      comma-separated subset of a,b,c,d,p,e,f,r,g (all of them); x (flash tier)
                        and s (sidecar) run only when asked for
  --warmup S            seconds of load before each measured window (3; quick 2)
  --duration S          measured seconds per side for a-d (15; quick 5)
  --against KIND        what runs as the second server: cachalot (default) or memcached (validates the
                        harness: every ratio should come out near 1.0)
  --gen-a KIND          load generator for scenario a: memaslap (default) or node
  --rounds N            scenarios a-d: run the two servers alternately N times and report each server's
                        median round by throughput (1), which damps noise from other work on the machine
  --mem MIB             -m for a-d and f (1024)
  --requests N          scenario e: requests in the Zipf trace (10000000; quick 1000000)
  --trace-keys N        scenario e: keys in the trace (1000000)
  --trace-mem MIB       scenario e: -m for both servers (64), small enough that the keys do not all fit
  --trace-value B       scenario e: value size (1000)
  --items N             scenario g: 100-byte items stored (10000000; quick 1000000)
  --items-mem MIB       scenario g: -m, large enough to hold them all (4096)
  --fill-factor X       scenario f: value bytes written as a multiple of -m (2)
  --metrics-port N      cachalot's HTTP metrics port, passed as --metrics-port (a free port; falls back to
                        ${DEFAULT_METRICS_PORT} if the server rejects the flag)
  --sidecar FILE        scenario s: the sidecar's entry point (dist/server/src/sidecar/main.js)
  --flash-size MIB      scenarios x and r: flash tier size (2048; quick 512)
  --flash-items N       scenario x: 4 KiB values written through -m 64 (200000; quick 50000)
  --flash-dir DIR       scenario x: where the flash files go, on a real disk (the system temp dir)
  --cachalot FILE       the server's entry point (dist/server/src/cache/main.js)
  --baseline FILE       another build's server entry point (e.g. a checkout of the previous commit,
                        built): run as a third side in every round of a-g, each build's ratio to
                        memcached reported per round, so a change's effect is read against the spread
  --no-pin              scenarios a-d and p: do not pin (by default, on a machine of 2 or more CPUs with
                        taskset, the server runs on CPU 0 and the load generator on CPU 1, so that the two
                        do not take turns on one core and the server's threads share one core as
                        memcached -t 1's do)
  --json FILE           also write every measurement as JSON (for tracking runs over time)
  --micro               also run bench/micro/engine.mjs (the request path without sockets) into the report
  --results FILE        where to record the markdown report (bench/RESULTS.md); --no-results to skip
  --help`;

// ---------------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = {
    quick: false, scenarios: null, warmup: null, duration: null, against: 'cachalot', genA: 'memaslap',
    mem: 1024, requests: null, traceKeys: 1000000, traceMem: 64, traceValue: 1000, items: null, itemsMem: 4096,
    fillFactor: 2, metricsPort: 0, rounds: 1, micro: false, json: null, flashSize: null, flashItems: null, flashDir: tmpdir(), sidecar: DEFAULT_SIDECAR_MAIN, results: RESULTS, cachalot: DEFAULT_CACHALOT_MAIN, baseline: null,
    pin: availableParallelism() >= 2 && onPath('taskset'),
  };
  const num = (name, v, min, max) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || n > max) {
      throw new UsageError(`${name} must be a number from ${min} to ${max}, got ${v}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--scenarios': {
        const list = String(v).split(',').map((s) => s.trim()).filter(Boolean);
        for (const s of list) if (!SCENARIOS[s]) throw new UsageError(`--scenarios: unknown scenario ${s} (${Object.keys(SCENARIOS).join(', ')})`);
        o.scenarios = list; i++; break;
      }
      case '--warmup': o.warmup = num(a, v, 0, 600); i++; break;
      case '--duration': o.duration = num(a, v, 1, 3600); i++; break;
      case '--against':
        if (v !== 'cachalot' && v !== 'memcached') throw new UsageError('--against must be cachalot or memcached');
        o.against = v; i++; break;
      case '--gen-a':
        if (v !== 'memaslap' && v !== 'node') throw new UsageError('--gen-a must be memaslap or node');
        o.genA = v; i++; break;
      case '--micro': o.micro = true; break;
      case '--no-pin': o.pin = false; break;
      case '--json': o.json = v; i++; break;
      case '--flash-size': o.flashSize = num(a, v, 16, 1024 * 1024); i++; break;
      case '--flash-items': o.flashItems = num(a, v, 1000, 1e8); i++; break;
      case '--flash-dir': o.flashDir = v; i++; break;
      case '--sidecar': o.sidecar = v; i++; break;
      case '--rounds': o.rounds = num(a, v, 1, 20); i++; break;
      case '--mem': o.mem = num(a, v, 64, 65536); i++; break;
      case '--requests': o.requests = num(a, v, 1000, 1e9); i++; break;
      case '--trace-keys': o.traceKeys = num(a, v, 1000, 1e8); i++; break;
      case '--trace-mem': o.traceMem = num(a, v, 8, 65536); i++; break;
      case '--trace-value': o.traceValue = num(a, v, 1, 512 * 1024); i++; break;
      case '--items': o.items = num(a, v, 1000, 1e9); i++; break;
      case '--items-mem': o.itemsMem = num(a, v, 64, 65536); i++; break;
      case '--fill-factor': o.fillFactor = num(a, v, 1, 10); i++; break;
      case '--metrics-port': o.metricsPort = num(a, v, 1, 65535); i++; break;
      case '--results': o.results = v; i++; break;
      case '--cachalot': o.cachalot = v; i++; break;
      case '--baseline':
        if (!v || !existsSync(v)) throw new UsageError(`--baseline: no such file ${v} (a built checkout's dist/server/src/cache/main.js)`);
        o.baseline = v; i++; break;
      case '--no-results': o.results = null; break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: throw new UsageError(`unknown option ${a}`);
    }
  }
  o.scenarios ??= DEFAULT_SCENARIOS;
  o.warmup ??= o.quick ? 2 : 3;
  o.duration ??= o.quick ? 5 : 15;
  o.requests ??= o.quick ? 1000000 : 10000000;
  o.items ??= o.quick ? 1000000 : 10000000;
  o.flashSize ??= o.quick ? 512 : 2048;
  o.flashItems ??= o.quick ? 50000 : 200000;
  return o;
}

class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------------
// Child processes: every server and generator is tracked so that an exception or ^C still kills it.

const children = new Set();

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killAll() {
  for (const c of children) {
    try {
      // a child started as its own process group (a shell wrapper) takes its children with it
      if (c.spawnargs && c.ownGroup) process.kill(-c.pid, 'SIGKILL');
      else c.kill('SIGKILL');
    } catch { /* already gone */ }
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping servers\n`);
    killAll();
    process.exit(130);
  });
}
process.on('exit', () => {
  killAll();
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

/** Temporary directories to remove however the harness exits (^C included). */
const scratchDirs = new Set();

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The server's and the load generator's CPUs when pinned (--no-pin: null). */
const SERVER_CPU = 0;
const GENERATOR_CPU = 1;

/**
 * `cmd args` on CPU `cpu` (taskset execs it: the pid stays the command's, and threads it starts inherit
 * the mask), or as is when `cpu` is null.
 */
function pinned(cmd, args, cpu) {
  return cpu === null ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
}

/** Runs a command to completion with a time bound; resolves { code, stdout, stderr }. */
function run(cmd, args, { timeoutMs, ownGroup = false, cpu = null }) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(...pinned(cmd, args, cpu), { stdio: ['ignore', 'pipe', 'pipe'], detached: ownGroup }));
    child.ownGroup = ownGroup;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; process.stderr.write(d); });
    const timer = setTimeout(() => {
      try { if (ownGroup) process.kill(-child.pid, 'SIGKILL'); else child.kill('SIGKILL'); } catch { /* gone */ }
      reject(new Error(`${cmd} did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

// ---------------------------------------------------------------------------------------------------
// /proc readings

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

function procTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
}

function procMemory(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (name) => {
    const m = s.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : null;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// ---------------------------------------------------------------------------------------------------
// Servers

/**
 * Starts memcached or cachalot on a free loopback port and waits until it answers `version`.
 * `side` is 'A' (always memcached) or 'B' (cachalot, or memcached with --against memcached).
 */
async function startServer(kind, memMiB, opts, extra = [], cpu = null) {
  const port = await freePort();
  const common = ['-p', String(port), '-l', '127.0.0.1', '-t', '1', '-m', String(memMiB), ...extra];
  if (kind === 'memcached') {
    const args = [...common, '-U', '0'];
    if (process.getuid?.() === 0) args.push('-u', 'root'); // memcached refuses to run as root without -u
    return launch(kind, MEMCACHED, args, port, null, cpu);
  }
  if (!existsSync(opts.cachalot)) {
    throw new Error(`${opts.cachalot} does not exist: run \`npm run build\`, or validate the harness with --against memcached`);
  }
  return launchNode(kind, opts.cachalot, common, port, opts.metricsPort || (await freePort()), cpu);
}

/**
 * Starts one of our Node entry points. The metrics port flag is not settled everywhere: try
 * `--metrics-port N`, then memcached-style `-o metrics_port=N`, then no flag (the default port).
 */
async function launchNode(kind, entry, args, port, metricsPort, cpu = null) {
  const attempts = [
    [['--metrics-port', String(metricsPort), '--metrics-listen', '127.0.0.1'], metricsPort],
    [['-o', `metrics_port=${metricsPort}`], metricsPort],
    [[], DEFAULT_METRICS_PORT],
  ];
  for (let i = 0; ; i++) {
    const [flags, mport] = attempts[i];
    try {
      return await launch(kind, process.execPath, [entry, ...args, ...flags], port, mport, cpu);
    } catch (err) {
      if (!err.exitedEarly || i === attempts.length - 1) throw err;
      process.stderr.write(`bench: ${kind} exited with \`${flags.join(' ')}\` (${err.message.split('\n')[0].slice(0, 200)}); trying the next way\n`);
    }
  }
}

async function launch(kind, cmd, args, port, metricsPort, cpu = null) {
  const proc = track(spawn(...pinned(cmd, args, cpu), { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => { if (stderr.length < 8192) stderr += d; });
  let exited = null;
  proc.once('exit', (code, sig) => { exited = { code, sig }; });
  const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) {
      const err = new Error(`${kind} exited (code ${exited.code}, signal ${exited.sig}) before answering: ${stderr.trim().slice(-500)}`);
      err.exitedEarly = true;
      throw err;
    }
    if (await answersVersion(port)) {
      return {
        kind, proc, pid: proc.pid, port, metricsPort, cpu, command: [cmd === process.execPath ? 'node' : cmd, ...args].join(' '),
        /** Why it died, if it did: its exit status and the end of its stderr. */
        death: () => (exited ? `${kind} exited (code ${exited.code}, signal ${exited.sig}): ${stderr.trim().slice(-300)}` : null),
      };
    }
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`${kind} did not answer on 127.0.0.1:${port} within ${SERVER_START_TIMEOUT_MS / 1000} s`);
}

function answersVersion(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('version\r\n'));
    s.on('data', (d) => { buf += d; if (buf.includes('\r\n')) done(buf.startsWith('VERSION ')); });
  });
}

async function stopServer(server) {
  const { proc } = server;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), SERVER_STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(t);
}

/** memcached's `stats` as name -> string. */
function serverStats(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('stats timed out')); });
    s.once('error', reject);
    s.once('connect', () => s.write('stats\r\n'));
    s.on('data', (d) => {
      buf += d;
      if (buf.endsWith('END\r\n') || buf.startsWith('ERROR') || buf.includes('_ERROR')) {
        s.destroy();
        const out = {};
        for (const line of buf.split('\r\n')) {
          const m = line.match(/^STAT (\S+) (.*)$/);
          if (m) out[m[1]] = m[2];
        }
        resolve(out);
      }
    });
  });
}

function httpGet(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; }).on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

/** When the process started, in unix seconds, from /proc (boot time + starttime ticks). */
function procStartTime(pid) {
  const btime = Number(readFileSync('/proc/stat', 'latin1').match(/^btime (\d+)/m)[1]);
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return btime + Number(f[19]) / CLK_TCK; // field 22
}

/**
 * The server's V8 heap in use, from its /metrics: cachalot's own `cachalot_heap_used_bytes` (main and worker
 * threads summed, refreshed every second) when it is there, else prom-client's default
 * `nodejs_heap_size_used_bytes` (the main thread only). The smallest of a few scrapes over a second, since
 * garbage not yet collected inflates single readings. The scrape must come from our server, not another
 * one on the same port: its `process_start_time_seconds` has to match /proc.
 * Returns { value, metric, note }; value is null when the endpoint is missing or belongs to someone else.
 */
async function heapUsed(server) {
  let best = null;
  let metric = null;
  let note = `no heap metric on 127.0.0.1:${server.metricsPort}/metrics`;
  const started = procStartTime(server.pid);
  for (let i = 0; i < 6; i++) {
    try {
      const { status, body } = await httpGet(server.metricsPort, '/metrics');
      const start = body.match(/^process_start_time_seconds(?:\{[^}]*\})? ([0-9.e+]+)/m);
      if (start && Math.abs(Number(start[1]) - started) > 2) {
        return { value: null, metric: null, note: `port ${server.metricsPort} is served by another process` };
      }
      for (const name of ['cachalot_heap_used_bytes', 'nodejs_heap_size_used_bytes']) {
        const m = status === 200 && body.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm'));
        if (m && Number(m[1]) > 0) {
          if (metric !== name) { metric = name; best = null; }
          best = best === null ? Number(m[1]) : Math.min(best, Number(m[1]));
          break;
        }
      }
    } catch { /* not served */ }
    await sleep(200);
  }
  return { value: best, metric, note: best === null ? note : '' };
}

// ---------------------------------------------------------------------------------------------------
// Load generators

async function runLoadgen(server, args, timeoutMs) {
  return runLoadgenOn([server.port], [server.pid], args, timeoutMs, server.cpu === null ? null : GENERATOR_CPU);
}

/** loadgen over several ports (connections spread over them), CPU read for several processes. */
async function runLoadgenOn(ports, pids, args, timeoutMs, cpu = null) {
  const argv = [LOADGEN, '--port', ports.join(','), '--cpu-pid', pids.join(','), ...args];
  const { code, stdout } = await run(process.execPath, argv, { timeoutMs, cpu });
  if (code !== 0) throw new Error(`loadgen exited with code ${code}`);
  const r = JSON.parse(stdout.trim().split('\n').pop());
  r.generator = `node bench/loadgen.mjs ${args.join(' ')}`;
  r.serverCpuSeconds = r.serverTicks / CLK_TCK;
  return r;
}

/**
 * memcaslap: a warm-up run, then the measured run, whose server CPU is read from /proc just before and
 * after it. memaslap reports latency only as a log2 histogram, so its percentiles are interpolated within
 * power-of-two buckets (marked "~" in the report). Its own CPU comes from the shell's `times`.
 */
async function runMemaslap(server, o, tmp) {
  const cfg = join(tmp, 'memaslap.cfg');
  // cmd 0 = set, 1 = get: 1:10 set:get. memaslap's minimum key length is 16, as loadgen's keys.
  writeFileSync(cfg, 'key\n16 16 1\nvalue\n100 100 1\ncmd\n0 0.0909\n1 0.9091\n');
  const base = ['-s', `127.0.0.1:${server.port}`, '-F', cfg, '-c', '50', '-T', '1'];
  const wrap = (args) => ['-c', `${MEMASLAP} "$@"; rc=$?; times; exit $rc`, 'memaslap', ...args];
  const cpu = server.cpu === null ? null : GENERATOR_CPU;
  if (o.warmup > 0) {
    const w = await run('bash', wrap([...base, '-t', `${o.warmup}s`]), { timeoutMs: (o.warmup + 60) * 1000, ownGroup: true, cpu });
    if (w.code !== 0) throw new Error(`memcaslap warm-up exited with ${w.code}`);
  }
  const args = [...base, '-t', `${o.duration}s`, '-S', `${o.duration}s`];
  const tick0 = procTicks(server.pid);
  const t0 = performance.now();
  const { code, stdout } = await run('bash', wrap(args), { timeoutMs: (o.duration + 60) * 1000, ownGroup: true, cpu });
  const wall = (performance.now() - t0) / 1000;
  const ticks = procTicks(server.pid) - tick0;
  if (code !== 0) throw new Error(`memcaslap exited with ${code}`);
  return { ...parseMemaslap(stdout), serverCpuSeconds: ticks / CLK_TCK, wallSeconds: wall, generator: `${MEMASLAP} ${args.join(' ')}` };
}

function parseMemaslap(out) {
  const run = out.match(/Run time: ([0-9.]+)s Ops: (\d+) TPS: (\d+)/);
  if (!run) throw new Error(`cannot parse memcaslap output:\n${out.slice(-2000)}`);
  const seconds = Number(run[1]);
  const ops = Number(run[2]);
  // "Total Statistics (N events)" ... "Log2 Dist:" rows "  e: c(e) c(e+1) c(e+2) c(e+3)", where c(e) counts
  // latencies in [2^(e-1), 2^e) µs.
  const block = out.slice(out.lastIndexOf('Total Statistics ('));
  const counts = [];
  const dist = block.slice(block.indexOf('Log2 Dist:'));
  for (const line of dist.split('\n').slice(1)) {
    const m = line.match(/^\s+(\d+):\s+([\d\s]+)$/);
    if (!m) break;
    const cols = m[2].trim().split(/\s+/).map(Number);
    cols.forEach((c, k) => { counts[Number(m[1]) + k] = c; });
  }
  const total = counts.reduce((a, b) => a + (b || 0), 0);
  const pct = (q) => {
    let cum = 0;
    for (let e = 0; e < counts.length; e++) {
      const c = counts[e] || 0;
      if (c && cum + c >= q * total) {
        const lo = e === 0 ? 0.5 : 2 ** (e - 1);
        return Math.round(lo * 2 ** ((q * total - cum) / c)); // geometric interpolation inside the bucket
      }
      cum += c;
    }
    return null;
  };
  const miss = out.match(/get_misses: (\d+)/);
  const cmdGet = out.match(/cmd_get: (\d+)/);
  const times = out.trim().split('\n').slice(-1)[0].match(/(\d+)m([0-9.]+)s (\d+)m([0-9.]+)s/);
  const genCpuSeconds = times ? Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 + Number(times[4]) : null;
  return {
    seconds, ops, opsPerSec: Number(run[3]),
    latencyUs: { p50: pct(0.5), p99: pct(0.99), p999: pct(0.999), approx: true },
    gets: cmdGet ? Number(cmdGet[1]) : null, misses: miss ? Number(miss[1]) : null, errors: 0,
    genCpuSeconds,
  };
}

// ---------------------------------------------------------------------------------------------------
// Scenarios. Each returns { title, rows: [[label, a, b, ratio?]], notes, checks }.

const LOAD_100B = ['--conns', '50', '--set-ratio', '0.0909', '--value-size', '100', '--keys', '100000'];

const SCENARIOS = {
  a: { title: 'a. 50 connections, no pipelining, 1:10 set:get, 100-byte values', kind: 'load' },
  b: { title: 'b. as a, pipeline depth 16', kind: 'load' },
  c: { title: 'c. values 100 B .. 100 KiB (log-uniform per key), 10,000 keys, no pipelining', kind: 'load' },
  d: { title: 'd. 1 MB values (1,000,000 bytes), 200 keys, no pipelining', kind: 'load' },
  e: { title: 'e. hit ratio, Zipf(0.99) trace, get and set on miss', kind: 'trace' },
  f: { title: 'f. memory bound: fill with sizes 10 B .. 1 MiB past -m', kind: 'fill' },
  g: { title: 'g. V8 heap growth storing 100-byte items', kind: 'items' },
  p: { title: 'p. as a, paced at 45% of memcached\'s saturated throughput (tail latency at equal load)', kind: 'load' },
  r: { title: 'r. memory bound with the flash tier on: -m 512 filled with values of 100 B .. 100 KiB', kind: 'fill' },
  x: { title: 'x. flash tier: 4 KiB values through -m 64 into flash, random gets, then a restart on the same files', kind: 'flash' },
  s: { title: 's. sidecar: the same load straight to 3 servers and through cachalot-sidecar', kind: 'sidecar' },
};
const DEFAULT_SCENARIOS = RUN_DEFAULT_SCENARIOS;

function loadArgs(id, o) {
  const timing = ['--warmup', String(o.warmup), '--duration', String(o.duration)];
  switch (id) {
    case 'a': return [...LOAD_100B, ...timing];
    case 'b': return [...LOAD_100B, '--depth', '16', ...timing];
    case 'p': return [...LOAD_100B, '--rate', String(o.pacedRate), ...timing];
    case 'c': return ['--conns', '50', '--set-ratio', '0.0909', '--value-min', '100', '--value-max', '102400', '--keys', '10000', ...timing];
    case 'd': return ['--conns', '50', '--set-ratio', '0.0909', '--value-size', '1000000', '--keys', '200', ...timing];
    default: throw new Error(id);
  }
}

/** Scenario p offers this share of memcached's saturated throughput (scenario a's load, bench/loadgen.mjs). */
const PACED_SHARE = 0.45;

async function memcachedSaturation(o) {
  const server = await startServer('memcached', o.mem, o, [], o.pin ? SERVER_CPU : null);
  try {
    const r = await runLoadgen(server, loadArgs('a', o), (o.warmup + o.duration + 180) * 1000);
    return r.opsPerSec;
  } finally {
    await stopServer(server);
  }
}

async function runSide(id, kind, o, tmp) {
  const spec = SCENARIOS[id];
  if (spec.kind === 'flash') return runFlashSide(kind, o);
  const mem = spec.kind === 'trace' ? o.traceMem : spec.kind === 'items' ? o.itemsMem : id === 'r' ? FLASH_FILL_MEM_MIB : o.mem;
  let flashDir = null;
  if (id === 'r') {
    flashDir = mkdtempSync(join(o.flashDir, `cachalot-bench-flash-${kind}-`));
    scratchDirs.add(flashDir);
  }
  const cpu = o.pin && spec.kind === 'load' ? SERVER_CPU : null;
  const server = await startServer(kind, mem, o, flashDir ? flashArgs(kind, flashDir, o.flashSize) : [], cpu);
  try {
    const loadBefore = loadavg()[0];
    let r;
    if (spec.kind === 'load') {
      const timeoutMs = (o.warmup + o.duration + 180) * 1000;
      r = id === 'a' && o.genA === 'memaslap' ? await runMemaslap(server, o, tmp) : await runLoadgen(server, loadArgs(id, o), timeoutMs);
    } else if (spec.kind === 'trace') {
      const args = ['--mode', 'trace', '--conns', '10', '--depth', '16', '--keys', String(o.traceKeys), '--requests', String(o.requests),
        '--zipf-s', '0.99', '--value-size', String(o.traceValue), '--seed', '1'];
      r = await runLoadgen(server, args, Math.max(300, o.requests / 5000) * 1000);
    } else if (spec.kind === 'fill') {
      const bytes = Math.round(o.fillFactor * mem * MIB);
      const range = id === 'r' ? ['--value-min', '100', '--value-max', '102400'] : ['--value-min', '10', '--value-max', String(FILL_VALUE_MAX)];
      const args = ['--mode', 'fill', '--conns', '8', '--depth', '4', ...range, '--bytes', String(bytes), '--seed', '1'];
      r = await runLoadgen(server, args, 600000);
      await sleep(1000); // let background threads (memcached's LRU maintainer, a GC) settle before reading RSS
      r.memory = procMemory(server.pid);
    } else {
      const isNode = kind === 'cachalot';
      if (isNode) await sleep(1500); // the server refreshes its heap gauge every second
      const heap0 = isNode ? await heapUsed(server) : { value: null, note: '' };
      const rss0 = procMemory(server.pid).rss;
      const args = ['--mode', 'fill', '--conns', '50', '--depth', '16', '--value-size', '100', '--count', String(o.items)];
      r = await runLoadgen(server, args, Math.max(300, o.items / 5000) * 1000);
      await sleep(1000);
      const heap1 = isNode ? await heapUsed(server) : { value: null, note: '' };
      r.heapBefore = heap0.value;
      r.heapAfter = heap1.value;
      r.heapNote = heap1.note || heap0.note;
      r.heapMetric = heap1.metric || heap0.metric;
      r.memory = procMemory(server.pid);
      r.memory.rssBefore = rss0;
    }
    r.stats = await serverStats(server.port).catch(() => ({}));
    if (id === 'p') {
      r.offered = o.pacedRate;
      r.saturated = o.saturated;
    }
    r.mem = mem;
    r.flash = flashDir !== null;
    r.server = server.command;
    r.loadBefore = loadBefore;
    return r;
  } catch (err) {
    await sleep(200); // let an exit that caused the failure be seen
    const death = server.death();
    if (death) err.message = `${death} (then: ${err.message})`;
    throw err;
  } finally {
    await stopServer(server);
    if (flashDir) rmSync(flashDir, { recursive: true, force: true });
  }
}


// ---------------------------------------------------------------------------------------------------
// Scenario x: the flash tier. memcached's extstore is the baseline: it serves from flash too,
// but forgets its flash on restart, which the recovered-items row shows.

const FLASH_MEM_MIB = 64;
/** Scenario r: the RSS bound with the flash tier on, at the -m the RSS target names. */
const FLASH_FILL_MEM_MIB = 512;
const FLASH_VALUE = 4096; // above memcached's ext_item_size (512), so every item may go to flash
const READY_TIMEOUT_MS = 300000;

function flashArgs(kind, dir, sizeMiB) {
  // memcached takes a file, cachalot a directory of append-only files
  return ['-o', kind === 'memcached' ? `ext_path=${join(dir, 'extstore')}:${sizeMiB}m` : `ext_path=${dir}:${sizeMiB}m`];
}

/** Event-loop delay p99 lines from the server's /metrics (prom-client's or cachalot's own), as text. */
async function eventLoopP99(server) {
  try {
    const { status, body } = await httpGet(server.metricsPort, '/metrics');
    if (status !== 200) return null;
    const lines = body.split('\n').filter((l) => /event_?loop/i.test(l) && /p99|quantile="0\.99"/.test(l) && !l.startsWith('#'));
    return lines.length ? lines.map((l) => l.replace(/\s+([0-9.e+-]+)$/, (m, v) => ` ${(Number(v) * 1000).toFixed(2)} ms`)).join('; ') : null;
  } catch {
    return null;
  }
}

/** The serving threads' event-loop delay p99 (ms) in eventLoopP99()'s text, or null. */
function servingDelayMs(text) {
  const m = text?.match(/cachalot_serving_eventloop_delay_p99_seconds ([0-9.]+) ms/);
  return m ? Number(m[1]) : null;
}

async function waitReady(server, timeoutMs) {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    try {
      const { status } = await httpGet(server.metricsPort, '/readyz');
      if (status === 200) return (performance.now() - t0) / 1000;
    } catch { /* not yet */ }
    await sleep(100);
  }
  return null;
}

async function runFlashSide(kind, o) {
  const dir = mkdtempSync(join(o.flashDir, `cachalot-bench-flash-${kind}-`));
  scratchDirs.add(dir);
  const items = o.flashItems;
  const extra = flashArgs(kind, dir, o.flashSize);
  const r = { mem: FLASH_MEM_MIB, items, loadBefore: loadavg()[0] };
  let server = await startServer(kind, FLASH_MEM_MIB, o, extra);
  try {
    r.server = server.command;
    r.fill = await runLoadgen(server, ['--mode', 'fill', '--conns', '8', '--depth', '16', '--value-size', String(FLASH_VALUE),
      '--count', String(items)], 600000);
    await sleep(2000); // let the flushers move the tail of RAM out
    r.statsFilled = await serverStats(server.port).catch(() => ({}));
    if (kind === 'cachalot') await eventLoopP99(server); // prom-client resets its event-loop histogram per scrape
    const getArgs = ['--conns', '16', '--depth', '4', '--set-ratio', '0', '--no-populate', '--keys', String(items), '--value-size', String(FLASH_VALUE),
      '--warmup', String(o.warmup), '--duration', String(o.duration)];
    r.get = await runLoadgen(server, getArgs, (o.warmup + o.duration + 180) * 1000);
    r.eventLoop = kind === 'cachalot' ? await eventLoopP99(server) : null;
    r.statsAfterGets = await serverStats(server.port).catch(() => ({}));
    const s0 = performance.now();
    await stopServer(server);
    r.stopSeconds = (performance.now() - s0) / 1000;
    const t0 = performance.now();
    server = await startServer(kind, FLASH_MEM_MIB, o, extra);
    r.answerSeconds = (performance.now() - t0) / 1000;
    r.readySeconds = kind === 'cachalot' ? await waitReady(server, READY_TIMEOUT_MS) : r.answerSeconds;
    if (r.readySeconds !== null && kind === 'cachalot') r.readySeconds += r.answerSeconds;
    r.scan = await runLoadgen(server, ['--mode', 'scan', '--conns', '8', '--depth', '16', '--keys', String(items),
      '--value-size', String(FLASH_VALUE)], 600000);
    r.statsRestarted = await serverStats(server.port).catch(() => ({}));
    return r;
  } finally {
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

function reportFlash(A, B, names, o) {
  const st = (r, k) => (r[k] ? r[k] : {});
  const num = (v) => (v === undefined ? null : Number(v));
  const pick = (r, k, ...names_) => {
    for (const n of names_) if (st(r, k)[n] !== undefined) return num(st(r, k)[n]);
    return null;
  };
  const lat = (r, q) => r.get.latencyUs?.[q];
  const rows = [
    ['items written (4 KiB values)', fmtInt(A.fill.sets), fmtInt(B.fill.sets), ''],
    ['fill throughput (sets/s)', fmtInt(A.fill.opsPerSec), fmtInt(B.fill.opsPerSec), ratio(B.fill.opsPerSec, A.fill.opsPerSec)],
    ['items in the server after the fill', fmtInt(pick(A, 'statsFilled', 'curr_items')), fmtInt(pick(B, 'statsFilled', 'curr_items')), ''],
    ['flash objects / bytes used', `${fmtInt(pick(A, 'statsFilled', 'extstore_objects_used'))} / ${mib(pick(A, 'statsFilled', 'extstore_bytes_used'))}`,
      `${fmtInt(pick(B, 'statsFilled', 'extstore_objects_used'))} / ${mib(pick(B, 'statsFilled', 'extstore_bytes_used'))}`, ''],
    ['get throughput, uniform over all keys (ops/s)', fmtInt(A.get.opsPerSec), fmtInt(B.get.opsPerSec), ratio(B.get.opsPerSec, A.get.opsPerSec)],
    ['get hit ratio', fmt(A.get.hitRatio, 4), fmt(B.get.hitRatio, 4), ''],
    ['get misses / errors / unanswered', missErr(A.get), missErr(B.get), ''],
    ['gets answered from flash (get_extstore)', fmtInt(pick(A, 'statsAfterGets', 'get_extstore')), fmtInt(pick(B, 'statsAfterGets', 'get_extstore')), ''],
    ['p50 latency (µs)', fmt(lat(A, 'p50'), 0), fmt(lat(B, 'p50'), 0), ratio(lat(B, 'p50'), lat(A, 'p50'))],
    ['p99 latency (µs)', fmt(lat(A, 'p99'), 0), fmt(lat(B, 'p99'), 0), ratio(lat(B, 'p99'), lat(A, 'p99'))],
    ['get hits per second', fmtInt(A.get.opsPerSec * (A.get.hitRatio ?? 0)), fmtInt(B.get.opsPerSec * (B.get.hitRatio ?? 0)), ratio(B.get.opsPerSec * (B.get.hitRatio ?? 0), A.get.opsPerSec * (A.get.hitRatio ?? 0))],
    ['server CPU s per M gets', fmt(cpuPerMop(A.get)), fmt(cpuPerMop(B.get)), ratio(cpuPerMop(B.get), cpuPerMop(A.get))],
    ['event-loop delay p99 under flash load', 'n/a', B.eventLoop ?? 'n/a', ''],
    ['SIGTERM to exit (s)', fmt(A.stopSeconds), fmt(B.stopSeconds), ''],
    ['restart: answering / ready (s)', `${fmt(A.answerSeconds)} / ${fmt(A.readySeconds)}`, `${fmt(B.answerSeconds)} / ${fmt(B.readySeconds)}`, ''],
    ['items recovered after restart (get of every key)', `${fmtInt(A.scan.hits)} of ${fmtInt(A.items)}`, `${fmtInt(B.scan.hits)} of ${fmtInt(B.items)}`, ''],
  ];
  return {
    rows,
    checks: [
      // Requests run on the serving threads, so their sampler is the one held to the bound. prom-client's
      // nodejs_eventloop_lag_p99_seconds (the main thread) is shown but not checked: Node's
      // monitorEventLoopDelay at its 10 ms resolution records each timer interval whole, so an idle thread
      // reads 10-19 ms.
      check('serving threads\' event-loop delay p99 < 5 ms', servingDelayMs(B.eventLoop) !== null ? servingDelayMs(B.eventLoop) < 5 : null),
      // Nearly every get is a hit, and nearly every hit is on flash (-m 64 holds ~8% of the values), so
      // the get p99 is the flash hits' p99.
      check('get p99 <= 2 ms', lat(B, 'p99') !== undefined ? lat(B, 'p99') <= 2000 : null),
      check(`fill >= 0.5x ${names.A}'s sets/s`, A.fill.opsPerSec ? B.fill.opsPerSec / A.fill.opsPerSec >= 0.5 : null),
      // Kept items are read off the uniform gets over every key written: cachalot's curr_items counts the
      // RAM tier only, memcached's counts both.
      check('keeps >= 99% of the items written (get hit ratio over every key)', B.get.hitRatio !== undefined ? B.get.hitRatio >= 0.99 : null),
    ],
    notes: [`-m ${FLASH_MEM_MIB}, a ${o.flashSize} MiB flash tier under ${o.flashDir} (memcached: one extstore file; cachalot: a directory), ${fmtInt(o.flashItems)} distinct ${FLASH_VALUE}-byte values written (8 connections, 16 deep); then ${o.duration} s of uniform gets over every key (16 connections, 4 deep); then SIGTERM, a restart on the same files, and a get of every key. memcached's extstore does not survive a restart, and it writes items to flash in the background, so a fill at full speed outruns it and it keeps fewer (see its hit ratio).`,
      'readiness: memcached when it answers `version`; cachalot when /readyz answers 200.',
      `generator: \`${A.get.generator}\``],
  };
}

// ---------------------------------------------------------------------------------------------------
// Scenario s: the sidecar. Three upstream servers (cachalot, or memcached with --against
// memcached) stay up for both halves: first the load goes straight to them, connections spread over the
// three; then the same load goes through the sidecar, which routes each key on the ring.

const SIDECAR_UPSTREAMS = 3;

async function runSidecarScenario(o, tmp) {
  if (!existsSync(o.sidecar)) {
    throw new Error(`${o.sidecar} does not exist: build the sidecar (npm run build) or pass --sidecar FILE`);
  }
  const upstreams = [];
  let sidecar = null;
  try {
    // each upstream needs its own metrics port, so a fixed --metrics-port is not used here
    for (let i = 0; i < SIDECAR_UPSTREAMS; i++) upstreams.push(await startServer(o.against, o.mem, { ...o, metricsPort: 0 }));
    const ring = {
      cluster: 'bench', namespace: 'bench', version: 1, hash: 'ketama-md5', vnodes: 40,
      members: upstreams.map((u, i) => ({ name: `bench-${i}`, host: '127.0.0.1', port: u.port, weight: 1, state: 'active' })),
    };
    const ringFile = join(tmp, 'ring.json');
    writeFileSync(ringFile, JSON.stringify(ring, null, 2));
    const args = [...LOAD_100B, '--warmup', String(o.warmup), '--duration', String(o.duration)];
    const timeoutMs = (o.warmup + o.duration + 180) * 1000;
    const pids = upstreams.map((u) => u.pid);
    const loadBefore = loadavg()[0];
    const A = await runLoadgenOn(upstreams.map((u) => u.port), pids, args, timeoutMs);
    A.loadBefore = loadBefore;
    A.upstreamCpuSeconds = A.serverCpuSeconds;
    const port = await freePort();
    sidecar = await launchNode('sidecar', o.sidecar, ['--ring-file', ringFile, '-p', String(port)], port, await freePort());
    const loadBeforeB = loadavg()[0];
    const B = await runLoadgenOn([sidecar.port], [...pids, sidecar.pid], args, timeoutMs);
    B.loadBefore = loadBeforeB;
    B.sidecarCpuSeconds = B.ticksByPid[sidecar.pid] / CLK_TCK;
    B.upstreamCpuSeconds = B.serverCpuSeconds - B.sidecarCpuSeconds;
    B.server = sidecar.command;
    return [A, B];
  } finally {
    if (sidecar) await stopServer(sidecar);
    for (const u of upstreams) await stopServer(u);
  }
}

function reportSidecar(A, B) {
  const perM = (cpu, r) => (r.ops ? (cpu / r.ops) * 1e6 : null);
  const addedP50 = B.latencyUs.p50 - A.latencyUs.p50;
  const rows = [
    ['throughput (ops/s)', fmtInt(A.opsPerSec), fmtInt(B.opsPerSec), ratio(B.opsPerSec, A.opsPerSec)],
    ['p50 latency (µs)', fmt(A.latencyUs.p50, 0), fmt(B.latencyUs.p50, 0), ratio(B.latencyUs.p50, A.latencyUs.p50)],
    ['p99 latency (µs)', fmt(A.latencyUs.p99, 0), fmt(B.latencyUs.p99, 0), ratio(B.latencyUs.p99, A.latencyUs.p99)],
    ['p99.9 latency (µs)', fmt(A.latencyUs.p999, 0), fmt(B.latencyUs.p999, 0), ratio(B.latencyUs.p999, A.latencyUs.p999)],
    ['added p50 (µs)', '', fmt(addedP50, 0), ''],
    ['upstream servers CPU s per M ops', fmt(perM(A.upstreamCpuSeconds, A)), fmt(perM(B.upstreamCpuSeconds, B)), ''],
    ['sidecar CPU s per M ops', '', fmt(perM(B.sidecarCpuSeconds, B)), ''],
    ['generator CPU (of one core)', pct(A.genCpuSeconds, A.seconds), pct(B.genCpuSeconds, B.seconds), ''],
    ['get misses / errors / unanswered', missErr(A), missErr(B), ''],
  ];
  return {
    rows,
    checks: [check('throughput >= 0.6x direct', B.opsPerSec >= 0.6 * A.opsPerSec), check('added p50 < 100 µs', addedP50 < 100)],
    notes: [`${SIDECAR_UPSTREAMS} upstream servers on loopback, kept up for both halves; direct: the 50 connections spread over them in turn; sidecar: \`${shortCmd(B.server)}\` with a ring file of the three. On 2 cores the sidecar, three servers and the generator share the CPUs.`,
      `generator: \`${A.generator}\``],
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

const fmtInt = (x) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : Math.round(x).toLocaleString('en-US'));
const fmt = (x, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));
const ratio = (b, a) => (a && b !== null && b !== undefined && Number.isFinite(a) && Number.isFinite(b) ? `${(b / a).toFixed(2)}x` : '');
const mib = (x) => (x === null || x === undefined ? 'n/a' : `${(x / MIB).toFixed(1)} MiB`);

/** Misses, error replies, and requests never answered (a stalled server) of a load run. */
function missErr(r) { return `${fmtInt(r.misses)} / ${fmtInt(r.errors)} / ${fmtInt(r.unanswered ?? 0)}`; }

function cpuPerMop(r) { return r.ops ? (r.serverCpuSeconds / r.ops) * 1e6 : null; }
function pct(cpu, secs) { return secs ? `${Math.round((cpu / secs) * 100)}%` : 'n/a'; }

function reportLoad(id, A, B, names) {
  const lat = (r, k) => {
    const v = r.latencyUs?.[k];
    return v === null || v === undefined ? 'n/a' : `${r.latencyUs.approx ? '~' : ''}${fmt(v, v < 100 ? 1 : 0)}`;
  };
  const rows = [
    ['throughput (ops/s)', fmtInt(A.opsPerSec), fmtInt(B.opsPerSec), ratio(B.opsPerSec, A.opsPerSec)],
    ['p50 latency (µs)', lat(A, 'p50'), lat(B, 'p50'), ratio(B.latencyUs?.p50, A.latencyUs?.p50)],
    ['p99 latency (µs)', lat(A, 'p99'), lat(B, 'p99'), ratio(B.latencyUs?.p99, A.latencyUs?.p99)],
    ['p99.9 latency (µs)', lat(A, 'p999'), lat(B, 'p999'), ratio(B.latencyUs?.p999, A.latencyUs?.p999)],
    ['server CPU s per M ops', fmt(cpuPerMop(A)), fmt(cpuPerMop(B)), ratio(cpuPerMop(B), cpuPerMop(A))],
    ['server CPU (of one core)', pct(A.serverCpuSeconds, A.wallSeconds ?? A.seconds), pct(B.serverCpuSeconds, B.wallSeconds ?? B.seconds), ''],
    ['generator CPU (of one core)', pct(A.genCpuSeconds, A.wallSeconds ?? A.seconds), pct(B.genCpuSeconds, B.wallSeconds ?? B.seconds), ''],
    ['get misses / errors / unanswered', missErr(A), missErr(B), ''],
    ['items at end / evictions', `${fmtInt(Number(A.stats.curr_items))} / ${fmtInt(Number(A.stats.evictions))}`,
      `${fmtInt(Number(B.stats.curr_items))} / ${fmtInt(Number(B.stats.evictions))}`, ''],
  ];
  const checks = [];
  const tput = B.opsPerSec / A.opsPerSec;
  const cpu = cpuPerMop(B) / cpuPerMop(A);
  const tail = (q, bound) => {
    const a = A.latencyUs?.[q];
    const b = B.latencyUs?.[q];
    checks.push(check(`${q === 'p999' ? 'p99.9' : q} <= ${bound}x ${names.A}'s`, a && b ? b / a <= bound : null));
  };
  if (id === 'a') {
    checks.push(check(`throughput >= 1.0x ${names.A}`, tput >= 1.0));
    checks.push(check(`CPU per op <= 1.1x ${names.A}`, cpu <= 1.1));
  } else if (id === 'b') {
    checks.push(check(`throughput >= 2.5x ${names.A}`, tput >= 2.5));
  } else if (id === 'p') {
    // Paced: both servers do the offered load, so only the tail is compared.
    tail('p99', 1.1);
    tail('p999', 1.2);
  } else {
    checks.push(check(`throughput >= 1.0x ${names.A}`, tput >= 1.0));
    tail('p99', 1.2);
    tail('p999', 1.2);
  }
  const notes = [`generator: \`${A.generator}\``];
  if (id === 'p' && A.offered) notes.push(`offered ${fmtInt(A.offered)} requests/s on both sides: ${PACED_SHARE * 100}% of memcached's saturated ${fmtInt(A.saturated)} ops/s measured just before with the same generator`);
  if (A.roundsNote) notes.push(`median round by throughput; ${names.A}: ${A.roundsNote}; ${names.B}: ${B.roundsNote}`);
  if (A.latencyUs?.approx) notes.push('memcaslap reports latency as a log2 histogram: "~" percentiles are interpolated inside power-of-two buckets (the CPU and throughput figures are exact).');
  if (id === 'a' && A.generator.startsWith(MEMASLAP)) notes.push('memcaslap\'s CPU includes its start-up (building its key window) and the server CPU window spans the whole memcaslap run.');
  return { rows, checks, notes };
}

function reportTrace(A, B, names, o) {
  const ratioOf = (r) => (r.stats.cmd_get ? Number(r.stats.get_hits) / Number(r.stats.cmd_get) : null);
  const rows = [
    ['hit ratio (client)', fmt(A.hitRatio, 4), fmt(B.hitRatio, 4), ratio(B.hitRatio, A.hitRatio)],
    ['hit ratio (server stats get_hits/cmd_get)', fmt(ratioOf(A), 4), fmt(ratioOf(B), 4), ''],
    ['gets / sets', `${fmtInt(A.gets)} / ${fmtInt(A.sets)}`, `${fmtInt(B.gets)} / ${fmtInt(B.sets)}`, ''],
    ['items at end / evictions', `${fmtInt(Number(A.stats.curr_items))} / ${fmtInt(Number(A.stats.evictions))}`,
      `${fmtInt(Number(B.stats.curr_items))} / ${fmtInt(Number(B.stats.evictions))}`, ''],
    ['throughput (ops/s)', fmtInt(A.opsPerSec), fmtInt(B.opsPerSec), ratio(B.opsPerSec, A.opsPerSec)],
    ['server CPU s per M ops', fmt(cpuPerMop(A)), fmt(cpuPerMop(B)), ratio(cpuPerMop(B), cpuPerMop(A))],
    ['failed sets / errors', `${fmtInt(A.setFailed)} / ${fmtInt(A.errors)}`, `${fmtInt(B.setFailed)} / ${fmtInt(B.errors)}`, ''],
  ];
  return {
    rows,
    checks: [check(`hit ratio >= ${names.A}'s`, B.hitRatio >= A.hitRatio)],
    notes: [`${fmtInt(o.requests)} gets over ${fmtInt(o.traceKeys)} keys, ${o.traceValue}-byte values, -m ${o.traceMem} on both; the trace is one seeded sequence shared by 10 connections, 16 requests per batch.`,
      `generator: \`${A.generator}\``],
  };
}

function reportFill(A, B, names, o) {
  const mem = B.mem;
  const bound = 1.1 * mem * MIB + 64 * MIB;
  const rows = [
    ['value bytes written', mib(A.valueBytes), mib(B.valueBytes), ''],
    ['sets / failed', `${fmtInt(A.sets)} / ${fmtInt(A.setFailed)}`, `${fmtInt(B.sets)} / ${fmtInt(B.setFailed)}`, ''],
    ['items at end / evictions', `${fmtInt(Number(A.stats.curr_items))} / ${fmtInt(Number(A.stats.evictions))}`,
      `${fmtInt(Number(B.stats.curr_items))} / ${fmtInt(Number(B.stats.evictions))}`, ''],
    ['stats bytes / limit_maxbytes', `${mib(Number(A.stats.bytes))} / ${mib(Number(A.stats.limit_maxbytes))}`,
      `${mib(Number(B.stats.bytes))} / ${mib(Number(B.stats.limit_maxbytes))}`, ''],
    ['RSS after fill (VmRSS)', mib(A.memory.rss), mib(B.memory.rss), ratio(B.memory.rss, A.memory.rss)],
    ['peak RSS (VmHWM)', mib(A.memory.hwm), mib(B.memory.hwm), ratio(B.memory.hwm, A.memory.hwm)],
    [`bound 1.1 x ${mem} MiB + 64 MiB`, mib(bound), mib(bound), ''],
  ];
  return {
    rows,
    checks: [
      check(`${names.B} peak RSS < 1.1 x limit + 64 MiB`, B.memory.hwm < bound),
      check(`${names.B} stats bytes <= limit_maxbytes`, Number(B.stats.bytes) <= Number(B.stats.limit_maxbytes)),
    ],
    notes: [mem === FLASH_FILL_MEM_MIB && A.flash
      ? `-m ${mem} and a ${o.flashSize} MiB flash tier (memcached: extstore); ${o.fillFactor} x -m of values, sizes log-uniform from 100 B to 100 KiB; every key distinct. The flash tier's own memory (write and read buffers, index) is part of the RSS.`
      : `-m ${mem}; ${o.fillFactor} x -m of values, sizes log-uniform from 10 B to 1 MiB - 1 KiB (memcached's default -I 1m counts the item header); every key distinct.`,
      `generator: \`${A.generator}\``],
  };
}

function reportItems(A, B, names, o) {
  const growth = (r) => (r.heapBefore !== null && r.heapAfter !== null ? r.heapAfter - r.heapBefore : null);
  const rows = [
    ['sets / failed', `${fmtInt(A.sets)} / ${fmtInt(A.setFailed)}`, `${fmtInt(B.sets)} / ${fmtInt(B.setFailed)}`, ''],
    ['items at end / evictions', `${fmtInt(Number(A.stats.curr_items))} / ${fmtInt(Number(A.stats.evictions))}`,
      `${fmtInt(Number(B.stats.curr_items))} / ${fmtInt(Number(B.stats.evictions))}`, ''],
    ['V8 heapUsed before', mib(A.heapBefore), mib(B.heapBefore), ''],
    ['V8 heapUsed after', mib(A.heapAfter), mib(B.heapAfter), ''],
    ['V8 heapUsed growth', mib(growth(A)), mib(growth(B)), ''],
    ['RSS before / after (VmRSS)', `${mib(A.memory.rssBefore)} / ${mib(A.memory.rss)}`, `${mib(B.memory.rssBefore)} / ${mib(B.memory.rss)}`, ratio(B.memory.rss, A.memory.rss)],
    ['throughput (sets/s)', fmtInt(A.opsPerSec), fmtInt(B.opsPerSec), ratio(B.opsPerSec, A.opsPerSec)],
  ];
  const g = growth(B);
  return {
    rows,
    checks: [check(`${names.B} heapUsed growth < 64 MiB`, g === null ? null : g < 64 * MIB)],
    notes: [`${fmtInt(o.items)} distinct 100-byte items, -m ${o.itemsMem} on both; heap from the server's /metrics, lowest of 6 scrapes over a second, n/a for memcached.`,
      B.heapMetric === 'cachalot_heap_used_bytes' ? 'heap metric: cachalot_heap_used_bytes (main and worker threads summed)'
        : B.heapMetric ? `heap metric: ${B.heapMetric} (prom-client's default: the main thread only, worker threads' heaps are not in it)` : '',
      ...(B.heapNote ? [`${names.B}: ${B.heapNote}`] : []),
      `generator: \`${A.generator}\``],
  };
}

/** The run with the median throughput (the lower middle one for an even count), with the range noted. */
function medianRun(runs) {
  if (runs.length === 1) return runs[0];
  const sorted = [...runs].sort((x, y) => x.opsPerSec - y.opsPerSec);
  const m = sorted[(sorted.length - 1) >> 1];
  m.roundsNote = `${runs.length} rounds, throughput ${fmtInt(sorted[0].opsPerSec)} .. ${fmtInt(sorted[sorted.length - 1].opsPerSec)}`;
  m.loadBefore = runs.map((r) => r.loadBefore).reduce((a, b) => a + b, 0) / runs.length;
  return m;
}

// ---------------------------------------------------------------------------------------------------
// --baseline: this build and another, each against memcached in the same rounds

/** The figures a change must not move, per scenario kind: [label, value of one run, higher is better]. */
const BASELINE_FIGURES = {
  load: [['throughput', (r) => r.opsPerSec, true], ['p99', (r) => r.latencyUs?.p99, false], ['p99.9', (r) => r.latencyUs?.p999, false],
    ['CPU per op', (r) => cpuPerMop(r), false]],
  trace: [['hit ratio', (r) => r.hitRatio, true], ['throughput', (r) => r.opsPerSec, true], ['CPU per op', (r) => cpuPerMop(r), false]],
  fill: [['peak RSS', (r) => r.memory?.hwm, false]],
  items: [['throughput', (r) => r.opsPerSec, true], ['RSS', (r) => r.memory?.rss, false]],
};

/**
 * Each round's ratio to that round's memcached, for this build (B) and the baseline (C). A change holds
 * when this build's median lies within the spread either build shows from round to round.
 */
function compareBaseline(id, runsA, runsB, runsC) {
  const figures = BASELINE_FIGURES[SCENARIOS[id].kind] ?? [];
  return {
    id,
    figures: figures.map(([label, get, higherBetter]) => {
      const per = (runs) => runs.map((r, i) => {
        const x = get(r);
        const m = get(runsA[i]);
        return x && m ? x / m : null;
      }).filter((v) => v !== null);
      const b = per(runsB);
      const c = per(runsC);
      const med = (v) => (v.length ? [...v].sort((x, y) => x - y)[(v.length - 1) >> 1] : null);
      const all = [...b, ...c];
      const lo = Math.min(...all);
      const hi = Math.max(...all);
      const mb = med(b);
      const mc = med(c);
      // With one round there is no spread to read a change against; say so rather than judge.
      const verdict = b.length < 2 ? 'one round: no spread'
        : mb >= Math.min(...c) && mb <= Math.max(...c) ? 'within the baseline\'s spread'
        : (higherBetter ? mb > mc : mb < mc) ? 'better than the baseline\'s spread' : 'WORSE than the baseline\'s spread';
      return { label, b, c, mb, mc, lo, hi, verdict };
    }),
  };
}

/** The commit a build's entry point was built from, without naming where it sits on this machine. */
function buildCommit(entry) {
  try {
    return `commit ${execFileSync('git', ['-C', dirname(entry), 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()}`;
  } catch {
    return 'a build outside git';
  }
}

function baselineSection(baselines, o) {
  const x = (v) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : `${v.toFixed(2)}x`);
  const rows = baselines.flatMap(({ id, figures }) => figures.map((f) => `| ${id} | ${f.label} | ${x(f.mb)} (${f.b.map(x).join(', ')}) | ${x(f.mc)} (${f.c.map(x).join(', ')}) | ${f.verdict} |`));
  return [
    `### before/after: this build and the baseline build, each as a ratio to memcached in the same rounds`,
    '',
    '| scenario | figure | this build: median (each round) | baseline build: median (each round) | this build\'s median |',
    '|---|---|---:|---:|---|',
    ...rows,
    '',
    `- baseline: ${buildCommit(o.baseline)}; every round runs memcached, this build and the baseline in rotating order`,
    '',
  ].join('\n');
}

function check(label, ok) { return { label, ok }; }

function markdownTable(names, rows) {
  const lines = [`| | ${names.A} | ${names.B} | ${names.B} / ${names.A} |`, '|---|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

/** A server command line without the machine's paths, for the report. */
/**
 * The report names no path of this machine: the baseline build by its commit, scratch directories by
 * $TMPDIR, the checkout as ".".
 */
function scrubPaths(text, o) {
  let out = text;
  if (o.baseline) out = out.split(o.baseline).join(`<baseline build, ${buildCommit(o.baseline)}>`);
  out = out.split(`${ROOT}/`).join('');
  const tmp = tmpdir().replace(/\/+$/, '');
  return out.split(`${tmp}/`).join('$TMPDIR/');
}

function shortCmd(cmd) {
  return cmd.replace(`${ROOT}/`, '').replace(/^\/usr\/bin\//, '');
}

function onPath(cmd) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, cmd)));
}

function machineInfo() {
  const sh = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8' }).trim(); } catch { return 'n/a'; } };
  const commit = sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
  return {
    nproc: sh('nproc', []),
    cpu: cpus()[0]?.model ?? 'n/a',
    mem: `${Math.round(totalmem() / MIB / 1024)} GiB`,
    kernel: sh('uname', ['-r']),
    node: process.version,
    memcached: sh(MEMCACHED, ['-V']),
    commit: `${commit}${dirty ? ' (working tree has changes)' : ''}`,
  };
}

// ---------------------------------------------------------------------------------------------------

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) { process.stderr.write(`bench: ${err.message}\n${USAGE}\n`); process.exit(2); }
    throw err;
  }
  if (o.genA === 'memaslap' && o.scenarios.includes('a') && !onPath(MEMASLAP)) {
    process.stderr.write(`bench: ${MEMASLAP} is not installed (Debian: libmemcached-tools); scenario a uses bench/loadgen.mjs\n`);
    o.genA = 'node';
  }
  const sides = { A: 'memcached', B: o.against };
  const names = { A: 'memcached', B: o.against === 'memcached' ? 'memcached (as B)' : 'cachalot' };
  const machine = machineInfo();
  const started = new Date();
  const load0 = loadavg();
  const tmp = mkdtempSync(join(tmpdir(), 'cachalot-bench-'));
  scratchDirs.add(tmp);
  const sections = [];
  const failures = [];
  const measurements = [];
  const baselines = [];
  try {
    for (const id of o.scenarios) {
      const spec = SCENARIOS[id];
      process.stderr.write(`bench: ${spec.title}\n`);
      let A;
      let B;
      try {
        if (spec.kind === 'sidecar') {
          process.stderr.write(`bench:   direct, then through the sidecar ...\n`);
          [A, B] = await runSidecarScenario(o, tmp);
        } else {
          const rounds = spec.kind === 'load' ? o.rounds : 1;
          if (id === 'p') {
            process.stderr.write('bench:   memcached saturated, to set the pace ...\n');
            o.saturated = await memcachedSaturation(o);
            o.pacedRate = Math.round(o.saturated * PACED_SHARE);
          }
          const runsA = [];
          const runsB = [];
          const runsC = [];
          const order = o.baseline && spec.kind !== 'flash' ? ['A', 'B', 'C'] : ['A', 'B'];
          for (let r = 0; r < rounds; r++) {
            const tag = rounds > 1 ? ` (round ${r + 1}/${rounds})` : '';
            // Rotate which server goes first, so that a drift in the machine's load favours none.
            for (let k = 0; k < order.length; k++) {
              const side = order[(k + r) % order.length];
              process.stderr.write(`bench:   ${side === 'C' ? 'cachalot (baseline build)' : names[side]}${tag} ...\n`);
              if (side === 'C') runsC.push(await runSide(id, 'cachalot', { ...o, cachalot: o.baseline }, tmp));
              else (side === 'A' ? runsA : runsB).push(await runSide(id, sides[side], o, tmp));
            }
          }
          if (runsC.length) baselines.push(compareBaseline(id, runsA, runsB, runsC));
          A = medianRun(runsA);
          B = medianRun(runsB);
        }
      } catch (err) {
        process.stderr.write(`bench: scenario ${id} failed: ${err.stack}\n`);
        failures.push(id);
        sections.push(`### ${spec.title}\n\nFAILED: ${String(err.message).split('\n')[0]}\n`);
        continue;
      }
      const rep = spec.kind === 'load' ? reportLoad(id, A, B, names)
        : spec.kind === 'trace' ? reportTrace(A, B, names, o)
        : spec.kind === 'fill' ? reportFill(A, B, names, o)
        : spec.kind === 'flash' ? reportFlash(A, B, names, o)
        : spec.kind === 'sidecar' ? reportSidecar(A, B)
        : reportItems(A, B, names, o);
      // targets compare cachalot, not a self-run (the sidecar's compare it with direct access)
      const checks = o.against === 'memcached' && spec.kind !== 'sidecar' ? [] : rep.checks;
      const text = [
        `### ${spec.title}`,
        '',
        markdownTable(spec.kind === 'sidecar' ? { A: 'direct', B: 'through sidecar' } : names, rep.rows),
        '',
        ...checks.map((c) => `- target: ${c.label}: ${c.ok === null ? 'n/a' : c.ok ? 'met' : 'NOT met'}`),
        ...rep.notes.filter(Boolean).map((n) => `- ${n}`),
        ...(spec.kind !== 'sidecar' && A.server && B.server ? [`- servers: \`${shortCmd(A.server)}\` / \`${shortCmd(B.server)}\``] : []),
        `- load average (1 min) before each side: ${fmt(A.loadBefore)} / ${fmt(B.loadBefore)}`,
        '',
      ].join('\n');
      process.stdout.write(`\n${text}\n`);
      sections.push(text);
      measurements.push({ scenario: id, title: spec.title, [names.A]: A, [names.B]: B, checks });
    }
    if (o.micro && o.against === 'cachalot') {
      process.stderr.write('bench: micro-benchmark of the engine\n');
      const micro = join(ROOT, 'bench', 'micro', 'engine.mjs');
      const m = await run(process.execPath, [micro, '--seconds', o.quick ? '1' : '3'], { timeoutMs: 300000 });
      const text = m.code === 0 ? m.stdout.trim() : `FAILED (exit ${m.code}): ${m.stderr.trim().split('\n').slice(-1)[0]}`;
      sections.push(`### micro: the request path without sockets (\`node bench/micro/engine.mjs\`)\n\n${text}\n`);
      process.stdout.write(`\n${text}\n`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  const args = process.argv.slice(2).map((a) => ` ${a}`).join('');
  const cmdline = process.env.npm_lifecycle_event === 'bench' ? `npm run bench --${args}` : `node bench/run.mjs${args}`;
  const header = [
    `## ${started.toISOString().replace(/\.\d+Z$/, 'Z')} — \`${cmdline}\``,
    '',
    `- machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.mem} RAM, Linux ${machine.kernel}; node ${machine.node}; ${machine.memcached}; commit ${machine.commit}`,
    `- servers: memcached \`-t 1 -U 0\`, ${o.against === 'memcached' ? 'memcached again as the second server (harness validation: ratios should be ~1.0)' : 'cachalot `node dist/server/src/cache/main.js -t 1`'}, one after the other, each on a fresh process; -m as noted per scenario`,
    `- CPUs: ${o.pin ? `scenarios a-d and p run each server on CPU ${SERVER_CPU} and the load generator on CPU ${GENERATOR_CPU} (taskset); the others are not pinned` : 'not pinned (--no-pin)'}`,
    `- load average (1/5/15 min) at start: ${load0.map((x) => x.toFixed(2)).join(' ')}; at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on this machine makes the numbers noisy)`,
    `- warm-up ${o.warmup} s, measured ${o.duration} s per side for a-d; CPU from /proc/PID/stat utime+stime at CLK_TCK ${CLK_TCK}`,
    '',
  ].join('\n');
  if (baselines.length) {
    const text = baselineSection(baselines, o);
    process.stdout.write(`\n${text}\n`);
    sections.push(text);
  }
  const report = scrubPaths(`${header}\n${sections.join('\n')}\n`, o);
  if (o.results) {
    const how = recordReport(o.results, report);
    process.stderr.write(`bench: ${how} its section in ${o.results}\n`);
  }
  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({ started: started.toISOString(), command: cmdline, machine, options: o, measurements }, null, 2)}\n`);
  }
  if (failures.length) {
    process.stderr.write(`bench: scenarios failed: ${failures.join(', ')}\n`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err.stack}\n`);
  killAll();
  process.exit(1);
});
