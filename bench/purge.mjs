#!/usr/bin/env node
// Ring purge benchmark, standalone: does a server purging the keys it no longer owns (docs/ring.md,
// "Servers") slow the gets it serves meanwhile? One cachalot-server process (dist/, `npm run build` first)
// per purge rate, following a ring file as member web-0:
//   1. the ring names web-0 alone (it owns every key); the items are filled;
//   A. paced gets of keys web-0 keeps under the next ring: latency p50 / p99 / p99.9 without a purge;
//   2. the ring becomes web-0, web-1, web-2 without `previous`: the purge of about 2/3 of the items starts;
//   B. the same gets while the purge runs (the window ends early if the purge does);
//   C. the same gets once the purge is done (the store is smaller, for reference).
// The claim checked: B's p99 is at most 1.2x A's. Gets ask only for kept keys, so all three phases are hits.
// Records its report in bench/RESULTS.md, replacing the same command's last one (unless --no-append).
//
//   node bench/purge.mjs [--quick] [--no-append] [--rates 50000,200000] [--items N] [--rate GETS/S]
//                        [--conns N] [--duration S] [--flash]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordReport } from './report.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'dist', 'server', 'src', 'cache', 'main.js');
const { Continuum } = await import(join(ROOT, 'dist', 'server', 'src', 'ring', 'continuum.js'));
const { DEFAULT_RING_PURGE_RATE } = await import(join(ROOT, 'dist', 'server', 'src', 'cache', 'config.js'));

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const QUICK = flag('--quick');
const RATES = String(opt('--rates', String(DEFAULT_RING_PURGE_RATE))).split(',').map(Number);
const ITEMS = Number(opt('--items', QUICK ? 300_000 : 1_000_000));
const GET_RATE = Number(opt('--rate', 20_000));
const CONNS = Number(opt('--conns', 16));
const DURATION = Number(opt('--duration', QUICK ? 5 : 10));
const FLASH = flag('--flash');
const VALUE = Buffer.alloc(100, 'v');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const keyOf = (i) => `key:${String(i).padStart(12, '0')}`;

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

const member = (name) => ({ name, host: `${name}.bench`, port: 11211, weight: 1, state: 'active' });
function writeRing(file, doc) {
  writeFileSync(`${file}.tmp`, JSON.stringify(doc));
  renameSync(`${file}.tmp`, file);
}

/** One connection: sends lines, resolves one reply at a time (a get's END, a set's STORED, stats' END). */
class Conn {
  constructor(port) {
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.setNoDelay(true);
    this.buf = '';
    this.waiting = [];
    this.sock.setEncoding('latin1');
    this.sock.on('data', (d) => {
      this.buf += d;
      for (;;) {
        const w = this.waiting[0];
        if (w === undefined) break;
        const end = this.buf.indexOf(w.until);
        if (end < 0) break;
        const reply = this.buf.slice(0, end + w.until.length);
        this.buf = this.buf.slice(end + w.until.length);
        this.waiting.shift();
        w.resolve(reply);
      }
    });
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
  }
  send(text, until, count = 1) {
    const replies = [];
    for (let i = 0; i < count; i++) replies.push(new Promise((resolve) => this.waiting.push({ until, resolve })));
    this.sock.write(text);
    return Promise.all(replies);
  }
  async stats() {
    const [text] = await this.send('stats\r\n', 'END\r\n');
    return new Map(text.split('\r\n').filter((l) => l.startsWith('STAT ')).map((l) => {
      const [, k, ...v] = l.split(' ');
      return [k, v.join(' ')];
    }));
  }
  close() {
    this.sock.destroy();
  }
}

