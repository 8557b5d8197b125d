#!/usr/bin/env node
// cachalot-sidecar against direct access, in the same run (issue 5): three cachalot-server processes on
// loopback; the same bench/loadgen.mjs load first straight to them (connections spread over the three, as a
// client that already knows the ring would be), then through one sidecar whose ring file lists the three.
// Reported per scenario: throughput ratio (target >= 0.6x direct) and added p50 (target < 100 µs), with the
// sidecar's CPU per million requests, read from /proc/PID/stat over the measured window.
//
// Standalone: `node bench/sidecar.mjs [--append] [--warmup S] [--duration S] [--sidecar FILE]` (needs
// `npm run build`). --append adds the markdown section to the end of bench/RESULTS.md; without it the section
// goes to stdout only. Short by default (about 30 s), since the machine is shared.

import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOADGEN = join(ROOT, 'bench', 'loadgen.mjs');
const SERVER_MAIN = join(ROOT, 'dist', 'server', 'src', 'main.js');
const RESULTS = join(ROOT, 'bench', 'RESULTS.md');
const UPSTREAMS = 3;
const CLK_TCK = 100;
const START_TIMEOUT_MS = 15_000;

const o = { append: false, warmup: 1, duration: 3, sidecar: join(ROOT, 'dist', 'server', 'src', 'sidecar', 'main.js') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--append') o.append = true;
  else if (a === '--warmup') o.warmup = Number(process.argv[++i]);
  else if (a === '--duration') o.duration = Number(process.argv[++i]);
  else if (a === '--sidecar') o.sidecar = process.argv[++i];
  else if (a === '--help' || a === '-h') {
    process.stdout.write('usage: node bench/sidecar.mjs [--append] [--warmup S (1)] [--duration S (3)] [--sidecar FILE]\n');
    process.exit(0);
  } else {
    process.stderr.write(`bench/sidecar.mjs: unknown argument ${a}\n`);
    process.exit(2);
  }
}
if (!(o.warmup >= 0 && o.duration > 0)) {
  process.stderr.write('bench/sidecar.mjs: --warmup must be >= 0 and --duration > 0\n');
  process.exit(2);
}
for (const f of [SERVER_MAIN, o.sidecar]) {
  if (!existsSync(f)) {
    process.stderr.write(`bench/sidecar.mjs: ${f} does not exist (run npm run build)\n`);
    process.exit(2);
  }
}

const SCENARIOS = [
  // One request at a time on one connection: the latency the extra hop adds, without queueing behind others.
  { title: '1 connection, no pipelining, 1:10 set:get, 100-byte values', args: ['--conns', '1', '--depth', '1'] },
  { title: '50 connections, no pipelining, 1:10 set:get, 100-byte values', args: ['--conns', '50', '--depth', '1'] },
  { title: 'as above, pipeline depth 16', args: ['--conns', '50', '--depth', '16'] },
];

const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(250, () => done(false));
  });
}

async function launch(name, args, port) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr.on('data', (d) => { if (err.length < 4096) err += d; });
  child.once('exit', () => children.delete(child));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await canConnect(port)) return { name, port, pid: child.pid, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`${name} did not start on port ${port}: ${err}`);
}

async function stop(p) {
  if (!p || p.child.exitCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

function loadgen(ports, pids, args) {
  const argv = [LOADGEN, '--port', ports.join(','), '--cpu-pid', pids.join(','), '--set-ratio', '0.0909',
    '--value-size', '100', '--keys', '100000', '--warmup', String(o.warmup), '--duration', String(o.duration), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => { if (err.length < 4096) err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), (o.warmup + o.duration + 60) * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      try {
        if (code !== 0) throw new Error(`loadgen exited ${code}: ${err}`);
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch (e) {
        reject(e);
      }
    });
  });
}

