/**
 * The operator decides whether to write status by comparing objects, not JSON text: the API server double,
 * like kube-apiserver, returns custom resources with their keys sorted, so a text comparison would see a
 * change in every status the operator computes (a needless write, and a watch event, per reconcile).
 */
import { semanticEqual } from '../../operator/src/controller/equal.js';
import { cacheCluster, condition, eventually, metricValue, patchMerge, startEnv, stored, type Env } from './helpers.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

describe('status comparison', () => {
  it('semanticEqual ignores key order and undefined keys, not values or array order', () => {
    expect(semanticEqual({ a: 1, b: { c: [1, { d: 2, e: 3 }] } }, { b: { c: [1, { e: 3, d: 2 }] }, a: 1 })).toBe(true);
    expect(semanticEqual({ a: 1, x: undefined }, { a: 1 })).toBe(true);
    expect(semanticEqual({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(semanticEqual({ a: 1 }, { a: '1' })).toBe(false);
    expect(semanticEqual({ a: null }, {})).toBe(false);
    expect(semanticEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
  });

  it('a steady reconcile writes no status, although the server returns the CacheCluster with sorted keys', async () => {
    env = await startEnv();
    const op = await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2 }));
    const cc = await eventually(() => {
      const c = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web');
      return c?.status?.readyReplicas === 2 && condition(c, 'Ready')?.status === 'True' && condition(c, 'Progressing')?.status === 'False' ? c : undefined;
    }, 'web Ready');
    // What the operator reads back is key-sorted, unlike the status it computes.
    expect(Object.keys(cc.status)).toEqual([...Object.keys(cc.status)].sort());
    const statusWrites = () => env.api.requests.filter((r) => r.user === env.operatorUser && r.plural === 'cacheclusters' && r.subresource === 'status' && r.verb !== 'get').length;
    const successes = () => metricValue(op, 'cachalot_operator_reconcile_total', { result: 'success' });
    // Let the reconciles and status writes that brought it to Ready settle (nothing of either for 400 ms),
    // then count from that quiet point. Every reconcile result counts: one that ran on a cache not yet showing
    // its predecessor's status write gets a 409 and is retried with backoff, and such a retry is not quiet.
    const all = () => metricValue(op, 'cachalot_operator_reconcile_total');
    let seen = await all();
    let writes = statusWrites();
    await eventually(async () => {
      await new Promise((r) => setTimeout(r, 400));
      const now = await all();
      const quiet = now === seen && statusWrites() === writes;
      seen = now;
      writes = statusWrites();
      return quiet;
    }, 'reconciles settle', { tries: 50, intervalMs: 0 });
    const before = await successes();
    const writesBefore = statusWrites();
    // Metadata-only edits each cause a reconcile that computes the same status.
    for (let i = 0; i < 3; i++) {
      const target = before + i + 1;
      await patchMerge(env.api.url, '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web', { metadata: { annotations: { touch: String(i) } } });
      await eventually(async () => (await successes()) >= target, `reconcile ${i + 1}`);
    }
    expect(await successes()).toBeGreaterThanOrEqual(before + 3);
    expect(statusWrites()).toBe(writesBefore);
    const after = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web');
    expect(after.status).toEqual(cc.status);
  });
});
