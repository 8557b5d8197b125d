// Bounds on what a client can make the server do (STYLE.md rule 3), compared with memcached 1.6 where it has
// the same bound: -c (the N+1th client is told and closed), -o idle_timeout (and its idle_kicks stat), HTTP
// request lines, the 2048-byte line limit, a client that never reads its replies, and -I.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startMemcached, stopServer, type RunningServer } from '../../support/servers.js';
import { RawClient, type ReadResult } from '../../support/rawclient.js';
import { rssBytes, scrape, sleep, startCachalotServer, waitFor, type Cachalot } from '../../support/cachalot.js';
import { McClient, storageCommand } from '../../support/mcclient.js';

const REJECT = 'ERROR Too many open connections\r\n';
const MiB = 1024 * 1024;

/** Connects, sends `bytes`, and reads until the server closes or stays quiet for `quietMs`. */
async function exchange(port: number, bytes: Buffer | string, quietMs = 400): Promise<ReadResult> {
  const c = await RawClient.connect(port);
  try {
    await c.send(bytes);
    return await c.read(() => false, quietMs, 5_000);
  } finally {
    c.close();
  }
}

/** What a fresh connection receives for `version`: served, or the rejection followed by the close. */
async function versionOnNewConnection(port: number): Promise<{ client: RawClient; result: ReadResult }> {
  const client = await RawClient.connect(port);
  await client.send('version\r\n');
  const result = await client.read((d) => d.toString('latin1').endsWith('\r\n'), 2_000, 5_000);
  if (result.data.toString('latin1') === REJECT && result.end === 'terminator') {
    // The rejection must be followed by the close: read on until it.
    const rest = await client.read(() => false, 2_000, 5_000);
    return { client, result: { data: Buffer.concat([result.data, rest.data]), end: rest.end } };
  }
  return { client, result };
}

describe('-c connection limit', () => {
  // The same -c for both: memcached counts its own descriptors (listeners, pipes, epoll) against it, so it
  // serves fewer than -c clients; cachalot-server serves exactly -c.
  const LIMIT = 32;
  let cachalot: Cachalot;
  let memcached: RunningServer;
  const held: RawClient[] = [];
  let memcachedReject: ReadResult | undefined;
  let memcachedServed = 0;

  beforeAll(async () => {
    [cachalot, memcached] = await Promise.all([
      startCachalotServer({ threads: 4, extra: ['-c', String(LIMIT)] }),
      startMemcached(['-c', String(LIMIT)]),
    ]);
  });

  afterAll(async () => {
    for (const c of held) c.close();
    await Promise.all([stopServer(cachalot?.server), stopServer(memcached)]);
  });

  it(`memcached 1.6 (-c ${LIMIT}) tells the first client over its limit "ERROR Too many open connections" and closes`, async () => {
    for (let i = 0; i < LIMIT + 8 && memcachedReject === undefined; i++) {
      const { client, result } = await versionOnNewConnection(memcached.port);
      held.push(client);
      if (result.data.toString('latin1') === 'VERSION 1.6.18\r\n') memcachedServed++;
      else memcachedReject = result;
    }
    expect(memcachedReject?.data.toString('latin1')).toBe(REJECT);
    expect(memcachedReject?.end).toBe('eof');
    expect(memcachedServed).toBeGreaterThan(0);
    expect(memcachedServed).toBeLessThan(LIMIT);
  });

  it(`cachalot (-c ${LIMIT}) serves exactly ${LIMIT} clients across its threads, and the next one gets the same bytes and close`, async () => {
    await waitFor(async () => (await scrape(cachalot.metricsPort)).get('memcached_current_connections') === 0, 5_000, 'no connections');
    for (let i = 0; i < LIMIT; i++) {
      const { client, result } = await versionOnNewConnection(cachalot.port);
      held.push(client);
      expect(result.data.toString('latin1')).toBe('VERSION 1.6.18\r\n');
    }
    const over = await versionOnNewConnection(cachalot.port);
    over.client.close();
    expect(over.result.data.toString('latin1')).toBe(REJECT);
    expect(over.result.end).toBe('eof');
    expect(over.result.data.equals(memcachedReject?.data ?? Buffer.alloc(0))).toBe(true);
    const metrics = await scrape(cachalot.metricsPort);
    expect(metrics.get('memcached_current_connections')).toBe(LIMIT);
    expect(metrics.get('memcached_max_connections')).toBe(LIMIT);
    expect(metrics.get('memcached_connections_rejected_total')).toBe(1);
  });

  it('a slot freed by a closing client is given to the next one, and stats count the rejection', async () => {
    const served = held.slice(-LIMIT);
    served.pop()!.close();
    await waitFor(async () => (await scrape(cachalot.metricsPort)).get('memcached_current_connections') === LIMIT - 1, 5_000, 'a free slot');
    const next = await versionOnNewConnection(cachalot.port);
    held.push(next.client);
    expect(next.result.data.toString('latin1')).toBe('VERSION 1.6.18\r\n');
    await served[0]!.send('stats\r\n');
    const stats = (await served[0]!.readUntil('END\r\n')).data.toString('latin1');
    expect(stats).toContain(`STAT max_connections ${LIMIT}\r\n`);
    expect(stats).toContain(`STAT curr_connections ${LIMIT}\r\n`);
    expect(stats).toContain('STAT rejected_connections 1\r\n');
  });
});

