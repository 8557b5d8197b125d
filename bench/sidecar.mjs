#!/usr/bin/env node
// cachalot-sidecar against direct access and against twemproxy, in the same run: three cachalot-server
// processes on loopback; the same bench/loadgen.mjs load straight to them, two ways, through twemproxy
// (Debian's nutcracker, ketama over md5, in front of the same servers) and through one sidecar whose ring
// file lists the three. Straight to them "partitioned": connections spread over the three, each using only
// its own server's keys (one write per batch: the least work direct access can cost, and what no application
// with random keys gets); and as a "ketama client" (loadgen --route ketama): every connection to all three,
// each batch split by the key's owner on the same ring, as an application's libmemcached-style client does.
// Reported per scenario: throughput ratio (target >= 0.6x direct) and added p50 (target < 100 µs), the ratios
// against twemproxy (the anchor: no target), with each proxy's CPU per million requests, read from
// /proc/PID/stat over the measured window. A fourth row offers every side the same paced load at depth 16
// (loadgen --rate, 50% of the direct side's saturated throughput in the same run; a fifth row 12.5%):
// saturated, added p50 only restates the throughput gap (Little's law); paced, it is the hop's own latency at
// that load.
//
// That configuration is the headline. On a small machine it also measures something else: the
// sidecar, three servers and the generator share the same cores, and the direct case spreads its server work
// over three processes while the sidecar case adds a fourth busy one. So two more things are reported:
// - every process's CPU per request (generator included) and the machine's idle share, and the ratio the
//   throughputs would have if CPU were the only limit (direct CPU per request / sidecar CPU per request);
// - a second run with ONE server (direct to it, and through a sidecar whose ring lists only it): the same
//   server processes on both sides, so the difference is the hop itself. `--servers N` sets the headline's
//   server count; `--no-single` skips the one-server run.
//
// Standalone: `node bench/sidecar.mjs [--append] [--warmup S] [--duration S] [--rounds N] [--servers N]
// [--no-single] [--no-twemproxy] [--sidecar FILE]` (needs `npm run build`). --append records the report in
// bench/RESULTS.md (replacing the last one); without it the section goes to stdout only. Each direct/sidecar pair runs --rounds times
// (3) in alternating order and each side is reported from its median run: single runs of 3 s on a shared
// 2-core machine gave ratios from 0.45x to 1.00x for the same build. That takes about 5 minutes; `--rounds 1
// --no-single` about 30 s.
//
// `node bench/sidecar.mjs --micro` instead measures the sidecar's JavaScript per request without sockets:
// dispatch, routing, the bytes written for the upstream, the reply completed and composed, the client's copy
// (ns per request and GCs per million requests, after a JIT warm-up), and the key hash alone.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { recordReport } from './report.mjs';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const LOADGEN = join(ROOT, 'bench', 'loadgen.mjs');
const SERVER_MAIN = join(ROOT, 'dist', 'server', 'src', 'cache', 'main.js');
const RESULTS = join(ROOT, 'bench', 'RESULTS.md');
const UPSTREAMS = 3; // the headline configuration; --servers changes it
const CLK_TCK = 100;
const START_TIMEOUT_MS = 15_000;
// Debian's nutcracker (twemproxy 0.5.0): the proxy the sidecar is measured against.
const TWEMPROXY = ['/usr/sbin/nutcracker', '/usr/bin/nutcracker', '/usr/local/sbin/nutcracker', '/usr/local/bin/nutcracker'].find((f) => existsSync(f));

