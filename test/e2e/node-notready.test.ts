/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * End to end: a node that stops answering, with traffic going on. The kubelet double of one node powers off
 * (its servers are SIGKILLed, its lease is no longer renewed) and its Node object stays: the node lifecycle
 * double marks it NotReady and taints it unreachable, as Kubernetes does after 40 s without a heartbeat (3 s
 * here). After spec.nodeLossRecovery.gracePeriodSeconds (2 s here; on by default, the volumes being local
 * no-provisioner PVs) the operator deletes the member's claim and force-deletes its pod, and the member comes
 * back empty on another node under the same name, keeping its place in the ring.
 *
 * Meanwhile a cache-aside load (get; on a miss, set) runs through the ring with the sidecar's ejection rule:
 * FAILURE_LIMIT consecutive failures eject a member for RETRY_TIMEOUT_MS, during which its keys are answered
 * as misses without being sent; after that one request probes it, and a failed probe ejects it again. So
 * client errors are bounded by that ejection window: at most FAILURE_LIMIT at the start of the outage plus
 * one probe per RETRY_TIMEOUT_MS until the replacement is Ready, only for the lost member's keys, and none
 * once the replacement has been Ready for one retry period. Hits recover as the new member fills.
 *
 * Then the out-of-service taint: with an hour of grace, a node powered off and tainted
 * node.kubernetes.io/out-of-service by its administrator has its member replaced at once. (A deleted Node
 * is the node-loss step of cluster.test.ts.)
 */
import { Mc, RingRouter, sequentialSteps, startCluster, waitUntil, MONITOR_GRACE_PERIOD_MS, type E2ECluster } from './harness.js';

const NS = 'default';
const NAME = 'nl';
const CC_PATH = `/apis/cachalot.io/v1alpha1/namespaces/${NS}/cacheclusters/${NAME}`;
const STEP_MS = 60_000;
/** The sidecar's --server-failure-limit default (twemproxy's server_failure_limit). */
const FAILURE_LIMIT = 2;
/** The sidecar's --server-retry-timeout-ms, shortened from its 30 s default so the test sees several probes. */
const RETRY_TIMEOUT_MS = 500;
const GRACE_SECONDS = 2;

let c: E2ECluster;

