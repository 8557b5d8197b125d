// cachalot-server following a ring file (--ring-file, --ring-member): a real server process with a RAM and a
// flash tier. While the ring carries `previous` nothing is dropped; once a ring without it is in force, the
// keys the member does not own are gone from both tiers and counted, the owned ones keep their values; a
// draining member drops everything; a member the ring does not name drops nothing and says so once. Bad
// ring flags stop the server with exit code 64 and a message naming the flag.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Continuum } from '../../../server/src/ring/continuum.js';
import { parseRingDocument } from '../../../server/src/ring/document.js';
import { EVERY_SIZE, Client, removeDir, startFlashServer, stop, tempDir, type FlashServer } from '../flash/support.js';
import { runToExit, waitFor } from '../../support/cachalot.js';

const N = 1200;
/** 16 KiB values: 19 MiB in all, more than the server's 16 MiB of RAM, so part of them is on flash. */
const VALUE = 16 * 1024;
const valueOf = (i: number): Buffer => Buffer.alloc(VALUE, `value-${i}-`);
const keyOf = (i: number): string => `user:${i}`;

type State = 'active' | 'draining';
const member = (name: string, state: State = 'active') => ({ name, host: `${name}.web-headless.ns.svc.cluster.local`, port: 11211, weight: 1, state });

/** Writes the ring document atomically (as the kubelet swaps a ConfigMap volume): never half a file. */
function writeRing(path: string, doc: object): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(doc));
  renameSync(`${path}.tmp`, path);
}

async function ringStats(c: Client): Promise<{ version: number; state: string; purged: number; items: number; flash: number }> {
  const s = await c.stats();
  return {
    version: Number(s.get('ring_version')), state: s.get('ring_state') ?? '', purged: Number(s.get('ring_purged_items')),
    items: Number(s.get('curr_items')), flash: Number(s.get('extstore_objects_used') ?? 0),
  };
}

/** Waits until the server follows `version` and, unless `state` is omitted, is in `state`. */
async function waitRing(c: Client, version: number, state: string): Promise<void> {
  await waitFor(async () => {
    const r = await ringStats(c);
    return r.version === version && r.state === state;
  }, 30_000, `ring_version ${version} in state ${state}`, 50);
}

async function present(c: Client): Promise<Set<number>> {
  const out = new Set<number>();
  for (let i = 0; i < N; i++) {
    const v = await c.get(keyOf(i));
    if (v === null) continue;
    if (!v.equals(valueOf(i))) throw new Error(`${keyOf(i)} has a wrong value`);
    out.add(i);
  }
  return out;
}

