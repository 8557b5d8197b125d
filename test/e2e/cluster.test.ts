/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * End to end (DESIGN.md, "Kubernetes in tests"): the real operator against the API server double, with the
 * control-plane double and one kubelet double per node running a real cachalot-server per pod on loopback.
 * One cluster, one scenario in steps that build on each other: create with 3 members and write 3,000 keys by
 * the ring; restart a pod (warm from flash on the same claim); scale up to 5 and down to 3 through the scale
 * subresource (draining first); lose a node (the member comes back empty on another node); roll a spec
 * change (every server restarts warm, one at a time); crash a server (the kubelet restarts it in place);
 * scale down and back up within the drain period and a transition (the member is reactivated untouched); a spec change whose
 * servers cannot start (the rollout halts at one member, the rest serve; revert); delete the cluster.
 * CACHALOT_E2E_VERBOSE=1 prints the hit ratios measured after each restart.
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest test/e2e
 *
 * CACHALOT_E2E_KEEP=1 keeps the temp dir (server logs under logs/, flash files under volumes/).
 */
import { createHash } from 'node:crypto';
import { Mc, RingRouter, sequentialSteps, startCluster, waitUntil, type E2ECluster } from './harness.js';

const NS = 'default';
const NAME = 'web';
const CC_PATH = `/apis/cachalot.io/v1alpha1/namespaces/${NS}/cacheclusters/${NAME}`;
const STEP_MS = 45_000;

let c: E2ECluster;
const clients = new Map<string, Mc>();
/** What the test wrote: key -> value. Values carry their key and are checked byte for byte. */
const written = new Map<string, Buffer>();
let ringV1: RingRouter;
let ring5: RingRouter;
let ring3: RingRouter;

function valueFor(key: string, generation: number): Buffer {
  const len = 40 + (createHash('md5').update(key).digest().readUInt16LE(0) % 1500);
  const head = Buffer.from(`${key}|g${generation}|`, 'latin1');
  const out = Buffer.alloc(len + head.length);
  head.copy(out);
  let seed = createHash('sha256').update(`${key}/${generation}`).digest();
  for (let p = head.length; p < out.length; p += seed.length) {
    seed.copy(out, p, 0, Math.min(seed.length, out.length - p));
    seed = createHash('sha256').update(seed).digest();
  }
  return out;
}

async function getJson(path: string): Promise<any> {
  const r = await fetch(`${c.api.url}${path}`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
  return r.json();
}

const clusterObj = (): Promise<any> => getJson(CC_PATH);
const pod = (name: string): Promise<any> => getJson(`/api/v1/namespaces/${NS}/pods/${name}`);
const claim = (name: string): Promise<any> => getJson(`/api/v1/namespaces/${NS}/persistentvolumeclaims/${name}`);
const cond = (obj: any, type: string): any => (obj?.status?.conditions ?? []).find((x: any) => x.type === type);

async function ringText(): Promise<string | undefined> {
  const cm = await getJson(`/api/v1/namespaces/${NS}/configmaps/${NAME}-ring`);
  return cm?.data?.['ring.json'];
}

async function scale(replicas: number): Promise<void> {
  const r = await fetch(`${c.api.url}${CC_PATH}/scale`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas } }) });
  if (r.status !== 200) throw new Error(`scale to ${replicas}: ${r.status} ${await r.text()}`);
}

/** The cluster reports `replicas` ready members, not progressing, and the ring has `members` active ones. */
function settled(replicas: number): Promise<{ cc: any; ring: RingRouter }> {
  return waitUntil(`${replicas} ready members and a settled ring`, async () => {
    const cc = await clusterObj();
    const text = await ringText();
    if (!cc || !text) return undefined;
    const ring = new RingRouter(text);
    const ok = cc.status?.observedGeneration === cc.metadata.generation && cc.status?.readyReplicas === replicas && cond(cc, 'Ready')?.status === 'True' && cond(cc, 'Progressing')?.status === 'False'
      && ring.spec.members.length === replicas && ring.active.length === replicas && ring.active.every((m) => c.network.resolve(m.host, m.port));
    return ok ? { cc, ring } : undefined;
  }, 30_000);
}