async function start(dir, rate) {
  const port = await freePort();
  const mport = await freePort();
  const ringFile = join(dir, 'ring.json');
  writeRing(ringFile, { version: 1, members: [member('web-0')] });
  const extra = FLASH ? ['-o', `ext_path=${dir}:1g`, '-o', 'ext_item_size=0'] : [];
  const child = spawn(process.execPath, [MAIN, '-p', String(port), '-l', '127.0.0.1', '-t', '2', '-U', '0',
    '-m', FLASH ? '64' : '1024', '--metrics-port', String(mport), '--metrics-listen', '127.0.0.1',
    '--ring-file', ringFile, '--ring-member', 'web-0', '--ring-poll-ms', '50', '-o', `ring_purge_rate=${rate}`, ...extra],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return { child, port, ringFile };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error('cachalot-server did not start');
}

async function fill(port) {
  const conns = Array.from({ length: 4 }, () => new Conn(port));
  await Promise.all(conns.map((c) => c.ready));
  const t0 = performance.now();
  const BATCH = 200;
  let next = 0;
  await Promise.all(conns.map(async (c) => {
    while (next < ITEMS) {
      const from = next;
      const to = Math.min(ITEMS, from + BATCH);
      next = to;
      let text = '';
      for (let i = from; i < to; i++) text += `set ${keyOf(i)} 0 0 ${VALUE.length} noreply\r\n${VALUE.toString('latin1')}\r\n`;
      await c.send(`${text}mn\r\n`, 'MN\r\n');
    }
  }));
  for (const c of conns) c.close();
  return (performance.now() - t0) / 1000;
}

/**
 * Paced gets over `keys` from CONNS connections at GET_RATE in total, for `seconds` or until `stop()`; each
 * connection sends its next get on a fixed schedule (or at once when late), one outstanding at a time.
 */
async function measure(port, keys, seconds, stop = () => false) {
  const conns = Array.from({ length: CONNS }, () => new Conn(port));
  await Promise.all(conns.map((c) => c.ready));
  const lat = [];
  let misses = 0;
  const interval = (CONNS * 1000) / GET_RATE;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let seed = 12345;
  const rnd = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  await Promise.all(conns.map(async (c, ci) => {
    let due = t0 + (ci * interval) / CONNS;
    for (;;) {
      const now = performance.now();
      if (now >= end || stop()) break;
      if (due > now) await sleep(due - now);
      const key = keys[Math.floor(rnd() * keys.length)];
      const s = performance.now();
      const [reply] = await c.send(`get ${key}\r\n`, 'END\r\n');
      lat.push(performance.now() - s);
      if (reply.length === 5) misses++;
      due += interval;
    }
  }));
  for (const c of conns) c.close();
  const seconds_ = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const p = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? NaN;
  return { gets: lat.length, seconds: seconds_, misses, p50: p(0.5), p99: p(0.99), p999: p(0.999) };
}

async function runRate(rate) {
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-purge-bench-'));
  const s = await start(dir, rate);
  try {
    const admin = new Conn(s.port);
    await admin.ready;
    const fillSeconds = await fill(s.port);
    const next = { version: 2, members: [member('web-0'), member('web-1'), member('web-2')] };
    const continuum = new Continuum(next.members, 40);
    const kept = [];
    for (let i = 0; i < ITEMS; i++) if (continuum.ownerOf(Buffer.from(keyOf(i))) === 0) kept.push(keyOf(i));
    const before = await admin.stats();
    // Warm-up (JIT on both sides), then A.
    await measure(s.port, kept, 2);
    const a = await measure(s.port, kept, DURATION);
    writeRing(s.ringFile, next);
    for (let i = 0; i < 200 && (await admin.stats()).get('ring_version') !== '2'; i++) await sleep(25);
    const purgeStart = performance.now();
    let purging = true;
    const poll = (async () => {
      while (purging) {
        if ((await admin.stats()).get('ring_state') !== 'purging') purging = false;
        else await sleep(100);
      }
    })();
    const b = await measure(s.port, kept, DURATION, () => !purging);
    const bPurging = purging;
    while (purging) await sleep(100);
    await poll;
    const purgeSeconds = (performance.now() - purgeStart) / 1000;
    const after = await admin.stats();
    const c = await measure(s.port, kept, DURATION);
    admin.close();
    return {
      rate, fillSeconds, a, b, c, bPurging, purgeSeconds,
      itemsBefore: Number(before.get('curr_items')), purged: Number(after.get('ring_purged_items')), kept: kept.length,
    };
  } finally {
    s.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : String(x));
/** Milliseconds (performance.now) as whole microseconds. */
const us = (x) => fmt(x * 1000, 0);

async function main() {
  const results = [];
  for (const rate of RATES) results.push(await runRate(rate));
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch { /* not a checkout */ }
  const lines = [
    `## ${new Date().toISOString()} — \`node bench/purge.mjs ${args.join(' ')}\``.trimEnd().replace(/ `$/, '`'),
    '',
    `commit ${commit}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; cachalot-server -t 2 ` +
      `${FLASH ? '-m 64 with a flash tier' : '-m 1024'}, ${fmt(ITEMS)} items of ${VALUE.length} B; gets paced at ${fmt(GET_RATE)}/s over ` +
      `${CONNS} connections, ${DURATION} s per phase, keys the member keeps (all hits). A: no purge; B: while the purge of ` +
      'the keys of the two new members runs; C: after it. Latencies in µs, measured by the client.',
    '',
    '| ring_purge_rate (items/s) | purged | purge time (s) | A p50 / p99 / p99.9 | B p50 / p99 / p99.9 | C p50 / p99 / p99.9 | B p99 / A p99 | B gets (purge running to the end of B) |',
    '|---:|---:|---:|---|---|---|---:|---|',
    ...results.map((r) => `| ${fmt(r.rate)} | ${fmt(r.purged)} of ${fmt(r.itemsBefore)} | ${fmt(r.purgeSeconds, 1)} | ` +
      `${us(r.a.p50)} / ${us(r.a.p99)} / ${us(r.a.p999)} | ${us(r.b.p50)} / ${us(r.b.p99)} / ${us(r.b.p999)} | ` +
      `${us(r.c.p50)} / ${us(r.c.p99)} / ${us(r.c.p999)} | ${fmt(r.b.p99 / r.a.p99, 2)} | ${fmt(r.b.gets)} (${r.bPurging ? 'yes' : 'no: purge ended first'}) |`),
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  const misses = results.reduce((n, r) => n + r.a.misses + r.b.misses + r.c.misses, 0);
  if (misses > 0) process.stderr.write(`warning: ${misses} gets of kept keys missed\n`);
  if (!flag('--no-append')) recordReport(join(ROOT, 'bench', 'RESULTS.md'), text);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
