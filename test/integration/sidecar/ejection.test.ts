/**
 * Upstream failure handling: a killed server's keys are answered without it (gets as misses, stores with
 * SERVER_ERROR) and, after server_failure_limit consecutive failures, it is ejected; once it is back, the
 * probe after server_retry_timeout returns it to service. Under the `next` policy its keys go to the next
 * member instead. A member that has never answered is probed sooner than the retry period. A server that
 * accepts but never answers costs a client the request timeout, no more.
 */
import net from 'node:net';
import type { RunningServer } from '../../support/servers.js';
import { waitForExit } from '../../support/servers.js';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import {
  RawClient, RingFile, ask, eventually, fileSidecar, holders, ringJson, startUpstream, startUpstreams, stopAll,
} from './helpers.js';
import { pylibmcMissingReason, pylibmcOwnersOn } from '../../support/ketama-reference.js';
import { requirePrereq } from '../../support/prereq.js';

const pylibmcMissing = pylibmcMissingReason();
const pylibmc = requirePrereq('python3-pylibmc', pylibmcMissing === null, pylibmcMissing ?? '');

let servers: RunningServer[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  servers = await startUpstreams(3);
}, 60_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await stopAll(servers);
});

const FAST = { connectTimeoutMs: 200, requestTimeoutMs: 400, failureLimit: 2, retryTimeoutMs: 300 };

async function sidecarOver(members: RunningServer[], overrides = {}): Promise<Sidecar> {
  const ring = new RingFile();
  cleanups.push(() => ring.remove());
  ring.write(ringJson(1, members.map((s) => ({ port: s.port }))));
  const sc = await fileSidecar(ring, { ...FAST, ...overrides });
  cleanups.push(() => sc.stop());
  return sc;
}

/**
 * `n` keys `${tag}:i` whose owner, by libmemcached's ketama over `members` (not the sidecar's table), is
 * member `index`.
 */
async function keysOwnedBy(members: RunningServer[], index: number, n: number, tag: string): Promise<string[]> {
  const candidates = Array.from({ length: 40 * n }, (_, i) => `${tag}:${i}`);
  const owners = await pylibmcOwnersOn(members.map((m) => m.port), candidates);
  const out = candidates.filter((_, i) => owners[i] === index).slice(0, n);
  expect(out.length).toBe(n);
  return out;
}

async function kill(s: RunningServer): Promise<void> {
  s.process.kill('SIGKILL');
  expect(await waitForExit(s, 5_000)).toBe(true);
}

pylibmc.test('a killed upstream is answered around, ejected, and comes back after its probe', async () => {
  const [victimKey, victimKey2] = await keysOwnedBy(servers, 1, 2, 'victim');
  const [otherKey] = await keysOwnedBy(servers, 0, 1, 'other');
  const sc = await sidecarOver(servers);
  const c = await RawClient.connect(sc.port);
  expect(await ask(c, `set ${victimKey} 0 0 1\r\nv\r\n`, '\r\n')).toBe('STORED\r\n');

  const port = servers[1]!.port;
  await kill(servers[1]!);

  // Failures until the limit: stores get SERVER_ERROR, gets miss, mg misses echo O and k; others unaffected.
  expect(await ask(c, `set ${victimKey} 0 0 1\r\nw\r\n`, '\r\n')).toMatch(/^SERVER_ERROR /);
  expect(await ask(c, `get ${victimKey} ${otherKey}\r\n`, 'END\r\n')).toBe('END\r\n');
  expect(await ask(c, `mg ${victimKey2} v k O42\r\n`, '\r\n')).toBe(`EN k${victimKey2} O42\r\n`);
  expect(await ask(c, `mg ${victimKey2} v q\r\nmn\r\n`, 'MN\r\n')).toBe('MN\r\n');
  expect(await ask(c, `set ${otherKey} 0 0 1\r\no\r\n`, '\r\n')).toBe('STORED\r\n');
  await eventually(async () => {
    await ask(c, `get ${victimKey}\r\n`, 'END\r\n');
    return sc.table!.upstreams[1]!.ejected;
  }, 'ejection', 100, 20);
  const stats = await ask(c, 'stats\r\n', 'END\r\n');
  expect(stats).toContain('STAT upstream_ejected 1\r\n');
  const metrics = await sc.metrics.registry.getSingleMetricAsString('cachalot_sidecar_upstream_ejections_total');
  expect(metrics).toContain(`upstream="127.0.0.1:${port}"} 1`);
  // While ejected: answered at once without the server.
  expect(await ask(c, `set ${victimKey} 0 0 1\r\nw\r\n`, '\r\n')).toBe('SERVER_ERROR upstream unavailable\r\n');
  expect(await ask(c, `get ${victimKey} ${otherKey}\r\n`, 'END\r\n')).toBe(`VALUE ${otherKey} 0 1\r\no\r\nEND\r\n`);
  // flush_all cannot reach every member: the client is told, and the live members are flushed anyway.
  expect(await ask(c, 'flush_all\r\n', '\r\n')).toBe('SERVER_ERROR upstream unavailable\r\n');
  expect(await ask(c, `get ${otherKey}\r\n`, 'END\r\n')).toBe('END\r\n');

  // The server comes back on its port: the next probe returns it to service.
  servers[1] = await startUpstream(port);
  await eventually(() => !sc.table!.upstreams[1]!.ejected, 'probe brings the server back', 300, 20);
  expect(await ask(c, `set ${victimKey} 0 0 1\r\nz\r\n`, '\r\n')).toBe('STORED\r\n');
  expect(await holders(servers, victimKey!)).toEqual([1]);
  c.close();
}, 30_000);

