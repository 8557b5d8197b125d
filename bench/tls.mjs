#!/usr/bin/env node
// TLS on the cache port: memcached -Z against cachalot-server -Z in the same run, one after the other, each
// with one worker thread (-t 1), the same certificates (made here with the openssl CLI) and the same load
// from bench/loadgen.mjs --tls-ca: 50 connections without pipelining, and 50 connections at depth 16.
// Then TLS handshakes per second for both: 50 clients each connecting, finishing the handshake and closing,
// again and again for a fixed time. Reports the ratios; with --record, into bench/RESULTS.md.
// --rounds N runs the sides alternately N times (order rotating) and reports each side's median round by
// unpipelined throughput, which damps noise from other work on a 2-CPU machine. --baseline FILE adds another
// build's server entry point as a third side in the same rounds (before/after a change).
//
// Usage: node bench/tls.mjs [--duration S] [--warmup S] [--rounds N] [--baseline FILE] [--record]
//        (run alone: see docs/benchmarks.md)
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { recordReport } from './report.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOADGEN = join(ROOT, 'bench', 'loadgen.mjs');
const CACHALOT = join(ROOT, 'dist', 'server', 'src', 'cache', 'main.js');
const HANDSHAKE_CLIENTS = 50;

function parseArgs(argv) {
  const o = { duration: 10, warmup: 3, handshakeSeconds: 5, record: false, rounds: 1, baseline: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = Number(argv[i + 1]);
    if (a === '--duration' && v > 0) { o.duration = v; i++; }
    else if (a === '--warmup' && v >= 0) { o.warmup = v; i++; }
    else if (a === '--handshake-seconds' && v > 0) { o.handshakeSeconds = v; i++; }
    else if (a === '--rounds' && Number.isInteger(v) && v >= 1 && v <= 20) { o.rounds = v; i++; }
    else if (a === '--baseline' && argv[i + 1] !== undefined && existsSync(argv[i + 1])) { o.baseline = argv[i + 1]; i++; }
    else if (a === '--record') o.record = true;
    else throw new Error(`unknown or bad argument ${a} (see the header of bench/tls.mjs)`);
  }
  return o;
}

function makeCerts(dir) {
  const ssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=bench-ca']);
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=bench']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext']);
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function start(kind, certs, main = CACHALOT) {
  const port = await freePort();
  const ssl = `ssl_chain_cert=${certs.cert},ssl_key=${certs.key}`;
  const argv = kind === 'memcached'
    ? ['/usr/bin/memcached', '-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '1', '-m', '256', '-c', '4096', '-Z', '-o', ssl,
      ...(process.getuid?.() === 0 ? ['-u', userInfo().username] : [])]
    : [process.execPath, main, '-p', String(port), '-l', '127.0.0.1', '-U', '0', '-t', '1', '-m', '256', '-c', '4096', '-Z', '-o', ssl, '--metrics-port', '0'];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return { kind, port, proc };
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`${kind} did not listen on ${port}`);
}

async function stop(server) {
  const exited = new Promise((r) => server.proc.once('exit', r));
  server.proc.kill('SIGTERM');
  const t = setTimeout(() => server.proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

function loadgen(server, certs, o, depth) {
  const args = [LOADGEN, '--port', String(server.port), '--tls-ca', certs.ca, '--conns', '50', '--depth', String(depth),
    '--warmup', String(o.warmup), '--duration', String(o.duration), '--cpu-pid', String(server.proc.pid)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`loadgen exited ${code}`))));
  });
}

/** HANDSHAKE_CLIENTS loops of connect + handshake + close for `seconds`; completed handshakes per second. */
async function handshakes(server, certs, seconds) {
  const ca = readFileSync(certs.ca);
  const until = Date.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  const one = () => new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: server.port, ca });
    s.once('secureConnect', () => { done++; s.destroy(); resolve(); });
    s.once('error', () => { failed++; s.destroy(); resolve(); });
  });
  const loop = async () => { while (Date.now() < until) await one(); };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: HANDSHAKE_CLIENTS }, loop));
  return { perSec: Math.round(done / ((Date.now() - t0) / 1000)), failed };
}

async function measure(kind, certs, o, main) {
  const server = await start(kind, certs, main);
  try {
    const plain = await loadgen(server, certs, o, 1);
    const piped = await loadgen(server, certs, o, 16);
    const hs = await handshakes(server, certs, o.handshakeSeconds);
    return { plain, piped, hs };
  } finally {
    await stop(server);
  }
}

