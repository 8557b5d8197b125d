// /metrics speaks memcached_exporter's names, and its values move as memcached_exporter's would against
// memcached: the same script is run against memcached 1.6 (whose `stats` deltas give the expected counter
// moves) and against cachalot-server (whose /metrics deltas are checked against them); byte counters are
// checked against the exact bytes sent and received; gauges against what the script leaves behind. Plus the
// per-command latency histogram, and pino JSON logs on stdout.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startMemcached, stopServer, type RunningServer } from '../../support/servers.js';
import { exitOf, httpGet, parsePrometheus, scrape, startCachalotServer, waitFor, type Cachalot } from '../../support/cachalot.js';
import { McClient, storageCommand, type ReplyShape } from '../../support/mcclient.js';

const MiB = 1024 * 1024;

/** A script whose every request touches a known counter; replies are plain lines (no CAS values). */
const SCRIPT: Array<[string, ReplyShape]> = [
  ['set a 0 0 5\r\nhello\r\n', 'line'],
  ['set b 0 0 3\r\nxyz\r\n', 'line'],
  ['add a 0 0 1\r\nz\r\n', 'line'],
  ['get a\r\n', 'values'],
  ['get a nope\r\n', 'values'],
  ['get b\r\n', 'values'],
  ['delete b\r\n', 'line'],
  ['delete b\r\n', 'line'],
  ['set n 0 0 1\r\n5\r\n', 'line'],
  ['incr n 3\r\n', 'line'],
  ['incr nope 1\r\n', 'line'],
  ['decr n 1\r\n', 'line'],
  ['decr nope 1\r\n', 'line'],
  ['touch n 100\r\n', 'line'],
  ['touch nope 100\r\n', 'line'],
  ['cas n 0 0 1 999999999\r\nx\r\n', 'line'],
  ['cas nope 0 0 1 1\r\nx\r\n', 'line'],
  ['gat 100 a\r\n', 'values'],
  ['gats 100 nope\r\n', 'values'],
  ['mg a s t\r\n', 'line'],
  ['mg nope s\r\n', 'line'],
];
const SCRIPT_BYTES = SCRIPT.map(([r]) => r).join('');
/** Items the script leaves: a and n. */
const ITEMS_LEFT = 2;

/** memcached_exporter's memcached_commands_total{command,status} and the memcached stat behind each. */
const COMMAND_STATS: Array<[string, string, string]> = [
  ['get', 'hit', 'get_hits'], ['get', 'miss', 'get_misses'],
  ['delete', 'hit', 'delete_hits'], ['delete', 'miss', 'delete_misses'],
  ['incr', 'hit', 'incr_hits'], ['incr', 'miss', 'incr_misses'],
  ['decr', 'hit', 'decr_hits'], ['decr', 'miss', 'decr_misses'],
  ['cas', 'hit', 'cas_hits'], ['cas', 'miss', 'cas_misses'], ['cas', 'badval', 'cas_badval'],
  ['touch', 'hit', 'touch_hits'], ['touch', 'miss', 'touch_misses'],
  ['set', 'hit', 'cmd_set'],
];

const commandKey = (command: string, status: string): string => `memcached_commands_total{command="${command}",status="${status}"}`;

let cachalot: Cachalot;
let memcached: RunningServer;
let client: McClient;
let before: Map<string, number>;
let after: Map<string, number>;
let replyBytes: Buffer;
let sentBytes: number;

/** gets n, then a cas with the value it returned (a cas hit); the bytes sent and received. */
async function casHit(c: McClient): Promise<{ sent: number; received: Buffer }> {
  const gets = await c.request('gets n\r\n', 'values');
  const cas = gets.values[0]?.cas;
  if (cas === undefined) throw new Error(`gets n: ${gets.raw.toString()}`);
  const request = storageCommand('cas', 'n', Buffer.from('9'), 0, 0, cas);
  const reply = await c.request(request, 'line');
  expect(reply.line).toBe('STORED');
  return { sent: 'gets n\r\n'.length + request.length, received: Buffer.concat([gets.raw, reply.raw]) };
}
let memcachedDeltas: Map<string, number>;

