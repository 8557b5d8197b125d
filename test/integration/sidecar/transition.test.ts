/**
 * The sidecar during a ring transition (docs/ring.md), against real cachalot-server processes: a ring of
 * servers 0 and 1 is followed by servers 0..2 with `previous` naming the first. Keys whose owner moved to
 * server 2 are filled from their previous owner on a miss (and stored at the new one with add), and every write
 * of a moved key deletes it at the previous owner before the client is answered. Without `previous` neither
 * happens. Owners are computed with the ring module's continuum over the same members.
 */
import type { RunningServer } from '../../support/servers.js';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import { Continuum } from '../../../server/src/ring/continuum.js';
import { RawClient, RingFile, ask, askCount, eventually, fileSidecar, holders, startUpstreams, stopAll } from './helpers.js';

let servers: RunningServer[] = [];
let ring: RingFile;
let sidecar: Sidecar | undefined;
let client: RawClient;
let version = 0;

function members(idx: number[]): object[] {
  return idx.map((i) => ({ name: `test-${i}`, host: '127.0.0.1', port: servers[i]!.port, weight: 1, state: 'active' }));
}

/** Publishes servers `now` as the ring, with `prev` as `previous` when given; waits until the sidecar has it. */
async function publish(now: number[], prev?: number[]): Promise<void> {
  version += 2;
  const doc: Record<string, unknown> = { cluster: 't', namespace: 'd', version, hash: 'ketama-md5', vnodes: 40, members: members(now) };
  if (prev) doc.previous = { version: version - 1, members: members(prev) };
  ring.write(JSON.stringify(doc));
  await eventually(() => sidecar!.table?.version === version, `ring v${version}`);
}

function owner(key: string, idx: number[]): number {
  const c = new Continuum(idx.map((i) => ({ host: '127.0.0.1', port: servers[i]!.port, weight: 1 })), 40);
  return idx[c.ownerOf(Buffer.from(key))]!;
}

/** `n` keys with prefix whose owner is server 2 on ring 0..2 (moved from 0 or 1), or stays put (`moved` false). */
function keys(prefix: string, n: number, moved: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n && i < 10_000; i++) {
    const k = `${prefix}:${i}`;
    if ((owner(k, [0, 1, 2]) === 2) === moved) out.push(k);
  }
  return out;
}

async function direct(i: number, req: string, term: string): Promise<string> {
  const c = await RawClient.connect(servers[i]!.port);
  try {
    return await ask(c, req, term);
  } finally {
    c.close();
  }
}

async function sidecarStat(name: string): Promise<number> {
  const r = await ask(client, 'stats\r\n', 'END\r\n');
  const m = new RegExp(`STAT ${name} (\\d+)`).exec(r);
  return Number(m?.[1] ?? NaN);
}

beforeAll(async () => {
  servers = await startUpstreams(3);
  ring = new RingFile();
  version = 1;
  ring.write(JSON.stringify({ cluster: 't', namespace: 'd', version, vnodes: 40, members: members([0, 1]) }));
  sidecar = await fileSidecar(ring, { ringPollMs: 20 });
  client = await RawClient.connect(sidecar.port);
}, 60_000);

afterAll(async () => {
  client?.close();
  await sidecar?.stop();
  ring?.remove();
  await stopAll(servers);
});

beforeEach(async () => {
  await publish([0, 1]);
  for (let i = 0; i < servers.length; i++) await direct(i, 'flush_all\r\n', 'OK\r\n');
});

