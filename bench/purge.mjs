#!/usr/bin/env node
// Ring purge benchmark, standalone: does a server purging the keys it no longer owns (docs/ring.md,
// "Servers") slow the gets it serves meanwhile? One cachalot-server process (dist/, `npm run build` first)
// per purge rate, following a ring file as member web-0, filled as the ring's only member. Then rounds of
// two windows each, in alternating order (A B, B A, A B, ...) so that drift in the machine's load falls on
// both sides alike:
//   A. paced gets of the keys web-0 keeps, with web-0 the only member (nothing to purge);
//   B. the same gets while a purge runs: the ring becomes web-0, web-1, web-2 without `previous`, and the
//      window starts once the server reports `purging`; afterwards the ring goes back to web-0 alone (which
//      stops the sweep) and the dropped keys are set again, so that every B window purges the same store.
// The claim checked: the median over rounds of B's p99 is at most 1.2x the median of A's. Gets ask only
// for kept keys, so every window is all hits. A window's p99 needs many gets: one under MIN_SAMPLES is
// flagged in the report.
// Records its report in bench/RESULTS.md, replacing the same program's last one (unless --no-append).
//
//   node bench/purge.mjs [--quick] [--no-append] [--rates 25000,50000] [--items N] [--rate GETS/S]
//                        [--conns N] [--window S] [--rounds N] [--flash] [--server CHECKOUT]
//
// --server runs the dist/ of another checkout (a before/after comparison with the same client).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordReport } from './report.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
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
const WINDOW = Number(opt('--window', QUICK ? 3 : 5));
const ROUNDS = Number(opt('--rounds', QUICK ? 3 : 7));
const FLASH = flag('--flash');
const SERVER = opt('--server', ROOT);
const MAIN = join(SERVER, 'dist', 'server', 'src', 'cache', 'main.js');
/** Gets per window below which its p99 rests on fewer than 100 samples above it: flagged in the report. */
const MIN_SAMPLES = 10_000;
/** The claim: the purge raises the p99 of concurrent gets by at most 20 %. */
const TARGET = 1.2;
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

