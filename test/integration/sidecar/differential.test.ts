/**
 * Pipelined mixed traffic through the sidecar gives the same bytes as a direct connection to a server:
 * storage, retrieval, arithmetic, noreply, quiet meta commands, base64 keys, protocol errors (answered by the
 * sidecar itself with the server's text, and framed the same way), too-large values, multi-gets, sent in one
 * write and again in 1-3 byte pieces. With one member the comparison includes CAS values (both servers start
 * fresh and see the same sequence); with three members, where CAS counters are per server, the script leaves
 * CAS out.
 */
import type { RunningServer } from '../../support/servers.js';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import type { SidecarConfig } from '../../../server/src/sidecar/config.js';
import { RawClient, RingFile, fileSidecar, ringJson, startUpstreams, stopAll } from './helpers.js';
// The differential runner's seeded generator, so a failing script can be replayed.
import { prng as rng } from '../differential/runner.js';

let servers: RunningServer[] = [];
const rings: RingFile[] = [];
const sidecars: Sidecar[] = [];

beforeAll(async () => {
  servers = await startUpstreams(5); // [0] direct reference, [1] one-member ring, [2..4] three-member ring
}, 60_000);

afterAll(async () => {
  for (const s of sidecars) await s.stop();
  await stopAll(servers);
  for (const r of rings) r.remove();
});

async function sidecarFor(members: RunningServer[], overrides: Partial<SidecarConfig> = {}): Promise<Sidecar> {
  const ring = new RingFile();
  rings.push(ring);
  ring.write(ringJson(1, members.map((s) => ({ port: s.port }))));
  const sc = await fileSidecar(ring, overrides);
  sidecars.push(sc);
  return sc;
}

function handScript(withCas: boolean): string {
  const b64 = Buffer.from('bin key\x01').toString('base64');
  const long = 'k'.repeat(251);
  const lines = [
    'set a 1 0 3', 'abc', 'add a 0 0 1', 'x', 'add b 2 0 2', 'bb', 'replace c 0 0 1', 'c', 'append a 0 0 2', 'de',
    'prepend a 0 0 2', 'zz', 'get a b c', 'set n 0 0 2 noreply', '10', 'incr n 5', 'decr n 100', 'incr a 1',
    'incr missing 1', 'incr n 1 noreply', 'get n', 'touch a 0', 'touch missing 0', 'delete b', 'delete b',
    'delete a 0 noreply', 'get a', 'bogus command', 'get', 'set k 0 0', 'set k abc 0 1', 'x', `set ${long} 0 0 1`, 'y',
    'gat abc k', 'gat 0 n missing', 'verbosity 1', 'verbosity 1 noreply', 'version', 'mn',
    'ms m1 3 T0 F7', 'one', 'mg m1 v f k O99', 'mg m1 s', 'mg nope v q', 'mg nope v k O1', 'mn',
    'ms m1 3 q', 'two', 'ms m1 1 MA', '+', 'ms m1 1 MP q', '-', 'mg m1 v', 'ms m2 1 ME', 'e', 'ms m2 1 ME', 'e',
    'ms m1 1 MX', 'x', 'ms m1 notanumber', 'ms', 'ms m1', `ms ${b64} 2 b`, 'bk', `mg ${b64} b v k`, `md ${b64} b q`,
    `mg ${b64} b v`, 'ma cnt', 'ma cnt N0 J5 v', 'ma cnt D3 v', 'ma cnt MD D100 v', 'ma cnt q', 'ma cnt v', 'ma m1',
    'md m2', 'md m2 q', 'md m2 q k O7', 'mg m2 q q', 'mn', 'md', 'mg',
    'set big 0 0 2000000', 'x'.repeat(2_000_000), 'get big', 'set nearbig 0 0 1048500', 'y'.repeat(1_048_500),
    'set crlf 0 0 2', 'abXY', 'get crlf',
  ];
  if (withCas) {
    lines.push('gets n m1', 'cas n 0 0 1 1', 'x', 'cas missing 0 0 1 1', 'x', 'gats 0 n', 'mg m1 c v', 'ms m1 1 c', 'z',
      'mg m1 c', 'ms m1 1 C1', 'q', 'md m1 C1', 'ma cnt C1');
  }
  return lines.map((l) => l + '\r\n').join('');
}