describe('sidecar during a ring transition', () => {
  test('a moved key missing at its owner is read from its previous owner and added at the owner', async () => {
    const [k] = keys('warm', 1, true);
    const old = owner(k!, [0, 1]);
    expect(await ask(client, `set ${k} 42 1000 5\r\nhello\r\n`, '\r\n')).toBe('STORED\r\n');
    expect(await holders(servers, k!)).toEqual([old]);
    await publish([0, 1, 2], [0, 1]);
    const asks = await sidecarStat('transition_fill_asks');
    expect(await ask(client, `get ${k}\r\n`, 'END\r\n')).toBe(`VALUE ${k} 42 5\r\nhello\r\nEND\r\n`);
    expect(await sidecarStat('transition_fill_asks')).toBe(asks + 1);
    // The owner now holds it with the same flags and the remaining TTL.
    const atOwner = await direct(2, `mg ${k} v f t\r\n`, '\r\nhello\r\n');
    const m = /^VA 5 f42 t(\d+)\r\nhello\r\n$/.exec(atOwner);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(900);
    expect(Number(m![1])).toBeLessThanOrEqual(1000);
    // Read again: a hit at the owner, not asked of the previous owner.
    expect(await ask(client, `get ${k}\r\n`, 'END\r\n')).toBe(`VALUE ${k} 42 5\r\nhello\r\nEND\r\n`);
    expect(await sidecarStat('transition_fill_asks')).toBe(asks + 1);
  });

  test('gets of a filled key returns a CAS the owner accepts; gat touches at the owner', async () => {
    const [k1, k2] = keys('cas', 2, true);
    await ask(client, `set ${k1} 0 0 2\r\nv1\r\nset ${k2} 0 0 2\r\nv2\r\n`, 'STORED\r\nSTORED\r\n');
    await publish([0, 1, 2], [0, 1]);
    const g = await ask(client, `gets ${k1}\r\n`, 'END\r\n');
    const cas = /^VALUE \S+ 0 2 (\d+)\r\nv1\r\nEND\r\n$/.exec(g)?.[1];
    expect(cas).toBeDefined();
    expect(await ask(client, `cas ${k1} 0 0 2 ${cas}\r\nv3\r\n`, '\r\n')).toBe('STORED\r\n');
    expect(await direct(2, `get ${k1}\r\n`, 'END\r\n')).toBe(`VALUE ${k1} 0 2\r\nv3\r\nEND\r\n`);
    expect(await ask(client, `gat 500 ${k2}\r\n`, 'END\r\n')).toBe(`VALUE ${k2} 0 2\r\nv2\r\nEND\r\n`);
    const t = /t(\d+)/.exec(await direct(2, `mg ${k2} t\r\n`, '\r\n'))?.[1];
    expect(Number(t)).toBeGreaterThan(400);
    expect(Number(t)).toBeLessThanOrEqual(500);
  });

  test('a multi-get keeps request order and ends once, warm and plain keys mixed', async () => {
    const moved = keys('mix:m', 3, true);
    const stay = keys('mix:s', 3, false);
    // Present: moved[0], moved[2] (at their previous owners), stay[0], stay[1]; absent: moved[1], stay[2].
    for (const k of [moved[0]!, moved[2]!, stay[0]!, stay[1]!]) await ask(client, `set ${k} 1 0 ${k.length}\r\n${k}\r\n`, '\r\n');
    await publish([0, 1, 2], [0, 1]);
    const order = [stay[0]!, moved[0]!, moved[1]!, stay[2]!, moved[2]!, stay[1]!];
    const expected = order.filter((k) => k !== moved[1] && k !== stay[2])
      .map((k) => `VALUE ${k} 1 ${k.length}\r\n${k}\r\n`).join('') + 'END\r\n';
    expect(await ask(client, `get ${order.join(' ')}\r\n`, 'END\r\n')).toBe(expected);
    // Pipelined behind and ahead of other requests: replies in request order.
    const r = await askCount(client, `version\r\nget ${order.join(' ')}\r\nget ${moved[1]}\r\n`, 'END\r\n', 2);
    expect(r).toMatch(/^VERSION \S+\r\n/);
    expect(r.slice(r.indexOf('\r\n') + 2)).toBe(`${expected}END\r\n`);
  });

  test('writes, deletes, touches and arithmetic of a moved key delete it at its previous owner first', async () => {
    const ks = keys('write', 6, true);
    for (const k of ks) await ask(client, `set ${k} 0 0 1\r\n1\r\n`, '\r\n');
    await publish([0, 1, 2], [0, 1]);
    const inv = await sidecarStat('transition_invalidations');
    expect(await ask(client, `set ${ks[0]} 0 0 3\r\nnew\r\n`, '\r\n')).toBe('STORED\r\n');
    expect(await ask(client, `delete ${ks[1]}\r\n`, '\r\n')).toBe('NOT_FOUND\r\n');
    expect(await ask(client, `touch ${ks[2]} 100\r\n`, '\r\n')).toBe('NOT_FOUND\r\n');
    expect(await ask(client, `incr ${ks[3]} 1\r\n`, '\r\n')).toBe('NOT_FOUND\r\n');
    expect(await ask(client, `ms ${ks[4]} 2 T0\r\nms\r\n`, '\r\n')).toBe('HD\r\n');
    expect(await ask(client, `md ${ks[5]}\r\n`, '\r\n')).toBe('NF\r\n');
    for (const k of ks) expect(await holders(servers, k).then((h) => h.filter((i) => i !== 2))).toEqual([]);
    expect(await sidecarStat('transition_invalidations')).toBe(inv + 6);
    // The written values are at the owner, and a read does not bring the old ones back.
    expect(await ask(client, `get ${ks[0]} ${ks[1]} ${ks[4]}\r\n`, 'END\r\n'))
      .toBe(`VALUE ${ks[0]} 0 3\r\nnew\r\nVALUE ${ks[4]} 0 2\r\nms\r\nEND\r\n`);
  });

  test('noreply writes are invalidated too, and a pipelined get, set, get sees the new value', async () => {
    const [a, b] = keys('pipe', 2, true);
    await ask(client, `set ${a} 0 0 3\r\nold\r\nset ${b} 0 0 3\r\nold\r\n`, 'STORED\r\nSTORED\r\n');
    await publish([0, 1, 2], [0, 1]);
    // The set's delete at the previous owner is sent as the set is read, before the get's miss at the owner
    // comes back and the previous owner is asked: the write wins, the get is a miss, nothing old comes back.
    const r = await askCount(client, `get ${a}\r\nset ${a} 0 0 3\r\nnew\r\nget ${a}\r\n`, 'END\r\n', 2);
    expect(r).toBe(`END\r\nSTORED\r\nVALUE ${a} 0 3\r\nnew\r\nEND\r\n`);
    expect(await direct(2, `get ${a}\r\n`, 'END\r\n')).toBe(`VALUE ${a} 0 3\r\nnew\r\nEND\r\n`);
    expect(await ask(client, `delete ${b} noreply\r\nget ${b}\r\n`, 'END\r\n')).toBe('END\r\n');
    expect(await holders(servers, b!)).toEqual([]);
  });

  test('mg fills as get does, with quiet and base64 keys', async () => {
    const [a, b, c] = keys('meta', 3, true);
    await ask(client, `set ${a} 7 0 1\r\nA\r\nset ${b} 0 0 1\r\nB\r\n`, 'STORED\r\nSTORED\r\n');
    await publish([0, 1, 2], [0, 1]);
    expect(await ask(client, `mg ${a} v f k Oxy\r\n`, '\r\nA\r\n')).toBe(`VA 1 f7 k${a} Oxy\r\nA\r\n`);
    expect(await direct(2, `mg ${a} v f\r\n`, '\r\n')).toMatch(/^VA 1 f7\r\n/);
    const b64 = Buffer.from(b!).toString('base64');
    expect(await ask(client, `mg ${b64} b v q\r\nmg ${Buffer.from(c!).toString('base64')} b v q\r\nmn\r\n`, 'MN\r\n'))
      .toBe('VA 1\r\nB\r\nMN\r\n');
    expect(await ask(client, `mg ${c} v\r\n`, '\r\n')).toBe('EN\r\n');
    expect(await holders(servers, b!)).toEqual([owner(b!, [0, 1]), 2].sort());
  });

  test('without previous: moved keys start cold and writes touch only their owner', async () => {
    const [a, b] = keys('cold', 2, true);
    await ask(client, `set ${a} 0 0 1\r\nA\r\nset ${b} 0 0 1\r\nB\r\n`, 'STORED\r\nSTORED\r\n');
    const oldB = owner(b!, [0, 1]);
    const asks = await sidecarStat('transition_fill_asks');
    await publish([0, 1, 2]);
    expect(await ask(client, `get ${a}\r\n`, 'END\r\n')).toBe('END\r\n');
    expect(await ask(client, `mg ${a} v\r\n`, '\r\n')).toBe('EN\r\n');
    expect(await ask(client, `set ${b} 0 0 1\r\nC\r\n`, '\r\n')).toBe('STORED\r\n');
    expect(await holders(servers, b!)).toEqual([oldB, 2].sort());
    expect(await sidecarStat('transition_fill_asks')).toBe(asks);
  });
});

