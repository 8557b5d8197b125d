import { parseRingDocument } from '../../../server/src/ring/document.js';
import { RingError } from '../../../server/src/ring/errors.js';

const doc = (members: unknown, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ cluster: 'web', namespace: 'prod', version: 7, members, ...extra });

describe('ring document bounds', () => {
  test('the edges of every range are accepted: version 0, port 1 and 65535', () => {
    const r = parseRingDocument(doc([{ host: 'a', port: 1 }, { host: 'b', port: 65535 }], { version: 0 }));
    expect(r.version).toBe(0);
    expect(r.members.map((m) => m.port)).toEqual([1, 65535]);
  });

  test.each([
    [doc([{ host: 'a', port: 65536 }]), 'members[0].port must be an integer in [1, 65535]'],
    [doc([{ host: 'a', port: 0 }]), 'members[0].port must be an integer in [1, 65535]'],
    [doc([{ host: 'web 0' }]), 'members[0].host must not contain whitespace'],
    [doc([{ host: 'web-0\t' }]), 'members[0].host must not contain whitespace'],
    [doc([], { version: -1 }), 'version must be a non-negative integer'],
  ])('refuses %s', (text, message) => {
    expect(() => parseRingDocument(text)).toThrow(RingError);
    expect(() => parseRingDocument(text)).toThrow(message);
  });

  test('a member without a name is named by its address, host:port', () => {
    const r = parseRingDocument(doc([{ host: 'cache-a', port: 11300 }, { host: 'cache-b' }]));
    expect(r.members.map((m) => m.name)).toEqual(['cache-a:11300', 'cache-b:11211']);
  });
});
