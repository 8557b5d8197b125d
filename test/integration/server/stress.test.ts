// Invariants that break under races, checked with 4 worker threads and 120 connections doing mixed
// operations at once: incr totals exact (and every intermediate value handed out exactly once), exactly
// one cas winner per round, no torn or mixed-up values (each value carries its key and a checksum,
// verified on every read, sizes up to 64 KiB), and the memory accounting back to its starting numbers
// after everything written is deleted. Every loop is bounded in count and by a deadline.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stopServer } from '../../support/servers.js';
import { startCachalotServer, type Cachalot } from '../../support/cachalot.js';
import { connectMany, McClient, storageCommand, type Reply } from '../../support/mcclient.js';
import { checkValue, makeValue, rng } from '../../support/selfcheck.js';

const CLIENTS = 120;
const ROUNDS = 30;
const COUNTERS = 4;
const SHARED_KEYS = 16;
const OWN_KEYS = 4;
const CAS_ROUNDS = 12;
const SIZES = [0, 1, 50, 300, 1_000, 4_000, 12_000, 30_000, 65_536 - 64];
const PHASE_DEADLINE_MS = 30_000;

let server: Cachalot;
let clients: McClient[] = [];
let control: McClient;
let baseline: { items: number; bytes: number };

beforeAll(async () => {
  // 256 MB: the ~100 MB written in total never needs eviction, so every miss below is a bug.
  server = await startCachalotServer({ threads: 4, memoryMb: 256 });
  [control] = await connectMany(server.port, 1);
  const stats = await control!.stats();
  baseline = { items: Number(stats.get('curr_items')), bytes: Number(stats.get('bytes')) };
  clients = await connectMany(server.port, CLIENTS);
});

afterAll(async () => {
  for (const c of clients) c.close();
  control?.close();
  await stopServer(server?.server);
});