describe('-c under a burst of simultaneous connects on 4 threads', () => {
  const LIMIT = 20;
  let cachalot: Cachalot;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    cachalot = await startCachalotServer({ threads: 4, extra: ['-c', String(LIMIT)] });
    await waitFor(async () => (await scrape(cachalot.metricsPort)).get('memcached_current_connections') === 0, 5_000, 'no connections');
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await stopServer(cachalot?.server);
  });

  it(`${3 * LIMIT} clients connecting at once: exactly ${LIMIT} served, the rest told and closed`, async () => {
    const outcomes = await Promise.all(Array.from({ length: 3 * LIMIT }, async () => {
      const { client, result } = await versionOnNewConnection(cachalot.port);
      clients.push(client);
      return result.data.toString('latin1') + (result.end === 'eof' ? '<eof>' : '');
    }));
    const counts = new Map<string, number>();
    for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ 'VERSION 1.6.18\r\n': LIMIT, [`${REJECT}<eof>`]: 2 * LIMIT });
    const metrics = await scrape(cachalot.metricsPort);
    expect(metrics.get('memcached_current_connections')).toBe(LIMIT);
    expect(metrics.get('memcached_connections_rejected_total')).toBe(2 * LIMIT);
  });
});

describe('-o idle_timeout=2', () => {
  let cachalot: Cachalot;
  let memcached: RunningServer;
  const outcome = new Map<string, { idleClosed: ReadResult; activeOpen: boolean; stats: string }>();

  beforeAll(async () => {
    [cachalot, memcached] = await Promise.all([
      startCachalotServer({ threads: 2, extra: ['-o', 'idle_timeout=2'] }),
      startMemcached(['-o', 'idle_timeout=2']),
    ]);
    // Both servers at once: an idle client and one that sends a command every 200 ms (a tenth of the timeout,
    // so a loaded machine does not make it look idle), until the idle one is closed (bounded: 10 s).
    await Promise.all([['cachalot', cachalot.port], ['memcached', memcached.port]].map(async ([name, port]) => {
      const idle = await RawClient.connect(port as number);
      const active = await RawClient.connect(port as number);
      await idle.send('version\r\n');
      await idle.readUntil('\r\n');
      const idleRead = idle.read(() => false, 10_000, 10_000);
      let stop = false;
      const keepBusy = (async () => {
        for (let i = 0; i < 60 && !stop; i++) {
          await active.send('version\r\n');
          await active.readUntil('\r\n', 1_000, 2_000);
          await sleep(200);
        }
      })();
      const idleClosed = await idleRead;
      stop = true;
      await keepBusy;
      await active.send('stats\r\n');
      const stats = (await active.readUntil('END\r\n')).data.toString('latin1');
      outcome.set(name as string, { idleClosed, activeOpen: !active.closed, stats });
      idle.close();
      active.close();
    }));
  });

  afterAll(async () => {
    await Promise.all([stopServer(cachalot?.server), stopServer(memcached)]);
  });

  it.each(['memcached', 'cachalot'])('%s closes the idle connection without a reply and keeps the active one', (name) => {
    const o = outcome.get(name)!;
    expect(o.idleClosed.end).toBe('eof');
    expect(o.idleClosed.data.toString('latin1')).toBe('');
    expect(o.activeOpen).toBe(true);
  });

  it.each(['memcached', 'cachalot'])('%s counts the kick in stats: "STAT idle_kicks 1"', (name) => {
    expect(outcome.get(name)!.stats).toMatch(/\r\nSTAT idle_kicks 1\r\n/);
  });

  it('cachalot exports the kick as memcached_connections_idle_kicks_total', async () => {
    expect((await scrape(cachalot.metricsPort)).get('memcached_connections_idle_kicks_total')).toBe(1);
  });
});

