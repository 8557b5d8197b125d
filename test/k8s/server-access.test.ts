/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Servers follow their ring through the API (builders/serveraccess.ts): the operator, under the chart's RBAC,
 * creates the servers' ServiceAccount, a Role reading only the ring ConfigMap and its RoleBinding, all owned
 * by the CacheCluster; a token of that account, requested as a kubelet does (TokenRequest), lets the server's
 * own ring source list and watch the ring and nothing else. And a scale-up names new members in the ring only
 * once their pods are Ready.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ConfigMapRingSource } from '../../server/src/ring/configmap.js';
import type { RingSpec } from '../../server/src/ring/document.js';
import { cacheCluster, eventually, patchMerge, ringOf, startEnv, stored, type Env } from './helpers.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

const BASE = '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters';
const RBAC: [string, string][] = [['v1', 'serviceaccounts'], ['rbac.authorization.k8s.io/v1', 'roles'], ['rbac.authorization.k8s.io/v1', 'rolebindings']];

/** A kubeconfig for a ServiceAccount token obtained as a kubelet obtains one for a pod. */
async function podKubeConfig(account: string): Promise<KubeConfig> {
  const core = env.kc.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({ name: account, namespace: 'default', body: { spec: { audiences: [] } } });
  const kc = new KubeConfig();
  kc.loadFromString(env.api.kubeconfigYaml('default', tr.status!.token));
  return kc;
}

describe('server ring access', () => {
  it('the servers ServiceAccount, Role and RoleBinding, owned by the CacheCluster; the pods run as it with a token', async () => {
    env = await startEnv();
    await env.startOperator();
    const uid = (await env.objects.create(cacheCluster('web', { replicas: 2 }))).metadata!.uid!;
    await eventually(() => RBAC.every(([v, p]) => stored(env, v, p, 'default', 'web-server')), 'server access objects');
    for (const [v, p] of RBAC) {
      expect(stored(env, v, p, 'default', 'web-server').metadata.ownerReferences).toEqual([{ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', name: 'web', uid, controller: true, blockOwnerDeletion: true }]);
    }
    expect(stored(env, 'rbac.authorization.k8s.io/v1', 'roles', 'default', 'web-server').rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['web-ring'], verbs: ['get', 'list', 'watch'] }]);
    const pod = await eventually(() => stored(env, 'v1', 'pods', 'default', 'web-0'), 'pod web-0');
    expect(pod.spec).toMatchObject({ serviceAccountName: 'web-server', automountServiceAccountToken: true });
    expect(pod.spec.containers[0].args.slice(-4)).toEqual(['--ring-configmap', 'default/web-ring', '--ring-member', '$(POD_NAME)']);

    // The user's own ServiceAccount: the Role is bound to it, and the operator's account goes.
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { serviceAccountName: 'cache' } });
    await eventually(() => stored(env, 'rbac.authorization.k8s.io/v1', 'rolebindings', 'default', 'web-server')?.subjects?.[0]?.name === 'cache'
      && !stored(env, 'v1', 'serviceaccounts', 'default', 'web-server'), 'bound to the user account');
    // Our account went only after the pod template had moved to the user's.
    expect(stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.template.spec.serviceAccountName).toBe('cache');
  });

  it('a token of the servers account lists and watches the ring ConfigMap (resourceNames) and is refused any other', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2 }));
    await eventually(() => stored(env, 'rbac.authorization.k8s.io/v1', 'rolebindings', 'default', 'web-server') && ringOf(env, 'web'), 'ring and binding');
    const kc = await podKubeConfig('web-server');
    const rings: RingSpec[] = [];
    const source = new ConfigMapRingSource(kc, 'default', 'web-ring');
    try {
      await source.start({ ring: (r: RingSpec) => void rings.push(r), invalid: () => undefined });
      await eventually(() => rings.length > 0, 'first ring through the list');
      expect(rings[0]!.members.map((m) => m.name)).toEqual(['web-0', 'web-1']);
      await patchMerge(env.api.url, `${BASE}/web`, { spec: { replicas: 3 } });
      await eventually(() => rings.some((r) => r.members.length === 3), 'scaled ring through the watch');
    } finally {
      source.stop();
    }
    const core = kc.makeApiClient(CoreV1Api);
    await expect(core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: 'default' })).rejects.toMatchObject({ code: 403 });
    await expect(core.listNamespacedConfigMap({ namespace: 'default' })).rejects.toMatchObject({ code: 403 });
    await expect(core.listNamespacedConfigMap({ namespace: 'default', fieldSelector: 'metadata.name=web-ring-other' })).rejects.toMatchObject({ code: 403 });
    // No account, no token: TokenRequest answers 404 as kube-apiserver does.
    await expect(env.kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name: 'nobody', namespace: 'default', body: { spec: { audiences: [] } } })).rejects.toMatchObject({ code: 404 });
  });

  it('a scale-up names the new members in the ring only once all their pods are Ready', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2, ring: { transitionSeconds: 60 } }));
    await eventually(() => ringOf(env, 'web')?.members.length === 2 && stored(env, 'v1', 'pods', 'default', 'web-1')?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'), 'two members');
    const v = ringOf(env, 'web').version;
    env.sim.holdNextIncarnation('web-3');
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { replicas: 4 } });
    await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web')?.spec.replicas === 4, 'StatefulSet at 4');
    await eventually(() => stored(env, 'v1', 'pods', 'default', 'web-2')?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'), 'web-2 Ready');
    // web-2 is Ready, web-3 is not: neither joins yet (one at a time would be two transitions). The status
    // counting three ready pods comes from a reconcile that saw web-2 Ready.
    await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.readyReplicas === 3, 'status: 3 ready');
    expect(ringOf(env, 'web').version).toBe(v);
    expect(ringOf(env, 'web').members.map((m: any) => m.name)).toEqual(['web-0', 'web-1']);
    env.sim.setReady('web-3', true);
    const ring = await eventually(() => (ringOf(env, 'web').members.length === 4 ? ringOf(env, 'web') : undefined), 'four members');
    expect(ring.version).toBe(v + 1);
    expect(ring.previous.members.map((m: any) => m.name)).toEqual(['web-0', 'web-1']);
  });
});
