/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The operator end to end against the API server double, through the real @kubernetes/client-node over HTTP.
 * A workload simulator stands in for the StatefulSet controller, scheduler and kubelet (pods become Ready).
 */
import { restrictedViolations } from '../support/pss.js';
import { cacheCluster, condition, eventually, metricValue, patchMerge, ringOf, startEnv, stored, storedList, type Env } from './helpers.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

const BASE = '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters';

function readyCluster(env: Env, name: string, replicas: number) {
  return eventually(() => {
    const cc = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', name);
    return cc?.status?.readyReplicas === replicas && condition(cc, 'Ready')?.status === 'True' && condition(cc, 'Progressing')?.status === 'False' && cc.status.observedGeneration === cc.metadata.generation ? cc : undefined;
  }, `${name} Ready with ${replicas} members`);
}

describe('cachalot-operator reconcile', () => {
  it('creates every child with an owner reference by server-side apply, publishes the ring, reports status and events', async () => {
    env = await startEnv();
    await env.startOperator();
    const created = await env.objects.create(cacheCluster('web', { replicas: 3 }));
    const uid = created.metadata!.uid!;
    const cc = await readyCluster(env, 'web', 3);

    const children = [
      stored(env, 'apps/v1', 'statefulsets', 'default', 'web'),
      stored(env, 'v1', 'services', 'default', 'web'),
      stored(env, 'v1', 'services', 'default', 'web-headless'),
      stored(env, 'v1', 'configmaps', 'default', 'web-ring'),
      stored(env, 'policy/v1', 'poddisruptionbudgets', 'default', 'web'),
    ];
    for (const c of children) {
      expect(c.metadata.ownerReferences).toEqual([{ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', name: 'web', uid, controller: true, blockOwnerDeletion: true }]);
      expect(c.metadata.managedFields.map((f: any) => `${f.manager}/${f.operation}`)).toContain('cachalot-operator/Apply');
    }
    // No class by default: the claim gets the cluster's default StorageClass.
    expect(children[0].spec.volumeClaimTemplates[0].spec).not.toHaveProperty('storageClassName');
    // The StatefulSet as stored, and the pods made from it, pass Pod Security "restricted".
    expect(restrictedViolations(children[0].spec.template)).toEqual([]);
    const pods = storedList(env, 'v1', 'pods', 'default').filter((p: any) => p.metadata.labels?.['app.kubernetes.io/instance'] === 'web');
    expect(pods).toHaveLength(3);
    for (const p of pods) expect(restrictedViolations(p)).toEqual([]);
    // No ServiceMonitor: its CRD is not installed.
    expect(env.api.store.lookup('monitoring.coreos.com/v1', 'servicemonitors')).toBeUndefined();

    expect(ringOf(env, 'web')).toEqual({
      cluster: 'web', namespace: 'default', version: 1, hash: 'ketama-md5', vnodes: 40,
      members: [0, 1, 2].map((i) => ({ name: `web-${i}`, host: `web-${i}.web-headless.default.svc.cluster.local`, port: 11211, weight: 1, state: 'active' })),
    });
    expect(cc.status).toMatchObject({ observedGeneration: 1, replicas: 3, readyReplicas: 3, ring: { version: 1, members: 3, draining: 0 }, selector: 'app.kubernetes.io/name=cachalot,app.kubernetes.io/instance=web' });
    expect(condition(cc, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected', observedGeneration: 1 });
    const events = storedList(env, 'v1', 'events', 'default');
    expect(events.map((e) => e.reason)).toContain('RingPublished');
    expect(events.every((e) => e.involvedObject.uid === uid && e.source.component === 'cachalot-operator')).toBe(true);
    expect(await metricValue(env.operators[0]!, 'cachalot_operator_reconcile_total', { result: 'success' })).toBeGreaterThan(0);
    // Children are listed and watched by label only: the operator never lists every Pod in the cluster.
    const podReads = env.api.requests.filter((r) => r.plural === 'pods' && (r.verb === 'list' || r.verb === 'watch'));
    expect(podReads.length).toBeGreaterThanOrEqual(2);
    for (const r of podReads) expect(new URLSearchParams(r.query).get('labelSelector')).toBe('app.kubernetes.io/managed-by=cachalot-operator');
  });

  it('reconciles several clusters side by side without mixing their children', async () => {
    env = await startEnv();
    await env.startOperator();
    const names = ['alpha', 'beta', 'gamma', 'delta'];
    await Promise.all(names.map((n, i) => env.objects.create(cacheCluster(n, { replicas: i + 1 }))));
    for (const [i, n] of names.entries()) {
      const cc = await readyCluster(env, n, i + 1);
      expect(ringOf(env, n).members.map((m: any) => m.name)).toEqual(Array.from({ length: i + 1 }, (_, j) => `${n}-${j}`));
      expect(stored(env, 'apps/v1', 'statefulsets', 'default', n).metadata.ownerReferences[0].uid).toBe(cc.metadata.uid);
      expect(stored(env, 'apps/v1', 'statefulsets', 'default', n).spec.selector.matchLabels['app.kubernetes.io/instance']).toBe(n);
    }
    expect(storedList(env, 'v1', 'pods', 'default')).toHaveLength(1 + 2 + 3 + 4);
  });

  it('with --namespace, reconciles only CacheClusters in that namespace', async () => {
    env = await startEnv();
    await env.startOperator({ namespace: 'team-a' });
    await env.objects.create(cacheCluster('mine', { replicas: 1 }, 'team-a'));
    await env.objects.create(cacheCluster('theirs', { replicas: 1 }, 'team-b'));
    await eventually(() => stored(env, 'v1', 'configmaps', 'team-a', 'mine-ring'), 'team-a reconciled');
    const ring = ringOf(env, 'mine', 'team-a');
    expect(ring.members[0].host).toBe('mine-0.mine-headless.team-a.svc.cluster.local');
    const ops = env.api.requests.filter((r) => r.user === env.operatorUser);
    expect(ops.length).toBeGreaterThan(0);
    // Cluster-scoped reads by name are allowed: the CRD check, and the Nodes, PersistentVolumes and
    // StorageClasses of its own members (node loss, VolumePending). Nothing is listed outside team-a.
    const clusterScoped = new Set(['customresourcedefinitions', 'nodes', 'persistentvolumes', 'storageclasses']);
    expect(ops.filter((r) => r.namespace !== 'team-a' && !(clusterScoped.has(r.plural!) && r.verb === 'get') && r.verb !== 'discovery')).toEqual([]);
    expect(stored(env, 'v1', 'configmaps', 'team-b', 'theirs-ring')).toBeUndefined();
  });

  it('accepts both shipped examples under strict field validation and reconciles the full one', async () => {
    env = await startEnv();
    await env.startOperator();
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    for (const file of ['examples/cachecluster.yaml', 'examples/cachecluster-production.yaml']) {
      const obj = parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'));
      const ns = obj.metadata.namespace ?? 'default';
      const r = await fetch(`${env.api.url}/apis/cachalot.io/v1alpha1/namespaces/${ns}/cacheclusters?fieldValidation=Strict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(obj) });
      expect([file, r.status]).toEqual([file, 201]);
    }
    const sts = await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'cache', 'sessions'), 'sessions StatefulSet');
    const pod = sts.spec.template.spec;
    expect(pod.tolerations[0].key).toBe('dedicated');
    expect(pod.containers[0].resources.requests.memory).toBe('9Gi');
    expect(pod.containers[0].args).toEqual(expect.arrayContaining(['-m', '8192', '-t', '4', '-I', '4m', '-c', '8192']));
    await eventually(() => stored(env, 'policy/v1', 'poddisruptionbudgets', 'cache', 'sessions')?.spec.minAvailable === 5, 'PDB minAvailable');
    expect(stored(env, 'v1', 'services', 'cache', 'sessions').spec.type).toBe('LoadBalancer');
  });

  it('applies a spec change, bumps observedGeneration and keeps the ring version when membership is unchanged', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2 }));
    await readyCluster(env, 'web', 2);
    const ringCm = stored(env, 'v1', 'configmaps', 'default', 'web-ring');
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { memory: '2Gi', threads: 4, service: { type: 'NodePort' }, podDisruptionBudget: { enabled: false } } });
    const cc = await eventually(() => {
      const c = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web');
      return c.status?.observedGeneration === 2 ? c : undefined;
    }, 'observedGeneration 2');
    const args = stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.template.spec.containers[0].args;
    expect(args.slice(0, 6)).toEqual(['-p', '11211', '-m', '2048', '-t', '4']);
    expect(stored(env, 'v1', 'services', 'default', 'web').spec.type).toBe('NodePort');
    await eventually(() => stored(env, 'policy/v1', 'poddisruptionbudgets', 'default', 'web') === undefined, 'PDB removed when disabled');
    expect(cc.status.ring.version).toBe(1);
    // Same bytes, same resourceVersion: the ring ConfigMap was not rewritten.
    expect(stored(env, 'v1', 'configmaps', 'default', 'web-ring').metadata.resourceVersion).toBe(ringCm.metadata.resourceVersion);
  });

  it('a spec change rolls the servers one at a time, reported as Progressing/RollingUpdate, and keeps the ring', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 3 }));
    await readyCluster(env, 'web', 3);
    const before = storedList(env, 'v1', 'pods', 'default').map((p) => p.metadata.uid);
    // Hold the first replacement (highest ordinal first) un-ready: the rollout must stop there.
    env.sim.holdNextIncarnation('web-2');
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { memory: '2Gi' } });
    const rolling = await eventually(() => {
      const cc = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web');
      return condition(cc, 'Progressing')?.reason === 'RollingUpdate' && cc.status.observedGeneration === 2 ? cc : undefined;
    }, 'Progressing=RollingUpdate');
    expect(condition(rolling, 'Ready').status).toBe('False');
    const mid = storedList(env, 'v1', 'pods', 'default');
    expect(mid.filter((p) => before.includes(p.metadata.uid)).map((p) => p.metadata.name).sort()).toEqual(['web-0', 'web-1']);
    env.sim.setReady('web-2', true);
    const done = await readyCluster(env, 'web', 3);
    expect(storedList(env, 'v1', 'pods', 'default').filter((p) => before.includes(p.metadata.uid))).toEqual([]);
    expect(done.status.ring.version).toBe(1);
  });

  it('puts back a child deleted by hand, and a second reconcile of an unchanged cluster writes nothing', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 1 }));
    await readyCluster(env, 'web', 1);
    await env.objects.delete({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-headless', namespace: 'default' } });
    await eventually(() => stored(env, 'v1', 'services', 'default', 'web-headless'), 'headless Service recreated');
    await readyCluster(env, 'web', 1);
    const before = env.api.store.resourceVersion;
    const reconciles = await metricValue(env.operators[0]!, 'cachalot_operator_reconcile_total');
    env.operators[0]!.activeController!.queue.add('default/web');
    await eventually(async () => (await metricValue(env.operators[0]!, 'cachalot_operator_reconcile_total')) > reconciles, 'one more reconcile');
    expect(env.api.store.resourceVersion).toBe(before);
  });

  it('creates a ServiceMonitor when the monitoring.coreos.com CRD exists', async () => {
    env = await startEnv();
    const smCrd = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'servicemonitors.monitoring.coreos.com' },
      spec: { group: 'monitoring.coreos.com', scope: 'Namespaced', names: { kind: 'ServiceMonitor', plural: 'servicemonitors', singular: 'servicemonitor' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
    };
    await fetch(`${env.api.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(smCrd) });
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 1, monitoring: { interval: '10s' } }));
    const sm = await eventually(() => stored(env, 'monitoring.coreos.com/v1', 'servicemonitors', 'default', 'web'), 'ServiceMonitor');
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '10s' }]);
    expect(sm.metadata.ownerReferences[0].kind).toBe('CacheCluster');
  });

  it('scales up and down through the scale subresource, draining leaving members before shrinking', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 3, ring: { drainSeconds: 3600, transitionSeconds: 0 } }));
    await readyCluster(env, 'web', 3);

    await patchMerge(env.api.url, `${BASE}/web/scale`, { spec: { replicas: 5 } });
    await readyCluster(env, 'web', 5);
    expect(ringOf(env, 'web')).toMatchObject({ version: 2 });
    expect(ringOf(env, 'web').members.map((m: any) => m.state)).toEqual(Array(5).fill('active'));
    expect(stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.replicas).toBe(5);

    await patchMerge(env.api.url, `${BASE}/web/scale`, { spec: { replicas: 3 } });
    const op = env.operators[0]!;
    const draining = await eventually(() => {
      const cc = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web');
      return condition(cc, 'Progressing')?.reason === 'Draining' ? cc : undefined;
    }, 'Progressing=Draining');
    expect(ringOf(env, 'web').members.map((m: any) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active', 'web-3:draining', 'web-4:draining']);
    expect(ringOf(env, 'web').version).toBe(3);
    expect(draining.status.ring).toEqual({ version: 3, members: 5, draining: 2 });
    const labels = { cachecluster_namespace: 'default', cachecluster: 'web' };
    expect(await metricValue(op, 'cachalot_operator_ring_version', labels)).toBe(3);
    expect(await metricValue(op, 'cachalot_operator_ring_members', { ...labels, state: 'draining' })).toBe(2);
    // The drain window is an hour: the StatefulSet keeps the leaving members running and serving.
    expect(stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.replicas).toBe(5);
    expect(storedList(env, 'v1', 'pods', 'default')).toHaveLength(5);

    // Ending the drain window lets the shrink happen.
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { ring: { drainSeconds: 0 } } });
    await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.replicas === 3, 'StatefulSet shrunk to 3');
    const cc = await readyCluster(env, 'web', 3);
    expect(ringOf(env, 'web').members.map((m: any) => m.name)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(ringOf(env, 'web').version).toBe(4);
    expect(cc.status.ring).toEqual({ version: 4, members: 3, draining: 0 });
    expect(await metricValue(op, 'cachalot_operator_ring_version', labels)).toBe(4);
    expect(await metricValue(op, 'cachalot_operator_ring_members', { ...labels, state: 'active' })).toBe(3);
    await eventually(() => storedList(env, 'v1', 'persistentvolumeclaims', 'default').length === 3, 'claims of removed members deleted');
    const reasons = storedList(env, 'v1', 'events', 'default').map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['DrainStarted', 'DrainCompleted', 'RingUpdated']));
  });

  it('deleting the CacheCluster garbage-collects every child', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2 }));
    await readyCluster(env, 'web', 2);
    await env.objects.delete(cacheCluster('web'));
    await eventually(
      () => ['statefulsets', 'services', 'configmaps', 'poddisruptionbudgets'].every((p) => storedList(env, p === 'statefulsets' ? 'apps/v1' : p === 'poddisruptionbudgets' ? 'policy/v1' : 'v1', p, 'default').length === 0),
      'children garbage-collected',
    );
    // Pods are owned by the StatefulSet, so they cascade too.
    await eventually(() => storedList(env, 'v1', 'pods', 'default').length === 0, 'pods gone');
    // The per-cluster gauges go with the cluster.
    await eventually(async () => (await env.operators[0]!.metrics.registry.getSingleMetric('cachalot_operator_ring_version')!.get()).values.length === 0, 'ring gauge removed');
  });

  it('rejects an invalid spec at the API (the schema is the validation)', async () => {
    env = await startEnv();
    await expect(env.objects.create(cacheCluster('bad', { replicas: 3, memory: 'lots' }))).rejects.toMatchObject({ code: 422 });
    await expect(env.objects.create(cacheCluster('bad', { service: { type: 'ExternalName' } }))).rejects.toMatchObject({ code: 422 });
  });

  it('retries a 409 conflict on apply and recovers from a server error, reporting Degraded and an Event meanwhile', async () => {
    env = await startEnv();
    const op = await env.startOperator();
    env.api.injectFault({ match: (r) => r.verb === 'patch' && r.plural === 'statefulsets', status: 409, reason: 'Conflict', message: 'Apply failed with 1 conflict', times: 2 });
    await env.objects.create(cacheCluster('web', { replicas: 1 }));
    await readyCluster(env, 'web', 1);
    expect(await metricValue(op, 'cachalot_operator_reconcile_total', { result: 'conflict' })).toBeGreaterThanOrEqual(2);

    // The fault lasts until cleared, so the Degraded state is observed however slow this machine is.
    env.api.injectFault({ match: (r) => r.verb === 'patch' && r.plural === 'configmaps', status: 500, reason: 'InternalError', message: 'etcd is sad', times: Number.MAX_SAFE_INTEGER });
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { threads: 3 } });
    await eventually(() => condition(stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web'), 'Degraded')?.reason === 'ReconcileError', 'Degraded=ReconcileError');
    const warning = await eventually(() => storedList(env, 'v1', 'events', 'default').find((e) => e.reason === 'ReconcileFailed'), 'ReconcileFailed event');
    expect(warning.type).toBe('Warning');
    expect(warning.message).toContain('etcd is sad');
    env.api.clearFaults();
    await eventually(() => {
      const cc = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web');
      return condition(cc, 'Degraded')?.status === 'False' && cc.status.observedGeneration === 2;
    }, 'recovered');
    expect(await metricValue(op, 'cachalot_operator_reconcile_errors_total', { reason: '500' })).toBeGreaterThanOrEqual(1);
  });

  it('serves /metrics and /healthz on its own port', async () => {
    env = await startEnv();
    const op = await env.startOperator({ metricsPort: 0, metricsHost: '127.0.0.1' });
    await env.objects.create(cacheCluster('web', { replicas: 1 }));
    await readyCluster(env, 'web', 1);
    expect((await fetch(`${op.metricsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${op.metricsUrl}/readyz`)).status).toBe(200);
    const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
    for (const name of ['cachalot_operator_reconcile_total', 'cachalot_operator_reconcile_duration_seconds_bucket', 'cachalot_operator_workqueue_depth', 'cachalot_operator_reconcile_errors_total']) expect(text).toContain(name);
    expect(text).toMatch(/cachalot_operator_reconcile_total\{result="success"\} [1-9]/);
  });
});