describe('-o idle_timeout=1 and a connection idle in the middle of a data block', () => {
  let cachalot: Cachalot;
  let memcached: RunningServer;
  const outcome = new Map<string, string>();

  beforeAll(async () => {
    [cachalot, memcached] = await Promise.all([
      startCachalotServer({ threads: 2, metrics: false, extra: ['-o', 'idle_timeout=1'] }),
      startMemcached(['-o', 'idle_timeout=1']),
    ]);
    await Promise.all([['cachalot', cachalot.port], ['memcached', memcached.port]].map(async ([name, port]) => {
      const idle = await RawClient.connect(port as number);
      const midValue = await RawClient.connect(port as number);
      await idle.send('version\r\n');
      await idle.readUntil('\r\n');
      await midValue.send('set mid 0 0 10\r\n01234');
      // Wait for the plain idle connection to be kicked, then past memcached's once-a-second scan twice over.
      await idle.read(() => false, 8_000, 8_000);
      await sleep(2_100);
      await midValue.send('56789\r\n');
      const r = await midValue.read((d) => d.includes('\r\n'), 1_000, 3_000);
      outcome.set(name as string, r.data.toString('latin1') || `(${r.end})`);
      idle.close();
      midValue.close();
    }));
  });

  afterAll(async () => {
    await Promise.all([stopServer(cachalot?.server), stopServer(memcached)]);
  });

  it.each(['memcached', 'cachalot'])('%s does not kick it (it waits for data, not for a command) and stores the value once it completes', (name) => {
    expect(outcome.get(name)).toBe('STORED\r\n');
  });
});