beforeAll(async () => {
  [cachalot, memcached] = await Promise.all([startCachalotServer({ threads: 2, memoryMb: 16 }), startMemcached()]);

  // memcached: the expected moves of every stat behind memcached_commands_total.
  const m = await McClient.connect(memcached.port);
  const mBefore = await m.stats();
  const mReplies = await m.pipeline(SCRIPT_BYTES, SCRIPT.map(([, s]) => s));
  await casHit(m);
  const mAfter = await m.stats();
  m.close();
  memcachedDeltas = new Map(COMMAND_STATS.map(([, , stat]) => [stat, Number(mAfter.get(stat)) - Number(mBefore.get(stat))]));

  client = await McClient.connect(cachalot.port);
  await waitFor(async () => (await scrape(cachalot.metricsPort)).get('memcached_current_connections') === 1, 5_000, 'one connection');
  before = await scrape(cachalot.metricsPort);
  const replies = await client.pipeline(SCRIPT_BYTES, SCRIPT.map(([, s]) => s));
  const cas = await casHit(client);
  sentBytes = Buffer.byteLength(SCRIPT_BYTES, 'latin1') + cas.sent;
  replyBytes = Buffer.concat([...replies.map((r) => r.raw), cas.received]);
  // Same replies as memcached, byte for byte: otherwise the counters below would not be comparable.
  expect(Buffer.concat(replies.map((r) => r.raw)).toString('latin1')).toBe(Buffer.concat(mReplies.map((r) => r.raw)).toString('latin1'));
  after = await scrape(cachalot.metricsPort);
});

afterAll(async () => {
  client?.close();
  await Promise.all([stopServer(cachalot?.server), stopServer(memcached)]);
});

const delta = (name: string): number => (after.get(name) ?? NaN) - (before.get(name) ?? NaN);

