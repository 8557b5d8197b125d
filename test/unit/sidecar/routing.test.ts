import HashRing from 'hashring';
import { Continuum, ketamaDigests, ketamaServerString } from '../../../server/src/sidecar/continuum.js';
import { parseRingDocument } from '../../../server/src/sidecar/ring.js';
import { RoutingTable } from '../../../server/src/sidecar/routing.js';
import type { Upstream } from '../../../server/src/sidecar/upstream.js';

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

test('the continuum agrees with hashring\'s own ketama lookup (4 equal members, default port)', () => {
  const hosts = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
  const c = new Continuum(hosts.map((host) => ({ host, port: 11211, weight: 1 })), 40);
  expect(c.points.length).toBe(4 * 160);
  const hr = new HashRing(hosts.map((h) => `${h}:11211`), 'md5', { 'default port': 11211, 'max cache size': 1 });
  for (let i = 0; i < 5000; i++) {
    const key = `key-${i}`;
    expect(hosts[c.ownerOf(Buffer.from(key))]).toBe(hr.get(key)!.split(':')[0]);
  }
});

function fakeUpstream(address: string): Upstream {
  return { address, ejected: false } as unknown as Upstream;
}

function table(states: Array<'active' | 'draining'>, policy: 'miss' | 'next'): { t: RoutingTable; ups: Map<string, Upstream> } {
  const spec = parseRingDocument(JSON.stringify({
    version: 1, members: states.map((state, i) => ({ host: `h${i}`, port: 11211, state })),
  }));
  const ups = new Map<string, Upstream>();
  const t = new RoutingTable(spec, (m) => {
    let u = ups.get(m.address);
    if (!u) ups.set(m.address, (u = fakeUpstream(m.address)));
    return u;
  }, policy);
  return { t, ups };
}

const keys = Array.from({ length: 2000 }, (_, i) => Buffer.from(`k${i}`));
const route = (t: RoutingTable, k: Buffer, gen = 0) => t.route(k, 0, k.length, gen)?.address ?? null;

test('a draining member gets no keys; its keys move, the others stay where they were', () => {
  const all = table(['active', 'active', 'active', 'active'], 'miss').t;
  const drained = table(['active', 'active', 'active', 'draining'], 'miss').t;
  const without = table(['active', 'active', 'active'], 'miss').t;
  expect(drained.all.length).toBe(4);
  expect(drained.upstreams.length).toBe(3);
  let moved = 0;
  for (const k of keys) {
    expect(route(drained, k)).not.toBe('h3:11211');
    // Routing with h3 draining is routing without h3: what a client sees after the shrink, before it.
    expect(route(drained, k)).toBe(route(without, k));
    if (route(all, k) === 'h3:11211') moved++;
    else expect(route(drained, k)).toBe(route(all, k));
  }
  expect(moved).toBeGreaterThan(0);
});

test('ejected owner: miss policy answers without a server; next policy uses the ring without it', () => {
  const miss = table(['active', 'active', 'active'], 'miss');
  const next = table(['active', 'active', 'active'], 'next');
  const without = table(['active', 'active'], 'miss').t;
  miss.ups.get('h2:11211')!.ejected = true;
  next.ups.get('h2:11211')!.ejected = true;
  for (const k of keys) {
    const owner = miss.t.ownerIndex(k);
    if (owner === 2) {
      expect(route(miss.t, k, 1)).toBeNull();
      expect(route(next.t, k, 1)).toBe(route(without, k));
    } else {
      expect(route(miss.t, k, 1)).toBe(`h${owner}:11211`);
      expect(route(next.t, k, 1)).toBe(`h${owner}:11211`);
    }
  }
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
