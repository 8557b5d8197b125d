/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Steps of a ring change as the end-to-end tests wait for them, through the API server double: the ring
 * document a CacheCluster publishes, its scale subresource, a transition in progress, a settled ring (members
 * purged of what they do not own), and the ring version a reader (a sidecar process or a router pod) routes by.
 */
import { Mc, RingRouter, waitUntil, type E2ECluster } from './harness.js';

export const CC_PATH = (ns: string): string => `/apis/cachalot.io/v1alpha1/namespaces/${ns}/cacheclusters`;

/** Something that routes by the ring: its version now (-1 when it has none). */
export interface RingReader {
  readonly tag: string;
  ringVersion(): Promise<number>;
}

export async function createCluster(c: E2ECluster, ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const r = await fetch(`${c.api.url}${CC_PATH(ns)}`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name, namespace: ns }, spec }),
  });
  if (r.status !== 201) throw new Error(`create CacheCluster ${ns}/${name}: ${r.status} ${await r.text()}`);
}

export async function ringDoc(c: E2ECluster, ns: string, name: string): Promise<any> {
  const r = await fetch(`${c.api.url}/api/v1/namespaces/${ns}/configmaps/${name}-ring`);
  if (r.status !== 200) return undefined;
  return JSON.parse(((await r.json()) as any).data['ring.json']);
}

export async function scaleCluster(c: E2ECluster, ns: string, name: string, replicas: number): Promise<void> {
  const r = await fetch(`${c.api.url}${CC_PATH(ns)}/${name}/scale`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas } }) });
  if (r.status !== 200) throw new Error(`scale ${ns}/${name} to ${replicas}: ${r.status} ${await r.text()}`);
}

/** The `stats` value `name` of a memcached-protocol endpoint (a server or a sidecar). */
export async function statOf(host: string, port: number, name: string): Promise<string | undefined> {
  const mc = await Mc.connect(host, port);
  try {
    const [r] = await mc.pipeline(Buffer.from('stats\r\n'), ['stats']);
    return r!.stats.get(name);
  } finally {
    mc.close();
  }
}

async function readersOn(readers: readonly RingReader[], version: number, atLeast: boolean): Promise<boolean> {
  for (const r of readers) {
    const v = await r.ringVersion();
    if (atLeast ? v < version : v !== version) return false;
  }
  return true;
}

/**
 * The ring has `members` active members, all running, no `previous` and nothing draining, and the
 * CacheCluster counts them ready; every reader routes by it; and no member holds any of `keys` it does not
 * own (its purge has run).
 */
export async function settledRing(c: E2ECluster, ns: string, name: string, members: number, readers: readonly RingReader[], keys: readonly string[] = []): Promise<RingRouter> {
  const router = await waitUntil(`ring with ${members} active members, no transition`, async () => {
    const d = await ringDoc(c, ns, name);
    if (!d || d.previous || d.members.length !== members) return undefined;
    const router = new RingRouter(JSON.stringify(d));
    const cc = (await (await fetch(`${c.api.url}${CC_PATH(ns)}/${name}`)).json()) as any;
    return router.active.length === members && cc.status?.readyReplicas === members && router.active.every((m) => c.network.resolve(m.host, m.port)) ? router : undefined;
  }, 90_000, 100);
  await waitUntil(`readers on ring v${router.spec.version}`, () => readersOn(readers, router.spec.version, false), 20_000, 100);
  await waitUntil('members hold only keys they own (purge)', async () => {
    for (const m of router.active) {
      const ep = c.network.resolve(m.host, m.port)!;
      const foreign = keys.filter((k) => router.owner(k).name !== m.name);
      if (foreign.length === 0) continue;
      const mc = await Mc.connect(ep.host, ep.port);
      try {
        const got = await mc.getMany(foreign);
        if ([...got.values()].some((v) => v !== undefined)) return undefined;
      } finally {
        mc.close();
      }
    }
    return true;
  }, 60_000, 200);
  return router;
}

/** Every active member of `ring` follows it and has finished its purge (`stats`: ring_version, ring_state done). */
export async function purged(c: E2ECluster, ring: RingRouter): Promise<void> {
  await waitUntil(`members purged under ring v${ring.spec.version}`, async () => {
    for (const m of ring.active) {
      const ep = c.network.resolve(m.host, m.port);
      if (!ep) return undefined;
      if (Number(await statOf(ep.host, ep.port, 'ring_version')) !== ring.spec.version) return undefined;
      if ((await statOf(ep.host, ep.port, 'ring_state')) !== 'done') return undefined;
    }
    return true;
  }, 90_000, 200);
}

/**
 * The ring has `previous` (a transition is running) with `members` active members, all of them running and
 * accepting connections (the operator publishes a scale-up's ring while the new pods start), and every reader
 * routes by it. Returns the ring.
 */
export async function transitionRing(c: E2ECluster, ns: string, name: string, members: number, readers: readonly RingReader[]): Promise<RingRouter> {
  const d = await waitUntil(`a transition to ${members} members`, async () => {
    const d = await ringDoc(c, ns, name);
    const active = d?.members.filter((m: any) => m.state === 'active') ?? [];
    if (!d?.previous || active.length !== members) return undefined;
    for (const m of active) {
      const ep = c.network.resolve(m.host, m.port);
      if (!ep) return undefined;
      (await Mc.connect(ep.host, ep.port, 1000)).close();
    }
    return d;
  }, 30_000, 50);
  await waitUntil(`readers on the transition (v${d.version})`, () => readersOn(readers, d.version, true), 10_000, 50);
  return new RingRouter(JSON.stringify(d));
}

/**
 * The router pods of CacheCluster `ns/name` as one ring reader: the lowest ring version any of them routes by
 * (-1 while there is none, or one has no ring yet), read from each pod's `stats` where the kubelet double runs it.
 */
export function routerPods(c: E2ECluster, ns: string, name: string): RingReader {
  return {
    tag: `${name}-router pods`,
    async ringVersion() {
      const pods = c.deployments?.pods(ns, `${name}-router`) ?? [];
      if (pods.length === 0) return -1;
      let min = Infinity;
      for (const p of pods) {
        const ep = c.network.endpoint(ns, p.metadata!.name!);
        if (!ep) return -1;
        min = Math.min(min, Number((await statOf(ep.host, ep.port, 'ring_version')) ?? -1));
      }
      return min;
    },
  };
}