/** A connection to whatever server the member's DNS name resolves to now (reconnecting after a restart). */
async function clientFor(host: string, port: number): Promise<Mc> {
  const ep = c.network.resolve(host, port);
  if (!ep) throw new Error(`${host}:${port} does not resolve (no running pod)`);
  const key = `${ep.host}:${ep.port}`;
  let mc = clients.get(key);
  if (!mc || mc.isFailed) {
    mc = await Mc.connect(ep.host, ep.port);
    clients.set(key, mc);
  }
  return mc;
}

async function writeByRing(ring: RingRouter, entries: Map<string, Buffer>): Promise<void> {
  const parts = ring.partition(entries.keys());
  await Promise.all([...parts].map(async ([member, keys]) => {
    const m = ring.active.find((x) => x.name === member)!;
    const bad = await (await clientFor(m.host, m.port)).setMany(keys.map((k) => [k, entries.get(k)!]));
    expect(bad).toEqual([]);
  }));
  for (const [k, v] of entries) written.set(k, v);
}

interface ReadResult {
  hits: string[];
  misses: string[];
  wrong: string[];
}

/** Reads every key from the server the ring routes it to; compares with what was written. */
async function readByRing(ring: RingRouter, keys: string[]): Promise<ReadResult> {
  const res: ReadResult = { hits: [], misses: [], wrong: [] };
  const parts = ring.partition(keys);
  await Promise.all([...parts].map(async ([member, ks]) => {
    const m = ring.active.find((x) => x.name === member)!;
    const got = await (await clientFor(m.host, m.port)).getMany(ks);
    for (const k of ks) {
      const v = got.get(k);
      if (v === undefined) res.misses.push(k);
      else if (v.equals(written.get(k)!)) res.hits.push(k);
      else res.wrong.push(`${k} on ${member}: ${v.length} bytes ${v.toString('latin1', 0, 40)}`);
    }
  }));
  return res;
}

function report(what: string, r: ReadResult): void {
  if (process.env.CACHALOT_E2E_VERBOSE) console.log(`${what}: ${r.hits.length} hits, ${r.misses.length} misses, ${r.wrong.length} wrong`);
}