describe('stress: 4 threads, 120 connections', () => {
  const problems: string[] = [];
  const counterReplies: number[][] = Array.from({ length: COUNTERS }, () => []);
  const counterExpected = new Array<number>(COUNTERS).fill(0);
  const ownExists: boolean[][] = [];
  const sharedWritten = new Set<number>();

  it('mixed incr / set / get / delete on own and shared keys: exact totals, no torn or misplaced values', async () => {
    const setup = await control.pipeline(
      Array.from({ length: COUNTERS }, (_, i) => `set ctr:${i} 0 0 1\r\n0\r\n`).join(''),
      new Array(COUNTERS).fill('line'),
    );
    expect(setup.map((r) => r.line)).toEqual(new Array(COUNTERS).fill('STORED'));

    const deadline = Date.now() + PHASE_DEADLINE_MS;
    const runClient = async (id: number): Promise<void> => {
      const c = clients[id]!;
      const exists = new Array<boolean>(OWN_KEYS).fill(false);
      ownExists[id] = exists;
      const next = rng(id * 7919 + 1);
      for (let round = 0; round < ROUNDS; round++) {
        if (Date.now() > deadline) throw new Error(`client ${id} still in round ${round} at the deadline`);
        const ctr = (id + round) % COUNTERS;
        const own = round % OWN_KEYS;
        const doomed = (round + 1) % OWN_KEYS;
        const shared = next() % SHARED_KEYS;
        const ownKey = `v:${id}:${own}`;
        const ownValue = makeValue(ownKey, `c${id}r${round}`, SIZES[next() % SIZES.length]!, next());
        const writeShared = round % 2 === 0;
        const sharedKey = `s:${shared}`;
        const parts: Buffer[] = [
          // Every third round through the meta protocol: ma and incr must share one atomic counter.
          Buffer.from(round % 3 === 2 ? `ma ctr:${ctr}\r\n` : `incr ctr:${ctr} 1\r\n`),
          storageCommand('set', ownKey, ownValue, id),
          Buffer.from(`get ${ownKey}\r\n`),
          Buffer.from(`delete v:${id}:${doomed}\r\n`),
          Buffer.from(`get ${sharedKey}\r\n`),
        ];
        if (writeShared) parts.push(storageCommand('set', sharedKey, makeValue(sharedKey, `c${id}r${round}`, SIZES[next() % SIZES.length]!, next())));
        const replies: Reply[] = await c.pipeline(
          Buffer.concat(parts),
          writeShared ? ['line', 'line', 'values', 'line', 'values', 'line'] : ['line', 'line', 'values', 'line', 'values'],
        );
        const [incr, set, getOwn, del, getShared, setShared] = replies;
        counterExpected[ctr]!++;
        if (round % 3 === 2) {
          if (incr!.line !== 'HD') problems.push(`ma ctr:${ctr}: ${incr!.line}`);
        } else if (!/^\d+$/.test(incr!.line)) problems.push(`incr ctr:${ctr}: ${incr!.line}`);
        else counterReplies[ctr]!.push(Number(incr!.line));
        if (set!.line !== 'STORED') problems.push(`set ${ownKey}: ${set!.line}`);
        exists[own] = true;
        // The same connection just stored it: a miss, another value or other flags is a bug.
        if (getOwn!.values.length !== 1) problems.push(`get ${ownKey} right after set: ${getOwn!.values.length} values, ${getOwn!.line}`);
        else if (!getOwn!.values[0]!.data.equals(ownValue) || getOwn!.values[0]!.flags !== id || getOwn!.values[0]!.key !== ownKey) {
          problems.push(`get ${ownKey} right after set: ${checkValue(ownKey, getOwn!.values[0]!.data) ?? 'an older value'}`);
        }
        const expectedDel = exists[doomed] ? 'DELETED' : 'NOT_FOUND';
        if (del!.line !== expectedDel) problems.push(`delete v:${id}:${doomed}: ${del!.line}, expected ${expectedDel}`);
        exists[doomed] = false;
        for (const v of getShared!.values) {
          const bad = v.key === sharedKey ? checkValue(sharedKey, v.data) : `get ${sharedKey} returned key ${v.key}`;
          if (bad) problems.push(bad);
        }
        if (getShared!.line !== 'END' || getShared!.values.length > 1) problems.push(`get ${sharedKey}: ${getShared!.line}`);
        if (setShared) {
          if (setShared.line !== 'STORED') problems.push(`set ${sharedKey}: ${setShared.line}`);
          sharedWritten.add(shared);
        }
      }
    };
    await Promise.all(clients.map((_, id) => runClient(id)));
    expect(problems.slice(0, 20)).toEqual([]);

    for (let i = 0; i < COUNTERS; i++) {
      // incr's replies are distinct steps within 1..total (ma's steps, answered HD, fill the gaps).
      const sorted = [...counterReplies[i]!].sort((a, b) => a - b);
      expect(new Set(sorted).size).toBe(sorted.length);
      expect(sorted[0]).toBeGreaterThanOrEqual(1);
      expect(sorted[sorted.length - 1]).toBeLessThanOrEqual(counterExpected[i]!);
    }
    const finals = await control.pipeline(
      Array.from({ length: COUNTERS }, (_, i) => `get ctr:${i}\r\n`).join(''),
      new Array(COUNTERS).fill('values'),
    );
    expect(finals.map((r) => Number(r.values[0]?.data.toString()))).toEqual(counterExpected);
    expect(counterExpected.reduce((a, b) => a + b, 0)).toBe(CLIENTS * ROUNDS);
  });

  it('every shared value read back after the storm is intact, and curr_items counts exactly the live keys', async () => {
    const keys = [...sharedWritten].map((k) => `s:${k}`);
    const replies = await control.pipeline(keys.map((k) => `get ${k}\r\n`).join(''), keys.map(() => 'values'));
    replies.forEach((r, i) => {
      expect(r.values).toHaveLength(1);
      expect(checkValue(keys[i]!, r.values[0]!.data)).toBeNull();
    });
    const ownLive = ownExists.reduce((n, e) => n + (e?.filter(Boolean).length ?? 0), 0);
    const stats = await control.stats();
    expect(Number(stats.get('curr_items')) - baseline.items).toBe(COUNTERS + ownLive + sharedWritten.size);
    expect(stats.get('evictions')).toBe('0');
  });

  it('exactly one cas winner per round among 120 connections holding the same cas value', async () => {
    for (let round = 0; round < CAS_ROUNDS; round++) {
      const key = `cas:${round}`;
      expect((await control.request(`set ${key} 0 0 4\r\ninit\r\n`, 'line')).line).toBe('STORED');
      const seen = await Promise.all(clients.map((c) => c.request(`gets ${key}\r\n`, 'values')));
      const casValues = new Set(seen.map((r) => r.values[0]?.cas));
      expect(casValues.size).toBe(1);
      const [cas] = [...casValues];
      expect(typeof cas).toBe('bigint');
      // Every request is written before any reply is awaited, so the 120 cas commands race on 4 threads.
      // 8 KiB checksummed values: the losers' data blocks must not leak into the winner's item.
      const values = clients.map((_, id) => makeValue(key, `winner-${id}`, 8_192, round * 1000 + id));
      const attempts = clients.map((c, id) => c.request(storageCommand('cas', key, values[id]!, 0, 0, cas), 'line'));
      const outcomes = (await Promise.all(attempts)).map((r) => r.line);
      const winners = outcomes.flatMap((line, id) => (line === 'STORED' ? [id] : []));
      expect(winners).toHaveLength(1);
      expect(outcomes.filter((l) => l === 'EXISTS')).toHaveLength(CLIENTS - 1);
      const final = await control.request(`get ${key}\r\n`, 'values');
      expect(final.values[0]?.data.equals(values[winners[0]!]!)).toBe(true);
    }
  });

  it('120 connections appending to one key at once: every chunk lands exactly once and whole', async () => {
    const APPENDS = 5;
    expect((await control.request('set log 0 0 0\r\n\r\n', 'line')).line).toBe('STORED');
    const chunk = (id: number, j: number): string => `<${id}.${j}:${'#'.repeat((id * 7 + j) % 40)}>`;
    const replies = await Promise.all(clients.map((c, id) => {
      const reqs = Array.from({ length: APPENDS }, (_, j) => storageCommand('append', 'log', Buffer.from(chunk(id, j))));
      return c.pipeline(Buffer.concat(reqs), new Array(APPENDS).fill('line'));
    }));
    expect(new Set(replies.flat().map((r) => r.line))).toEqual(new Set(['STORED']));
    const log = (await control.request('get log\r\n', 'values')).values[0]!.data.toString('latin1');
    const chunks = log.match(/<[^>]*>/g) ?? [];
    expect(chunks.join('')).toBe(log); // nothing between or inside chunks
    expect(chunks).toHaveLength(CLIENTS * APPENDS);
    expect(new Set(chunks).size).toBe(CLIENTS * APPENDS);
    // Each connection's own appends stay in its order.
    for (let id = 0; id < CLIENTS; id++) {
      const mine = chunks.filter((c) => c.startsWith(`<${id}.`));
      expect(mine).toEqual(Array.from({ length: APPENDS }, (_, j) => chunk(id, j)));
    }
    expect((await control.request('delete log\r\n', 'line')).line).toBe('DELETED');
  });

  it('curr_items and bytes return to their starting values once everything written is deleted', async () => {
    const keys = [
      ...Array.from({ length: COUNTERS }, (_, i) => `ctr:${i}`),
      ...Array.from({ length: SHARED_KEYS }, (_, i) => `s:${i}`),
      ...Array.from({ length: CAS_ROUNDS }, (_, i) => `cas:${i}`),
      ...Array.from({ length: CLIENTS * OWN_KEYS }, (_, i) => `v:${Math.floor(i / OWN_KEYS)}:${i % OWN_KEYS}`),
    ];
    // Deletes spread over all connections, so they run on every thread at once.
    await Promise.all(clients.map((c, id) => {
      const mine = keys.filter((_, i) => i % CLIENTS === id);
      return mine.length === 0 ? [] : c.pipeline(mine.map((k) => `delete ${k}\r\n`).join(''), mine.map(() => 'line'));
    }));
    const stats = await control.stats();
    expect({ items: Number(stats.get('curr_items')), bytes: Number(stats.get('bytes')) }).toEqual(baseline);
    expect(Number(stats.get('total_items'))).toBeGreaterThan(CLIENTS * ROUNDS);
    const again = await control.pipeline(keys.slice(0, 40).map((k) => `get ${k}\r\n`).join(''), keys.slice(0, 40).map(() => 'values'));
    expect(again.map((r) => r.raw.toString())).toEqual(new Array(40).fill('END\r\n'));
  });

  it('curr_connections returns to 1 once the 120 connections are gone (half closed, half reset)', async () => {
    clients.forEach((c, i) => (i % 2 === 0 ? c.socket.end() : c.socket.resetAndDestroy()));
    let current = -1;
    for (let i = 0; i < 100 && current !== 1; i++) {
      current = await control.statNumber('curr_connections');
      if (current !== 1) await new Promise((r) => setTimeout(r, 50));
    }
    expect(current).toBe(1);
  });
});

