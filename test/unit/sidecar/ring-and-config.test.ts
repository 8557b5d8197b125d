import { parseArgs, defaultConfig } from '../../../server/src/sidecar/config.js';
import { parseRingDocument } from '../../../server/src/ring/document.js';
import { RingError } from '../../../server/src/ring/errors.js';

describe('ring document', () => {
  const doc = (members: unknown, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ cluster: 'web', namespace: 'prod', version: 7, hash: 'ketama-md5', vnodes: 40, members, ...extra });

  test('parses the DESIGN.md shape, with defaults for port, weight and state', () => {
    const r = parseRingDocument(doc([
      { name: 'web-0', host: 'web-0.web-headless.prod.svc.cluster.local', port: 11211, weight: 1, state: 'active' },
      { host: '10.0.0.2' },
      { name: 'web-2', host: 'web-2', port: 11300, weight: 2, state: 'draining' },
    ]));
    expect(r.version).toBe(7);
    expect(r.members.map((m) => [m.address, m.weight, m.state])).toEqual([
      ['web-0.web-headless.prod.svc.cluster.local:11211', 1, 'active'],
      ['10.0.0.2:11211', 1, 'active'],
      ['web-2:11300', 2, 'draining'],
    ]);
  });

  test.each([
    ['not json', 'not JSON'],
    [JSON.stringify([]), 'must be a JSON object'],
    [JSON.stringify({ members: [] }), 'version must be a non-negative integer'],
    [JSON.stringify({ version: 1, hash: 'crc32', members: [] }), 'hash must be "ketama-md5"'],
    [JSON.stringify({ version: 1, vnodes: 0, members: [] }), 'vnodes must be an integer'],
    [JSON.stringify({ version: 1 }), 'members must be an array'],
    [JSON.stringify({ version: 1, members: [{ port: 1 }] }), 'members[0].host must be a non-empty string'],
    [JSON.stringify({ version: 1, members: [{ host: 'a', port: 70000 }] }), 'members[0].port must be an integer in [1, 65535]'],
    [JSON.stringify({ version: 1, members: [{ host: 'a', weight: 0 }] }), 'members[0].weight must be an integer'],
    [JSON.stringify({ version: 1, members: [{ host: 'a', state: 'gone' }] }), 'members[0].state must be "active" or "draining"'],
    [JSON.stringify({ version: 1, members: [{ host: 'a' }, { host: 'a', port: 11211 }] }), 'members[1]: a:11211 is listed twice'],
  ])('refuses %s', (text, message) => {
    expect(() => parseRingDocument(text)).toThrow(RingError);
    expect(() => parseRingDocument(text)).toThrow(message);
  });
});

describe('command line', () => {
  test('defaults are the named constants; twemproxy-like upstream settings', () => {
    const r = parseArgs(['--ring-file', '/etc/ring/ring.json']);
    expect(r).toEqual({ kind: 'run', config: { ...defaultConfig(), ringFile: '/etc/ring/ring.json' } });
    expect(defaultConfig().failureLimit).toBe(2);
    expect(defaultConfig().retryTimeoutMs).toBe(30_000);
    expect(defaultConfig().listen).toBe('127.0.0.1');
    expect(defaultConfig().port).toBe(11211);
  });

  test('long, short and = forms', () => {
    const r = parseArgs(['--ring-configmap=prod/web-ring', '-p', '11311', '-l127.0.0.2', '-I', '2m', '--ejected=next',
      '--server-connections', '2', '--request-timeout-ms=250']);
    if (r.kind !== 'run') throw new Error('expected run');
    expect(r.config.ringConfigMap).toEqual({ namespace: 'prod', name: 'web-ring' });
    expect(r.config.port).toBe(11311);
    expect(r.config.listen).toBe('127.0.0.2');
    expect(r.config.maxItemSize).toBe(2 * 1024 * 1024);
    expect(r.config.ejected).toBe('next');
    expect(r.config.serverConnections).toBe(2);
    expect(r.config.requestTimeoutMs).toBe(250);
  });

  test('--spin-us: 100 by default, 0 turns it off, bounded at 10 ms', () => {
    expect(defaultConfig().spinUs).toBe(100);
    const r = parseArgs(['--ring-file', 'a', '--spin-us', '0']);
    if (r.kind !== 'run') throw new Error('expected run');
    expect(r.config.spinUs).toBe(0);
    expect(() => parseArgs(['--ring-file', 'a', '--spin-us', '10001'])).toThrow('must be in [0, 10000], got 10001');
  });

  test('--no-transition-fill: fills are on by default; the flag turns them off and takes no value', () => {
    expect(defaultConfig().transitionFill).toBe(true);
    const r = parseArgs(['--ring-file', 'a', '--no-transition-fill']);
    if (r.kind !== 'run') throw new Error('expected run');
    expect(r.config.transitionFill).toBe(false);
    expect(() => parseArgs(['--ring-file', 'a', '--no-transition-fill=yes'])).toThrow("--no-transition-fill: takes no value, got 'yes'");
  });

  test('both ring sources at once are refused', () => {
    expect(() => parseArgs(['--ring-file', 'a', '--ring-configmap', 'ns/b'])).toThrow('exactly one ring source');
  });

  test('a flag without its value is refused', () => {
    expect(() => parseArgs(['--ring-file'])).toThrow('--ring-file: needs a value');
  });
});

describe('the operator\'s published ring, as the sidecar reads it', () => {
  test('a scale-down from 4 to 3: ordinal 3 published draining, routed by nobody', async () => {
    const { planRing, serializeRing } = await import('../../../operator/src/ring.js');
    const { RoutingTable } = await import('../../../server/src/sidecar/routing/table.js');
    const base = { cluster: 'web', namespace: 'prod', vnodes: 40, drainSeconds: 60, transitionSeconds: 0, drainingSince: {}, now: new Date('2026-01-01T00:00:00Z') };
    const four = planRing({ ...base, replicas: 4 }).ring;
    const three = planRing({ ...base, replicas: 3, published: four }).ring;
    const spec = parseRingDocument(serializeRing(three));
    expect(spec.version).toBe(four.version + 1);
    expect(spec.members.map((m) => [m.name, m.state])).toEqual([
      ['web-0', 'active'], ['web-1', 'active'], ['web-2', 'active'], ['web-3', 'draining'],
    ]);
    expect(spec.members[0]!.address).toBe('web-0.web-headless.prod.svc.cluster.local:11211');
    const table = new RoutingTable(spec, (m) => ({ address: m.address, ejected: false }) as never, 'miss');
    expect(table.active.map((m) => m.name)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(table.all.length).toBe(4);
  });
});