describe('sidecar with --no-transition-fill', () => {
  let cold: Sidecar | undefined;
  let coldClient: RawClient | undefined;
  afterAll(async () => {
    coldClient?.close();
    await cold?.stop();
  });

  test('a moved key missing at its owner stays a miss; its writes are still deleted at the previous owner', async () => {
    cold = await fileSidecar(ring, { ringPollMs: 20, transitionFill: false });
    coldClient = await RawClient.connect(cold.port);
    const [a, b, m] = keys('nofill', 3, true);
    await ask(client, `set ${a} 0 0 1\r\nA\r\nset ${b} 0 0 1\r\nB\r\nset ${m} 0 0 1\r\nM\r\n`, 'STORED\r\nSTORED\r\nSTORED\r\n');
    await publish([0, 1, 2], [0, 1]);
    await eventually(() => cold!.table?.version === version, `cold sidecar on ring v${version}`);
    const asks = await sidecarStat('transition_fill_asks');
    expect(await ask(coldClient, `get ${a}\r\n`, 'END\r\n')).toBe('END\r\n');
    expect(await ask(coldClient, `get ${a} ${m}\r\n`, 'END\r\n')).toBe('END\r\n');
    expect(await ask(coldClient, `mg ${m} v\r\n`, '\r\n')).toBe('EN\r\n');
    // The reads left the previous owners' copies alone (a read is not a write) and stored nothing at the owner.
    expect(await holders(servers, a!)).toEqual([owner(a!, [0, 1])]);
    expect(await holders(servers, m!)).toEqual([owner(m!, [0, 1])]);
    expect(await ask(coldClient, `set ${b} 0 0 1\r\nC\r\n`, '\r\n')).toBe('STORED\r\n');
    expect(await holders(servers, b!)).toEqual([2]);
    // The fill counters are the other sidecar's; this one asked nothing of anyone.
    expect(await sidecarStat('transition_fill_asks')).toBe(asks);
    expect(/STAT transition_fill_asks 0\r\n/.test(await ask(coldClient, 'stats\r\n', 'END\r\n'))).toBe(true);
  });
});