function keysOf(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}:${i.toString().padStart(5, '0')}`);
}

const KEYS_A = keysOf('e2e:a', 3000);
const KEYS_B = keysOf('e2e:b', 1000);

beforeAll(async () => {
  c = await startCluster();
}, 30_000);

// A server that exits without the scenario stopping it fails the step it happened in (a crash the kubelet
// double quietly restarted would otherwise pass unnoticed); steps that crash one declare it.
afterEach(() => c?.checkExits());

afterAll(async () => {
  for (const mc of clients.values()) mc.close();
  const errors = [...c?.kubelets.values() ?? []].flatMap((k) => k.errors);
  await c?.stop();
  // Kubelet-side failures (a server that died on its own, a status write that failed) are reported here so
  // that they are not lost when the scenario passed anyway.
  if (errors.length) console.warn(`kubelet double reported:\n${errors.join('\n')}`);
}, 60_000);

const step = sequentialSteps();

describe('cachalot end to end: operator + real servers on loopback', () => {
  step('a CacheCluster with 3 replicas: 3 real servers Ready, a 3-member ring, 3,000 keys routed by it read back byte-exact', async () => {
    const create = await fetch(`${c.api.url}/apis/cachalot.io/v1alpha1/namespaces/${NS}/cacheclusters`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'cachalot.io/v1alpha1',
        kind: 'CacheCluster',
        metadata: { name: NAME, namespace: NS },
        // transitionSeconds 0: RingRouter routes by members alone, and the steps below count ring versions and
        // drains; transitions are exercised in test/k8s/ring-contract.test.ts and stale-after-scale-down.
        spec: { replicas: 3, threads: 1, memory: '16Mi', flash: { size: '64Mi' }, ring: { drainSeconds: 2, transitionSeconds: 0 }, nodeLossRecovery: { enabled: true, gracePeriodSeconds: 2 } },
      }),
    });
    expect(create.status).toBe(201);
    const { cc, ring } = await settled(3);
    ringV1 = ring;
    expect(cc.status.ring).toEqual({ version: 1, members: 3, draining: 0 });
    expect(ring.spec.version).toBe(1);
    expect(ring.spec.members.map((m) => `${m.host}:${m.port}`)).toEqual([0, 1, 2].map((i) => `${NAME}-${i}.${NAME}-headless.${NS}.svc.cluster.local:11211`));

    // Three real processes, one per node, each Ready by its own /readyz, bound to 127.x.y.z only.
    const running = [...c.kubelets.values()].flatMap((k) => k.runningPods().map((p) => ({ ...p, node: k.node })));
    expect(running.map((p) => p.name).sort()).toEqual(['web-0', 'web-1', 'web-2']);
    expect(new Set(running.map((p) => p.node)).size).toBe(3);
    for (const i of [0, 1, 2]) {
      const p = await pod(`${NAME}-${i}`);
      const ep = c.network.endpoint(NS, `${NAME}-${i}`)!;
      expect(p.status.podIP).toBe(ep.host);
      expect(ep.host).toMatch(/^127\.0\.0\.\d+$/);
      // Bound to that loopback address only, memcached and metrics alike.
      const argv = running.find((r) => r.name === `${NAME}-${i}`)!.argv;
      expect(argv[argv.indexOf('-l') + 1]).toBe(ep.host);
      expect(argv[argv.indexOf('--metrics-listen') + 1]).toBe(ep.host);
      expect(argv.filter((a) => a === '-l' || a === '--metrics-listen')).toHaveLength(2);
      expect((await fetch(`http://${ep.host}:${ep.metricsPort}/readyz`)).status).toBe(200);
      expect(p.spec.containers[0].args).toEqual(expect.arrayContaining(['-m', '16', '-t', '1']));
    }

    await writeByRing(ring, new Map(KEYS_A.map((k) => [k, valueFor(k, 1)])));
    const read = await readByRing(ring, KEYS_A);
    expect(read.wrong).toEqual([]);
    expect(read.misses).toEqual([]);
    expect(read.hits).toHaveLength(3000);
    // Each server holds exactly the keys the ring gave it: routing is by the published document, nothing else.
    const parts = ring.partition(KEYS_A);
    for (const m of ring.active) {
      const mc = await clientFor(m.host, m.port);
      const [stats] = await mc.pipeline(Buffer.from('stats\r\n'), ['stats']);
      expect([m.name, Number(stats!.stats.get('curr_items'))]).toEqual([m.name, parts.get(m.name)!.length]);
      expect(parts.get(m.name)!.length).toBeGreaterThan(500);
    }
  }, STEP_MS);

  step('a deleted pod is recreated on the same claim and its server comes back warm from flash', async () => {
    const victim = `${NAME}-1`;
    const before = await pod(victim);
    const claimBefore = await claim(`flash-${victim}`);
    const owned = ringV1.partition(KEYS_A).get(victim)!;
    const oldEndpoint = c.network.endpoint(NS, victim)!;
    const del = await fetch(`${c.api.url}/api/v1/namespaces/${NS}/pods/${victim}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    // Graceful deletion: Terminating while the kubelet drains the server (SIGTERM writes RAM to flash).
    const after = await waitUntil(`${victim} recreated and Ready`, async () => {
      const p = await pod(victim);
      const ep = c.network.endpoint(NS, victim);
      return p && p.metadata.uid !== before.metadata.uid && cond(p, 'Ready')?.status === 'True' && ep && ep.uid === p.metadata.uid ? p : undefined;
    }, 30_000);
    expect(after.spec.nodeName).toBe(before.spec.nodeName);
    expect((await claim(`flash-${victim}`)).metadata.uid).toBe(claimBefore.metadata.uid);
    expect(c.network.endpoint(NS, victim)!.host).not.toBe(oldEndpoint.host);
    await settled(3);
    expect((await clusterObj()).status.ring.version).toBe(1);

    const read = await readByRing(ringV1, owned);
    report('after pod restart', read);
    expect(read.wrong).toEqual([]);
    expect(read.hits.length / owned.length).toBeGreaterThanOrEqual(0.95);
    // The other members were not touched.
    const others = await readByRing(ringV1, KEYS_A.filter((k) => ringV1.owner(k).name !== victim));
    expect(others.wrong).toEqual([]);
    expect(others.misses).toEqual([]);
  }, STEP_MS);

  step('scale up to 5 through the scale subresource: new ring version with 5 members; moved keys miss, none is wrong; new servers serve', async () => {
    await scale(5);
    const { cc, ring } = await settled(5);
    ring5 = ring;
    expect(ring.spec.version).toBeGreaterThan(ringV1.spec.version);
    expect(cc.status.ring).toEqual({ version: ring.spec.version, members: 5, draining: 0 });
    expect(ring.active.map((m) => m.name)).toEqual([0, 1, 2, 3, 4].map((i) => `${NAME}-${i}`));
    // One server per node (the default required anti-affinity): five members on five different nodes.
    const nodes = await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await pod(`${NAME}-${i}`)).spec.nodeName));
    expect(new Set(nodes).size).toBe(5);
    expect((await pod(`${NAME}-0`)).spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');

    const moved = KEYS_A.filter((k) => ring.owner(k).name !== ringV1.owner(k).name);
    // Ketama: only keys that now belong to a new member move.
    expect(moved.every((k) => ['web-3', 'web-4'].includes(ring.owner(k).name))).toBe(true);
    expect(moved.length).toBeGreaterThan(600);
    const read = await readByRing(ring, KEYS_A);
    expect(read.wrong).toEqual([]);
    expect(new Set(read.misses)).toEqual(new Set(moved));
    expect(read.hits).toHaveLength(KEYS_A.length - moved.length);

    await writeByRing(ring, new Map(KEYS_B.map((k) => [k, valueFor(k, 2)])));
    const readB = await readByRing(ring, KEYS_B);
    expect(readB.wrong).toEqual([]);
    expect(readB.misses).toEqual([]);
    const onNew = KEYS_B.filter((k) => ['web-3', 'web-4'].includes(ring.owner(k).name));
    expect(onNew.length).toBeGreaterThan(200);
  }, STEP_MS);

  step('scale down to 3: leaving members are published draining while still running, then removed with their pods and claims; the rest keep their keys', async () => {
    await scale(3);
    // Draining first: web-3 and web-4 are off the continuum but their servers still run.
    const draining = await waitUntil('web-3 and web-4 draining', async () => {
      const text = await ringText();
      const ring = text ? new RingRouter(text) : undefined;
      return ring && ring.spec.members.filter((m) => m.state === 'draining').map((m) => m.name).join(',') === 'web-3,web-4' ? ring : undefined;
    }, 15_000, 20);
    expect(draining.spec.version).toBeGreaterThan(ring5.spec.version);
    expect(draining.active.map((m) => m.name)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(c.network.endpoint(NS, 'web-3')).toBeDefined();
    expect(c.network.endpoint(NS, 'web-4')).toBeDefined();

    const { cc, ring } = await settled(3);
    ring3 = ring;
    expect(ring.spec.version).toBeGreaterThan(draining.spec.version);
    expect(cc.status.ring).toEqual({ version: ring.spec.version, members: 3, draining: 0 });
    await waitUntil('web-3 and web-4 gone with their claims and processes', async () => {
      const gone = !(await pod('web-3')) && !(await pod('web-4')) && !(await claim('flash-web-3')) && !(await claim('flash-web-4'));
      const procs = [...c.kubelets.values()].flatMap((k) => k.runningPods().map((p) => p.name));
      return gone && !procs.includes('web-3') && !procs.includes('web-4');
    }, 20_000);

    // Keys owned by web-0..2 in the 5-member ring are still where they were.
    const all = [...KEYS_A, ...KEYS_B];
    const stayed = all.filter((k) => !['web-3', 'web-4'].includes(ring5.owner(k).name));
    const read = await readByRing(ring, stayed);
    expect(read.wrong).toEqual([]);
    expect(read.misses).toEqual([]);
    // Keys that web-3/web-4 held route back to the members that had them before the scale-up. Those members
    // dropped their copies once the 5-member ring was in force (servers follow the ring and purge what they
    // do not own), so that an old value can never come back: every such key is a miss, never wrong bytes.
    const returned = all.filter((k) => ['web-3', 'web-4'].includes(ring5.owner(k).name));
    const back = await readByRing(ring, returned);
    expect(back.wrong).toEqual([]);
    expect(new Set(back.misses)).toEqual(new Set(returned));
  }, STEP_MS);

  step('node loss: the member whose node is deleted stays unschedulable past the grace period, then the operator deletes its claim and pod and it comes back empty and Ready elsewhere', async () => {
    const victim = `${NAME}-2`;
    const before = await pod(victim);
    const node = before.spec.nodeName as string;
    const claimBefore = await claim(`flash-${victim}`);
    expect(claimBefore.metadata.annotations['volume.kubernetes.io/selected-node']).toBe(node);
    const lostPods = [...c.kubelets.get(node)!.runningPods().map((p) => p.name)];
    expect(lostPods).toEqual([victim]);
    const owned = ring3.partition([...KEYS_A, ...KEYS_B]).get(victim)!;
    const versionBefore = ring3.spec.version;

    await c.loseNode(node);
    const pending = await waitUntil(`${victim} Pending/Unschedulable on the lost node's claim`, async () => {
      const p = await pod(victim);
      const s = cond(p, 'PodScheduled');
      return p && p.metadata.uid !== before.metadata.uid && p.status?.phase === 'Pending' && s?.status === 'False' && s.reason === 'Unschedulable' ? p : undefined;
    }, 15_000, 20);
    expect(pending.spec.nodeName).toBeUndefined();
    const degraded = await waitUntil('Degraded=NodeLost', async () => {
      const d = cond(await clusterObj(), 'Degraded');
      return d?.reason === 'NodeLost' ? d : undefined;
    }, 10_000, 20);
    expect(degraded.message).toContain(`node ${node} is gone`);

    const back = await waitUntil(`${victim} Running and Ready on another node with a new claim`, async () => {
      const p = await pod(victim);
      const ep = c.network.endpoint(NS, victim);
      return p && cond(p, 'Ready')?.status === 'True' && ep?.uid === p.metadata.uid ? p : undefined;
    }, 30_000);
    expect(back.spec.nodeName).not.toBe(node);
    const claimAfter = await claim(`flash-${victim}`);
    expect(claimAfter.metadata.uid).not.toBe(claimBefore.metadata.uid);
    // Recovery waited for the grace period, counted from when the pod became unschedulable.
    const unschedulableSince = Date.parse(cond(pending, 'PodScheduled').lastTransitionTime);
    expect(Date.parse(claimAfter.metadata.creationTimestamp)).toBeGreaterThanOrEqual(unschedulableSince + 2000 - 1000);

    const { cc, ring } = await settled(3);
    expect(ring.spec.version).toBe(versionBefore);
    expect(cond(cc, 'Degraded')).toMatchObject({ status: 'False' });
    const events = await getJson(`/api/v1/namespaces/${NS}/events`);
    expect(events.items.some((e: any) => e.reason === 'NodeLost' && e.type === 'Warning')).toBe(true);

    // Empty: every key it owned is a miss; the other members still have theirs.
    const read = await readByRing(ring, owned);
    expect(read.wrong).toEqual([]);
    expect(read.hits).toEqual([]);
    const others = await readByRing(ring, [...KEYS_A, ...KEYS_B].filter((k) => ring.owner(k).name !== victim && !['web-3', 'web-4'].includes(ring5.owner(k).name)));
    expect(others.wrong).toEqual([]);
    expect(others.misses).toEqual([]);
  }, STEP_MS);
  step('a spec change rolls the servers one at a time, highest ordinal first, and every one comes back warm from flash', async () => {
    // Fill all three members again (web-2 came back empty from the node loss).
    await writeByRing(ring3, new Map(KEYS_A.map((k) => [k, valueFor(k, 3)])));
    const versionBefore = ring3.spec.version;
    const uids = new Map<string, string>();
    for (const i of [0, 1, 2]) uids.set(`${NAME}-${i}`, (await pod(`${NAME}-${i}`)).metadata.uid);

    const patch = await fetch(`${c.api.url}${CC_PATH}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { memory: '24Mi' } }) });
    expect(patch.status).toBe(200);
    // Sample while it rolls: never more than one member down; the order of replacement.
    const order: string[] = [];
    let minReady = 3;
    let sawRolling = false;
    await waitUntil('every pod replaced and Ready', async () => {
      const cc = await clusterObj();
      if (cond(cc, 'Progressing')?.reason === 'RollingUpdate') sawRolling = true;
      let replacedReady = 0;
      let readyNow = 0;
      for (const [name, uid] of uids) {
        const p = await pod(name);
        const ready = p && cond(p, 'Ready')?.status === 'True' && !p.metadata.deletionTimestamp;
        if (ready) readyNow++;
        if (p && p.metadata.uid !== uid && !order.includes(name)) order.push(name);
        if (p && p.metadata.uid !== uid && ready && c.network.endpoint(NS, name)?.uid === p.metadata.uid) replacedReady++;
      }
      minReady = Math.min(minReady, readyNow);
      return replacedReady === 3;
    }, 40_000, 20);
    expect(order).toEqual([`${NAME}-2`, `${NAME}-1`, `${NAME}-0`]);
    expect(minReady).toBeGreaterThanOrEqual(2);
    expect(sawRolling).toBe(true);
    const { ring } = await settled(3);
    expect(ring.spec.version).toBe(versionBefore);
    for (const i of [0, 1, 2]) expect((await pod(`${NAME}-${i}`)).spec.containers[0].args).toEqual(expect.arrayContaining(['-m', '24']));

    const read = await readByRing(ring, KEYS_A);
    report('after rolling update', read);
    expect(read.wrong).toEqual([]);
    expect(read.hits.length / KEYS_A.length).toBeGreaterThanOrEqual(0.95);
  }, 60_000);
  step('a server that crashes (SIGKILL) is restarted in place by the kubelet: same pod, restartCount 1, Ready again, no wrong bytes', async () => {
    const victim = `${NAME}-0`;
    const before = await pod(victim);
    const kubelet = c.kubelets.get(before.spec.nodeName)!;
    const proc = kubelet.runningPods().find((p) => p.name === victim)!;
    const owned = ring3.partition(KEYS_A).get(victim)!;
    c.expectExits(`${NS}/${victim}`, 1);
    process.kill(proc.pid!, 'SIGKILL');
    await waitUntil(`${victim} reported not Ready`, async () => cond(await pod(victim), 'Ready')?.status === 'False', 10_000, 10);
    const after = await waitUntil(`${victim} Ready again with restartCount 1`, async () => {
      const p = await pod(victim);
      return p && cond(p, 'Ready')?.status === 'True' && p.status.containerStatuses?.[0]?.restartCount === 1 ? p : undefined;
    }, 20_000);
    expect(after.metadata.uid).toBe(before.metadata.uid);
    const now = kubelet.runningPods().find((p) => p.name === victim)!;
    expect(now.pid).not.toBe(proc.pid);
    expect(now.address).toBe(proc.address);
    const { ring } = await settled(3);
    expect(ring.spec.version).toBe(ring3.spec.version);
    // What survives a crash is what had reached flash; whatever comes back must be the bytes written.
    const read = await readByRing(ring, owned);
    report('after crash', read);
    expect(read.wrong).toEqual([]);
    expect(read.hits.length + read.misses.length).toBe(owned.length);
  }, STEP_MS);
  step('scaling back up during a drain reactivates the member: same pod, never restarted, its keys still there', async () => {
    // With a transition: a draining member that `previous` still lists as active keeps its items (a server
    // without a transition drops everything once it is draining, since readers then write its keys elsewhere).
    const patch = await fetch(`${c.api.url}${CC_PATH}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { ring: { drainSeconds: 120, transitionSeconds: 120 } } }) });
    expect(patch.status).toBe(200);
    const { ring: start } = await settled(3);
    const victim = `${NAME}-2`;
    const uid = (await pod(victim)).metadata.uid;
    const pid = c.kubelets.get((await pod(victim)).spec.nodeName)!.runningPods().find((p) => p.name === victim)!.pid;
    const owned = start.partition(KEYS_A).get(victim)!;
    await scale(2);
    const draining = await waitUntil(`${victim} draining`, async () => {
      const t = await ringText();
      const r = t ? new RingRouter(t) : undefined;
      return r && r.spec.members.find((m) => m.name === victim)?.state === 'draining' ? r : undefined;
    }, 15_000, 20);
    expect(draining.active.map((m) => m.name)).toEqual([`${NAME}-0`, `${NAME}-1`]);
    // Draining: off the continuum, so its keys are misses on the members that would own them.
    const meanwhile = await readByRing(draining, owned);
    expect(meanwhile.wrong).toEqual([]);
    expect(meanwhile.hits.filter((k) => written.get(k)!.includes('|g3|'))).toEqual([]);

    await scale(3);
    const { ring } = await settled(3);
    expect(ring.spec.version).toBeGreaterThan(draining.spec.version);
    const p = await pod(victim);
    expect(p.metadata.uid).toBe(uid);
    expect(c.kubelets.get(p.spec.nodeName)!.runningPods().find((x) => x.name === victim)!.pid).toBe(pid);
    const read = await readByRing(ring, owned);
    expect(read.wrong).toEqual([]);
    expect(read.misses).toEqual([]);
    // Back to no transitions for the steps below: the transition ends at once, the member keeps what it owns.
    const off = await fetch(`${c.api.url}${CC_PATH}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { ring: { transitionSeconds: 0 } } }) });
    expect(off.status).toBe(200);
    await waitUntil('a ring without previous', async () => {
      const t = await ringText();
      return t !== undefined && JSON.parse(t).previous === undefined;
    }, 15_000, 20);
    await settled(3);
    const after = await readByRing(ring, owned);
    expect(after.wrong).toEqual([]);
    expect(after.misses).toEqual([]);
  }, STEP_MS);

  step('a spec change whose servers cannot start halts the rollout at the first member; the others keep serving; reverting brings it back warm without restarting them', async () => {
    const { ring } = await settled(3);
    const uids = new Map<string, string>();
    for (const i of [0, 1, 2]) uids.set(`${NAME}-${i}`, (await pod(`${NAME}-${i}`)).metadata.uid);
    // web-2's new server exits at once, again and again, until the revert replaces it.
    c.expectExits(`${NS}/${NAME}-2`, 2, true);
    const bad = await fetch(`${c.api.url}${CC_PATH}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { extraArgs: ['--no-such-flag'] } }) });
    expect(bad.status).toBe(200);
    // web-2 is replaced first and its server exits at once (unknown option): restarts, never Ready.
    await waitUntil('web-2 replaced and crash-looping', async () => {
      const p = await pod(`${NAME}-2`);
      return p && p.metadata.uid !== uids.get(`${NAME}-2`) && (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2 && cond(p, 'Ready')?.status === 'False';
    }, 20_000);
    const cc = await waitUntil('Ready=False, Progressing=RollingUpdate', async () => {
      const x = await clusterObj();
      return cond(x, 'Ready')?.status === 'False' && cond(x, 'Progressing')?.reason === 'RollingUpdate' && x.status.readyReplicas === 2 ? x : undefined;
    }, 10_000);
    expect(cc.status.ring.version).toBe(ring.spec.version);
    await new Promise((r) => setTimeout(r, 1000));
    for (const i of [0, 1]) expect((await pod(`${NAME}-${i}`)).metadata.uid).toBe(uids.get(`${NAME}-${i}`));
    const healthy = KEYS_A.filter((k) => ring.owner(k).name !== `${NAME}-2`);
    const read = await readByRing(ring, healthy);
    expect(read.wrong).toEqual([]);
    expect(read.misses).toEqual([]);

    // Revert. As with any StatefulSet, the pod stuck on the bad revision must be deleted by hand.
    const revert = await fetch(`${c.api.url}${CC_PATH}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { extraArgs: null } }) });
    expect(revert.status).toBe(200);
    await waitUntil('template reverted', async () => !(await getJson(`/apis/apps/v1/namespaces/${NS}/statefulsets/${NAME}`)).spec.template.spec.containers[0].args.includes('--no-such-flag'), 10_000);
    expect((await fetch(`${c.api.url}/api/v1/namespaces/${NS}/pods/${NAME}-2`, { method: 'DELETE' })).status).toBe(200);
    const { ring: after } = await settled(3);
    expect(after.spec.version).toBe(ring.spec.version);
    for (const i of [0, 1]) expect((await pod(`${NAME}-${i}`)).metadata.uid).toBe(uids.get(`${NAME}-${i}`));
    // The broken incarnation never opened the flash directory: web-2 comes back with what it flushed at SIGTERM.
    const owned = KEYS_A.filter((k) => ring.owner(k).name === `${NAME}-2`);
    const back = await readByRing(after, owned);
    report('after the failed rollout', back);
    expect(back.wrong).toEqual([]);
    expect(back.hits.length / owned.length).toBeGreaterThanOrEqual(0.95);
  }, 60_000);

  step('deleting the CacheCluster garbage-collects the StatefulSet, pods and claims; every server is stopped with SIGTERM', async () => {
    const del = await fetch(`${c.api.url}${CC_PATH}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    await waitUntil('pods, claims, StatefulSet and ring gone; no server running', async () => {
      const pods = await getJson(`/api/v1/namespaces/${NS}/pods`);
      const claims = await getJson(`/api/v1/namespaces/${NS}/persistentvolumeclaims`);
      const sts = await getJson(`/apis/apps/v1/namespaces/${NS}/statefulsets/${NAME}`);
      const procs = [...c.kubelets.values()].flatMap((k) => k.runningPods());
      const left = [...pods.items.map((p: any) => `pod ${p.metadata.name}${p.metadata.deletionTimestamp ? ' (terminating)' : ''}`), ...claims.items.map((p: any) => `claim ${p.metadata.name}`), ...(sts ? ['statefulset'] : []), ...((await ringText()) ? ['ring'] : []), ...procs.map((p) => `server of ${p.name}`)];
      if (left.length) throw new Error(`left: ${left.join(', ')}`);
      return true;
    }, 30_000);
    expect([...c.kubelets.values()].flatMap((k) => k.errors)).toEqual([]);
  }, STEP_MS);
});
