import { Continuum, ketamaDigests, ketamaServerString } from '../../../../server/src/ring/continuum.js';
import { parseRingDocument } from '../../../../server/src/ring/document.js';
import { RoutingTable } from '../../../../server/src/sidecar/routing/table.js';
import type { Upstream } from '../../../../server/src/sidecar/upstream/upstream.js';
import { KetamaReference, pylibmcMissingReason } from '../../../support/ketama-reference.js';
import { requirePrereq } from '../../../support/prereq.js';

test('libmemcached digest counts: C float rounding gives 39 instead of 40 for some member counts', () => {
  const short = [];
  for (let n = 1; n <= 64; n++) if (ketamaDigests(1, n, n, 40) !== 40) short.push(n);
  // (float)(1/25) * 160 / 4 * 25 = 39.9999976 in single precision: libmemcached floors it to 39 digests
  // (156 points). ketama-pylibmc.test.ts checks 25 members against libmemcached itself.
  expect(short).toEqual([25, 47, 50, 55, 61]);
  // Weighted: share x 40 x members, floored as C floats do.
  expect([1, 2, 3].map((w) => ketamaDigests(w, 6, 3, 40))).toEqual([20, 40, 60]);
});

test('server strings leave out the default port', () => {
  expect(ketamaServerString({ host: 'web-0', port: 11211, weight: 1 })).toBe('web-0');
  expect(ketamaServerString({ host: 'web-0', port: 11300, weight: 1 })).toBe('web-0:11300');
});

function fakeUpstream(address: string): Upstream {
  return { address, ejected: false } as unknown as Upstream;
}

/**
 * Expected owners come from libmemcached (pylibmc) over four loopback sinks, never from the continuum under
 * test: the RoutingTable's members are those sinks, so an address names the same server on both sides.
 */
const pylibmc = pylibmcMissingReason();
const gate = requirePrereq('python3-pylibmc', pylibmc === null, pylibmc ?? '');
let ref: KetamaReference | undefined;
beforeAll(async () => {
  if (pylibmc === null) ref = await KetamaReference.start(4);
});
afterAll(() => ref?.stop());

const keyNames = Array.from({ length: 2000 }, (_, i) => `k${i}`);
const keys = keyNames.map((k) => Buffer.from(k));
const addr = (i: number): string => `127.0.0.1:${ref!.sinks[i]!.port}`;
/** Owner addresses on a ring of the given sinks, per key, by pylibmc. */
const expected = async (subset: number[]): Promise<string[]> => (await ref!.owners(subset, keyNames)).map(addr);

function table(states: Array<'active' | 'draining'>, policy: 'miss' | 'next'): { t: RoutingTable; ups: Map<string, Upstream> } {
  const spec = parseRingDocument(JSON.stringify({
    version: 1, members: states.map((state, i) => ({ host: '127.0.0.1', port: ref!.sinks[i]!.port, state })),
  }));
  const ups = new Map<string, Upstream>();
  const t = new RoutingTable(spec, (m) => {
    let u = ups.get(m.address);
    if (!u) ups.set(m.address, (u = fakeUpstream(m.address)));
    return u;
  }, policy);
  return { t, ups };
}

const route = (t: RoutingTable, k: Buffer, gen = 0) => t.route(k, 0, k.length, gen)?.address ?? null;

gate.test('every key goes to the member libmemcached names for it', async () => {
  const want = await expected([0, 1, 2, 3]);
  const t = table(['active', 'active', 'active', 'active'], 'miss').t;
  const got = keys.map((k) => route(t, k));
  expect(got).toEqual(want);
  for (let i = 0; i < 4; i++) expect(got.filter((a) => a === addr(i)).length).toBeGreaterThan(200);
});

gate.test('a draining member gets no keys: they go where libmemcached sends them without it; the others stay', async () => {
  const all = await expected([0, 1, 2, 3]);
  const without = await expected([0, 1, 2]);
  const drained = table(['active', 'active', 'active', 'draining'], 'miss').t;
  expect(drained.all.length).toBe(4);
  expect(drained.upstreams.length).toBe(3);
  let moved = 0;
  keys.forEach((k, i) => {
    expect(route(drained, k)).toBe(without[i]);
    if (all[i] === addr(3)) moved++;
    else expect(route(drained, k)).toBe(all[i]);
  });
  expect(moved).toBeGreaterThan(200);
});

gate.test('ejected owner: miss policy answers without a server; next policy uses the ring without it', async () => {
  const all = await expected([0, 1, 2]);
  const without2 = await expected([0, 1]);
  const miss = table(['active', 'active', 'active'], 'miss');
  const next = table(['active', 'active', 'active'], 'next');
  miss.ups.get(addr(2))!.ejected = true;
  next.ups.get(addr(2))!.ejected = true;
  let failedOver = 0;
  keys.forEach((k, i) => {
    if (all[i] === addr(2)) {
      failedOver++;
      expect(route(miss.t, k, 1)).toBeNull();
      expect(route(next.t, k, 1)).toBe(without2[i]);
    } else {
      expect(route(miss.t, k, 1)).toBe(all[i]);
      expect(route(next.t, k, 1)).toBe(all[i]);
    }
  });
  expect(failedOver).toBeGreaterThan(200);
});

gate.test('next policy: a second ejected member gets no keys; its keys and the first one\'s go to the ring without both', async () => {
  const all = await expected([0, 1, 2, 3]);
  const without2 = await expected([0, 1, 3]);
  const without12 = await expected([0, 3]);
  const { t, ups } = table(['active', 'active', 'active', 'active'], 'next');
  ups.get(addr(2))!.ejected = true;
  keys.forEach((k, i) => expect(route(t, k, 1)).toBe(without2[i]));
  // A second ejection (a new generation): the failover ring is rebuilt without both.
  ups.get(addr(1))!.ejected = true;
  const second = keys.map((k) => route(t, k, 2));
  expect(second.filter((a) => a === addr(1) || a === addr(2))).toEqual([]);
  keys.forEach((k, i) => {
    if (all[i] === addr(1) || all[i] === addr(2)) expect(second[i]).toBe(without12[i]);
    else expect(second[i]).toBe(all[i]);
  });
  // The first comes back: only the second's keys fail over, to the ring without it.
  ups.get(addr(2))!.ejected = false;
  const without1 = await expected([0, 2, 3]);
  keys.forEach((k, i) => expect(route(t, k, 3)).toBe(all[i] === addr(1) ? without1[i] : all[i]));
});

test('the bucketed point lookup equals a lower bound over the whole continuum, at every edge', () => {
  const lowerBound = (points: Uint32Array, h: number): number => {
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  };
  for (const n of [1, 3, 10, 50]) {
    const c = new Continuum(Array.from({ length: n }, (_, i) => ({ host: `10.1.0.${i}`, port: 11211 + i, weight: 1 + (i % 3) })), 40);
    const hashes = [0, 1, 0xffffffff, 0xfffffffe, 0x100000, 0xfffff, 0x80000000];
    for (const p of c.points) hashes.push(p, (p + 1) >>> 0, (p - 1) >>> 0, (p & 0xfff00000) >>> 0, ((p | 0xfffff) >>> 0));
    let x = 12345;
    for (let i = 0; i < 20000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      hashes.push(x);
    }
    let disagree = 0;
    for (const h of hashes) if (c.pointFor(h) !== lowerBound(c.points, h)) disagree++;
    expect(disagree).toBe(0);
  }
});