const o = { baseline: null, micro: false, append: false, warmup: 1, duration: 3, rounds: 3, servers: UPSTREAMS, single: true, twemproxy: true, sidecar: join(ROOT, 'dist', 'server', 'src', 'sidecar', 'main.js') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--append') o.append = true;
  else if (a === '--micro') o.micro = true;
  else if (a === '--warmup') o.warmup = Number(process.argv[++i]);
  else if (a === '--duration') o.duration = Number(process.argv[++i]);
  else if (a === '--sidecar') o.sidecar = process.argv[++i];
  else if (a === '--baseline') o.baseline = process.argv[++i];
  else if (a === '--servers') o.servers = Number(process.argv[++i]);
  else if (a === '--rounds') o.rounds = Number(process.argv[++i]);
  else if (a === '--no-single') o.single = false;
  else if (a === '--no-twemproxy') o.twemproxy = false;
  else if (a === '--help' || a === '-h') {
    process.stdout.write('usage: node bench/sidecar.mjs [--append] [--warmup S (1)] [--duration S (3)] [--servers N (3)] [--rounds N (3)] [--no-single] [--no-twemproxy] [--sidecar FILE] [--baseline FILE] | --micro\n');
    process.exit(0);
  } else {
    process.stderr.write(`bench/sidecar.mjs: unknown argument ${a}\n`);
    process.exit(2);
  }
}
if (!(o.warmup >= 0 && o.duration > 0 && Number.isInteger(o.servers) && o.servers >= 1 && o.servers <= 16 && Number.isInteger(o.rounds) && o.rounds >= 1 && o.rounds <= 20)) {
  process.stderr.write('bench/sidecar.mjs: --warmup must be >= 0, --duration > 0, --servers 1..16, --rounds 1..20\n');
  process.exit(2);
}
if (o.baseline !== null && !existsSync(o.baseline)) {
  process.stderr.write(`bench/sidecar.mjs: --baseline: no such file ${o.baseline} (another build's dist/server/src/sidecar/main.js)\n`);
  process.exit(2);
}
if (o.twemproxy && !TWEMPROXY && !o.micro) {
  process.stderr.write('bench/sidecar.mjs: nutcracker (twemproxy) is not installed (apt-get install nutcracker); running without the twemproxy side\n');
  o.twemproxy = false;
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
  // The row above runs both sides saturated (800 requests always outstanding), where Little's law ties p50 to
  // throughput: added p50 ~ direct p50 x (1 / ratio - 1), i.e. it restates the throughput gap. This one
  // offers both sides the same load, `paced` (a share) of what the direct side did saturated in this run
  // (its median), so the added p50 is the hop's own latency at that load: half, and an eighth (light load,
  // where the sidecar path is far from its own saturation too).
  { title: 'as above, depth 16, paced: the same offered load both ways', args: ['--conns', '50', '--depth', '16'], paced: 0.5 },
  { title: 'as above, depth 16, paced at light load: the same offered load both ways', args: ['--conns', '50', '--depth', '16'], paced: 0.125 },
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

async function launch(name, args, port, command = process.execPath) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
const signed = (n) => `${n < 0 ? '-' : '+'}${fmt(Math.abs(n))}`;

/** twemproxy (Debian's nutcracker) in front of the same servers: ketama over md5, as the sidecar routes. */
async function launchTwemproxy(upstreams, tmp) {
  const port = await freePort();
  const statsPort = await freePort();
  const conf = join(tmp, `nutcracker-${upstreams.length}.yml`);
  writeFileSync(conf, [
    'bench:',
    `  listen: 127.0.0.1:${port}`,
    '  hash: md5',
    '  distribution: ketama',
    '  timeout: 4000',
    '  auto_eject_hosts: false',
    '  servers:',
    ...upstreams.map((u, i) => `    - 127.0.0.1:${u.port}:1 bench-${i}`),
    '',
  ].join('\n'));
  return launch('twemproxy', ['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(tmp, 'nutcracker.log'), '-p', join(tmp, 'nutcracker.pid'), '-v', '2'], port, TWEMPROXY);
}

/**
 * One comparison: `n` fresh servers, one sidecar whose ring lists them (and twemproxy in front of them, when
 * installed), every scenario straight to the servers, through twemproxy and through the sidecar. Returns
 * the markdown section and a one-line summary per scenario.
 */
async function compare(n, tmp, heading, note) {
  const upstreams = [];
  let sidecar = null;
  let twemproxy = null;
  let baseline = null;
  const sections = [];
  const summary = [];
  try {
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      upstreams.push(await launch(`cachalot-${i}`, [SERVER_MAIN, '-p', String(port), '-l', '127.0.0.1', '-t', '1', '-m', '256', '--metrics-port', '0'], port));
    }
    const ringFile = join(tmp, `ring-${n}.json`);
    writeFileSync(ringFile, JSON.stringify({
      cluster: 'bench', namespace: 'default', version: 1, hash: 'ketama-md5', vnodes: 40,
      members: upstreams.map((u, i) => ({ name: `bench-${i}`, host: '127.0.0.1', port: u.port, weight: 1, state: 'active' })),
    }));
    const sport = await freePort();
    sidecar = await launch('sidecar', [o.sidecar, '--ring-file', ringFile, '-p', String(sport), '--metrics-port', '0', '--log-level', 'warn'], sport);
    if (o.twemproxy) twemproxy = await launchTwemproxy(upstreams, tmp);
    if (o.baseline) {
      const bport = await freePort();
      baseline = await launch('baseline sidecar', [o.baseline, '--ring-file', ringFile, '-p', String(bport), '--metrics-port', '0', '--log-level', 'warn'], bport);
    }
    const upPids = upstreams.map((u) => u.pid);
    let saturatedDirect = 0; // the last closed-loop scenario's direct median ops/s (the paced row's reference)
    // The sides: straight to the servers as a partitioned client (each connection to one server, with keys
    // of that server only: an upper bound no application with random keys reaches) and, with several
    // servers, as a ketama client (each connection to every server, each batch split by key, one write per
    // server: what an application's libmemcached-style client does); through twemproxy, the proxy the
    // sidecar replaces (its anchor: a ratio, no target); then through the sidecar. `targets`: the sidecar's
    // own targets against going direct (throughput >= 0.6x, added p50 < 100 µs).
    const ports = upstreams.map((u) => u.port);
    const sides = [
      { key: 'direct', label: n > 1 ? 'direct, partitioned' : 'direct', name: n > 1 ? 'partitioned' : 'direct', targets: true, run: (args) => loadgen(ports, upPids, args) },
      ...(n > 1 ? [{ key: 'ketama', label: 'direct, ketama client', name: 'ketama client', targets: true, run: (args) => loadgen(ports, upPids, ['--route', 'ketama', ...args]) }] : []),
      ...(twemproxy ? [{ key: 'twemproxy', label: 'through twemproxy', name: 'twemproxy', targets: false, proxyPid: twemproxy.pid, run: (args) => loadgen([twemproxy.port], [...upPids, twemproxy.pid], args) }] : []),
      // Another build of the sidecar in front of the same servers: before/after in the same rounds.
      ...(baseline ? [{ key: 'baseline', label: 'through baseline sidecar', name: 'baseline build', targets: false, proxyPid: baseline.pid, run: (args) => loadgen([baseline.port], [...upPids, baseline.pid], args) }] : []),
      { key: 'sidecar', label: 'through sidecar', name: 'sidecar', proxyPid: sidecar.pid, run: (args) => loadgen([sidecar.port], [...upPids, sidecar.pid], args) },
    ];
    const refs = sides.filter((d) => d.key !== 'sidecar');
    const met = (ok) => (ok ? 'met' : 'NOT met');
    for (const sc0 of SCENARIOS) {
      const rate = sc0.paced ? Math.round(saturatedDirect * sc0.paced) : 0;
      const sc = sc0.paced ? { ...sc0, args: [...sc0.args, '--rate', String(rate)] } : sc0;
      // Rounds rotate the order (direct first, then sidecar first, ...) so that drift in what else the
      // machine does falls on every side; each side is reported from its median-throughput run.
      const runs = Object.fromEntries(sides.map((d) => [d.key, []]));
      for (let r = 0; r < o.rounds; r++) {
        const order = sides.map((_, i) => sides[(i + r) % sides.length]);
        for (const side of order) {
          process.stderr.write(`bench/sidecar: ${n} server(s): ${sc.title}: round ${r + 1}/${o.rounds}: ${side.label} ...\n`);
          runs[side.key][r] = await side.run(sc.args);
        }
      }
      // Closed loop: each side's median-throughput run. Paced, every run does the offered load, so the
      // throughput order is arbitrary: each side's median-p50 run instead.
      const median = (list) => [...list].sort(sc.paced
        ? (x, y) => x.latencyUs.p50 - y.latencyUs.p50
        : (x, y) => x.opsPerSec - y.opsPerSec)[(list.length - 1) >> 1];
      const perM = (cpu, r) => (r.ops > 0 ? (cpu / r.ops) * 1e6 : NaN);
      const up = (r) => upPids.reduce((sum, pid) => sum + r.ticksByPid[pid], 0) / CLK_TCK;
      const proxy = (side, r) => (side.proxyPid ? r.ticksByPid[side.proxyPid] / CLK_TCK : 0);
      // Everything a run used: servers, the proxy, generator (its own process CPU).
      const all = (side, r) => up(r) + proxy(side, r) + r.genCpuSeconds;
      const sidecarSide = sides[sides.length - 1];
      const B = median(runs.sidecar);
      const sidecarCpu = proxy(sidecarSide, B);
      // Paced: a side that could not keep up with the offered load ran saturated, so comparing its latency is
      // not comparing at equal load.
      const kept = (r) => !sc.paced || r.opsPerSec >= rate * 0.97;
      // Each reference side and the sidecar compared with it.
      const vs = refs.map((d) => {
        const X = median(runs[d.key]);
        return {
          side: d, name: d.name, targets: d.targets, X,
          thr: B.opsPerSec / X.opsPerSec,
          addedP50: B.latencyUs.p50 - X.latencyUs.p50,
          kept: kept(X),
          cpuBound: perM(all(d, X), X) / perM(all(sidecarSide, B), B),
          roundThr: runs[d.key].map((a, r) => ratio(runs.sidecar[r].opsPerSec, a.opsPerSec)).join(', '),
          roundP50: runs[d.key].map((a, r) => signed(runs.sidecar[r].latencyUs.p50 - a.latencyUs.p50)).join(', '),
        };
      });
      if (!sc.paced) saturatedDirect = vs[0].X.opsPerSec;
      const cols = [...vs.map((v) => [v.side, v.X]), [sidecarSide, B]];
      const blank = vs.map(() => '');
      const rows = [
        ['throughput (ops/s)', ...cols.map(([, r]) => fmt(r.opsPerSec)), ...vs.map((v) => `${v.thr.toFixed(2)}x`)],
        ['p50 latency (µs)', ...cols.map(([, r]) => fmt(r.latencyUs.p50)), ...vs.map((v) => `${signed(v.addedP50)} µs`)],
        ['p99 latency (µs)', ...cols.map(([, r]) => fmt(r.latencyUs.p99)), ...vs.map((v) => ratio(B.latencyUs.p99, v.X.latencyUs.p99))],
        ['server CPU s per M ops (all servers)', ...cols.map(([, r]) => perM(up(r), r).toFixed(2)), ...blank],
        ['proxy CPU s per M ops', ...cols.map(([d, r]) => (d.proxyPid ? perM(proxy(d, r), r).toFixed(2) : '')), ...blank],
        ['generator CPU s per M ops', ...cols.map(([, r]) => perM(r.genCpuSeconds, r).toFixed(2)), ...blank],
        ['all processes: CPU s per M ops', ...cols.map(([d, r]) => perM(all(d, r), r).toFixed(2)), ...vs.map((v) => `${v.cpuBound.toFixed(2)}x if CPU-bound`)],
        ['cores busy (these processes, of ' + cpus().length + ')', ...cols.map(([d, r]) => (all(d, r) / r.seconds).toFixed(2)), ...blank],
        ['proxy CPU (of one core)', ...cols.map(([d, r]) => (d.proxyPid ? `${Math.round((proxy(d, r) / r.seconds) * 100)}%` : '')), ...blank],
        ['get misses / errors', ...cols.map(([, r]) => `${r.misses} / ${r.errors}`), ...blank],
      ];
      const verdict = (v) => (!v.targets
        ? `vs ${v.name} (the anchor, no target): throughput ${v.thr.toFixed(2)}x, added p50 ${signed(v.addedP50)} µs${v.kept ? '' : ` (${v.name} did not keep up with the offered load)`}`
        : sc.paced
          ? `added p50 at the same offered load vs ${v.name}: ${!v.kept ? `no verdict: ${v.name} did not keep up with the offered load` : met(v.addedP50 < 100)} (${signed(v.addedP50)} µs)`
          : `throughput >= 0.6x ${v.name}: ${met(v.thr >= 0.6)} (${v.thr.toFixed(2)}x); added p50 < 100 µs vs ${v.name}: ${met(v.addedP50 < 100)} (${signed(v.addedP50)} µs)`);
      const verdicts = [
        ...(sc.paced ? [`- offered ${fmt(rate)} ops/s on every side (${+(sc.paced * 100).toFixed(1)}% of the ${vs[0].side.label} side's saturated depth-16 median, ${fmt(saturatedDirect)} ops/s); achieved: ${[...vs.map((v) => `${v.name} ${fmt(v.X.opsPerSec)}`), `through the sidecar ${fmt(B.opsPerSec)}`].join(', ')}${kept(B) ? '' : ' (the sidecar side did NOT keep up: its latency includes queueing)'}${vs.filter((v) => !v.kept).map((v) => ` (${v.name} did NOT keep up)`).join('')}`] : []),
        ...vs.map((v) => `- ${v.targets ? 'target: ' : ''}${verdict(v)}`),
      ];
      const header = [
        `| | ${[...vs.map((v) => v.side.label), 'through sidecar', ...vs.map((v) => `sidecar / ${v.name}`)].join(' | ')} |`,
        `|---|${cols.map(() => '---:').join('|')}|${vs.map(() => '---:').join('|')}|`,
      ];
      sections.push([
        `### ${heading}: ${sc.title}`,
        '',
        ...header,
        ...rows.map((r) => `| ${r.join(' | ')} |`),
        '',
        ...verdicts,
        `- ${o.rounds} rounds, order rotating; the columns are each side's median-${sc.paced ? 'p50' : 'throughput'} run. Per round, through the sidecar vs ${vs.map((v) => `${v.name}: throughput ${v.roundThr}; added p50 (µs) ${v.roundP50}`).join('; vs ')}`,
        `- generator: \`node bench/loadgen.mjs ${sc.args.join(' ')} --set-ratio 0.0909 --value-size 100 --keys 100000 --warmup ${o.warmup} --duration ${o.duration}\`${n > 1 ? ' (ketama client: plus `--route ketama`)' : ''}`,
        '',
      ].join('\n'));
      const byName = (name) => vs.find((v) => v.name === name);
      const cell = (v) => (!v ? '— | —'
        : !v.targets || sc.paced
          ? `${v.thr.toFixed(2)}x | ${signed(v.addedP50)} µs${v.kept ? '' : ' (did not keep up)'}`
          : `${v.thr.toFixed(2)}x (${met(v.thr >= 0.6)}) | ${signed(v.addedP50)} µs (${met(v.addedP50 < 100)})`);
      summary.push(`| ${heading} | ${sc.args.join(' ')} | ${cell(vs[0])} | ${cell(byName('ketama client'))} | ${cell(byName('twemproxy'))} | ${perM(sidecarCpu, B).toFixed(2)} | ${vs[0].cpuBound.toFixed(2)}x |${o.baseline ? ` ${cell(byName('baseline build'))} |` : ''}`);
    }
  } finally {
    await stop(sidecar);
    await stop(twemproxy);
    await stop(baseline);
    for (const u of upstreams) await stop(u);
  }
  return { text: [`#### ${heading}`, '', note, '', ...sections].join('\n'), summary };
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'cachalot-sidecar-bench-'));
  const load0 = loadavg();
  const parts = [];
  try {
    parts.push(await compare(o.servers, tmp, `${o.servers} servers (headline)`,
      `- direct, partitioned: the generator's connections spread over the ${o.servers} servers in turn, each with keys of its own server only; direct, ketama client: every connection to all ${o.servers} servers, keys routed by the same ketama ring the sidecar uses (\`--route ketama\`); through twemproxy: all connections to nutcracker (ketama, md5) in front of the same servers; through the sidecar: all connections to the sidecar, which routes each key by the ring`));
    if (o.single && o.servers !== 1) {
      parts.push(await compare(1, tmp, '1 server (the hop alone)',
        '- the same single server every way (a ring of one member): the same server processes on every side, so the difference is the added hop'));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const head = [
    '',
    `## ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} — \`node bench/sidecar.mjs\` (cachalot-sidecar vs direct and vs twemproxy)`,
    '',
    `- machine: ${cpus().length} CPUs, node ${process.version}; cachalot-server -t 1 on loopback; one sidecar (default options: 1 pipelined connection per server)${o.twemproxy ? '; one nutcracker (twemproxy 0.5.0, one connection per server)' : ''}; warm-up ${o.warmup} s, measured ${o.duration} s per side and round, ${o.rounds} rounds`,
    `- proxies, servers and generator share ${cpus().length} cores; load average (1/5/15 min) at start: ${load0.map((x) => x.toFixed(2)).join(' ')}, at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    '- "if CPU-bound": all processes\' CPU per request direct / through the sidecar, the throughput ratio a machine whose only limit is CPU would show; "cores busy" says how close to that limit each side ran (process CPU from /proc/PID/stat: the kernel\'s softirq time for loopback packets is counted apart from processes, so both read low)',
    '',
    '- two direct baselines with several servers: "partitioned" (each connection to one server, with only that server\'s keys: one write per batch, the least work straight to the servers can cost, which no application with random keys gets) and "ketama client" (each connection to every server, a batch split by key into one write per server, as libmemcached-style clients do: what the application would run without the sidecar); twemproxy is the anchor (the proxy the sidecar replaces): its ratios carry no target',
    '',
    `| comparison | load | throughput vs partitioned (target >= 0.6x) | added p50 vs partitioned (target < 100 µs) | throughput vs ketama client | added p50 vs ketama client | throughput vs twemproxy | added p50 vs twemproxy | sidecar CPU s per M ops | if CPU-bound (vs partitioned) |${o.baseline ? ' throughput vs baseline build | added p50 vs baseline build |' : ''}`,
    `|---|---|---:|---:|---:|---:|---:|---:|---:|---:|${o.baseline ? '---:|---:|' : ''}`,
    ...parts.flatMap((p) => p.summary),
    '',
  ].join('\n');
  const text = head + parts.map((p) => p.text).join('\n');
  process.stdout.write(text);
  if (o.append) recordReport(RESULTS, text);
}

// ---------------------------------------------------------------------------------------------- --micro

async function micro() {
  const dist = (f) => import(join(ROOT, 'dist', 'server', 'src', f));
  const { Dispatcher } = await dist('sidecar/routing/dispatch.js');
  const { RoutingTable } = await dist('sidecar/routing/table.js');
  const { parseRingDocument } = await dist('ring/document.js');
  const { SidecarStats } = await dist('sidecar/sidecar-stats.js');
  const { md5First32 } = await dist('ring/md5.js');
  const { OutBuf } = await dist('protocol/outbuf.js');
  const { appendBytes } = await dist('sidecar/copy.js');
  const { createHash } = await import('node:crypto');
  const { PerformanceObserver, performance } = await import('node:perf_hooks');

  const KEYS = 10_000;
  const PIPELINE = 16;
  const key = (i) => `key:${String(i).padStart(12, '0')}`;
  const VALUE = 'v'.repeat(100);
  // Fake upstreams: send() hands back a connection whose buffer is emptied after every batch, and remembers
  // the parts so the "replies" can be completed as an upstream read would.
  const sent = [];
  const conn = { out: new OutBuf(1 << 20) };
  const upstream = (address) => ({
    address, ejected: false,
    send(part) { sent.push(part); return conn; },
    // A single-key get (coalesced on a real connection): its key goes into the line being built.
    sendGet(part, now, affinity, key, ks, ke) { sent.push(part); conn.out.byte(32); appendBytes(conn.out, key, ks, ke); },
  });
  const spec = parseRingDocument(JSON.stringify({ version: 1, members: [0, 1, 2].map((i) => ({ host: `10.0.0.${i}`, port: 11211 })) }));
  const ups = new Map();
  const table = new RoutingTable(spec, (m) => ups.get(m.address) ?? ups.set(m.address, upstream(m.address)).get(m.address), 'miss');
  const dispatcher = new Dispatcher({ table: () => table, ejectedGeneration: () => 0, stats: new SidecarStats(), maxItemSize: 1 << 20, statsReply: () => null });
  const clientOut = new OutBuf(1 << 20);
  const slots = [];
  const client = {
    affinity: 0,
    push(slot) { slot.owner = this; slots.push(slot); },
    local(bytes) { if (bytes) appendBytes(clientOut, bytes, 0, bytes.length); },
    swallow() {}, quit() {}, closeNow() {},
    slotDone() {},
  };
  const hit = (k) => Buffer.from(`VALUE ${k} 0 ${VALUE.length}\r\n${VALUE}\r\nEND\r\n`);
  const replies = { get: Array.from({ length: KEYS }, (_, i) => hit(key(i))), set: Buffer.from('STORED\r\n'), mg: Buffer.from(`VA 100\r\n${VALUE}\r\n`) };
  const batches = (make) => Array.from({ length: 64 }, (_, b) => Buffer.from(Array.from({ length: PIPELINE }, (_, i) => make((b * PIPELINE + i) * 7919 % KEYS)).join('')));
  const cases = {
    'get 1 key': { input: batches((i) => `get ${key(i)}\r\n`), reply: (p, i) => replies.get[i] },
    'set 100 B': { input: batches((i) => `set ${key(i)} 0 0 ${VALUE.length}\r\n${VALUE}\r\n`), reply: () => replies.set },
    'mg v': { input: batches((i) => `mg ${key(i)} v\r\n`), reply: () => replies.mg },
    'get 10 keys (split over 3)': {
      input: batches((i) => `get ${Array.from({ length: 10 }, (_, k) => key((i + k * 101) % KEYS)).join(' ')}\r\n`),
      reply: () => Buffer.from('END\r\n'),
    },
  };
  /** One pipelined batch through the dispatcher, the upstream "replies", the client's copy. */
  function runBatch(buf, reply) {
    let pos = 0;
    let n = 0;
    while (pos < buf.length) {
      const nl = buf.indexOf(10, pos);
      pos = dispatcher.dispatch(client, buf, pos, nl - 1, nl + 1, buf.length);
      n++;
    }
    for (let i = 0; i < sent.length; i++) sent[i].complete(reply(sent[i], i));
    sent.length = 0;
    for (const s of slots) if (s.out) appendBytes(clientOut, s.out, 0, s.out.length);
    slots.length = 0;
    conn.out.pos = 0;
    clientOut.pos = 0;
    return n;
  }
  let gcs = 0;
  const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
  obs.observe({ entryTypes: ['gc'] });
  const seconds = Math.max(1, o.duration);
  const rows = [];
  for (const [name, c] of Object.entries(cases)) {
    const reply = (p, i) => c.reply(p, i % KEYS);
    for (let end = performance.now() + 1000, b = 0; performance.now() < end; b++) runBatch(c.input[b % c.input.length], reply);
    await new Promise((r) => setTimeout(r, 10));
    gcs = 0;
    let n = 0;
    // CPU time, not wall time: the machine is shared, and a descheduled process would look slow.
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let b = 0; performance.now() - t0 < seconds * 1000; b++) n += runBatch(c.input[b % c.input.length], reply);
    const cpu = process.cpuUsage(cpu0);
    await new Promise((r) => setTimeout(r, 10));
    rows.push([name, (((cpu.user + cpu.system) * 1e3) / n).toFixed(0), ((gcs * 1e6) / n).toFixed(1)]);
  }
  const keys = Array.from({ length: 4096 }, (_, i) => Buffer.from(key(i)));
  const hashCase = (name, fn) => {
    for (let i = 0; i < 200_000; i++) fn(keys[i & 4095]);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 500) for (let i = 0; i < 4096; i++, n++) fn(keys[i]);
    const cpu = process.cpuUsage(cpu0);
    rows.push([name, (((cpu.user + cpu.system) * 1e3) / n).toFixed(0), '']);
  };
  hashCase('key hash: md5First32 (16-byte key)', (k) => md5First32(k, 0, k.length));
  hashCase('key hash: crypto.createHash md5', (k) => createHash('md5').update(k).digest().readUInt32LE(0));
  obs.disconnect();
  process.stdout.write(['| case | CPU ns per request | GCs per M requests |', '|---|---:|---:|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n');
}

(o.micro ? micro() : main()).catch((err) => {
  process.stderr.write(`bench/sidecar.mjs: ${err.stack ?? err}\n`);
  process.exitCode = 1;
});
