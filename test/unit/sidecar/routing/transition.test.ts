/**
 * The pure parts of ring transitions in the sidecar: which owner a key is filled from and invalidated at
 * (RoutingTable.previousOwner, draining members included), how an `mg v f t` reply becomes an add's flags and
 * exptime, and how a write cancels a fill's add (FillRegistry).
 */
import { Continuum } from '../../../../server/src/ring/continuum.js';
import { parseRingDocument } from '../../../../server/src/ring/document.js';
import { RoutingTable } from '../../../../server/src/sidecar/routing/table.js';
import { FILL_MAX_IN_FLIGHT, FillRegistry, parseFound } from '../../../../server/src/sidecar/routing/transition.js';
import type { Upstream } from '../../../../server/src/sidecar/upstream/upstream.js';

function member(i: number, state = 'active'): object {
  return { name: `m-${i}`, host: `m-${i}.test`, port: 11211, weight: 1, state };
}

function table(doc: object): { t: RoutingTable; ups: Map<string, Upstream> } {
  const ups = new Map<string, Upstream>();
  const t = new RoutingTable(parseRingDocument(JSON.stringify(doc)), (m) => {
    let u = ups.get(m.address);
    if (!u) ups.set(m.address, (u = { address: m.address, ejected: false } as unknown as Upstream));
    return u;
  }, 'miss');
  return { t, ups };
}

const keys = Array.from({ length: 3000 }, (_, i) => Buffer.from(`key:${i}`));
const hosts = (idx: number[]) => idx.map((i) => ({ host: `m-${i}.test`, port: 11211, weight: 1 }));

function ownersOn(idx: number[]): string[] {
  const c = new Continuum(hosts(idx), 40);
  return keys.map((k) => `m-${idx[c.ownerOf(k)]!}.test:11211`);
}

describe('RoutingTable.previousOwner', () => {
  test('scale-up: a key moved to a new member names its owner under previous; others name none', () => {
    const { t } = table({ version: 2, members: [0, 1, 2, 3, 4].map((i) => member(i)),
      previous: { version: 1, members: [0, 1, 2].map((i) => member(i)) } });
    const before = ownersOn([0, 1, 2]);
    const after = ownersOn([0, 1, 2, 3, 4]);
    let moved = 0;
    keys.forEach((k, i) => {
      const owner = t.route(k, 0, k.length, 0);
      expect(owner!.address).toBe(after[i]);
      const prev = t.previousOwner(k, 0, k.length, owner);
      if (before[i] === after[i]) expect(prev).toBeNull();
      else {
        moved++;
        expect(prev!.address).toBe(before[i]);
      }
    });
    // About 2/5 of the keys move to the two new members.
    expect(moved).toBeGreaterThan(keys.length * 0.3);
    expect(moved).toBeLessThan(keys.length * 0.5);
    // flush_all reaches every member once.
    expect(t.all.length).toBe(5);
  });

  test('scale-down with draining members: keys of the leaving members are filled from them', () => {
    const { t } = table({ version: 2, members: [member(0), member(1), member(2, 'draining')],
      previous: { version: 1, members: [0, 1, 2].map((i) => member(i)) } });
    const before = ownersOn([0, 1, 2]);
    keys.forEach((k, i) => {
      const prev = t.previousOwner(k, 0, k.length, t.route(k, 0, k.length, 0));
      expect(prev?.address ?? null).toBe(before[i] === 'm-2.test:11211' ? 'm-2.test:11211' : null);
    });
  });

  test('a member draining in previous owned nothing there; previous members gone now are still reachable', () => {
    const { t } = table({ version: 3, members: [0, 1].map((i) => member(i)),
      previous: { version: 1, members: [member(0), member(1), member(2), member(3, 'draining')] } });
    const before = ownersOn([0, 1, 2]);
    keys.forEach((k, i) => {
      const prev = t.previousOwner(k, 0, k.length, t.route(k, 0, k.length, 0));
      expect(prev?.address ?? null).toBe(before[i] === 'm-2.test:11211' ? 'm-2.test:11211' : null);
    });
    expect(t.all.map((u) => u.address).sort()).toEqual([0, 1, 2, 3].map((i) => `m-${i}.test:11211`));
  });

  test('an ejected previous owner is not asked; no previous means never', () => {
    const { t, ups } = table({ version: 2, members: [0, 1].map((i) => member(i)),
      previous: { version: 1, members: [member(2)] } });
    const k = keys[0]!;
    expect(t.previousOwner(k, 0, k.length, t.route(k, 0, k.length, 0))!.address).toBe('m-2.test:11211');
    (ups.get('m-2.test:11211') as { ejected: boolean }).ejected = true;
    expect(t.previousOwner(k, 0, k.length, t.route(k, 0, k.length, 0))).toBeNull();
    const plain = table({ version: 2, members: [0, 1].map((i) => member(i)) }).t;
    expect(plain.previous).toBeNull();
    expect(plain.previousOwner(k, 0, k.length, null)).toBeNull();
  });
});

describe('parseFound', () => {
  const r = (s: string) => Buffer.from(s, 'latin1');
  test('value, flags and remaining TTL become an add', () => {
    expect(parseFound(r('VA 5 f42 t100\r\nhello\r\n'))).toEqual({ data: r('hello'), flags: '42', exptime: 100 });
    expect(parseFound(r('VA 0 f0 t-1\r\n\r\n'))).toEqual({ data: r(''), flags: '0', exptime: 0 });
  });
  test('about to expire is not stored; beyond 30 days is an absolute time', () => {
    expect(parseFound(r('VA 1 f0 t0\r\nx\r\n'))!.exptime).toBe(-1);
    const abs = parseFound(r('VA 1 f0 t3000000\r\nx\r\n'))!.exptime;
    expect(abs).toBeGreaterThan(Date.now() / 1000 + 2_999_000);
  });
  test('misses, errors and truncated replies are not values', () => {
    for (const s of ['EN\r\n', 'SERVER_ERROR busy\r\n', 'VA 9 f0 t1\r\nshort\r\n', 'VA x f0\r\n\r\n', 'VA 1 fz t1\r\nx\r\n']) {
      expect(parseFound(r(s))).toBeNull();
    }
    expect(parseFound(null)).toBeNull();
  });
});

describe('FillRegistry', () => {
  const key = (s: string) => Buffer.from(s);
  test('a write dispatched while a fill is pending cancels its add; other keys and later fills are unaffected', () => {
    const f = new FillRegistry();
    const a = f.begin('a');
    const b = f.begin('b');
    f.wrote(key('a'), 0, 1);
    expect(f.end('a', a)).toBe(false);
    expect(f.end('b', b)).toBe(true);
    const again = f.begin('a');
    expect(f.end('a', again)).toBe(true);
    expect(f.inFlight).toBe(0);
  });
  test('fills in flight are bounded', () => {
    const f = new FillRegistry();
    for (let i = 0; i < FILL_MAX_IN_FLIGHT; i++) expect(f.begin(`k${i}`)).toBeGreaterThanOrEqual(0);
    expect(f.begin('one-more')).toBe(-1);
    f.end('k0', 0);
    expect(f.begin('one-more')).toBeGreaterThanOrEqual(0);
  });
});