describe('sidecar during a scale-down transition', () => {
  test('keys of a draining member are filled from it at their new owners; flush_all reaches it', async () => {
    const ks = keys('drain', 5, true);
    await publish([0, 1, 2]);
    for (const k of ks) await ask(client, `set ${k} 3 0 1\r\nD\r\n`, '\r\n');
    for (const k of ks) expect(await holders(servers, k)).toEqual([2]);
    version += 2;
    ring.write(JSON.stringify({ cluster: 't', namespace: 'd', version, vnodes: 40,
      members: [...members([0, 1]), { ...(members([2])[0] as object), state: 'draining' }],
      previous: { version: version - 1, members: members([0, 1, 2]) } }));
    await eventually(() => sidecar!.table?.version === version, `ring v${version}`);
    const expected = ks.map((k) => `VALUE ${k} 3 1\r\nD\r\n`).join('') + 'END\r\n';
    expect(await ask(client, `get ${ks.join(' ')}\r\n`, 'END\r\n')).toBe(expected);
    for (const k of ks) expect(await holders(servers, k)).toEqual([owner(k, [0, 1]), 2].sort());
    expect(await ask(client, 'flush_all\r\n', '\r\n')).toBe('OK\r\n');
    for (const k of ks) expect(await holders(servers, k)).toEqual([]);
  });
});

test.each([['during a transition', [0, 1]], ['outside one', undefined]])('a gat of more keys than one tokenizer pass keeps its exptime %s', async (_, prev) => {
  const ks = keys('gatmany', 40, true);
  if (!prev) await publish([0, 1, 2]);
  await ask(client, ks.map((k) => `set ${k} 0 0 1\r\nG\r\n`).join(''), 'STORED\r\n'.repeat(ks.length));
  if (prev) await publish([0, 1, 2], prev);
  const r = await ask(client, `gat 300 ${ks.join(' ')}\r\n`, 'END\r\n');
  expect(r).toBe(ks.map((k) => `VALUE ${k} 0 1\r\nG\r\n`).join('') + 'END\r\n');
  const t = Number(/t(\d+)/.exec(await direct(2, `mg ${ks[ks.length - 1]} t\r\n`, '\r\n'))?.[1]);
  expect(t).toBeGreaterThan(200);
  expect(t).toBeLessThanOrEqual(300);
});
