/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The client Service with spec.auth, end to end (docs/operator.md "Security", "The router"): behind the
 * Service are the operator's router pods, real cachalot-sidecar processes (router-pods.ts) whose listener asks
 * for the servers' own -Y file from the auth Secret and who authenticate to the servers with the Secret's
 * `router` key. A client that does not authenticate gets memcached's `CLIENT_ERROR unauthenticated` and
 * reaches no server; one with a wrong password is refused; one with the Secret's password reads and writes
 * the servers' data through the Service. A rotation of the Secret as docs/operator.md describes it reaches the
 * router pods' listeners without a restart: the new password is accepted before the old one is removed.
 */
import { Mc, sequentialSteps, startCluster, waitUntil, type E2ECluster } from './harness.js';
import { createCluster, settledRing } from './ring-steps.js';
import type { RingRouter } from './harness.js';

const NS = 'default';
const NAME = 'rauth';
const REPLICAS = 2;
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
const OLD = { user: 'app', password: 'one-Secret' };
const NEW = { user: 'app', password: 'two-Secret' };
/** Fresh connections per check: the Service's round robin spreads them over both router pods. */
const CONNECTIONS = 4;
/** secret-volumes.ts: a Secret change reaches each pod's files within its maxDelayMs (1000 by default); and a margin. */
const SECRET_SYNC_BOUND_MS = 1500;

const b64 = (s: string): string => Buffer.from(s).toString('base64');
type Cred = { user: string; password: string };

async function api(c: E2ECluster, method: string, path: string, body: unknown, contentType = 'application/json'): Promise<any> {
  const r = await fetch(`${c.api.url}${path}`, { method, headers: { 'content-type': contentType }, body: JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const patchSecret = (c: E2ECluster, data: Record<string, string>): Promise<any> =>
  api(c, 'PATCH', `${SECRETS}/${NAME}-auth`, { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) }, 'application/merge-patch+json');

const authSet = (cred: Cred): Buffer => {
  const block = `${cred.user} ${cred.password}`;
  return Buffer.from(`set auth 0 0 ${block.length}\r\n${block}\r\n`);
};

const step = sequentialSteps();
let c: E2ECluster;
let ring: RingRouter;
let service = { host: '', port: 0 };

/** A new connection through the client Service, and the reply to its auth `set` with `cred`. */
async function viaService(cred: Cred): Promise<{ mc: Mc; auth: string }> {
  const mc = await Mc.connect(service.host, service.port);
  const [r] = await mc.pipeline(authSet(cred), ['line'], 5_000);
  return { mc, auth: r!.line };
}

/** What `cred` gets on each of CONNECTIONS fresh connections through the Service. */
async function attempts(cred: Cred): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const { mc, auth } = await viaService(cred);
    mc.close();
    out.push(auth);
  }
  return out;
}

/** An authenticated connection straight to a member (plaintext: this cluster has no TLS). */
async function member(m: { name: string; host: string; port: number }, cred: Cred): Promise<Mc> {
  const ep = c.network.resolve(m.host, m.port);
  if (!ep) throw new Error(`${m.name} is not running`);
  const mc = await Mc.connect(ep.host, ep.port);
  const [r] = await mc.pipeline(authSet(cred), ['line'], 5_000);
  if (r!.line !== 'STORED') throw new Error(`${m.name}: ${r!.line}`);
  return mc;
}

