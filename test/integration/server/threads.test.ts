// -t 4: connections are accepted by several worker threads from one port, every connection is served, and a
// connection stays on the thread that accepted it. `stats conns` lists the connections of the answering
// thread only (stats-source.ts: each worker knows its own), so the listings partition the connections into
// threads: that is how the test sees which thread holds which connection.
import { availableParallelism } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stopServer } from '../../support/servers.js';
import { scrape, sleep, startCachalotServer, waitFor, type Cachalot } from '../../support/cachalot.js';
import { McClient, storageCommand } from '../../support/mcclient.js';

const THREADS = 4;
const CONNECTIONS = 64;
const PIPELINE_DEPTH = 150;

let server: Cachalot;
let clients: McClient[] = [];

/** Client ports the answering thread lists in `stats conns` (the listener line excluded). */
async function threadPeers(c: McClient): Promise<Set<number>> {
  const stats = await c.stats('conns');
  const ports = new Set<number>();
  for (const [name, value] of stats) {
    if (!name.endsWith(':addr')) continue;
    const port = Number(value.slice(value.lastIndexOf(':') + 1));
    if (port !== server.port) ports.add(port);
  }
  return ports;
}

/** Groups the clients by the thread listing them; throws if the listings are not a partition. */
async function threadsOf(list: McClient[]): Promise<Map<string, number[]>> {
  const peers = await Promise.all(list.map((c) => threadPeers(c)));
  const groups = new Map<string, number[]>();
  list.forEach((c, i) => {
    const own = peers[i]!;
    expect(own.has(c.localPort)).toBe(true);
    const id = [...own].sort((a, b) => a - b).join(',');
    groups.set(id, [...(groups.get(id) ?? []), c.localPort]);
  });
  return groups;
}

beforeAll(async () => {
  server = await startCachalotServer({ threads: THREADS });
  // Connect in small bursts with a pause between them: each burst is taken by whichever thread wakes first.
  for (let i = 0; i < CONNECTIONS; i += 4) {
    clients.push(...(await Promise.all([0, 1, 2, 3].map(() => McClient.connect(server.port)))));
    await sleep(5);
  }
});

afterAll(async () => {
  for (const c of clients) c.close();
  await stopServer(server?.server);
});