describe('/metrics', () => {
  it('has memcached_exporter\'s metric names with their types', async () => {
    const text = (await httpGet(cachalot.metricsPort, '/metrics')).body;
    const types: Array<[string, string]> = [
      ['memcached_up', 'gauge'], ['memcached_commands_total', 'counter'], ['memcached_current_items', 'gauge'],
      ['memcached_current_bytes', 'gauge'], ['memcached_limit_bytes', 'gauge'],
      ['memcached_items_evicted_total', 'counter'], ['memcached_current_connections', 'gauge'],
      ['memcached_connections_total', 'counter'], ['memcached_read_bytes_total', 'counter'],
      ['memcached_written_bytes_total', 'counter'], ['cachalot_command_duration_seconds', 'histogram'],
    ];
    for (const [name, type] of types) expect(text).toContain(`\n# TYPE ${name} ${type}\n`);
    expect(after.get('memcached_up')).toBe(1);
    expect(after.get('memcached_limit_bytes')).toBe(16 * MiB);
    for (const [command, status] of COMMAND_STATS) expect(after.has(commandKey(command, status))).toBe(true);
  });

  it.each(COMMAND_STATS)('memcached_commands_total{command="%s",status="%s"} moves as memcached\'s %s', (command, status, stat) => {
    expect({ [stat]: delta(commandKey(command, status)) }).toEqual({ [stat]: memcachedDeltas.get(stat) });
  });

  it('memcached_read_bytes_total and memcached_written_bytes_total move by exactly the bytes on the wire', () => {
    expect(delta('memcached_read_bytes_total')).toBe(sentBytes);
    expect(delta('memcached_written_bytes_total')).toBe(replyBytes.length);
  });

  it('memcached_current_items and memcached_current_bytes agree with stats and with what the script left', async () => {
    const stats = await client.stats();
    const now = await scrape(cachalot.metricsPort);
    expect(now.get('memcached_current_items')).toBe(ITEMS_LEFT);
    expect(now.get('memcached_current_items')).toBe(Number(stats.get('curr_items')));
    expect(now.get('memcached_current_bytes')).toBe(Number(stats.get('bytes')));
    expect(now.get('memcached_current_bytes')).toBeGreaterThan(0);
    await client.pipeline('delete a\r\ndelete n\r\n', ['line', 'line']);
    const empty = await scrape(cachalot.metricsPort);
    expect([empty.get('memcached_current_items'), empty.get('memcached_current_bytes')]).toEqual([0, 0]);
  });

  it('memcached_current_connections and memcached_connections_total follow connections opening and closing', async () => {
    const s0 = await scrape(cachalot.metricsPort);
    const extra = await Promise.all([0, 1, 2].map(() => McClient.connect(cachalot.port)));
    await Promise.all(extra.map((c) => c.request('version\r\n', 'line')));
    const s1 = await scrape(cachalot.metricsPort);
    expect(s1.get('memcached_current_connections')).toBe(4);
    expect(s1.get('memcached_connections_total')! - s0.get('memcached_connections_total')!).toBe(3);
    for (const c of extra) c.close();
    await waitFor(async () => (await scrape(cachalot.metricsPort)).get('memcached_current_connections') === 1, 5_000, 'connections to close');
  });

  it('memcached_items_evicted_total counts evictions once 16 MB is overfilled, equal to stats evictions', async () => {
    const value = randomBytes(100 * 1024);
    const s0 = await scrape(cachalot.metricsPort);
    expect(s0.get('memcached_items_evicted_total')).toBe(0);
    for (let batch = 0; batch < 8; batch++) {
      const keys = Array.from({ length: 40 }, (_, i) => `fill:${batch}:${i}`);
      const replies = await client.pipeline(Buffer.concat(keys.map((k) => storageCommand('set', k, value))), keys.map(() => 'line'));
      expect(new Set(replies.map((r) => r.line))).toEqual(new Set(['STORED']));
    }
    const s1 = await scrape(cachalot.metricsPort);
    const evictions = Number((await client.stats()).get('evictions'));
    expect(evictions).toBeGreaterThan(0);
    expect(s1.get('memcached_items_evicted_total')).toBe(evictions);
    expect(s1.get('memcached_current_bytes')).toBeLessThanOrEqual(16 * MiB);
  });

  it('memcached_limit_bytes follows cache_memlimit, as limit_maxbytes does', async () => {
    expect((await client.request('cache_memlimit 24\r\n', 'line')).line).toBe('OK');
    const s1 = await scrape(cachalot.metricsPort);
    expect(s1.get('memcached_limit_bytes')).toBe(24 * MiB);
    expect(Number((await client.stats()).get('limit_maxbytes'))).toBe(24 * MiB);
    expect((await client.request('cache_memlimit 16\r\n', 'line')).line).toBe('OK');
    expect((await scrape(cachalot.metricsPort)).get('memcached_limit_bytes')).toBe(16 * MiB);
  });

  it('cachalot_command_duration_seconds: cumulative buckets, +Inf equals _count, counts move by the commands run', () => {
    for (const command of ['get', 'set', 'delete', 'incr', 'touch']) {
      const buckets = [...after.entries()]
        .filter(([k]) => k.startsWith(`cachalot_command_duration_seconds_bucket{command="${command}",`))
        .map(([k, v]) => [k.includes('le="+Inf"') ? Infinity : Number(/le="([^"]+)"/.exec(k)![1]), v] as const)
        .sort((x, y) => x[0] - y[0]);
      expect(buckets.length).toBeGreaterThan(5);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
      expect(buckets[buckets.length - 1]![0]).toBe(Infinity);
      expect(buckets[buckets.length - 1]![1]).toBe(after.get(`cachalot_command_duration_seconds_count{command="${command}"}`));
    }
    const countDelta = (command: string): number => delta(`cachalot_command_duration_seconds_count{command="${command}"}`);
    // One observation per request line: 3 get lines, a gets, a gat and a gats (the get family), 2 delete, 2 incr + 2 decr, 2 touch.
    expect([countDelta('get'), countDelta('delete'), countDelta('incr'), countDelta('touch')]).toEqual([6, 2, 4, 2]);
    expect(delta('cachalot_command_duration_seconds_sum{command="get"}')).toBeGreaterThan(0);
  });

  it('parses as Prometheus text: every sample line is name{labels} value', async () => {
    const text = (await httpGet(cachalot.metricsPort, '/metrics')).body;
    const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(samples.length).toBe(parsePrometheus(text).size);
  });
});

describe('logs', () => {
  it('are pino JSON lines on stdout, with level, time, pid and msg; the last says the server stopped with code 0', async () => {
    cachalot.server.process.kill('SIGTERM');
    expect(await exitOf(cachalot.server.process, 10_000)).toEqual({ code: 0, signal: null });
    const lines = cachalot.server.output().split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of records) {
      expect(typeof r.level).toBe('number');
      expect(typeof r.time).toBe('number');
      expect(typeof r.msg).toBe('string');
      expect(typeof r.pid === 'number' || typeof r.thread === 'number').toBe(true);
    }
    expect(records.find((r) => r.msg === 'listening')).toMatchObject({ port: cachalot.port, threads: 2 });
    expect(records[records.length - 1]).toMatchObject({ msg: 'cachalot-server stopped', code: 0 });
  });
});
