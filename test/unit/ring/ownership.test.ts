/**
 * ownershipOf(): what a server may drop under a ring document. The owner is the ketama owner among the
 * active members (the continuum is checked against libmemcached in ketama-pylibmc.test.ts), by name, so
 * the members' order in the document does not matter; a draining member owns nothing; with `previous`,
 * without the member or without active members nothing is decided.
 */
import { Continuum } from '../../../server/src/ring/continuum.js';
import { parseRingDocument, type RingSpec } from '../../../server/src/ring/document.js';
import { ownershipOf, type Ownership } from '../../../server/src/ring/ownership.js';

type Member = { name: string; state?: 'active' | 'draining'; weight?: number };

function ring(members: Member[], extra: Record<string, unknown> = {}): RingSpec {
  return parseRingDocument(JSON.stringify({
    version: 3,
    members: members.map((m) => ({ name: m.name, host: `${m.name}.web-headless.ns.svc.cluster.local`, port: 11211, weight: m.weight ?? 1, state: m.state ?? 'active' })),
    ...extra,
  }));
}

const keys = Array.from({ length: 3000 }, (_, i) => Buffer.from(`user:${i}`));

function owned(o: Ownership): Set<number> {
  if (o.kind !== 'owner') throw new Error(`not an owner verdict: ${o.kind}`);
  const out = new Set<number>();
  keys.forEach((k, i) => {
    if (o.owns(k, 0, k.length)) out.add(i);
  });
  return out;
}

const names = (n: number): Member[] => Array.from({ length: n }, (_, i) => ({ name: `web-${i}` }));

describe('ownershipOf', () => {
  test('every key has exactly one owner among the active members, the continuum\'s', () => {
    const spec = ring(names(3));
    const sets = ['web-0', 'web-1', 'web-2'].map((m) => owned(ownershipOf(spec, m)));
    const continuum = new Continuum(spec.members, spec.vnodes);
    const wrong = keys.filter((k, i) => {
      const owners = sets.filter((s) => s.has(i)).length;
      return owners !== 1 || !sets[continuum.ownerOf(k)]!.has(i);
    });
    expect(wrong).toEqual([]);
    // Each owns a real share (160 points each: far from all or nothing).
    for (const s of sets) expect(s.size).toBeGreaterThan(keys.length / 6);
  });

  test('the owner is found by name: the order of members in the document does not change it', () => {
    const a = owned(ownershipOf(ring(names(4)), 'web-2'));
    const b = owned(ownershipOf(ring(names(4).reverse()), 'web-2'));
    expect([...b]).toEqual([...a]);
  });

  test('scale-up: a member keeps a subset of what it owned and loses some keys', () => {
    const before = owned(ownershipOf(ring(names(3)), 'web-1'));
    const after = owned(ownershipOf(ring(names(5)), 'web-1'));
    expect([...after].filter((i) => !before.has(i))).toEqual([]);
    expect(after.size).toBeLessThan(before.size);
  });

  test('a draining member owns nothing; the active ones share its keys', () => {
    const spec = ring([{ name: 'web-0' }, { name: 'web-1' }, { name: 'web-2', state: 'draining' }]);
    const draining = ownershipOf(spec, 'web-2');
    expect(draining).toMatchObject({ kind: 'owner', ownsNone: true, ownsAll: false });
    expect(owned(draining).size).toBe(0);
    const active = owned(ownershipOf(spec, 'web-0')).size + owned(ownershipOf(spec, 'web-1')).size;
    expect(active).toBe(keys.length);
  });

  test('the only active member owns every key', () => {
    const o = ownershipOf(ring([{ name: 'web-0' }, { name: 'web-1', state: 'draining' }]), 'web-0');
    expect(o).toMatchObject({ kind: 'owner', ownsAll: true, ownsNone: false });
    expect(owned(o).size).toBe(keys.length);
  });

  test('a ring with previous is a transition: nothing is decided', () => {
    const previous = { version: 2, members: [{ name: 'web-0', host: 'web-0.web-headless.ns.svc.cluster.local', port: 11211 }] };
    expect(ownershipOf(ring(names(3), { previous }), 'web-1').kind).toBe('transition');
  });

  test('a member the ring does not name, or a ring without active members, decides nothing', () => {
    expect(ownershipOf(ring(names(3)), 'web-7').kind).toBe('not-member');
    expect(ownershipOf(ring([{ name: 'web-0', state: 'draining' }]), 'web-0').kind).toBe('no-active');
  });
});