describe('cachalot-server purges what the ring says it does not own (RAM and flash)', () => {
  let dir: string;
  let ringFile: string;
  let server: FlashServer | undefined;
  let c: Client;

  beforeAll(async () => {
    dir = tempDir();
    ringFile = join(dir, 'ring.json');
    mkdirSync(join(dir, 'flash'));
    // The only member at first: it owns every key.
    writeRing(ringFile, { version: 1, members: [member('web-1')] });
    server = await startFlashServer(join(dir, 'flash'), '256m', [...EVERY_SIZE, '--ring-file', ringFile, '--ring-member', 'web-1',
      '--ring-poll-ms', '50', '-o', 'ring_purge_rate=200000']);
    c = new Client(server.port);
    await waitRing(c, 1, 'done');
    for (let i = 0; i < N; i++) expect(await c.set(keyOf(i), valueOf(i))).toBe('STORED');
  }, 120_000);

  afterAll(async () => {
    c?.close();
    await stop(server);
    removeDir(dir);
  });

  test('stats name the member and the ring; the items are on both tiers', async () => {
    const s = await c.stats();
    expect(s.get('ring_member')).toBe('web-1');
    const r = await ringStats(c);
    expect(r).toMatchObject({ version: 1, state: 'done', purged: 0 });
    expect(r.flash).toBeGreaterThan(100);
    expect(r.items).toBeGreaterThan(100);
  });

  test('while the ring carries previous nothing is purged', async () => {
    writeRing(ringFile, { version: 2, members: [member('web-0'), member('web-1'), member('web-2')], previous: { version: 1, members: [member('web-1')] } });
    await waitRing(c, 2, 'transition');
    expect((await ringStats(c)).purged).toBe(0);
    expect((await present(c)).size).toBe(N);
  }, 60_000);

  test('once it is dropped, the keys of other members are gone from RAM and flash, the owned ones remain, stats count them', async () => {
    const doc = { version: 3, members: [member('web-0'), member('web-1'), member('web-2')] };
    const before = await ringStats(c);
    writeRing(ringFile, doc);
    await waitRing(c, 3, 'done');
    const spec = parseRingDocument(JSON.stringify(doc));
    const continuum = new Continuum(spec.members, spec.vnodes);
    const owned = new Set<number>();
    for (let i = 0; i < N; i++) if (continuum.ownerOf(Buffer.from(keyOf(i))) === 1) owned.add(i);
    expect(owned.size).toBeGreaterThan(N / 6);
    expect(owned.size).toBeLessThan(N / 2);
    const after = await ringStats(c);
    expect(after.purged).toBe(N - owned.size);
    // Both tiers gave items up.
    expect(after.flash).toBeLessThan(before.flash);
    expect(after.items).toBeLessThan(before.items);
    expect([...await present(c)]).toEqual([...owned]);
    const metrics = await fetch(`http://127.0.0.1:${server!.metricsPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(new RegExp(`^cachalot_ring_purged_items_total ${N - owned.size}$`, 'm'));
    expect(metrics).toMatch(/^cachalot_ring_version 3$/m);
    expect(metrics).toMatch(/^cachalot_ring_state\{member="web-1",state="done"\} 1$/m);
  }, 60_000);

  // The wait below is for version 4 in state 'done': the server publishes a document's state before its
  // version, so 'done' read with version 4 is this document's sweep ending, not the last one's.
  test('a draining member owns nothing: the rest goes too', async () => {
    const purged = (await ringStats(c)).purged;
    const left = (await present(c)).size;
    writeRing(ringFile, { version: 4, members: [member('web-0'), member('web-1', 'draining'), member('web-2')] });
    await waitRing(c, 4, 'done');
    expect((await ringStats(c)).purged).toBe(purged + left);
    expect((await present(c)).size).toBe(0);
  }, 60_000);
});

describe('a server the ring does not name', () => {
  let dir: string;
  let server: FlashServer | undefined;
  let c: Client;

  afterAll(async () => {
    c?.close();
    await stop(server);
    removeDir(dir);
  });

  test('serves normally, purges nothing and logs it once', async () => {
    dir = tempDir();
    const ringFile = join(dir, 'ring.json');
    mkdirSync(join(dir, 'flash'));
    writeRing(ringFile, { version: 5, members: [member('web-1')] });
    server = await startFlashServer(join(dir, 'flash'), '64m', ['--ring-file', ringFile, '--ring-member', 'web-9', '--ring-poll-ms', '50']);
    c = new Client(server.port);
    await waitRing(c, 5, 'not_member');
    for (let i = 0; i < 200; i++) expect(await c.set(keyOf(i), Buffer.from(`v${i}`))).toBe('STORED');
    // A later version that still leaves it out (and that would make it drop everything if it were web-1).
    writeRing(ringFile, { version: 6, members: [member('web-0'), member('web-1', 'draining')] });
    await waitRing(c, 6, 'not_member');
    expect((await ringStats(c)).purged).toBe(0);
    let hits = 0;
    for (let i = 0; i < 200; i++) if ((await c.get(keyOf(i)))?.toString() === `v${i}`) hits++;
    expect(hits).toBe(200);
    expect(server.output().split('\n').filter((l) => l.includes('not a member of the ring')).length).toBe(1);
  }, 120_000);
});

describe('ring flags are checked at start (exit code 64, the flag named)', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a ring file without a member', ['--ring-file', 'ring.json'], /--ring-file needs --ring-member/],
    ['a member without a ring source', ['--ring-member', 'web-0'], /--ring-member needs a ring source/],
    ['both ring sources', ['--ring-file', 'ring.json', '--ring-configmap', 'ns/web-ring', '--ring-member', 'web-0'], /--ring-file and --ring-configmap are exclusive/],
    ['a malformed ConfigMap name', ['--ring-configmap', 'web-ring', '--ring-member', 'web-0'], /--ring-configmap must be NAMESPACE\/NAME/],
    ['a purge rate out of range', ['-o', 'ring_purge_rate=-1'], /-o ring_purge_rate must be an integer/],
  ];
  test.each(cases)('%s', async (_name, args, message) => {
    const r = await runToExit(['-p', '0', '-l', '127.0.0.1', '--metrics-port', '0', ...args]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(message);
  });
});