pylibmc.test('under the next policy an ejected member\'s keys go where libmemcached puts them on the ring without it', async () => {
  const members = await startUpstreams(3);
  cleanups.push(() => stopAll(members));
  const keys = await keysOwnedBy(members, 2, 10, 'failover');
  const without = await pylibmcOwnersOn(members.slice(0, 2).map((m) => m.port), keys);
  const sc = await sidecarOver(members, { ejected: 'next' });
  const c = await RawClient.connect(sc.port);
  await kill(members[2]!);
  await eventually(async () => {
    await ask(c, `get ${keys[0]}\r\n`, 'END\r\n');
    return sc.table!.upstreams[2]!.ejected;
  }, 'ejection', 100, 20);
  for (const k of keys) expect(await ask(c, `set ${k} 0 0 1\r\nn\r\n`, '\r\n')).toBe('STORED\r\n');
  for (const [i, k] of keys.entries()) {
    expect(await ask(c, `get ${k}\r\n`, 'END\r\n')).toBe(`VALUE ${k} 0 1\r\nn\r\nEND\r\n`);
    expect(await holders(members.slice(0, 2), k)).toEqual([without[i]]);
  }
  c.close();
}, 30_000);

test('a member that has never answered (a new pod not reachable yet) is probed long before the retry period', async () => {
  // A port nothing listens on yet, as a scale-up's new member whose name does not resolve yet.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const ring = new RingFile();
  cleanups.push(() => ring.remove());
  ring.write(ringJson(1, [{ port }]));
  // A retry period far longer than this test may run: only the joining schedule can bring the member back.
  const sc = await fileSidecar(ring, { ...FAST, retryTimeoutMs: 600_000 });
  cleanups.push(() => sc.stop());
  const c = await RawClient.connect(sc.port);
  await eventually(async () => {
    await ask(c, 'get joining\r\n', 'END\r\n');
    return sc.table!.upstreams[0]!.ejected;
  }, 'ejection', 100, 20);
  expect(await ask(c, 'set joining 0 0 1\r\nj\r\n', '\r\n')).toBe('SERVER_ERROR upstream unavailable\r\n');
  const joined = await startUpstream(port);
  cleanups.push(() => stopAll([joined]));
  await eventually(() => !sc.table!.upstreams[0]!.ejected, 'the joining probe brings the member in', 300, 50);
  expect(await ask(c, 'set joining 0 0 1\r\nj\r\n', '\r\n')).toBe('STORED\r\n');
  expect(await ask(c, 'get joining\r\n', 'END\r\n')).toBe('VALUE joining 0 1\r\nj\r\nEND\r\n');
  c.close();
}, 30_000);

/** A sidecar whose one member accepts and reads but never answers; `onData` sees what it is sent. */
async function silentMemberSidecar(onData: (d: Buffer) => void = () => {}): Promise<RawClient> {
  const silent = net.createServer((sock) => sock.on('data', onData));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
  const silentPort = (silent.address() as net.AddressInfo).port;
  const ring = new RingFile();
  cleanups.push(() => ring.remove());
  ring.write(ringJson(1, [{ port: silentPort }]));
  const sc = await fileSidecar(ring, { ...FAST, failureLimit: 100 });
  cleanups.push(() => sc.stop());
  return RawClient.connect(sc.port);
}

test('a server that never answers costs the request timeout; pipelined requests behind it are all answered', async () => {
  const c = await silentMemberSidecar();
  const reply = await ask(c, 'set a 0 0 1\r\nx\r\nget a b\r\nmg a v O7 ka\r\ndelete a noreply\r\nmn\r\n', 'MN\r\n');
  expect(reply).toBe('SERVER_ERROR upstream timeout\r\nEND\r\nEN O7 ka\r\nMN\r\n');
  c.close();
}, 30_000);

test('single-key gets sent as one get line to a server that never answers are each answered, as misses', async () => {
  let received = '';
  const c = await silentMemberSidecar((d) => { received += d.toString('latin1'); });
  const reply = await ask(c, 'get a\r\nget b\r\nget a\r\nset x 0 0 1\r\n1\r\nget c\r\nmn\r\n', 'MN\r\n');
  expect(received).toContain('get a b a\r\nset x 0 0 1\r\n1\r\nget c\r\n');
  expect(reply).toBe('END\r\nEND\r\nEND\r\nSERVER_ERROR upstream timeout\r\nEND\r\nMN\r\n');
  c.close();
}, 30_000);