describe('-o idle_timeout=1 and a client that is slow to read its replies', () => {
  const VALUE = randomBytes(100 * 1024);
  const GETS = 200;
  const ONE = Buffer.concat([Buffer.from(`VALUE big 0 ${VALUE.length}\r\n`), VALUE, Buffer.from('\r\nEND\r\n')]);
  let cachalot: Cachalot;
  let memcached: RunningServer;
  const outcome = new Map<string, { bytes: number; intact: boolean; ended: boolean }>();

  beforeAll(async () => {
    [cachalot, memcached] = await Promise.all([
      startCachalotServer({ threads: 2, metrics: false, extra: ['-o', 'idle_timeout=1'] }),
      startMemcached(['-o', 'idle_timeout=1']),
    ]);
    await Promise.all([['cachalot', cachalot.port], ['memcached', memcached.port]].map(async ([name, port]) => {
      const setter = await McClient.connect(port as number);
      expect((await setter.request(storageCommand('set', 'big', VALUE), 'line')).line).toBe('STORED');
      setter.close();
      // 20 MB of replies asked for, then 3 s without reading: the server is blocked on this client's writes,
      // not waiting for a command from it.
      const sock = net.connect({ port: port as number, host: '127.0.0.1' });
      sock.on('error', () => {});
      await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
      sock.pause();
      sock.write('get big\r\n'.repeat(GETS));
      await sleep(3_000);
      const chunks: Buffer[] = [];
      let received = 0;
      let ended = false;
      sock.on('data', (c: Buffer) => {
        chunks.push(c);
        received += c.length;
      });
      sock.on('end', () => (ended = true));
      sock.on('close', () => (ended = true));
      sock.resume();
      await waitFor(() => ended || received >= ONE.length * GETS, 15_000, `${name}: replies or close`).catch(() => undefined);
      await sleep(200); // a close right after the last reply would show here
      const data = Buffer.concat(chunks);
      outcome.set(name as string, { bytes: data.length, intact: data.equals(Buffer.concat(new Array(GETS).fill(ONE))), ended });
      sock.destroy();
    }));
  });

  afterAll(async () => {
    await Promise.all([stopServer(cachalot?.server), stopServer(memcached)]);
  });

  it.each(['memcached', 'cachalot'])('%s does not kick it: every reply arrives and the connection stays open', (name) => {
    expect(outcome.get(name)).toEqual({ bytes: ONE.length * GETS, intact: true, ended: false });
  });
});

