/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Ring changes keep one consistent cache (docs/ring.md): an application writes, overwrites and deletes keys
 * through a real cachalot-sidecar process while the cluster scales, and reads back through it. A read may
 * miss (a cache may always miss) but never returns a value the application has since overwritten or deleted.
 *
 * The first scenario is the stale-copies finding: scale up, invalidate the keys that moved, scale back down;
 * a member that gave keys away at the scale-up must not serve its old copies when they come back to it. It
 * holds by the servers' purge (a member drops what it does not own once a ring without `previous` is in force;
 * the servers follow the ring ConfigMap through the API, as the operator configures them, with the token the
 * kubelet double gives their pods) and, within a transition, by the sidecar's delete at the previous owner. The others are the scale-up and
 * scale-down round trips and a change during a change, each with deletes and overwrites between the steps.
 */
import { Mc, RingRouter, startCluster, waitUntil, type E2ECluster } from './harness.js';
import { SidecarProcess } from './sidecar-process.js';
import { settledRing } from './ring-steps.js';

const NS = 'default';
const CC = `/apis/cachalot.io/v1alpha1/namespaces/${NS}/cacheclusters`;

interface Scenario {
  name: string;
  c: E2ECluster;
  sidecar: SidecarProcess;
  app: Mc;
  /** What the application last wrote per key (undefined: deleted). */
  model: Map<string, string | undefined>;
  stale: string[];
  /** Moved keys that were cached before a step and missed during its transition (reported, not asserted). */
  coldMoved: number;
}

let current: Scenario | undefined;

afterEach(async () => {
  const s = current;
  current = undefined;
  if (!s) return;
  s.app?.close();
  await s.sidecar.stop();
  try {
    s.c.checkExits();
  } finally {
    await s.c.stop();
  }
}, 60_000);

async function doc(s: Scenario): Promise<any> {
  const r = await fetch(`${s.c.api.url}/api/v1/namespaces/${NS}/configmaps/${s.name}-ring`);
  if (r.status !== 200) return undefined;
  return JSON.parse(((await r.json()) as any).data['ring.json']);
}

async function start(name: string, replicas: number, transitionSeconds: number): Promise<Scenario> {
  const c = await startCluster();
  const created = await fetch(`${c.api.url}${CC}`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name, namespace: NS },
      spec: { replicas, threads: 1, memory: '16Mi', flash: { size: '64Mi' }, ring: { drainSeconds: 1, transitionSeconds } } }),
  });
  expect(created.status).toBe(201);
  const sidecar = new SidecarProcess(c, NS, name);
  const partial = { name, c, sidecar, model: new Map(), stale: [], coldMoved: 0 } as unknown as Scenario;
  current = partial;
  await settled(partial, replicas);
  await sidecar.start();
  partial.app = await Mc.connect('127.0.0.1', sidecar.port);
  await waitUntil('sidecar on the ring', async () => (await sidecar.ringVersion()) === (await doc(partial)).version, 20_000, 100);
  return partial;
}

async function scale(s: Scenario, replicas: number): Promise<void> {
  const r = await fetch(`${s.c.api.url}${CC}/${s.name}/scale`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas } }) });
  expect(r.status).toBe(200);
}

/**
 * The ring has `members` active members, all running and served, no `previous` and nothing draining; the
 * sidecar routes by it; and every running member holds none of the scenario's keys it does not own (its purge
 * has run).
 */
async function settled(s: Scenario, members: number): Promise<RingRouter> {
  return settledRing(s.c, NS, s.name, members, s.sidecar && s.app ? [s.sidecar] : [], [...s.model.keys()]);
}

/**
 * The ring has `previous` (a transition is running) with `members` active members, all of them running (the
 * operator publishes a scale-up's ring while the new pods start; requests to a pod not yet up fail), and the
 * sidecar routes by it.
 */
async function inTransition(s: Scenario, members: number): Promise<void> {
  const version = await waitUntil(`a transition to ${members} members`, async () => {
    const d = await doc(s);
    const active = d?.members.filter((m: any) => m.state === 'active') ?? [];
    return d?.previous && active.length === members && active.every((m: any) => s.sidecar.reaches(m.host, m.port))
      ? d.version as number : undefined;
  }, 30_000, 50);
  await waitUntil('sidecar on the transition', async () => (await s.sidecar.ringVersion()) >= version, 10_000, 50);
}