function randomScript(seed: number, n: number, withCas: boolean): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const keys = Array.from({ length: 16 }, (_, i) => `rk${i}`);
  const value = (): string => 'v'.repeat(Math.floor(r() * 40)) + String(Math.floor(r() * 1000));
  let out = '';
  for (let i = 0; i < n; i++) {
    const k = pick(keys);
    const nr = r() < 0.15 ? ' noreply' : '';
    const q = r() < 0.2 ? ' q' : '';
    switch (Math.floor(r() * 13)) {
      case 0: { const v = value(); out += `set ${k} ${Math.floor(r() * 5)} 0 ${v.length}${nr}\r\n${v}\r\n`; break; }
      case 1: { const v = value(); out += `${pick(['add', 'replace', 'append', 'prepend'])} ${k} 0 0 ${v.length}${nr}\r\n${v}\r\n`; break; }
      case 2: out += `get ${Array.from({ length: 1 + Math.floor(r() * 8) }, () => pick(keys)).join(' ')}\r\n`; break;
      case 3: out += `${pick(['incr', 'decr'])} ${k} ${Math.floor(r() * 10)}${nr}\r\n`; break;
      case 4: out += `delete ${k}${nr}\r\n`; break;
      case 5: out += `touch ${k} 0${nr}\r\n`; break;
      case 6: out += `mg ${k} ${pick(['v', 's v', 'k v', 'f', 'O5 k'])}${q}\r\n`; break;
      case 7: { const v = value(); out += `ms ${k} ${v.length} ${pick(['', 'MS', 'ME', 'MA', 'MP', 'MR', 'F3'])}${q}\r\n${v}\r\n`; break; }
      case 8: out += `md ${k}${q}\r\n`; break;
      case 9: out += `ma ${k} ${pick(['', 'v', 'N0 J7 v', 'MD D2 v'])}${q}\r\n`; break;
      case 10: out += 'mn\r\n'; break;
      case 11: out += withCas ? `gets ${k} ${pick(keys)}\r\n` : `set ${k} 0 0 1\r\n1\r\n`; break;
      default: out += `gat 0 ${k} ${pick(keys)}\r\n`;
    }
  }
  return out;
}

/** Reply lines that are exactly MN (a value could contain the letters, not a whole line of them here). */
function countMn(d: Buffer): number {
  let n = 0;
  for (let i = d.indexOf('MN\r\n'); i >= 0; i = d.indexOf('MN\r\n', i + 4)) if (i === 0 || d[i - 1] === 10) n++;
  return n;
}

/** Sends the script (whole, or in tiny pieces), then mn, and returns every reply byte up to that MN. */
async function run(port: number, script: string, pieces: boolean): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    const full = 'flush_all\r\n' + script + 'mn\r\n';
    if (pieces) {
      const r = rng(7);
      await c.sendInPieces(full, () => 1 + Math.floor(r() * 3));
    } else await c.send(full);
    // Done once every mn in the script (and the final one) has been answered.
    const want = full.split('\r\n').filter((l) => l === 'mn').length;
    const res = await c.read((d) => countMn(d) >= want, 3_000, 30_000);
    return res.data.toString('latin1');
  } finally {
    c.close();
  }
}