describe('request lines memcached drops: HTTP, and 2048 bytes without a newline', () => {
  let cachalot: Cachalot;
  let memcached: RunningServer;

  beforeAll(async () => {
    // -B ascii: cachalot-server speaks the text protocols only, so the reference is memcached without binary.
    [cachalot, memcached] = await Promise.all([startCachalotServer({ threads: 2 }), startMemcached(['-B', 'ascii'])]);
  });

  afterAll(async () => {
    await Promise.all([stopServer(cachalot?.server), stopServer(memcached)]);
  });

  const cases: Array<[string, string | Buffer]> = [
    ['a binary-protocol version request', Buffer.from([0x80, 0x0b, ...new Array<number>(22).fill(0)])],
    ['a TLS ClientHello', Buffer.from(`16030100a5010000a10303${'00'.repeat(60)}`, 'hex')],
    ['a redis PING', '*1\r\n$4\r\nPING\r\n'],
    ['an SSH banner', 'SSH-2.0-OpenSSH_9.2\r\n'],
    ['a PROXY protocol v1 header before a command', 'PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nversion\r\n'],
    ['GET / HTTP/1.1 with headers', 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8\r\n\r\n'],
    ['POST /x HTTP/1.0', 'POST /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n'],
    ['HEAD / HTTP/1.1 with a bare LF', 'HEAD / HTTP/1.1\n'],
    ['lower-case get of "/" HTTP/1.1 (a get command: answered)', 'get / HTTP/1.1\r\n'],
    ['3000 bytes without a newline', 'x'.repeat(3000)],
    ['a set line padded past 2048 bytes', `set k 0 0 1 ${'x'.repeat(3000)}`],
    ['2049 bytes without a newline', 'y'.repeat(2049)],
    ['2048 bytes without a newline (kept open)', 'y'.repeat(2048)],
    ['get with 1500 keys, no newline yet (kept open)', `get ${'k '.repeat(1500)}`],
    ['gets with 1500 keys, then the newline', `gets ${'k '.repeat(1500)}\r\n`],
    ['get of a 3000-byte key', `get ${'k'.repeat(3000)}\r\n`],
  ];

  it.each(cases)('%s: cachalot answers and closes exactly as memcached does', async (_name, request) => {
    const [mine, theirs] = await Promise.all([exchange(cachalot.port, request), exchange(memcached.port, request)]);
    expect({ reply: mine.data.toString('latin1'), end: mine.end }).toEqual({ reply: theirs.data.toString('latin1'), end: theirs.end });
  });

  it('a long line that arrives in two reads is dropped as memcached drops it', async () => {
    const run = async (port: number): Promise<ReadResult> => {
      const c = await RawClient.connect(port);
      try {
        await c.send('z'.repeat(2000));
        await sleep(50);
        await c.send('z'.repeat(100));
        return await c.read(() => false, 400, 5_000);
      } finally {
        c.close();
      }
    };
    const [mine, theirs] = await Promise.all([run(cachalot.port), run(memcached.port)]);
    expect(theirs.end).toBe('eof');
    expect({ reply: mine.data.toString('latin1'), end: mine.end }).toEqual({ reply: theirs.data.toString('latin1'), end: theirs.end });
  });

  it('still serves new connections afterwards', async () => {
    const r = await exchange(cachalot.port, 'version\r\n', 200);
    expect(r.data.toString('latin1')).toBe('VERSION 1.6.18\r\n');
  });
});

describe('a client that never reads its replies', () => {
  const VALUE = randomBytes(100 * 1024);
  /** What the server may hold for one such client: its 4 MiB output limit, a read, the kernel's buffers. */
  const BOUND = 64 * MiB;
  let cachalot: Cachalot;
  let control: McClient;
  const sockets: net.Socket[] = [];

  /** A connected socket that reads nothing after connecting (paused: the kernel's buffers fill up). */
  async function nonReader(): Promise<net.Socket> {
    const sock = net.connect({ port: cachalot.port, host: '127.0.0.1' });
    sockets.push(sock);
    sock.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    sock.pause();
    return sock;
  }

  /**
   * bytes_written once it has stopped growing (bounded). Each sample's own `stats` reply is counted by the
   * next sample, so "stopped" means: grew by exactly the previous reply's length.
   */
  async function settledBytesWritten(): Promise<number> {
    let last = -1;
    let lastReply = 0;
    for (let i = 0; i < 50; i++) {
      const reply = await control.request('stats\r\n', 'stats');
      const now = Number(reply.stats.get('bytes_written'));
      if (now - last === lastReply) return now - lastReply;
      last = now;
      lastReply = reply.raw.length;
      await sleep(300);
    }
    throw new Error('bytes_written still growing after 15 s');
  }

  async function servesOthers(tag: string): Promise<void> {
    const other = await McClient.connect(cachalot.port);
    try {
      const value = randomBytes(1024);
      const [set, get] = await other.pipeline(
        Buffer.concat([storageCommand('set', `other:${tag}`, value), Buffer.from(`get other:${tag}\r\n`)]),
        ['line', 'values'],
      );
      expect(set.line).toBe('STORED');
      expect(get.values[0]?.data.equals(value)).toBe(true);
    } finally {
      other.close();
    }
  }

  beforeAll(async () => {
    cachalot = await startCachalotServer({ threads: 2, metrics: false });
    control = await McClient.connect(cachalot.port);
    expect((await control.request(storageCommand('set', 'big', VALUE), 'line')).line).toBe('STORED');
    // Warm up the reply path so that RSS before/after compares steady states.
    const warm = await control.pipeline('get big\r\n'.repeat(20), new Array(20).fill('values'));
    expect(warm.every((r) => r.values[0]?.data.equals(VALUE))).toBe(true);
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    control?.close();
    await stopServer(cachalot?.server);
  });

  it('pipelined gets of a 100 KiB value (2 GB of replies asked for): the server stops at a fixed bound and serves others', async () => {
    const rssBefore = rssBytes(cachalot.pid);
    const writtenBefore = await control.statNumber('bytes_written');
    const sock = await nonReader();
    sock.write('get big\r\n'.repeat(20_000));
    const written = (await settledBytesWritten()) - writtenBefore;
    await servesOthers('pipelined');
    const growth = rssBytes(cachalot.pid) - rssBefore;
    expect(written).toBeGreaterThan(4 * MiB); // it did answer up to its output limit
    expect(written).toBeLessThan(BOUND);
    expect(growth).toBeLessThan(BOUND);
    sock.destroy();
  });

  it('one multi-get line naming the 100 KiB value 2,000 times (200 MB of reply): the server stays within the same bound', async () => {
    const rssBefore = rssBytes(cachalot.pid);
    const sock = await nonReader();
    sock.write(`get ${'big '.repeat(2_000)}\r\n`);
    await settledBytesWritten();
    await servesOthers('multiget');
    const growth = rssBytes(cachalot.pid) - rssBefore;
    expect(growth).toBeLessThan(BOUND);
    sock.destroy();
  });

  it('is still serving once the non-readers are gone', async () => {
    for (const s of sockets) s.destroy();
    await servesOthers('after');
  });
});

describe('-I 4m -m 64', () => {
  let cachalot: Cachalot;
  let memcached: RunningServer;
  const TWO_MIB = randomBytes(2 * MiB);

  beforeAll(async () => {
    [cachalot, memcached] = await Promise.all([
      startCachalotServer({ threads: 2, metrics: false, extra: ['-I', '4m'] }),
      startMemcached(['-I', '4m']),
    ]);
  });

  afterAll(async () => {
    await Promise.all([stopServer(cachalot?.server), stopServer(memcached)]);
  });

  it('a 2 MiB item round-trips byte for byte', async () => {
    const c = await McClient.connect(cachalot.port);
    try {
      const [set, get] = await c.pipeline(
        Buffer.concat([storageCommand('set', 'two', TWO_MIB, 7), Buffer.from('get two\r\n')]),
        ['line', 'values'],
      );
      expect(set.line).toBe('STORED');
      expect(get.raw.equals(Buffer.concat([Buffer.from(`VALUE two 7 ${TWO_MIB.length}\r\n`), TWO_MIB, Buffer.from('\r\nEND\r\n')]))).toBe(true);
    } finally {
      c.close();
    }
  });

  it('the largest value -I 4m admits is the same as memcached\'s (item header, key, CRLF and CAS counted)', async () => {
    // memcached 1.6.18 on 64-bit: ITEM_ntotal = sizeof(item) 48 + key + 1 + value + 2 + CAS 8 must be <= -I.
    const largest = 4 * MiB - 48 - ('key'.length + 1) - 2 - 8;
    const run = async (port: number): Promise<string[]> => {
      const c = await McClient.connect(port);
      try {
        const fits = await c.request(storageCommand('set', 'key', Buffer.alloc(largest, 0x61)), 'line');
        const over = await c.request(storageCommand('set', 'key', Buffer.alloc(largest + 1, 0x62)), 'line');
        const over8 = await c.request(storageCommand('set', 'key', Buffer.alloc(largest + 8, 0x63)), 'line');
        return [fits.line, over.line, over8.line];
      } finally {
        c.close();
      }
    };
    const [mine, theirs] = await Promise.all([run(cachalot.port), run(memcached.port)]);
    const tooLarge = 'SERVER_ERROR object too large for cache';
    expect(theirs).toEqual(['STORED', tooLarge, tooLarge]);
    expect(mine).toEqual(theirs);
  });

  it('a value over 4 MiB is refused as memcached refuses it, its data swallowed', async () => {
    const request = Buffer.concat([storageCommand('set', 'huge', randomBytes(4 * MiB + 1)), Buffer.from('get huge\r\nversion\r\n')]);
    const run = async (port: number): Promise<string> => {
      const c = await RawClient.connect(port);
      try {
        await c.send(request);
        return (await c.readUntil('VERSION 1.6.18\r\n')).data.toString('latin1');
      } finally {
        c.close();
      }
    };
    const [mine, theirs] = await Promise.all([run(cachalot.port), run(memcached.port)]);
    expect(theirs).toBe('SERVER_ERROR object too large for cache\r\nEND\r\nVERSION 1.6.18\r\n');
    expect(mine).toBe(theirs);
  });
});