const ratio = (a, b) => (b ? (a / b).toFixed(2) : 'n/a');
/** Server CPU (utime+stime at 100 ticks/s) per request over the measured window. */
const cpuUs = (run) => (run.serverTicks && run.ops ? `${((run.serverTicks * 10_000) / run.ops).toFixed(1)} µs` : 'n/a');
const us = (v) => (v === null || v === undefined ? 'n/a' : `${Math.round(v)} µs`);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-bench-tls-'));
  try {
    const certs = makeCerts(dir);
    const sides = [['memcached', undefined], ['cachalot', CACHALOT], ...(o.baseline ? [['baseline', o.baseline]] : [])];
    const runs = Object.fromEntries(sides.map(([name]) => [name, []]));
    for (let r = 0; r < o.rounds; r++) {
      // Rotate the order so that no side always runs first (or last) in a round.
      for (let k = 0; k < sides.length; k++) {
        const [name, main] = sides[(r + k) % sides.length];
        runs[name].push(await measure(name === 'memcached' ? 'memcached' : 'cachalot', certs, o, main));
      }
    }
    const median = (list) => [...list].sort((a, b) => a.plain.opsPerSec - b.plain.opsPerSec)[Math.floor((list.length - 1) / 2)];
    const m = median(runs.memcached);
    const c = median(runs.cachalot);
    const bl = o.baseline ? median(runs.baseline) : null;
    const perRound = (name) => runs[name].map((x, i) => ratio(x.plain.opsPerSec, runs.memcached[i].plain.opsPerSec)).join(', ');
    const rows = [
      ['50 conns, no pipelining: ops/s', m.plain.opsPerSec, c.plain.opsPerSec, ratio(c.plain.opsPerSec, m.plain.opsPerSec)],
      ['  p50 / p99', `${us(m.plain.latencyUs?.p50)} / ${us(m.plain.latencyUs?.p99)}`, `${us(c.plain.latencyUs?.p50)} / ${us(c.plain.latencyUs?.p99)}`, ''],
      ['50 conns, depth 16: ops/s', m.piped.opsPerSec, c.piped.opsPerSec, ratio(c.piped.opsPerSec, m.piped.opsPerSec)],
      ['TLS handshakes/s (50 clients)', m.hs.perSec, c.hs.perSec, ratio(c.hs.perSec, m.hs.perSec)],
      ['server CPU per request, no pipelining', cpuUs(m.plain), cpuUs(c.plain), ''],
    ];
    const table = ['| measure | memcached -Z -t 1 | cachalot -Z -t 1 | ratio |', '|---|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
    const shownArgs = [`--duration ${o.duration}`, `--warmup ${o.warmup}`, ...(o.rounds > 1 ? [`--rounds ${o.rounds}`] : []), ...(o.baseline ? ['--baseline <build>'] : [])].join(' ');
    const report = `## ${new Date().toISOString()} — \`node bench/tls.mjs ${shownArgs}\`\n\n` +
      `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}); 1:10 set:get, 100 B values, ${o.duration} s measured after ${o.warmup} s.\n\n${table}\n\n` +
      (o.rounds > 1 ? `${o.rounds} rounds, order rotating; the columns are each side's median round by unpipelined ops/s. Unpipelined ratio per round: ${perRound('cachalot')}.\n\n` : '') +
      (bl ? `Baseline build (\`--baseline\`), same rounds: unpipelined ${bl.plain.opsPerSec} ops/s, ratio ${ratio(bl.plain.opsPerSec, m.plain.opsPerSec)} (per round ${perRound('baseline')}); depth 16 ratio ${ratio(bl.piped.opsPerSec, m.piped.opsPerSec)}; server CPU per request ${cpuUs(bl.plain)}.\n\n` : '') +
      `Goal: TLS throughput >= 0.8x memcached's: ${Number(ratio(c.plain.opsPerSec, m.plain.opsPerSec)) >= 0.8 && Number(ratio(c.piped.opsPerSec, m.piped.opsPerSec)) >= 0.8 ? 'met' : 'not met'}.\n`;
    process.stdout.write(`${report}\n`);
    if (o.record) recordReport(join(ROOT, 'bench', 'RESULTS.md'), report);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/tls.mjs: ${err.stack ?? err}\n`);
  process.exit(1);
});