/** Compares two reply streams, reporting the first differing reply line with context. */
function expectSame(viaSidecar: string, direct: string): void {
  if (viaSidecar === direct) return;
  const a = viaSidecar.split('\r\n');
  const b = direct.split('\r\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const ctx = (xs: string[]) => xs.slice(Math.max(0, i - 3), i + 3).map((s) => s.slice(0, 80));
  expect({ line: i, sidecar: ctx(a) }).toEqual({ line: i, sidecar: ctx(b) });
}

describe('one-member ring: byte-exact, CAS included', () => {
  let sc: Sidecar;
  beforeAll(async () => {
    sc = await sidecarFor([servers[1]!]);
  });

  test('hand-written pipeline in one write', async () => {
    const script = handScript(true);
    const direct = await run(servers[0]!.port, script, false);
    const proxied = await run(sc.port, script, false);
    expect(direct).toContain('SERVER_ERROR object too large for cache');
    expectSame(proxied, direct);
  });

  test('random pipeline (2,000 commands) in one write', async () => {
    const script = randomScript(42, 2_000, true);
    expectSame(await run(sc.port, script, false), await run(servers[0]!.port, script, false));
  });

  test('random pipeline split into 1-3 byte pieces', async () => {
    const script = randomScript(9, 150, true);
    expectSame(await run(sc.port, script, true), await run(servers[0]!.port, script, true));
  });
});

describe('three-member ring: same replies as one server (no CAS values)', () => {
  let sc: Sidecar;
  beforeAll(async () => {
    sc = await sidecarFor(servers.slice(2, 5));
  });

  test('hand-written pipeline', async () => {
    const script = handScript(false);
    expectSame(await run(sc.port, script, false), await run(servers[0]!.port, script, false));
  });

  test('random pipeline (3,000 commands), multi-gets spanning members', async () => {
    const script = randomScript(1234, 3_000, false);
    expectSame(await run(sc.port, script, false), await run(servers[0]!.port, script, false));
  });
});

describe('three-member ring, 3 connections per server: a client\'s requests stay in order', () => {
  let sc: Sidecar;
  beforeAll(async () => {
    sc = await sidecarFor(servers.slice(2, 5), { serverConnections: 3 });
  });

  test('random pipeline (2,000 commands) from several clients at once', async () => {
    const scripts = [11, 12, 13].map((seed) => randomScript(seed, 2_000, false).replace(/rk/g, `c${seed}k`));
    const direct = await Promise.all(scripts.map((sc0) => run(servers[0]!.port, sc0, false)));
    const proxied = await Promise.all(scripts.map((sc0) => run(sc.port, sc0, false)));
    proxied.forEach((p, i) => expectSame(p, direct[i]!));
  });
});

/**
 * Single-key gets mostly, with writes to the same keys between them: the sidecar sends the gets queued on an
 * upstream connection in one turn as one get line, whichever clients they came from, and splits the reply by
 * key (sidecar/upstream/connection.ts enqueueGet). Each client's replies must still be those of a server taking its
 * requests in its order: a get after a set or delete of the same key sees it, a get before does not.
 */
function getHeavyScript(seed: number, n: number, prefix: string): string {
  const r = rng(seed);
  const keys = Array.from({ length: 6 }, (_, i) => `${prefix}k${i}`);
  const pick = (): string => keys[Math.floor(r() * keys.length)]!;
  let out = '';
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.6) out += `get ${pick()}\r\n`;
    else if (x < 0.75) { const v = `${prefix}${i}`; out += `set ${pick()} ${i % 7} 0 ${v.length}\r\n${v}\r\n`; }
    else if (x < 0.83) out += `delete ${pick()}\r\n`;
    else if (x < 0.88) out += `get ${pick()} ${pick()}\r\n`;
    else if (x < 0.92) { const k = pick(); out += `get ${k}\r\nget ${k}\r\n`; }
    else if (x < 0.96) out += `mg ${pick()} v k\r\n`;
    else out += `get ${prefix}missing${i % 3}\r\n`;
  }
  return out;
}

describe('three-member ring, one connection per server: coalesced gets keep each client\'s order', () => {
  let sc: Sidecar;
  beforeAll(async () => {
    sc = await sidecarFor(servers.slice(2, 5));
  });

  test('8 clients at once, 1,500 requests each, gets between writes of the same keys', async () => {
    const scripts = Array.from({ length: 8 }, (_, i) => getHeavyScript(100 + i, 1_500, `g${i}`));
    // flush_all at the start of each run would wipe the other clients' keys: run each side without it.
    const runNoFlush = async (port: number, script: string): Promise<string> => {
      const c = await RawClient.connect(port);
      try {
        await c.send(script + 'mn\r\n');
        const res = await c.read((d) => countMn(d) >= 1, 3_000, 30_000);
        return res.data.toString('latin1');
      } finally {
        c.close();
      }
    };
    const direct = await Promise.all(scripts.map((s) => runNoFlush(servers[0]!.port, s)));
    const proxied = await Promise.all(scripts.map((s) => runNoFlush(sc.port, s)));
    proxied.forEach((p, i) => expectSame(p, direct[i]!));
    // The scripts read keys they wrote: hits and misses both occur.
    expect(direct.join('').split('VALUE ').length).toBeGreaterThan(1_000);
    expect(direct.join('').split('END\r\n').length).toBeGreaterThan(3_000);
  });
});
