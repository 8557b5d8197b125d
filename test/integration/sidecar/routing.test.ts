/**
 * Routing through the sidecar to real cachalot-server processes: every key lands on the server the ring
 * names (by libmemcached's ketama through pylibmc, not by the sidecar's continuum or the hashring package it is
 * built on), multi-gets across servers answer in request
 * order, meta commands route by key (base64 keys by their decoded bytes), and draining members get no keys.
 */
import type { RunningServer } from '../../support/servers.js';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import {
  RawClient, RingFile, ask, askCount, eventually, fileSidecar, holders, ringJson, startUpstreams, stopAll,
} from './helpers.js';
import { pylibmcMissingReason, pylibmcOwnersOn } from '../../support/ketama-reference.js';
import { requirePrereq } from '../../support/prereq.js';

const pylibmcMissing = pylibmcMissingReason();
const pylibmc = requirePrereq('python3-pylibmc', pylibmcMissing === null, pylibmcMissing ?? '');

const ROUTE_KEYS = Array.from({ length: 200 }, (_, i) => `route:${i}:${(i * 7919) % 104729}`);
const MG_KEYS = ['mg:a', 'mg:b', 'mg:c', 'mg:d', 'mg:e', 'mg:f', 'mg:g', 'mg:h'];
const META_KEY = 'meta:binary:key';
const DRAIN_KEYS = Array.from({ length: 60 }, (_, i) => `drain:${i}`);
/** libmemcached's owner (server index) of each key on the 4-member ring, and on the ring of members 0..2. */
const owners4 = new Map<string, number>();
const owners3 = new Map<string, number>();

let servers: RunningServer[] = [];
let ring: RingFile;
let sidecar: Sidecar | undefined;
let client: RawClient;

beforeAll(async () => {
  servers = await startUpstreams(4);
  if (pylibmcMissing === null) {
    const ports = servers.map((s) => s.port);
    const keys4 = [...ROUTE_KEYS.slice(0, 80), ...MG_KEYS, META_KEY, ...DRAIN_KEYS];
    (await pylibmcOwnersOn(ports, keys4)).forEach((o, i) => owners4.set(keys4[i]!, o));
    (await pylibmcOwnersOn(ports.slice(0, 3), DRAIN_KEYS)).forEach((o, i) => owners3.set(DRAIN_KEYS[i]!, o));
  }
  ring = new RingFile();
  ring.write(ringJson(1, servers.map((s) => ({ port: s.port }))));
  sidecar = await fileSidecar(ring);
  client = await RawClient.connect(sidecar.port);
}, 60_000);

afterAll(async () => {
  client?.close();
  await sidecar?.stop();
  await stopAll(servers);
  ring?.remove();
});

function expectedOwner(key: string): number {
  const o = owners4.get(key);
  if (o === undefined) throw new Error(`no libmemcached owner computed for ${key}`);
  return o;
}

pylibmc.test('every key is stored on the server libmemcached names for it, and only there', async () => {
  const keys = ROUTE_KEYS;
  let script = '';
  for (const k of keys) script += `set ${k} 0 0 ${k.length}\r\n${k}\r\n`;
  expect(await askCount(client, script, 'STORED\r\n', keys.length)).toBe('STORED\r\n'.repeat(keys.length));
  const perServer = [0, 0, 0, 0];
  for (const k of keys.slice(0, 80)) {
    const want = expectedOwner(k);
    expect(await holders(servers, k)).toEqual([want]);
    perServer[want]!++;
  }
  for (const n of perServer) expect(n).toBeGreaterThan(0);
});

pylibmc.test('a multi-get across servers answers hits in request order, with duplicates and misses', async () => {
  const keys = MG_KEYS;
  const owners = new Set(keys.map((k) => expectedOwner(k)));
  expect(owners.size).toBeGreaterThan(1);
  for (const k of keys) expect(await ask(client, `set ${k} 5 0 ${k.length + 1}\r\n${k}!\r\n`, '\r\n')).toBe('STORED\r\n');
  const asked = ['mg:h', 'missing:1', 'mg:a', 'mg:c', 'mg:a', 'missing:2', 'mg:g', 'mg:b', 'mg:f', 'mg:e', 'mg:d'];
  const expected = asked.filter((k) => !k.startsWith('missing')).map((k) => `VALUE ${k} 5 ${k.length + 1}\r\n${k}!\r\n`).join('') + 'END\r\n';
  expect(await ask(client, `get ${asked.join(' ')}\r\n`, 'END\r\n')).toBe(expected);
  // More than 23 keys: the tokenizer's continuation path.
  const many = Array.from({ length: 60 }, (_, i) => keys[i % keys.length]!);
  const expectedMany = many.map((k) => `VALUE ${k} 5 ${k.length + 1}\r\n${k}!\r\n`).join('') + 'END\r\n';
  expect(await ask(client, `get ${many.join(' ')}\r\n`, 'END\r\n')).toBe(expectedMany);
  // gat with an exptime goes to each server with the exptime.
  const gat = await ask(client, `gat 100 mg:b mg:a\r\n`, 'END\r\n');
  expect(gat).toBe('VALUE mg:b 5 5\r\nmg:b!\r\nVALUE mg:a 5 5\r\nmg:a!\r\nEND\r\n');
});

