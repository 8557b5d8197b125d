/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The client Service path end to end: an ordinary memcached client given one address — pymemcache
 * (Debian's python3-pymemcache, /usr/bin/python3, pymemcache-driver.py) connected to the CacheCluster's
 * Service `<name>:11211` — while the cluster scales 3 -> 5 -> 3. Behind the Service (services.ts, a
 * round-robin loopback proxy as kube-proxy) are the operator's router pods, real cachalot-sidecar processes
 * (deployments.ts, router-pods.ts) following the ring through the API with their own ServiceAccount.
 *
 * What the client sets on one connection it reads back on others (landing on other router pods), in
 * steady state, during each transition and after it, with overwrites and deletes between the reads: every
 * read returns the last value written, and a key written and not deleted is never a miss. The servers follow
 * the ring as the operator configures them (their purge is what keeps a member that gave keys away at the
 * scale-up from serving its old copies after the scale-down).
 *
 * The second test is the contrast, `spec.router.enabled: false`: the Service then spreads connections over
 * the members themselves, and the same client misses most of what it wrote on another connection.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { requirePrereq } from '../support/prereq.js';
import { startCluster, waitUntil, type E2ECluster } from './harness.js';
import { REPO_ROOT } from './kubelet.js';
import { createCluster, routerPods, scaleCluster, settledRing, transitionRing, type RingReader } from './ring-steps.js';

const NS = 'default';
// Debian's python3-pymemcache is installed for the system interpreter, not for a python3 earlier on PATH.
const PYTHON = '/usr/bin/python3';
const pymemcacheCheck = spawnSync(PYTHON, ['-c', 'import pymemcache'], { timeout: 10_000, encoding: 'utf8' });
const pymemcacheGate = requirePrereq('python3-pymemcache', pymemcacheCheck.status === 0,
  `${PYTHON} cannot import pymemcache (apt-get install python3-pymemcache)`);
const DRIVER = join(REPO_ROOT, 'test', 'e2e', 'pymemcache-driver.py');
/** Connections the client opens per step: enough that the Service's round robin spreads them over every router pod. */
const CONNECTIONS = 6;
const KEYS = 900;
const BATCH = 100;

/** pymemcache in a python3 process, one JSON command per line (pymemcache-driver.py). */
class PyMemcache {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiting: ((line: string) => void)[] = [];
  private stderr = '';

  constructor(host: string, port: number) {
    this.proc = spawn(PYTHON, [DRIVER, host, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    this.proc.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
  }

  async call(req: Record<string, unknown>): Promise<any> {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pymemcache: no answer to ${String(req.cmd)} within 30 s ${this.stderr}`)), 30_000);
      this.waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
      this.proc.stdin.write(`${JSON.stringify(req)}\n`);
    });
    const reply = JSON.parse(line) as { ok: boolean; result?: unknown; error?: string };
    if (!reply.ok) throw new Error(`pymemcache ${String(req.cmd)}: ${reply.error}`);
    return reply.result;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

interface App {
  name: string;
  c: E2ECluster;
  py?: PyMemcache;
  /** What the client last wrote per key (undefined: deleted). */
  model: Map<string, string | undefined>;
  wrong: string[];
  misses: string[];
  reads: number;
  conn: number;
}

let current: App | undefined;

afterEach(async () => {
  const a = current;
  current = undefined;
  if (!a) return;
  await a.py?.stop();
  try {
    a.c.checkExits();
  } finally {
    await a.c.stop();
  }
}, 60_000);

const chunks = <T>(xs: T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

/** The Service `<name>` selects what it should and has `endpoints` endpoints; the client connects there. */
async function start(name: string, replicas: number, spec: Record<string, unknown>, viaRouter: boolean): Promise<App> {
  const c = await startCluster(undefined, { routers: true });
  const a: App = { name, c, model: new Map(), wrong: [], misses: [], reads: 0, conn: 0 };
  current = a;
  await createCluster(c, NS, name, { replicas, threads: 1, memory: '16Mi', flash: { size: '64Mi' }, ...spec });
  await settledRing(c, NS, name, replicas, viaRouter ? [routerPods(c, NS, name)] : []);
  const want = viaRouter ? 'cachalot-router' : 'cachalot';
  const address = await waitUntil(`Service ${name} on the ${want} pods`, async () => {
    const svc = await c.core.readNamespacedService({ name, namespace: NS });
    if (svc.spec?.selector?.['app.kubernetes.io/name'] !== want) return undefined;
    const eps = c.services!.endpoints(NS, name);
    if (eps.length !== (viaRouter ? 2 : replicas)) return undefined;
    return c.services!.resolve(`${name}.${NS}.svc.cluster.local`, 11211);
  }, 60_000, 100);
  a.py = new PyMemcache(address.host, address.port);
  await a.py.call({ cmd: 'connect', n: CONNECTIONS });
  return a;
}

/** Client `conn` (mod CONNECTIONS) sets the entries; every one must be stored. */
async function set(a: App, entries: [string, string][]): Promise<void> {
  const conn = a.conn++;
  for (const part of chunks(entries, BATCH)) {
    const failed = await a.py!.call({ cmd: 'set', conn, items: Object.fromEntries(part) });
    expect(failed).toEqual([]);
    for (const [k, v] of part) a.model.set(k, v);
  }
}

async function del(a: App, keys: string[]): Promise<void> {
  const conn = a.conn++;
  for (const part of chunks(keys, BATCH)) {
    await a.py!.call({ cmd: 'delete', conn, keys: part });
    for (const k of part) a.model.set(k, undefined);
  }
}

/**
 * Reads every key on the next connection (multi-gets, and single gets for every third batch): a value other
 * than the last written is wrong, a miss of a key written and not deleted is a miss.
 */
async function readAll(a: App, when: string): Promise<void> {
  const conn = a.conn++;
  const keys = [...a.model.keys()];
  for (const [i, part] of chunks(keys, BATCH).entries()) {
    const got: Record<string, string> = await a.py!.call({ cmd: i % 3 === 2 ? 'get_each' : 'get', conn, keys: part });
    for (const k of part) {
      a.reads++;
      const want = a.model.get(k);
      const v = got[k];
      if (v === undefined) {
        if (want !== undefined) a.misses.push(`${when}: ${k} missed (last written: ${want})`);
      } else if (v !== want) a.wrong.push(`${when}: ${k} -> ${v} (last written: ${want ?? 'deleted'})`);
    }
  }
}

/** A third of the keys overwritten and a third deleted (which third turns with `round`), on a fresh connection each. */
async function churn(a: App, round: number): Promise<void> {
  const keys = [...a.model.keys()];
  await set(a, keys.filter((_, i) => (i + round) % 3 === 1).map((k) => [k, `v${round} of ${k}`]));
  await del(a, keys.filter((_, i) => (i + round) % 3 === 0));
  // Deleted keys come back in the next round's overwrites, so a miss after a delete is also tested as a hit later.
  await set(a, keys.filter((_, i) => (i + round) % 3 === 0 && i % 2 === 0).map((k) => [k, `v${round}b of ${k}`]));
}

pymemcacheGate.test('pymemcache through the client Service reads back what it wrote on other connections across 3 -> 5 -> 3', async () => {
  const a = await start('web', 3, { ring: { drainSeconds: 1, transitionSeconds: 15 } }, true);
  const readers: RingReader[] = [routerPods(a.c, NS, 'web')];
  await set(a, Array.from({ length: KEYS }, (_, i) => [`user:${i}`, `v0 of user:${i}`]));
  await readAll(a, 'steady 3');
  let round = 1;
  for (const n of [5, 3]) {
    await scaleCluster(a.c, NS, 'web', n);
    await transitionRing(a.c, NS, 'web', n, readers);
    await a.py!.call({ cmd: 'connect', n: CONNECTIONS });
    await readAll(a, `during ->${n}`);
    await churn(a, round++);
    await readAll(a, `during ->${n}, after writes`);
    await settledRing(a.c, NS, 'web', n, readers, [...a.model.keys()]);
    await a.py!.call({ cmd: 'connect', n: CONNECTIONS });
    await readAll(a, `after ->${n}`);
    await churn(a, round++);
    await readAll(a, `after ->${n}, after writes`);
  }
  // The Service spread the client's connections over both router pods, and refused none.
  const conns = a.c.services!.connections(NS, 'web');
  expect(conns.refused).toBe(0);
  expect([...conns.byPod.keys()].filter((p) => p.startsWith('web-router-')).length).toBe(2);
  expect([...conns.byPod.keys()].every((p) => p.startsWith('web-router-'))).toBe(true);
  if (process.env.CACHALOT_E2E_VERBOSE) console.log(`client Service: ${a.reads} reads, ${a.misses.length} misses, ${a.wrong.length} wrong; connections by pod ${JSON.stringify([...conns.byPod])}`);
  expect(a.wrong).toEqual([]);
  expect(a.misses).toEqual([]);
  expect(a.reads).toBeGreaterThan(KEYS * 8);
}, 300_000);

pymemcacheGate.test('with spec.router.enabled false the same client misses what it wrote on other connections (the router is what makes the Service consistent)', async () => {
  const a = await start('plain', 3, { router: { enabled: false } }, false);
  expect(a.c.deployments!.pods(NS, 'plain-router')).toEqual([]);
  await set(a, Array.from({ length: 300 }, (_, i) => [`user:${i}`, `v0 of user:${i}`]));
  await readAll(a, 'members behind the Service');
  // Each connection lands on one member, which holds only what was written through connections to it.
  expect(a.misses.length).toBeGreaterThan(100);
  const conns = a.c.services!.connections(NS, 'plain');
  expect([...conns.byPod.keys()].every((p) => /^plain-\d+$/.test(p))).toBe(true);
}, 180_000);
