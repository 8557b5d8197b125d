/**
 * Ring compatibility with an independent ketama client: libmemcached, through Debian's python3-pylibmc with
 * its `ketama_weighted` behaviour (MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA, md5 for keys and points: the
 * libketama-compatible mode). pylibmc stores 10,000 keys across N recording sinks on loopback; each sink notes
 * which keys reached it; the sidecar's Continuum must name the same server for every key.
 */
import { spawnSync } from 'node:child_process';
import { Continuum, type ContinuumMember } from '../../../server/src/ring/continuum.js';
import { PYTHON, Sink, pylibmcMissingReason, pylibmcPlacement } from '../../support/ketama-reference.js';
import { requirePrereq } from '../../support/prereq.js';

const KEYS = 10_000;
const missing = pylibmcMissingReason();
const pylibmc = requirePrereq('python3-pylibmc', missing === null, missing ?? '');

const DEFAULT_PORT_HOSTS = Array.from({ length: 5 }, (_, i) => `127.0.0.${i + 11}`);
/** Whether port 11211 is free on every one of `hosts` (a real memcached may hold it), probed before tests are declared. */
function port11211Free(hosts: string[]): boolean {
  const probe = `const net=require('net');let n=0;const h=${JSON.stringify(hosts)};const s=[];
for(const host of h){const x=net.createServer();s.push(x);x.once('error',()=>process.exit(1));x.listen(11211,host,()=>{if(++n===h.length){s.forEach(y=>y.close());process.exit(0);}});}
setTimeout(()=>process.exit(2),5000);`;
  return spawnSync(process.execPath, ['-e', probe], { timeout: 10_000 }).status === 0;
}
const defaultPort = missing !== null ? pylibmc
  : requirePrereq(`port 11211 free on ${DEFAULT_PORT_HOSTS[0]}..${DEFAULT_PORT_HOSTS[4]}`, port11211Free(DEFAULT_PORT_HOSTS), 'another process listens there');

function keyList(): string[] {
  const keys: string[] = [];
  for (let i = 0; i < KEYS; i++) {
    // Varied lengths and some multi-byte UTF-8, which libmemcached hashes as bytes (so must the sidecar).
    if (i % 97 === 0) keys.push(`user:é${i}:ключ`);
    else if (i % 13 === 0) keys.push(`k${i}`.padEnd(200 + (i % 40), 'x'));
    else keys.push(`key:${i}:${(i * 2654435761) % 1000003}`);
  }
  return keys;
}

async function compare(sinks: Sink[], weights: number[]): Promise<void> {
  const keys = keyList();
  const owners = await pylibmcPlacement(sinks, keys, weights);
  const placed = new Map<string, number>(keys.map((k, i) => [k, owners[i]!]));
  expect(placed.size).toBe(keys.length);

  const members: ContinuumMember[] = sinks.map((s, i) => ({ host: s.host, port: s.port, weight: weights[i]! }));
  const continuum = new Continuum(members, 40);
  let disagreements = 0;
  const examples: string[] = [];
  for (const k of keys) {
    const ours = continuum.ownerOf(Buffer.from(k, 'utf8'));
    if (ours !== placed.get(k)) {
      disagreements++;
      if (examples.length < 5) examples.push(`${k}: sidecar ${ours}, libmemcached ${placed.get(k)}`);
    }
  }
  expect(examples).toEqual([]);
  expect(disagreements).toBe(0);
  // Every server got a share: the comparison is not vacuous.
  for (const s of sinks) expect(s.keys.length).toBeGreaterThan(0);
}

async function withSinks(hosts: string[], port: number, fn: (sinks: Sink[]) => Promise<void>): Promise<void> {
  const sinks = hosts.map((h) => new Sink(h));
  try {
    for (const s of sinks) await s.start(port);
    await fn(sinks);
  } finally {
    await Promise.all(sinks.map((s) => s.stop().catch(() => undefined)));
  }
}

pylibmc.describe('ketama placement agrees with libmemcached (python3-pylibmc, ketama_weighted)', () => {
  // 25: a member count where C float rounding gives each member 39 digests instead of 40.
  for (const n of [3, 5, 10, 25]) {
    test(`${n} servers on distinct ports ("host:port" points), ${KEYS} keys`, async () => {
      await withSinks(Array.from({ length: n }, () => '127.0.0.1'), 0, (sinks) => compare(sinks, sinks.map(() => 1)));
    });
  }

  test('weighted members (3 servers, weights 1, 2, 3)', async () => {
    await withSinks(['127.0.0.1', '127.0.0.1', '127.0.0.1'], 0, (sinks) => compare(sinks, [1, 2, 3]));
  });
});

defaultPort.test('5 servers on port 11211 (points hash the bare host), 10,000 keys', async () => {
  await withSinks(DEFAULT_PORT_HOSTS, 11211, (sinks) => compare(sinks, sinks.map(() => 1)));
});