pylibmc.test('meta commands route by key; a base64 (b) key routes by its decoded bytes', async () => {
  const key = META_KEY;
  const b64 = Buffer.from(key).toString('base64');
  expect(await ask(client, `ms ${b64} 3 b T0\r\nabc\r\n`, '\r\n')).toBe('HD\r\n');
  // Stored on the decoded key's owner: a plain get of the decoded key finds it there.
  expect(await holders(servers, key)).toEqual([expectedOwner(key)]);
  expect(await ask(client, `mg ${key} v k O123\r\n`, 'abc\r\n')).toBe(`VA 3 k${b64} b O123\r\nabc\r\n`); // stored binary: k echoes base64
  expect(await ask(client, `mg ${b64} b s v\r\n`, 'abc\r\n')).toBe('VA 3 s3\r\nabc\r\n');
  expect(await ask(client, `ma meta:counter N0 J10 v\r\n`, '\r\n10\r\n')).toBe('VA 2\r\n10\r\n');
  expect(await ask(client, `md ${key} q\r\nmn\r\n`, 'MN\r\n')).toBe('MN\r\n');
  expect(await ask(client, `mg ${key} v\r\n`, '\r\n')).toBe('EN\r\n');
});

test('keyless commands: version and mn locally, flush_all on every server, stats the sidecar\'s own', async () => {
  expect(await ask(client, 'version\r\nmn\r\n', 'MN\r\n')).toMatch(/^VERSION \S+\r\nMN\r\n$/);
  const stats = await ask(client, 'stats\r\n', 'END\r\n');
  expect(stats).toContain('STAT proxy cachalot-sidecar\r\n');
  expect(stats).toContain('STAT ring_version 1\r\n');
  expect(stats).toContain('STAT ring_members_active 4\r\n');
  expect(await ask(client, 'flush_all\r\n', '\r\n')).toBe('OK\r\n');
  for (const s of servers) {
    const direct = await RawClient.connect(s.port);
    expect(await ask(direct, 'get mg:a mg:b mg:c mg:d mg:e mg:f mg:g mg:h\r\n', 'END\r\n')).toBe('END\r\n');
    direct.close();
  }
});

test('quit closes the connection once the replies before it are written; an HTTP request line closes at once', async () => {
  const c = await RawClient.connect(sidecar!.port);
  await c.send('set q:1 0 0 1\r\n1\r\nget q:1 q:2\r\nquit\r\nget q:1\r\n');
  const r = await c.read(() => false, 5_000, 5_000);
  expect(r.end).toBe('eof');
  expect(r.data.toString('latin1')).toBe('STORED\r\nVALUE q:1 0 1\r\n1\r\nEND\r\n');
  const h = await RawClient.connect(sidecar!.port);
  await h.send('GET / HTTP/1.1\r\n');
  const hr = await h.read(() => false, 5_000, 5_000);
  expect(hr.end).toBe('eof');
  expect(hr.data.length).toBe(0);
});

pylibmc.test('draining members are off the continuum: their keys go where libmemcached puts them without the member', async () => {
  ring.write(ringJson(2, servers.map((s, i) => ({ port: s.port, state: i === 3 ? 'draining' : 'active' }))));
  await eventually(() => sidecar!.table?.version === 2, 'ring version 2');
  const keys = DRAIN_KEYS;
  for (const k of keys) expect(await ask(client, `set ${k} 0 0 1\r\nx\r\n`, '\r\n')).toBe('STORED\r\n');
  let movedFromDraining = 0;
  for (const k of keys) {
    const have = await holders(servers, k);
    expect(have).toEqual([owners3.get(k)]);
    expect(have).not.toContain(3);
    if (expectedOwner(k) === 3) movedFromDraining++;
  }
  expect(movedFromDraining).toBeGreaterThan(0);
});
