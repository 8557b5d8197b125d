/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Scale up, invalidate, scale down: does a member that gave keys away at scale-up serve its old copies again
 * when they come back to it? See docs/known-limitations.md, "Stale copies".
 */
import { Mc, RingRouter, startCluster, waitUntil, type E2ECluster } from './harness.js';

const NS = 'default';
const NAME = 'stale';
const CC = `/apis/cachalot.io/v1alpha1/namespaces/${NS}/cacheclusters`;

let c: E2ECluster | undefined;
const clients: Mc[] = [];

afterEach(() => c?.checkExits());

afterAll(async () => {
  for (const mc of clients) mc.close();
  await c?.stop();
}, 60_000);

async function ring(members: number): Promise<RingRouter> {
  return waitUntil(`ring with ${members} active members, all served`, async () => {
    const r = await fetch(`${c!.api.url}/api/v1/namespaces/${NS}/configmaps/${NAME}-ring`);
    if (r.status !== 200) return undefined;
    const router = new RingRouter(((await r.json()) as any).data['ring.json']);
    const cc = (await (await fetch(`${c!.api.url}${CC}/${NAME}`)).json()) as any;
    return router.spec.members.length === members && router.active.length === members && cc.status?.readyReplicas === members
      && router.active.every((m) => c!.network.resolve(m.host, m.port)) ? router : undefined;
  }, 30_000);
}

async function on(router: RingRouter, key: string): Promise<Mc> {
  const m = router.owner(key);
  const ep = c!.network.resolve(m.host, m.port)!;
  const mc = await Mc.connect(ep.host, ep.port);
  clients.push(mc);
  return mc;
}

async function scale(replicas: number): Promise<void> {
  const r = await fetch(`${c!.api.url}${CC}/${NAME}/scale`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas } }) });
  expect(r.status).toBe(200);
}

/** The stale-copies scenario: how many of the invalidated keys the previous owner serves again (expected 0). */
async function staleAfterScaleDown(): Promise<{ moved: number; stale: number }> {
  c = await startCluster();
  const created = await fetch(`${c.api.url}${CC}`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: NAME, namespace: NS }, spec: { replicas: 2, threads: 1, memory: '16Mi', flash: { size: '64Mi' }, ring: { drainSeconds: 1 } } }),
  });
  expect(created.status).toBe(201);
  const r2 = await ring(2);
  const keys = Array.from({ length: 600 }, (_, i) => `session:${i}`);
  for (const k of keys) expect((await (await on(r2, k)).setMany([[k, Buffer.from(`v1 of ${k}`)]]))).toEqual([]);

  await scale(3);
  const r3 = await ring(3);
  const moved = keys.filter((k) => r3.owner(k).name !== r2.owner(k).name);
  expect(moved.length).toBeGreaterThan(50);
  // The application invalidates (cache-aside: the database row changed). The delete goes where the ring says.
  for (const k of moved) {
    const [reply] = await (await on(r3, k)).pipeline(Buffer.from(`delete ${k}\r\n`), ['line']);
    expect(['DELETED', 'NOT_FOUND']).toContain(reply!.line);
  }

  await scale(2);
  const back = await ring(2);
  expect(back.active.map((m) => m.name)).toEqual(r2.active.map((m) => m.name));
  const stale: string[] = [];
  for (const k of moved) {
    const got = await (await on(back, k)).getMany([k]);
    if (got.get(k) !== undefined) stale.push(`${k} -> ${got.get(k)!.toString()}`);
  }
  return { moved: moved.length, stale: stale.length };
}

/**
 * A known bug kept running: `test.failing` passes while the bug is there and turns red the day it is fixed.
 * It must fail for the stated reason only: a scenario that breaks earlier (cluster start, a ring that never
 * comes, a timeout of its own waits, each bounded well inside the test's timeout) is reported and makes the
 * test return normally, which `test.failing` reports as a failure too.
 */
test.failing('known bug (docs/known-limitations.md): a key invalidated while it lived on a member that then left is not served from its previous owner after scale-down', async () => {
  let result: { moved: number; stale: number };
  try {
    result = await staleAfterScaleDown();
  } catch (err) {
    console.error(`The stale-copies scenario broke before its final check, so this is not the known failure: ${(err as Error).stack ?? String(err)}`);
    return;
  }
  // Expected: every invalidated key is a miss. Actual (docs/known-limitations.md): the previous owner serves v1 again.
  expect(result).toEqual({ moved: result.moved, stale: 0 });
}, 180_000);
