/**
 * The operator runs as the chart's ServiceAccount and the API server double enforces the chart's RBAC: a
 * verb missing from the ClusterRole is a 403 the operator reports, as it would be on a cluster.
 */
import { cacheCluster, condition, eventually, startEnv, stored, type Env } from './helpers.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

describe('operator under the chart RBAC', () => {
  it('a verb the ClusterRole lacks fails the reconcile with the real 403, reported as Degraded', async () => {
    env = await startEnv();
    const roles = env.api.store.lookup('rbac.authorization.k8s.io/v1', 'clusterroles')!;
    const role = env.api.store.get(roles, undefined, 'cachalot-cachalot-operator');
    const rules = (role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]).map((r) =>
      r.resources.includes('statefulsets') ? { ...r, verbs: r.verbs.filter((v) => v !== 'patch') } : r,
    );
    env.api.store.update(roles, undefined, 'cachalot-cachalot-operator', { ...role, rules });
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 1 }));
    const degraded = await eventually(() => {
      const c = condition(stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web'), 'Degraded');
      return c?.reason === 'ReconcileError' ? c : undefined;
    }, 'Degraded=ReconcileError');
    expect(degraded.message).toContain(`statefulsets.apps "web" is forbidden: User "${env.operatorUser}" cannot patch resource "statefulsets" in API group "apps" in the namespace "default" (HTTP 403)`);
    expect(stored(env, 'apps/v1', 'statefulsets', 'default', 'web')).toBeUndefined();
    expect(env.api.requests.some((r) => r.user === env.operatorUser && r.plural === 'statefulsets' && r.verb === 'patch')).toBe(true);
  });
});