describe('stress: 4 threads overfilling -m 8 at once', () => {
  const WRITERS = 40;
  const SETS = 50;
  const FILL_SIZES = [100, 1_000, 5_000, 20_000, 60_000, 100_000];
  let small: Cachalot;
  let writers: McClient[] = [];
  let watcher: McClient;

  beforeAll(async () => {
    small = await startCachalotServer({ threads: 4, memoryMb: 8, metrics: false });
    watcher = await McClient.connect(small.port);
    writers = await connectMany(small.port, WRITERS);
  });

  afterAll(async () => {
    for (const c of writers) c.close();
    watcher?.close();
    await stopServer(small?.server);
  });

  it('every set is stored, bytes never exceed limit_maxbytes, values read back are whole, and deletes zero the accounting', async () => {
    const limit = Number((await watcher.stats()).get('limit_maxbytes'));
    expect(limit).toBe(8 * 1024 * 1024);
    let writing = true;
    const samples: number[] = [];
    const watch = (async () => {
      for (let i = 0; i < 2_000 && writing; i++) {
        const st = await watcher.stats();
        samples.push(Number(st.get('bytes')));
      }
    })();
    const problems: string[] = [];
    const deadline = Date.now() + PHASE_DEADLINE_MS;
    await Promise.all(writers.map(async (c, id) => {
      const next = rng(id * 104729 + 3);
      for (let j = 0; j < SETS; j++) {
        if (Date.now() > deadline) throw new Error(`writer ${id} still at set ${j} at the deadline`);
        const key = `fill:${id}:${j}`;
        const value = makeValue(key, `w${id}`, FILL_SIZES[next() % FILL_SIZES.length]!, next());
        // Read back an earlier key of this writer in the same pipeline: a miss is fine (evicted), a torn value is not.
        const earlier = `fill:${id}:${next() % (j + 1)}`;
        const [set, get] = await c.pipeline(Buffer.concat([storageCommand('set', key, value), Buffer.from(`get ${earlier}\r\n`)]), ['line', 'values']);
        if (set!.line !== 'STORED') problems.push(`set ${key} (${value.length} bytes): ${set!.line}`);
        for (const v of get!.values) {
          const bad = v.key === earlier ? checkValue(earlier, v.data) : `get ${earlier} returned ${v.key}`;
          if (bad) problems.push(bad);
        }
      }
    }));
    writing = false;
    await watch;
    expect(problems.slice(0, 10)).toEqual([]);
    expect(samples.length).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(limit);
    const stats = await watcher.stats();
    expect(Number(stats.get('bytes'))).toBeLessThanOrEqual(limit);
    expect(Number(stats.get('evictions'))).toBeGreaterThan(0);
    // Delete every key ever written (most are gone already): nothing may be left counted.
    await Promise.all(writers.map((c, id) => {
      const keys = Array.from({ length: SETS }, (_, j) => `fill:${id}:${j}`);
      return c.pipeline(keys.map((k) => `delete ${k}\r\n`).join(''), keys.map(() => 'line'));
    }));
    const end = await watcher.stats();
    expect({ items: end.get('curr_items'), bytes: end.get('bytes') }).toEqual({ items: '0', bytes: '0' });
  });
});