async function getJson(path: string): Promise<any> {
  const r = await fetch(`${c.api.url}${path}`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
  return r.json();
}
async function patch(path: string, body: unknown): Promise<void> {
  const r = await fetch(`${c.api.url}${path}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`PATCH ${path}: ${r.status} ${await r.text()}`);
}
const cond = (obj: any, type: string): any => (obj?.status?.conditions ?? []).find((x: any) => x.type === type);
const pod = (name: string): Promise<any> => getJson(`/api/v1/namespaces/${NS}/pods/${name}`);
const claim = (name: string): Promise<any> => getJson(`/api/v1/namespaces/${NS}/persistentvolumeclaims/${name}`);
const events = async (reason: string): Promise<any[]> => ((await getJson(`/api/v1/namespaces/${NS}/events`))?.items ?? []).filter((e: any) => e.reason === reason);

async function ring(): Promise<RingRouter> {
  const cm = await getJson(`/api/v1/namespaces/${NS}/configmaps/${NAME}-ring`);
  return new RingRouter(cm.data['ring.json']);
}

/** Cluster DNS for a headless Service lists Ready pods only: the member's address, once its server is Ready. */
function readyEndpoint(host: string, port: number): { host: string; port: number } | undefined {
  const podName = host.split('.')[0]!;
  const running = [...c.kubelets.values()].flatMap((k) => k.runningPods()).find((p) => p.name === podName && p.ready);
  return running ? c.network.resolve(host, port) : undefined;
}

interface Sample {
  t: number;
  hits: number;
  misses: number;
  ejected: number;
}

/** Cache-aside load through the ring with the sidecar's ejection rule (see the file comment). */
class Load {
  readonly samples: Sample[] = [];
  readonly errors: { t: number; member: string; error: string }[] = [];
  readonly wrong: string[] = [];
  private readonly health = new Map<string, { failures: number; ejectedUntil: number }>();
  private readonly conns = new Map<string, Mc>();
  private running = true;
  private done?: Promise<void>;
  private next = 0;

  constructor(private readonly keys: string[]) {}

  static value(key: string): Buffer {
    return Buffer.from(`${key}|`.padEnd(120, '.'), 'latin1');
  }

  start(): this {
    this.done = this.loop();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    for (const mc of this.conns.values()) mc.close();
  }

  /** Hit ratio over the samples taken at or after `since` (ms since the epoch). */
  hitRatio(since: number): { ratio: number; requests: number } {
    const s = this.samples.filter((x) => x.t >= since);
    const hits = s.reduce((a, x) => a + x.hits, 0);
    const requests = s.reduce((a, x) => a + x.hits + x.misses + x.ejected, 0);
    return { ratio: requests ? hits / requests : 0, requests };
  }

  private async conn(ep: { host: string; port: number }): Promise<Mc> {
    const key = `${ep.host}:${ep.port}`;
    let mc = this.conns.get(key);
    if (!mc || mc.isFailed) {
      mc = await Mc.connect(ep.host, ep.port, 1000);
      this.conns.set(key, mc);
    }
    return mc;
  }

  private async loop(): Promise<void> {
    // Bounded: at most ten minutes of 20 ms rounds, far beyond any step's deadline.
    for (let round = 0; this.running && round < 30_000; round++) {
      const r = await ring();
      const batch = Array.from({ length: 30 }, () => this.keys[this.next++ % this.keys.length]!);
      const sample: Sample = { t: Date.now(), hits: 0, misses: 0, ejected: 0 };
      await Promise.all([...r.partition(batch)].map(([member, keys]) => this.request(r, member, keys, sample)));
      this.samples.push(sample);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  private async request(r: RingRouter, member: string, keys: string[], sample: Sample): Promise<void> {
    let h = this.health.get(member);
    if (!h) this.health.set(member, (h = { failures: 0, ejectedUntil: 0 }));
    const now = Date.now();
    if (h.ejectedUntil > now) {
      sample.ejected += keys.length;
      return;
    }
    const m = r.active.find((x) => x.name === member)!;
    try {
      const ep = readyEndpoint(m.host, m.port);
      if (!ep) throw new Error(`${m.host} does not resolve`);
      const mc = await this.conn(ep);
      const got = await mc.getMany(keys);
      const fill: [string, Buffer][] = [];
      for (const k of keys) {
        const v = got.get(k);
        if (v === undefined) {
          sample.misses++;
          fill.push([k, Load.value(k)]);
        } else if (v.equals(Load.value(k))) sample.hits++;
        else this.wrong.push(`${k} on ${member}`);
      }
      if (fill.length) await mc.setMany(fill);
      h.failures = 0;
    } catch (e) {
      this.errors.push({ t: now, member, error: e instanceof Error ? e.message : String(e) });
      h.failures++;
      // Ejected after FAILURE_LIMIT in a row; a failed probe after the retry timeout ejects again at once.
      if (h.failures >= FAILURE_LIMIT) h.ejectedUntil = Date.now() + RETRY_TIMEOUT_MS;
    }
  }
}

beforeAll(async () => {
  c = await startCluster();
}, 30_000);

afterAll(async () => {
  const errors = [...c?.kubelets.values() ?? []].flatMap((k) => k.errors);
  await c?.stop();
  if (errors.length) console.warn(`kubelet double reported:\n${errors.join('\n')}`);
}, 60_000);

const step = sequentialSteps();

async function settled(replicas: number): Promise<any> {
  return waitUntil(`${replicas} ready members`, async () => {
    const cc = await getJson(CC_PATH);
    return cc?.status?.observedGeneration === cc?.metadata.generation && cc?.status?.readyReplicas === replicas && cond(cc, 'Ready')?.status === 'True' && cond(cc, 'Degraded')?.status === 'False' ? cc : undefined;
  }, 30_000);
}

describe('node NotReady with traffic going on', () => {
  step('a 3-member cluster on local volumes, its keys warm', async () => {
    const r = await fetch(`${c.api.url}/apis/cachalot.io/v1alpha1/namespaces/${NS}/cacheclusters`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: NAME, namespace: NS },
        spec: { replicas: 3, threads: 1, memory: '16Mi', flash: { size: '64Mi', storageClassName: 'local-storage' }, nodeLossRecovery: { gracePeriodSeconds: GRACE_SECONDS } },
      }),
    });
    expect(r.status).toBe(201);
    const cc = await settled(3);
    expect(cc.spec.nodeLossRecovery.enabled).toBeUndefined();
  }, STEP_MS);

  step(`the member of a node that stops heartbeating is replaced after the grace period; errors stay within the ejection window and hits recover`, async () => {
    const r = await ring();
    const keys = Array.from({ length: 900 }, (_, i) => `nl:${i}`);
    const owned = new Set(r.partition(keys).get(`${NAME}-1`));
    const load = new Load(keys).start();
    try {
      await waitUntil('warm: every key a hit', () => {
        const h = load.hitRatio(Date.now() - 1000);
        return h.requests > 300 && h.ratio === 1;
      }, 20_000);

      const victim = `${NAME}-1`;
      const before = await pod(victim);
      const node = before.spec.nodeName as string;
      const claimBefore = await claim(`flash-${victim}`);
      const tOff = Date.now();
      c.powerOffNode(node);

      const notReady = await waitUntil(`${node} NotReady and tainted unreachable`, async () => {
        const n = await getJson(`/api/v1/nodes/${node}`);
        return cond(n, 'Ready')?.status === 'Unknown' && (n.spec.taints ?? []).some((t: any) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute') ? n : undefined;
      }, 10_000);
      expect(Date.parse(cond(notReady, 'Ready').lastTransitionTime)).toBeGreaterThanOrEqual(Math.floor(tOff / 1000) * 1000);
      const degraded = await waitUntil('Degraded=NodeLost while the grace period runs', async () => {
        const d = cond(await getJson(CC_PATH), 'Degraded');
        return d?.reason === 'NodeLost' ? d : undefined;
      }, 10_000, 20);
      expect(degraded.message).toBe(`${victim}: node ${node} is NotReady; recovering after the grace period`);

      const back = await waitUntil(`${victim} Ready on another node`, async () => {
        const p = await pod(victim);
        return p && p.metadata.uid !== before.metadata.uid && cond(p, 'Ready')?.status === 'True' && readyEndpoint(`${victim}.${NAME}-headless.${NS}.svc.cluster.local`, 11211) ? p : undefined;
      }, 30_000);
      const tBack = Date.now();
      expect(back.spec.nodeName).not.toBe(node);
      const claimAfter = await claim(`flash-${victim}`);
      expect(claimAfter.metadata.uid).not.toBe(claimBefore.metadata.uid);
      // Not before the node was NotReady for the grace period.
      expect(Date.parse(claimAfter.metadata.creationTimestamp)).toBeGreaterThanOrEqual(Date.parse(cond(notReady, 'Ready').lastTransitionTime) + GRACE_SECONDS * 1000 - 1000);
      const [lost] = await events('NodeLost');
      expect(lost.message).toBe(`node ${node} is NotReady: deleted PersistentVolumeClaim flash-${victim} and force-deleted pod ${victim}; the member restarts with an empty flash tier`);
      // The Node was never deleted: this is NotReady, not a Node deleted by someone.
      expect(await getJson(`/api/v1/nodes/${node}`)).toBeDefined();
      expect((await ring()).spec.version).toBe(r.spec.version);

      await waitUntil('hits recover as the new member fills', () => {
        const h = load.hitRatio(Date.now() - 1000);
        return h.requests > 300 && h.ratio >= 0.99;
      }, 20_000);
      await new Promise((res) => setTimeout(res, RETRY_TIMEOUT_MS * 2));
      await load.stop();

      expect(load.wrong).toEqual([]);
      // Errors: only the lost member, only between power-off and one retry period after its replacement was Ready.
      expect(new Set(load.errors.map((e) => e.member))).toEqual(new Set([victim]));
      expect(load.errors.filter((e) => e.t < tOff || e.t > tBack + RETRY_TIMEOUT_MS)).toEqual([]);
      const bound = FAILURE_LIMIT + Math.ceil((tBack - tOff) / RETRY_TIMEOUT_MS) + 1;
      expect(load.errors.length).toBeLessThanOrEqual(bound);
      expect(load.errors.length).toBeGreaterThanOrEqual(1);
      // Keys of the other members were hits throughout.
      const outage = load.samples.filter((s) => s.t >= tOff && s.t <= tBack);
      expect(outage.length).toBeGreaterThan(0);
      const ownedShare = owned.size / keys.length;
      const outageHits = outage.reduce((a, s) => a + s.hits, 0) / outage.reduce((a, s) => a + s.hits + s.misses + s.ejected, 0);
      expect(outageHits).toBeGreaterThan(1 - ownedShare - 0.1);
      if (process.env.CACHALOT_E2E_VERBOSE) {
        console.log(`outage ${tBack - tOff} ms (monitor grace ${MONITOR_GRACE_PERIOD_MS} ms + recovery grace ${GRACE_SECONDS} s): ${load.errors.length} client errors (bound ${bound}), hit ratio during outage ${outageHits.toFixed(3)} (lost member's share ${ownedShare.toFixed(3)})`);
      }
    } finally {
      await load.stop();
    }
    await settled(3);
  }, STEP_MS);

  step('an out-of-service taint replaces the member at once, an hour of grace notwithstanding', async () => {
    await patch(CC_PATH, { spec: { nodeLossRecovery: { gracePeriodSeconds: 3600 } } });
    await settled(3);
    const pods = await Promise.all([0, 1, 2].map((i) => pod(`${NAME}-${i}`)));
    const perNode = new Map<string, string[]>();
    for (const p of pods) perNode.set(p.spec.nodeName, [...(perNode.get(p.spec.nodeName) ?? []), p.metadata.name]);
    const [node, members] = [...perNode].find(([, ms]) => ms.length === 1)!;
    const victim = members[0]!;
    const claimBefore = await claim(`flash-${victim}`);
    c.powerOffNode(node);
    await patch(`/api/v1/nodes/${node}`, { spec: { taints: [{ key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' }] } });
    const back = await waitUntil(`${victim} Ready on another node`, async () => {
      const p = await pod(victim);
      return p && p.spec.nodeName !== node && cond(p, 'Ready')?.status === 'True' ? p : undefined;
    }, 30_000);
    expect(back.spec.nodeName).not.toBe(node);
    expect((await claim(`flash-${victim}`)).metadata.uid).not.toBe(claimBefore.metadata.uid);
    const lost = (await events('NodeLost')).find((e: any) => e.message.includes(node));
    expect(lost.message).toContain(`node ${node} is tainted node.kubernetes.io/out-of-service`);
    await settled(3);
  }, STEP_MS);
});