/** Through the sidecar: sets `count` keys, or for existing ones deletes a third, overwrites a third. */
async function write(s: Scenario, round: number, count = 600): Promise<void> {
  if (s.model.size === 0) {
    const entries: [string, Buffer][] = [];
    for (let i = 0; i < count; i++) {
      const k = `session:${i}`;
      s.model.set(k, `v0 of ${k}`);
      entries.push([k, Buffer.from(`v0 of ${k}`)]);
    }
    expect(await s.app.setMany(entries)).toEqual([]);
    return;
  }
  const keys = [...s.model.keys()];
  const sets: [string, Buffer][] = [];
  const deletes: string[] = [];
  keys.forEach((k, i) => {
    const pick = (i + round) % 3;
    if (pick === 0) deletes.push(k);
    else if (pick === 1) sets.push([k, Buffer.from(`v${round} of ${k}`)]);
  });
  for (const [k, v] of sets) s.model.set(k, v.toString());
  expect(await s.app.setMany(sets)).toEqual([]);
  for (let i = 0; i < deletes.length; i += 200) {
    const part = deletes.slice(i, i + 200);
    const replies = await s.app.pipeline(Buffer.from(part.map((k) => `delete ${k}\r\n`).join('')), part.map(() => 'line'));
    replies.forEach((r, j) => {
      expect(['DELETED', 'NOT_FOUND']).toContain(r.line);
      s.model.set(part[j]!, undefined);
    });
  }
}

/** Reads every key through the sidecar; a value other than the last written is stale. Returns the keys hit. */
async function read(s: Scenario, when: string): Promise<Set<string>> {
  const got = await s.app.getMany([...s.model.keys()]);
  const hits = new Set<string>();
  for (const [k, v] of got) {
    if (v === undefined) continue;
    hits.add(k);
    if (v.toString() !== s.model.get(k)) s.stale.push(`${when}: ${k} -> ${v.toString()} (last written: ${s.model.get(k) ?? 'deleted'})`);
  }
  return hits;
}

test('a key invalidated while it lived on a member that then left is not served again after scale-down', async () => {
  const s = await start('stale', 2, 2);
  await write(s, 0);
  const before = await settled(s, 2);
  await scale(s, 3);
  const up = await settled(s, 3);
  const moved = [...s.model.keys()].filter((k) => up.owner(k).name !== before.owner(k).name);
  expect(moved.length).toBeGreaterThan(50);
  // The application invalidates the moved keys (cache-aside: the rows changed), after the transition ended.
  for (const k of moved) {
    const [reply] = await s.app.pipeline(Buffer.from(`delete ${k}\r\n`), ['line']);
    expect(['DELETED', 'NOT_FOUND']).toContain(reply!.line);
    s.model.set(k, undefined);
  }
  await scale(s, 2);
  const back = await settled(s, 2);
  expect(back.active.map((m) => m.name)).toEqual(before.active.map((m) => m.name));
  await read(s, 'after scale-down');
  expect(s.stale).toEqual([]);
  // The keys that did not move are still there.
  const kept = [...s.model.keys()].filter((k) => s.model.get(k) !== undefined);
  expect((await s.app.getMany(kept)).size).toBe(kept.length);
}, 180_000);

/** Large values, so that each member's RAM tier (16 MiB) overflows into its flash tier. */
const BULK_KEYS = 160;
const BULK_BYTES = 256 * 1024;

/** Through the sidecar: BULK_KEYS values of BULK_BYTES (never read through the sidecar, so never filled). */
async function writeBulk(s: Scenario, round: number): Promise<string[]> {
  const keys = Array.from({ length: BULK_KEYS }, (_, i) => `bulk:${i}`);
  for (let i = 0; i < keys.length; i += 8) {
    const part = keys.slice(i, i + 8).map((k): [string, Buffer] => [k, Buffer.alloc(BULK_BYTES, `${k} v${round} `)]);
    expect(await s.app.setMany(part)).toEqual([]);
  }
  return keys;
}

/** A member's `stats`, asked directly. */
async function memberStats(s: Scenario, m: { host: string; port: number }): Promise<ReadonlyMap<string, string>> {
  const ep = s.c.network.resolve(m.host, m.port)!;
  const mc = await Mc.connect(ep.host, ep.port);
  try {
    const [r] = await mc.pipeline(Buffer.from('stats\r\n'), ['stats']);
    return r!.stats;
  } finally {
    mc.close();
  }
}

/**
 * After a scale-up has settled: every member that gave keys away holds none of them, RAM and flash. Gets of
 * the moved keys straight at the member miss; its `ring_purged_items` grew by at least the moved large values
 * (which no one read or wrote since, so only the purge can have dropped them); and its flash tier holds no more
 * items than the keys it still owns.
 */