describe('the client Service with spec.auth: clients authenticate to the router', () => {
  beforeAll(async () => {
    c = await startCluster(undefined, { routers: true });
  }, 60_000);

  afterAll(async () => {
    try {
      c?.checkExits();
    } finally {
      await c?.stop();
    }
  }, 60_000);

  step('the router pods serve the Service once the servers are up, asking clients for the Secret\'s password', async () => {
    await api(c, 'POST', SECRETS, {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: `${NAME}-auth`, namespace: NS },
      data: { auth: b64(`${OLD.user}:${OLD.password}`), router: b64(`${OLD.user} ${OLD.password}`) },
    });
    await createCluster(c, NS, NAME, { replicas: REPLICAS, threads: 1, memory: '16Mi', flash: { size: '64Mi' }, auth: { secretName: `${NAME}-auth` } });
    // The router pods answer `stats` only after authenticating, so they are not asked for their ring here.
    ring = await settledRing(c, NS, NAME, REPLICAS, []);
    service = await waitUntil(`Service ${NAME} on the router pods`, async () => {
      const svc = await c.core.readNamespacedService({ name: NAME, namespace: NS });
      if (svc.spec?.selector?.['app.kubernetes.io/name'] !== 'cachalot-router') return undefined;
      if (c.services!.endpoints(NS, NAME).length !== 2) return undefined;
      return c.services!.resolve(`${NAME}.${NS}.svc.cluster.local`, 11211);
    }, 60_000, 100);
    const pod = c.deployments!.pods(NS, `${NAME}-router`)[0]!;
    const args: string[] = pod.spec!.containers[0]!.args!;
    expect(args).toEqual(expect.arrayContaining(['--listen-auth-file=/etc/cachalot/auth/auth', '--auth-file=/etc/cachalot/auth/router']));
  }, 180_000);

  step('without authenticating, every command is refused and nothing reaches a server', async () => {
    const mc = await Mc.connect(service.host, service.port);
    try {
      const replies = await mc.pipeline(Buffer.from('get k\r\n'), ['line']);
      expect(replies[0]!.line).toBe('CLIENT_ERROR unauthenticated');
      for (const cmd of ['mg k v\r\n', 'stats\r\n', 'flush_all\r\n', 'delete k\r\n', 'version\r\n']) {
        const [r] = await mc.pipeline(Buffer.from(cmd), ['line']);
        expect(r!.line).toBe('CLIENT_ERROR unauthenticated');
      }
      // A set whose data block is not a credential is an auth attempt, never a stored item.
      const [bad] = await mc.pipeline(Buffer.from('set k 0 0 5\r\nvalue\r\n'), ['line']);
      expect(bad!.line).toBe('CLIENT_ERROR bad authentication token format');
      const [wrong] = await mc.pipeline(authSet({ user: 'app', password: 'guess' }), ['line']);
      expect(wrong!.line).toBe('CLIENT_ERROR authentication failure');
    } finally {
      mc.close();
    }
    for (const m of ring.active) {
      const direct = await member(m, OLD);
      try {
        expect((await direct.getMany(['k'])).get('k')).toBeUndefined();
      } finally {
        direct.close();
      }
    }
    expect(await attempts({ user: 'app', password: 'guess' })).toEqual(Array(CONNECTIONS).fill('CLIENT_ERROR authentication failure'));
  }, 60_000);

  step('with the Secret\'s password a client writes through one router pod and reads on another; the data is on the servers', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `rauth-${i}`);
    const writer = await viaService(OLD);
    expect(writer.auth).toBe('STORED');
    try {
      // The router authenticated to the servers with the Secret's `router` key, or these would fail.
      expect(await writer.mc.setMany(keys.map((k) => [k, Buffer.from(`v-${k}`)]))).toEqual([]);
    } finally {
      writer.mc.close();
    }
    for (let i = 0; i < CONNECTIONS; i++) {
      const reader = await viaService(OLD);
      expect(reader.auth).toBe('STORED');
      try {
        const got = await reader.mc.getMany(keys);
        expect(keys.filter((k) => got.get(k)?.toString() !== `v-${k}`)).toEqual([]);
      } finally {
        reader.mc.close();
      }
    }
    let onServers = 0;
    for (const m of ring.active) {
      const direct = await member(m, OLD);
      try {
        const mine = keys.filter((k) => ring.owner(k).name === m.name);
        const got = await direct.getMany(mine);
        onServers += mine.filter((k) => got.get(k)?.toString() === `v-${k}`).length;
      } finally {
        direct.close();
      }
    }
    expect(onServers).toBe(keys.length);
  }, 60_000);

  step('a rotation: the new password is accepted before the old one is refused, without restarting a router pod', async () => {
    const routerPods = (): string[] => (c.deployments!.pods(NS, `${NAME}-router`)).map((p) => `${p.metadata!.uid}`).sort();
    const before = routerPods();
    // (1) both pairs in the servers' file (and the routers' listeners); (2) the router's own credential
    // switches with the other clients'; (3) the old pair is removed.
    await patchSecret(c, { auth: `${OLD.user}:${OLD.password}\n${NEW.user}:${NEW.password}` });
    await waitUntil('the new password accepted on every router pod', async () =>
      (await attempts(NEW)).every((r) => r === 'STORED'), 60_000, 200);
    expect(await attempts(OLD)).toEqual(Array(CONNECTIONS).fill('STORED'));
    await waitUntil('the new password accepted by every server', async () => {
      for (const m of ring.active) {
        try {
          (await member(m, NEW)).close();
        } catch {
          return false;
        }
      }
      return true;
    }, 60_000, 200);
    await patchSecret(c, { router: `${NEW.user} ${NEW.password}` });
    // The clients' switch: the double delivers a Secret change to every pod within SECRET_SYNC_BOUND_MS (its
    // default secretSyncMaxMs), and the routers' files are not visible from here.
    await new Promise((r) => setTimeout(r, SECRET_SYNC_BOUND_MS));
    await patchSecret(c, { auth: `${NEW.user}:${NEW.password}` });
    await waitUntil('the old password refused on every router pod', async () =>
      (await attempts(OLD)).every((r) => r === 'CLIENT_ERROR authentication failure'), 60_000, 200);
    const { mc, auth } = await viaService(NEW);
    expect(auth).toBe('STORED');
    try {
      expect(await mc.setMany([['after-rotation', Buffer.from('yes')]])).toEqual([]);
      expect((await mc.getMany(['after-rotation'])).get('after-rotation')?.toString()).toBe('yes');
    } finally {
      mc.close();
    }
    expect(routerPods()).toEqual(before);
  }, 150_000);
});