describe('-t 4 threads', () => {
  let initial: Map<string, number[]>;

  it('serves every connection, and the server counts all of them', async () => {
    const replies = await Promise.all(clients.map((c) => c.request('version\r\n', 'line')));
    expect(new Set(replies.map((r) => r.raw.toString()))).toEqual(new Set(['VERSION 1.6.18\r\n']));
    await waitFor(async () => (await scrape(server.metricsPort)).get('memcached_current_connections') === CONNECTIONS, 5_000, 'current connections');
    const metrics = await scrape(server.metricsPort);
    expect(metrics.get('cachalot_threads')).toBe(THREADS);
    expect(Number((await clients[0]!.stats()).get('threads'))).toBe(THREADS);
  });

  it('spreads the connections over more than one thread, each connection listed by exactly one', async () => {
    initial = await threadsOf(clients);
    const all = [...initial.values()].flat();
    expect(all).toHaveLength(CONNECTIONS);
    expect(new Set(all).size).toBe(CONNECTIONS);
    // A listing that named a port of another group would have produced a group key overlapping this one.
    const keys = [...initial.keys()].map((k) => new Set(k.split(',').map(Number)));
    for (let a = 0; a < keys.length; a++) {
      for (let b = a + 1; b < keys.length; b++) expect([...keys[a]!].filter((p) => keys[b]!.has(p))).toEqual([]);
    }
    expect(initial.size).toBeGreaterThanOrEqual(2);
    expect(initial.size).toBeLessThanOrEqual(THREADS);
  });

  it('answers deep pipelines on every connection at once, byte-exact and in order', async () => {
    const runs = clients.map(async (c, id) => {
      const key = `p:${id}`;
      let request = `set n:${id} 0 0 1\r\n0\r\n`;
      let expected = 'STORED\r\n';
      for (let i = 0; i < PIPELINE_DEPTH; i++) {
        const value = `${id}-${i}-${'x'.repeat((id * 31 + i * 17) % 300)}`;
        request += storageCommand('set', key, Buffer.from(value), i).toString('latin1');
        request += `get ${key}\r\nincr n:${id} 1\r\n`;
        expected += `STORED\r\nVALUE ${key} ${i} ${value.length}\r\n${value}\r\nEND\r\n${i + 1}\r\n`;
      }
      const shapes = ['line' as const, ...Array.from({ length: PIPELINE_DEPTH }, () => ['line', 'values', 'line'] as const).flat()];
      // Split at an odd offset so that a request straddles two reads.
      const bytes = Buffer.from(request, 'latin1');
      const cut = 7 + ((id * 97) % (bytes.length - 14));
      const done = c.pipeline(bytes.subarray(0, cut), shapes);
      await sleep(1);
      c.socket.write(bytes.subarray(cut));
      const replies = await done;
      return Buffer.concat(replies.map((r) => r.raw)).toString('latin1') === expected ? null : `connection ${id}: replies out of order or wrong`;
    });
    expect((await Promise.all(runs)).filter((r) => r !== null)).toEqual([]);
  });

  it('keeps order when large replies (a 2 MB multi-get, 300 KiB values) and small ones share a pipeline', async () => {
    const big = Buffer.alloc(300 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 7) & 0xff;
    const setup = await clients[0]!.request(storageCommand('set', 'large', big, 3), 'line');
    expect(setup.line).toBe('STORED');
    const bigReply = Buffer.concat([Buffer.from(`VALUE large 3 ${big.length}\r\n`), big, Buffer.from('\r\n')]);
    const runs = clients.slice(0, 4).map(async (c, id) => {
      const parts: Buffer[] = [];
      const expected: Buffer[] = [];
      const shapes: Array<'line' | 'values'> = [];
      for (let i = 0; i < 3; i++) {
        const small = `s${id}-${i}`;
        parts.push(storageCommand('set', `small:${id}`, Buffer.from(small)));
        expected.push(Buffer.from('STORED\r\n'));
        // 7 keys x 300 KiB: one line whose reply crosses the server's 1 MiB multi-get yield twice.
        parts.push(Buffer.from(`get large small:${id} large large nope large large large\r\n`));
        const smallReply = Buffer.from(`VALUE small:${id} 0 ${small.length}\r\n${small}\r\n`);
        expected.push(bigReply, smallReply, bigReply, bigReply, bigReply, bigReply, bigReply, Buffer.from('END\r\n'));
        parts.push(Buffer.from(`incr nope 1\r\nget small:${id}\r\n`));
        expected.push(Buffer.from('NOT_FOUND\r\n'), smallReply, Buffer.from('END\r\n'));
        shapes.push('line', 'values', 'line', 'values');
      }
      const replies = await c.pipeline(Buffer.concat(parts), shapes);
      return Buffer.concat(replies.map((r) => r.raw)).equals(Buffer.concat(expected)) ? null : `connection ${id}: wrong or reordered bytes`;
    });
    expect((await Promise.all(runs)).filter((r) => r !== null)).toEqual([]);
  });

  it('keeps each connection on the thread that accepted it', async () => {
    const later = await threadsOf(clients);
    expect(new Set(later.keys())).toEqual(new Set(initial.keys()));
    // And new connections do not move the old ones: open more, then the old ones still list the same peers.
    const extra = await Promise.all(Array.from({ length: 8 }, () => McClient.connect(server.port)));
    try {
      // Answered means accepted and registered by its thread, so every listing below includes it.
      await Promise.all(extra.map((e) => e.request('version\r\n', 'line')));
      const withExtra = await threadsOf([...clients, ...extra]);
      for (const ports of withExtra.values()) {
        const old = ports.filter((p) => !extra.some((e) => e.localPort === p)).sort((a, b) => a - b).join(',');
        if (old !== '') expect(initial.has(old)).toBe(true);
      }
    } finally {
      for (const e of extra) e.close();
    }
  });
});

describe('without -t', () => {
  let defaults: Cachalot;

  beforeAll(async () => {
    defaults = await startCachalotServer({ threads: 0, metrics: false });
  });

  afterAll(async () => {
    await stopServer(defaults?.server);
  });

  it('runs one worker thread per available CPU', async () => {
    const c = await McClient.connect(defaults.port);
    try {
      expect(Number((await c.stats()).get('threads'))).toBe(availableParallelism());
    } finally {
      c.close();
    }
  });
});