/** Sets the keys numbered in `which` (pipelined, 4 connections); resolves to the seconds it took. */
async function fill(port, which) {
  const conns = Array.from({ length: 4 }, () => new Conn(port));
  await Promise.all(conns.map((c) => c.ready));
  const t0 = performance.now();
  const BATCH = 200;
  const value = VALUE.toString('latin1');
  let next = 0;
  await Promise.all(conns.map(async (c) => {
    while (next < which.length) {
      const from = next;
      const to = Math.min(which.length, from + BATCH);
      next = to;
      let text = '';
      for (let i = from; i < to; i++) text += `set ${keyOf(which[i])} 0 0 ${VALUE.length} noreply\r\n${value}\r\n`;
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

/** Polls `stats` until `ok(stats)`; throws after ~20 s. */
async function until(admin, ok, what) {
  for (let i = 0; i < 800; i++) {
    if (ok(await admin.stats())) return;
    await sleep(25);
  }
  throw new Error(`the server never reached: ${what}`);
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

async function runRate(rate) {
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-purge-bench-'));
  const s = await start(dir, rate);
  try {
    const admin = new Conn(s.port);
    await admin.ready;
    const all = Array.from({ length: ITEMS }, (_, i) => i);
    const fillSeconds = await fill(s.port, all);
    const alone = [member('web-0')];
    const three = [member('web-0'), member('web-1'), member('web-2')];
    const continuum = new Continuum(three, 40);
    const kept = [];
    const given = [];
    for (let i = 0; i < ITEMS; i++) (continuum.ownerOf(Buffer.from(keyOf(i))) === 0 ? kept : given).push(i);
    const keptKeys = kept.map(keyOf);
    let version = 1;
    // Warm-up: the JIT on both sides.
    await measure(s.port, keptKeys, 2);
    const a = [];
    const b = [];
    let refillSeconds = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const phase of round % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
        if (phase === 'A') {
          a.push(await measure(s.port, keptKeys, WINDOW));
          continue;
        }
        writeRing(s.ringFile, { version: ++version, members: three });
        const v = String(version);
        await until(admin, (st) => st.get('ring_version') === v && st.get('ring_state') === 'purging', `ring ${v} purging`);
        const purgedBefore = Number((await admin.stats()).get('ring_purged_items'));
        let purging = true;
        const poll = (async () => {
          while (purging) {
            if ((await admin.stats()).get('ring_state') !== 'purging') purging = false;
            else await sleep(100);
          }
        })();
        const m = await measure(s.port, keptKeys, WINDOW, () => !purging);
        const throughout = purging;
        purging = false;
        await poll;
        // Back to web-0 alone: the sweep stops; then the keys it dropped come back for the next B.
        writeRing(s.ringFile, { version: ++version, members: alone });
        const w = String(version);
        await until(admin, (st) => st.get('ring_version') === w && st.get('ring_state') === 'done', `ring ${w} done`);
        const purged = Number((await admin.stats()).get('ring_purged_items')) - purgedBefore;
        b.push({ ...m, throughout, purged });
        refillSeconds += await fill(s.port, given);
      }
    }
    admin.close();
    return { rate, fillSeconds, refillSeconds, a, b, kept: kept.length };
  } finally {
    s.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : String(x));
/** Milliseconds (performance.now) as whole microseconds. */
const us = (x) => fmt(x * 1000, 0);

/** One result's figures: medians over rounds, the ratio of the p99 medians, and the per-round ratios. */
function summarize(r) {
  const p = (ws, q) => median(ws.map((w) => w[q]));
  const ratio = p(r.b, 'p99') / p(r.a, 'p99');
  const perRound = r.a.map((w, i) => r.b[i].p99 / w.p99);
  const fewest = Math.min(...r.a.map((w) => w.gets), ...r.b.map((w) => w.gets));
  const purgeRate = median(r.b.map((w) => w.purged / w.seconds));
  return { ratio, perRound, fewest, purgeRate, a50: p(r.a, 'p50'), a99: p(r.a, 'p99'), a999: p(r.a, 'p999'),
    b50: p(r.b, 'p50'), b99: p(r.b, 'p99'), b999: p(r.b, 'p999'), cut: r.b.filter((w) => !w.throughout).length };
}

async function main() {
  const results = [];
  for (const rate of RATES) results.push(await runRate(rate));
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: SERVER }).toString().trim();
  } catch { /* not a checkout */ }
  const rows = results.map((r) => ({ r, s: summarize(r) }));
  const lines = [
    `## ${new Date().toISOString()} — \`node bench/purge.mjs ${args.join(' ')}\``.trimEnd().replace(/ `$/, '`'),
    '',
    `server commit ${commit}${SERVER === ROOT ? '' : ' (--server)'}, ${cpus().length} CPUs, load average ` +
      `${loadavg().map((l) => l.toFixed(1)).join(' ')}; cachalot-server -t 2 ${FLASH ? '-m 64 with a flash tier' : '-m 1024'}, ` +
      `${fmt(ITEMS)} items of ${VALUE.length} B; gets of the ${fmt(rows[0]?.r.kept ?? 0)} keys the member keeps (all hits), ` +
      `paced at ${fmt(GET_RATE)}/s over ${CONNS} connections. ${ROUNDS} rounds of two ${WINDOW} s windows in alternating ` +
      'order: A without a purge, B while the purge of the two new members\' keys runs (the dropped keys are set again ' +
      'after each B). Latencies in µs, measured by the client; p50 / p99 / p99.9 are medians over the rounds.',
    '',
    `Target: B p99 / A p99 ≤ ${TARGET.toFixed(2)} (purging raises the p99 of concurrent gets by at most ${Math.round((TARGET - 1) * 100)} %).`,
    '',
    '| ring_purge_rate (items/s) | purged per s in B | A p50 / p99 / p99.9 | B p50 / p99 / p99.9 | B p99 / A p99 | per round | target | fewest gets in a window |',
    '|---:|---:|---|---|---:|---|---|---:|',
    ...rows.map(({ r, s }) => `| ${fmt(r.rate)} | ${fmt(s.purgeRate)} | ${us(s.a50)} / ${us(s.a99)} / ${us(s.a999)} | ` +
      `${us(s.b50)} / ${us(s.b99)} / ${us(s.b999)} | ${fmt(s.ratio, 2)} | ${s.perRound.map((x) => fmt(x, 2)).join(' ')} | ` +
      `${s.ratio <= TARGET ? 'met' : 'missed'} | ${fmt(s.fewest)}${s.fewest < MIN_SAMPLES ? ' (too few for a p99)' : ''}` +
      `${s.cut > 0 ? `; ${s.cut} B window(s) ended with the purge` : ''} |`),
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  const misses = results.reduce((n, r) => n + [...r.a, ...r.b].reduce((m, w) => m + w.misses, 0), 0);
  if (misses > 0) process.stderr.write(`warning: ${misses} gets of kept keys missed\n`);
  if (!flag('--no-append')) recordReport(join(ROOT, 'bench', 'RESULTS.md'), text);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