const fmt = (n) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'cachalot-sidecar-bench-'));
  const upstreams = [];
  let sidecar = null;
  const sections = [];
  const load0 = loadavg();
  try {
    for (let i = 0; i < UPSTREAMS; i++) {
      const port = await freePort();
      upstreams.push(await launch(`cachalot-${i}`, [SERVER_MAIN, '-p', String(port), '-l', '127.0.0.1', '-t', '1', '-m', '256', '--metrics-port', '0'], port));
    }
    const ringFile = join(tmp, 'ring.json');
    writeFileSync(ringFile, JSON.stringify({
      cluster: 'bench', namespace: 'default', version: 1, hash: 'ketama-md5', vnodes: 40,
      members: upstreams.map((u, i) => ({ name: `bench-${i}`, host: '127.0.0.1', port: u.port, weight: 1, state: 'active' })),
    }));
    const sport = await freePort();
    sidecar = await launch('sidecar', [o.sidecar, '--ring-file', ringFile, '-p', String(sport), '--metrics-port', '0', '--log-level', 'warn'], sport);
    const upPids = upstreams.map((u) => u.pid);
    for (const sc of SCENARIOS) {
      process.stderr.write(`bench/sidecar: ${sc.title}: direct ...\n`);
      const A = await loadgen(upstreams.map((u) => u.port), upPids, sc.args);
      process.stderr.write(`bench/sidecar: ${sc.title}: through the sidecar ...\n`);
      const B = await loadgen([sidecar.port], [...upPids, sidecar.pid], sc.args);
      const sidecarCpu = B.ticksByPid[sidecar.pid] / CLK_TCK;
      const perM = (cpu, r) => (r.ops > 0 ? (cpu / r.ops) * 1e6 : NaN);
      const upA = upPids.reduce((s, p) => s + A.ticksByPid[p], 0) / CLK_TCK;
      const upB = upPids.reduce((s, p) => s + B.ticksByPid[p], 0) / CLK_TCK;
      const addedP50 = B.latencyUs.p50 - A.latencyUs.p50;
      const thr = B.opsPerSec / A.opsPerSec;
      const rows = [
        ['throughput (ops/s)', fmt(A.opsPerSec), fmt(B.opsPerSec), ratio(B.opsPerSec, A.opsPerSec)],
        ['p50 latency (µs)', fmt(A.latencyUs.p50), fmt(B.latencyUs.p50), `+${fmt(addedP50)} µs`],
        ['p99 latency (µs)', fmt(A.latencyUs.p99), fmt(B.latencyUs.p99), ratio(B.latencyUs.p99, A.latencyUs.p99)],
        ['upstream CPU s per M ops', (perM(upA, A)).toFixed(2), (perM(upB, B)).toFixed(2), ''],
        ['sidecar CPU s per M ops', '', perM(sidecarCpu, B).toFixed(2), ''],
        ['sidecar CPU (of one core)', '', `${Math.round((sidecarCpu / B.seconds) * 100)}%`, ''],
        ['get misses / errors', `${A.misses} / ${A.errors}`, `${B.misses} / ${B.errors}`, ''],
      ];
      sections.push([
        `### ${sc.title}`,
        '',
        '| | direct | through sidecar | sidecar / direct |',
        '|---|---:|---:|---:|',
        ...rows.map((r) => `| ${r.join(' | ')} |`),
        '',
        `- target: throughput >= 0.6x direct: ${thr >= 0.6 ? 'met' : 'NOT met'} (${thr.toFixed(2)}x)`,
        `- target: added p50 < 100 µs: ${addedP50 < 100 ? 'met' : 'NOT met'} (+${fmt(addedP50)} µs)`,
        `- generator: \`node bench/loadgen.mjs ${sc.args.join(' ')} --set-ratio 0.0909 --value-size 100 --keys 100000 --warmup ${o.warmup} --duration ${o.duration}\``,
        '',
      ].join('\n'));
    }
  } finally {
    await stop(sidecar);
    for (const u of upstreams) await stop(u);
    rmSync(tmp, { recursive: true, force: true });
  }
  const head = [
    '',
    `## ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} — \`node bench/sidecar.mjs\` (issue 5: cachalot-sidecar vs direct)`,
    '',
    `- machine: ${cpus().length} CPUs, node ${process.version}; ${UPSTREAMS} cachalot-server -t 1 on loopback; one sidecar (default options: 1 pipelined connection per server); warm-up ${o.warmup} s, measured ${o.duration} s per side`,
    '- direct: the 50 connections spread over the three servers in turn (a client that knows the ring); through the sidecar: all 50 to the sidecar, which routes each key by the ring',
    `- the sidecar, three servers and the generator share ${cpus().length} cores; load average (1/5/15 min) at start: ${load0.map((x) => x.toFixed(2)).join(' ')}, at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    '',
  ].join('\n');
  const text = head + sections.join('\n');
  process.stdout.write(text);
  if (o.append) appendFileSync(RESULTS, text);
}

main().catch((err) => {
  process.stderr.write(`bench/sidecar.mjs: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
