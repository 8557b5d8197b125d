/**
 * `previous` in the ring document (docs/ring.md): parsed and validated as strictly as the members, optional,
 * and the same document read by the operator's writer and the sidecar's parser.
 */
import { parseRingDocument } from '../../../server/src/ring/document.js';
import { RingError } from '../../../server/src/ring/errors.js';
import { parseRing, planRing, serializeRing } from '../../../operator/src/ring.js';

const members = [{ name: 'web-0', host: 'web-0.h', port: 11211, weight: 1, state: 'active' }, { name: 'web-1', host: 'web-1.h', port: 11211, weight: 1, state: 'active' }];
const doc = (extra: Record<string, unknown>): string => JSON.stringify({ cluster: 'web', namespace: 'prod', version: 7, hash: 'ketama-md5', vnodes: 40, members, ...extra });

describe('ring document previous', () => {
  test('absent: no previous (steady state), exactly as before the field existed', () => {
    expect(parseRingDocument(doc({})).previous).toBeUndefined();
    expect('previous' in parseRingDocument(doc({}))).toBe(false);
  });

  test('present: its version, the document\'s vnodes unless it names its own, members with states and addresses', () => {
    const r = parseRingDocument(doc({ previous: { version: 6, members: [members[0], { host: 'web-2.h', state: 'draining' }] } }));
    expect(r.previous!.version).toBe(6);
    expect(r.previous!.vnodes).toBe(40);
    expect(r.previous!.members.map((m) => [m.name, m.address, m.state])).toEqual([['web-0', 'web-0.h:11211', 'active'], ['web-2.h:11211', 'web-2.h:11211', 'draining']]);
    expect(Object.isFrozen(r.previous)).toBe(true);
    expect(Object.isFrozen(r.previous!.members)).toBe(true);
    expect(parseRingDocument(doc({ previous: { version: 0, vnodes: 160, members } })).previous!.vnodes).toBe(160);
    // An empty previous ring is a ring (a first publish never has one, but a reader must not choke on it).
    expect(parseRingDocument(doc({ previous: { version: 6, members: [] } })).previous!.members).toEqual([]);
  });

  test.each([
    [{ previous: null }, 'previous must be an object'],
    [{ previous: [] }, 'previous must be an object'],
    [{ previous: { members } }, 'previous.version must be a non-negative integer'],
    [{ previous: { version: -1, members } }, 'previous.version must be a non-negative integer'],
    [{ previous: { version: 1.5, members } }, 'previous.version must be a non-negative integer'],
    [{ previous: { version: 7, members } }, 'previous.version (7) must be below version (7)'],
    [{ previous: { version: 8, members } }, 'previous.version (8) must be below version (7)'],
    [{ previous: { version: 6 } }, 'previous.members must be an array'],
    [{ previous: { version: 6, vnodes: 0, members } }, 'previous.vnodes must be an integer in [1, 10000]'],
    [{ previous: { version: 6, members: [{ host: 'a b' }] } }, 'previous.members[0].host must not contain whitespace'],
    [{ previous: { version: 6, members: [{ host: 'a', state: 'gone' }] } }, 'previous.members[0].state must be "active" or "draining"'],
    [{ previous: { version: 6, members: [{ host: 'a' }, { host: 'a' }] } }, 'previous.members[1]: a:11211 is listed twice'],
    [{ previous: { version: 6, members: new Array(4097).fill(0).map((_, i) => ({ host: `h${i}` })) } }, 'more than 4096 previous.members'],
  ])('refuses %j as a whole', (extra, message) => {
    expect(() => parseRingDocument(doc(extra))).toThrow(RingError);
    expect(() => parseRingDocument(doc(extra))).toThrow(message);
  });

  test('what the operator publishes during a transition parses into the same rings', () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const base = { cluster: 'web', namespace: 'prod', vnodes: 40, drainSeconds: 60, transitionSeconds: 120, drainingSince: {}, now: t0 };
    const three = planRing({ ...base, replicas: 3 });
    const up = planRing({ ...base, replicas: 5, published: parseRing(serializeRing(three.ring)) });
    const spec = parseRingDocument(serializeRing(up.ring));
    expect(spec.version).toBe(2);
    expect(spec.members.map((m) => m.name)).toEqual(['web-0', 'web-1', 'web-2', 'web-3', 'web-4']);
    expect(spec.previous!.version).toBe(1);
    expect(spec.previous!.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active']);
    const vnodesChange = planRing({ ...base, replicas: 3, vnodes: 80, published: parseRing(serializeRing(three.ring)) });
    expect(parseRingDocument(serializeRing(vnodesChange.ring)).previous!.vnodes).toBe(40);
  });
});
