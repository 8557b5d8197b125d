/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The router tier behind the client Service, reconciled against the API server double under the chart's
 * RBAC: every object is created with an owner reference, the Service moves onto the router only once a
 * router pod is available, an autoscaler owning replicas is not fought, and disabling the router removes it.
 */
import { restrictedViolations } from '../support/pss.js';
import { cacheCluster, condition, eventually, patchMerge, startEnv, stored, type Env } from './helpers.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

const BASE = '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters';
const ROUTER_KINDS: [string, string][] = [['apps/v1', 'deployments'], ['v1', 'serviceaccounts'], ['rbac.authorization.k8s.io/v1', 'roles'], ['rbac.authorization.k8s.io/v1', 'rolebindings'], ['policy/v1', 'poddisruptionbudgets']];
const router = (apiVersion: string, plural: string) => stored(env, apiVersion, plural, 'default', 'web-router');
const cluster = () => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web');
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** What the Deployment controller would report once a router pod passes its readiness probe. */
async function routerAvailable(n: number): Promise<void> {
  await patchMerge(env.api.url, '/apis/apps/v1/namespaces/default/deployments/web-router/status', { status: { replicas: n, readyReplicas: n, availableReplicas: n } });
}

describe('router reconcile', () => {
  it('creates the router with owner references under the chart RBAC; the client Service moves to it once a pod is available', async () => {
    env = await startEnv();
    await env.startOperator();
    const created = await env.objects.create(cacheCluster('web', { replicas: 2 }));
    const uid = created.metadata!.uid!;
    await eventually(() => ROUTER_KINDS.every(([v, p]) => router(v, p)), 'router objects');
    for (const [v, p] of ROUTER_KINDS) {
      expect(router(v, p).metadata.ownerReferences).toEqual([{ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', name: 'web', uid, controller: true, blockOwnerDeletion: true }]);
    }
    const d = router('apps/v1', 'deployments');
    expect(d.spec.replicas).toBe(2);
    expect(restrictedViolations(d.spec.template)).toEqual([]);
    expect(router('rbac.authorization.k8s.io/v1', 'roles').rules[0].resourceNames).toEqual(['web-ring']);
    await eventually(() => cluster()?.status?.readyReplicas === 2 && condition(cluster(), 'Degraded')?.status === 'False', 'ready, nothing failed');

    // No router pod available yet: the client Service still reaches the servers.
    const serverLabels = stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.template.metadata.labels;
    const routerLabels = d.spec.template.metadata.labels;
    expect(selects(stored(env, 'v1', 'services', 'default', 'web').spec.selector, serverLabels)).toBe(true);
    await routerAvailable(1);
    await eventually(() => selects(stored(env, 'v1', 'services', 'default', 'web').spec.selector, routerLabels), 'client Service selects the router');
    expect(selects(stored(env, 'v1', 'services', 'default', 'web').spec.selector, serverLabels)).toBe(false);
    // The headless Service keeps selecting the servers, for clients that hash by the ring themselves.
    expect(selects(stored(env, 'v1', 'services', 'default', 'web-headless').spec.selector, serverLabels)).toBe(true);
    expect(selects(stored(env, 'v1', 'services', 'default', 'web-headless').spec.selector, routerLabels)).toBe(false);

    // A router rollout (no pod available for a moment) does not send clients back to the servers.
    await routerAvailable(0);
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { router: { replicas: 3 } } });
    await eventually(() => router('apps/v1', 'deployments').spec.replicas === 3, 'router scaled to 3');
    expect(selects(stored(env, 'v1', 'services', 'default', 'web').spec.selector, routerLabels)).toBe(true);
  });

  it('with autoscale the Deployment carries no replicas of the operator, so an autoscaler scaling it is not undone', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 1, router: { autoscale: true } }));
    await eventually(() => router('apps/v1', 'deployments'), 'router Deployment');
    const owned = (d: any) => d.metadata.managedFields.filter((f: any) => f.manager === 'cachalot-operator').map((f: any) => JSON.stringify(f.fieldsV1));
    expect(owned(router('apps/v1', 'deployments')).join()).not.toContain('"f:replicas"');
    // The HorizontalPodAutoscaler writes the scale subresource.
    await patchMerge(env.api.url, '/apis/apps/v1/namespaces/default/deployments/web-router/scale', { spec: { replicas: 4 } });
    const mark = env.api.requests.length;
    await patchMerge(env.api.url, `${BASE}/web`, { metadata: { annotations: { touch: '1' } } });
    await eventually(() => env.api.requests.slice(mark).some((r) => r.verb === 'patch' && r.plural === 'deployments' && r.name === 'web-router' && !r.subresource), 'the router re-applied');
    expect(router('apps/v1', 'deployments').spec.replicas).toBe(4);
    expect(router('policy/v1', 'poddisruptionbudgets').spec.maxUnavailable).toBe(1);
  });

  it('spec.router.enabled false removes the router and points the client Service at the servers', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 1, router: { replicas: 1 } }));
    await eventually(() => router('apps/v1', 'deployments'), 'router Deployment');
    // One fixed replica: no PDB (maxUnavailable 1 would not protect it, minAvailable 1 would block drains).
    expect(router('policy/v1', 'poddisruptionbudgets')).toBeUndefined();
    await routerAvailable(1);
    const routerLabels = router('apps/v1', 'deployments').spec.template.metadata.labels;
    await eventually(() => selects(stored(env, 'v1', 'services', 'default', 'web').spec.selector, routerLabels), 'client Service selects the router');
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { router: { enabled: false } } });
    await eventually(() => ROUTER_KINDS.every(([v, p]) => !router(v, p)), 'router objects deleted');
    const serverLabels = stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.template.metadata.labels;
    await eventually(() => selects(stored(env, 'v1', 'services', 'default', 'web').spec.selector, serverLabels), 'client Service selects the servers');
    expect(condition(cluster(), 'Degraded')?.status).toBe('False');
  });
});