async function giversHoldNone(s: Scenario, before: RingRouter, after: RingRouter, bulk: string[], statsBefore: Map<string, ReadonlyMap<string, string>>): Promise<void> {
  const live = [...[...s.model.keys()].filter((k) => s.model.get(k) !== undefined), ...bulk];
  for (const m of before.active) {
    const moved = [...s.model.keys(), ...bulk].filter((k) => before.owner(k).name === m.name && after.owner(k).name !== m.name);
    if (moved.length === 0) continue;
    const ep = s.c.network.resolve(m.host, m.port)!;
    // settled() waited for the small keys; the sweep may still be on the large ones.
    await waitUntil(`${m.name} holds none of the ${moved.length} keys it gave away`, async () => {
      const mc = await Mc.connect(ep.host, ep.port);
      try {
        return [...(await mc.getMany(moved, 8)).values()].every((v) => v === undefined);
      } finally {
        mc.close();
      }
    }, 30_000, 200);
    const stats = await memberStats(s, m);
    const movedBulk = moved.filter((k) => k.startsWith('bulk:')).length;
    const purged = Number(stats.get('ring_purged_items')) - Number(statsBefore.get(m.name)!.get('ring_purged_items'));
    expect({ member: m.name, purgedAtLeastMovedBulk: purged >= movedBulk }).toEqual({ member: m.name, purgedAtLeastMovedBulk: true });
    const owned = live.filter((k) => after.owner(k).name === m.name).length;
    expect({ member: m.name, flashItemsWithinOwned: Number(stats.get('extstore_objects_used')) <= owned }).toEqual({ member: m.name, flashItemsWithinOwned: true });
  }
}

/** Scales through `steps`, writing (deletes and overwrites) and reading through the sidecar at every step. */
async function roundTrip(name: string, first: number, steps: number[]): Promise<void> {
  const s = await start(name, first, 2);
  await write(s, 0);
  let router = await settled(s, first);
  let round = 1;
  for (const n of steps) {
    const cached = [...s.model.keys()].filter((k) => s.model.get(k) !== undefined);
    const up = n > router.active.length;
    let bulk: string[] = [];
    const statsBefore = new Map<string, ReadonlyMap<string, string>>();
    if (up) {
      bulk = await writeBulk(s, round);
      // The large values overflowed RAM (the flusher writes them out in the background): what the purge must
      // drop includes flash items.
      for (const m of router.active) {
        statsBefore.set(m.name, await waitUntil(`${m.name} has items in flash`, async () => {
          const st = await memberStats(s, m);
          return Number(st.get('extstore_objects_used')) > 0 ? st : undefined;
        }, 20_000, 100));
      }
    }
    const before = router;
    await scale(s, n);
    await inTransition(s, n);
    const hitsDuring = await read(s, `during ${router.active.length}->${n}`);
    const next = new RingRouter(JSON.stringify(await doc(s)));
    const moved = cached.filter((k) => next.owner(k).name !== router.owner(k).name);
    expect(moved.length).toBeGreaterThan(20);
    s.coldMoved += moved.filter((k) => !hitsDuring.has(k)).length;
    await write(s, round++);
    router = await settled(s, n);
    if (up) await giversHoldNone(s, before, router, bulk, statsBefore);
    await read(s, `after ${n}`);
    await write(s, round++);
  }
  await read(s, 'final');
  expect(s.stale).toEqual([]);
  if (process.env.CACHALOT_E2E_VERBOSE) console.log(`${s.name}: moved keys cold during transitions: ${s.coldMoved}`);
}

/*
 * These steps once failed with `SERVER_ERROR upstream connection failed` / `upstream unavailable`: the operator
 * published a scale-up's ring while the new pods were still starting, so the sidecar's first requests to a new
 * member were refused and it ejected the member. New members now join the ring only once their pods are Ready
 * (operator/src/ring.ts, ringReplicas), as they must on a cluster too.
 */
test('scale up 3 -> 5 -> 3 with deletes and overwrites between the steps: no stale reads', () =>
  roundTrip('up', 3, [5, 3]), 240_000);

test('scale down 3 -> 2 -> 3 with deletes and overwrites between the steps: no stale reads', () =>
  roundTrip('down', 3, [2, 3]), 240_000);

test('a change during a change (3 -> 5, then 3 before the transition ends): no stale reads', async () => {
  const s = await start('twice', 3, 4);
  await write(s, 0);
  await scale(s, 5);
  await inTransition(s, 5);
  await write(s, 1);
  await read(s, 'during 3->5');
  await scale(s, 3);
  await inTransition(s, 3);
  await write(s, 2);
  await read(s, 'during 5->3');
  await settled(s, 3);
  await read(s, 'after');
  await write(s, 3);
  await read(s, 'final');
  expect(s.stale).toEqual([]);
  if (process.env.CACHALOT_E2E_VERBOSE) console.log(`${s.name}: moved keys cold during transitions: ${s.coldMoved}`);
}, 240_000);
