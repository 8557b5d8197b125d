/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * What keeps a reconcile from wedging: immutable StatefulSet fields changed through the CacheCluster, a child
 * the API server refuses, claims that never bind, and members whose node is NotReady, out of service or gone.
 * Against the API server double and its workload simulator, through the real client-node.
 */
import { cacheCluster, condition, eventually, patchMerge, startEnv, stored, storedList, ringOf, type Env } from './helpers.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

const CC = '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters';
const cluster = (name = 'web') => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', name);
const events = (reason: string) => storedList(env, 'v1', 'events', 'default').filter((e) => e.reason === reason);
const ready = (replicas: number, name = 'web') =>
  eventually(() => {
    const cc = cluster(name);
    return cc?.status?.readyReplicas === replicas && condition(cc, 'Ready')?.status === 'True' && condition(cc, 'Degraded')?.status === 'False' && cc.status.observedGeneration === cc.metadata.generation ? cc : undefined;
  }, `${name} Ready with ${replicas} members`);

function createStorageClass(name: string, extra: Record<string, unknown>): void {
  env.api.store.create(env.api.store.lookup('storage.k8s.io/v1', 'storageclasses')!, undefined, { metadata: { name }, volumeBindingMode: 'WaitForFirstConsumer', ...extra } as any);
}

function setNode(name: string, change: (n: any) => void): void {
  const def = env.api.store.lookup('v1', 'nodes')!;
  const n = env.api.store.get(def, undefined, name) as any;
  change(n);
  env.api.store.update(def, undefined, name, n);
  env.api.store.update(def, undefined, name, { ...env.api.store.get(def, undefined, name), status: n.status } as any, { subresource: 'status' });
}

const notReady = (n: any) => {
  n.status.conditions = [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }];
  n.spec = { ...(n.spec ?? {}), taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }] };
};

describe('immutable StatefulSet fields', () => {
  it('a flash size change re-creates the StatefulSet, keeping pods and claims, and grows claims whose class allows it', async () => {
    env = await startEnv();
    createStorageClass('expandable', { provisioner: 'csi.example.com', allowVolumeExpansion: true });
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 3, flash: { size: '1Gi', storageClassName: 'expandable' } }));
    await ready(3);
    const sts = stored(env, 'apps/v1', 'statefulsets', 'default', 'web');
    const claims = Object.fromEntries(storedList(env, 'v1', 'persistentvolumeclaims', 'default').map((c) => [c.metadata.name, c.metadata.uid]));

    await patchMerge(env.api.url, `${CC}/web`, { spec: { flash: { size: '2Gi' } } });
    const recreated = await eventually(() => {
      const s = stored(env, 'apps/v1', 'statefulsets', 'default', 'web');
      return s && s.metadata.uid !== sts.metadata.uid ? s : undefined;
    }, 'StatefulSet re-created');
    expect(recreated.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('2Gi');
    expect(recreated.metadata.ownerReferences[0].uid).toBe(cluster().metadata.uid);
    const event = await eventually(() => events('StatefulSetRecreated')[0], 'StatefulSetRecreated event');
    expect(event.message).toBe('volumeClaimTemplates cannot change in place: StatefulSet web deleted with its pods and claims kept, and created again');
    // The claims are the same objects, grown in place.
    await eventually(() => storedList(env, 'v1', 'persistentvolumeclaims', 'default').every((c) => c.spec.resources.requests.storage === '2Gi'), 'claims expanded to 2Gi');
    expect(Object.fromEntries(storedList(env, 'v1', 'persistentvolumeclaims', 'default').map((c) => [c.metadata.name, c.metadata.uid]))).toEqual(claims);
    // Recorded after the claims are patched, possibly over more than one reconcile.
    const expanded = await eventually(() => {
      const names = events('FlashExpanded').flatMap((e) => e.message.replace(/ expanded to 2Gi$/, '').split(', '));
      return names.length === 3 ? names.sort() : undefined;
    }, 'FlashExpanded events for the 3 claims');
    expect(expanded).toEqual(['flash-web-0', 'flash-web-1', 'flash-web-2']);
    // The server's flash size is in its arguments, so the pods then roll as for any spec change.
    const cc = await ready(3);
    expect(cc.status.ring.version).toBe(1);
    expect(events('ReconcileFailed')).toEqual([]);
  });

  it('a storage class change on bound claims re-creates the StatefulSet without touching a pod or a claim', async () => {
    env = await startEnv();
    createStorageClass('other', { provisioner: 'kubernetes.io/no-provisioner' });
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 3, flash: { storageClassName: 'local-storage' } }));
    await ready(3);
    const sts = stored(env, 'apps/v1', 'statefulsets', 'default', 'web');
    const uids = (plural: string) => Object.fromEntries(storedList(env, 'v1', plural, 'default').map((o) => [o.metadata.name, o.metadata.uid]));
    const pods = uids('pods');
    const claims = uids('persistentvolumeclaims');
    // The double refuses the change in place, as kube-apiserver does: applying it would fail on every reconcile.
    const templates = structuredClone(sts.spec.volumeClaimTemplates);
    templates[0].spec.storageClassName = 'other';
    await expect(patchMerge(env.api.url, '/apis/apps/v1/namespaces/default/statefulsets/web', { spec: { volumeClaimTemplates: templates } })).rejects.toMatchObject({ code: 422 });
    await patchMerge(env.api.url, `${CC}/web`, { spec: { flash: { storageClassName: 'other' } } });
    const recreated = await eventually(() => {
      const s = stored(env, 'apps/v1', 'statefulsets', 'default', 'web');
      return s && s.metadata.uid !== sts.metadata.uid ? s : undefined;
    }, 'StatefulSet re-created');
    expect(recreated.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('other');
    await ready(3);
    // Orphaned, then adopted: same pods, same claims (which keep their class until their member is replaced).
    expect(uids('pods')).toEqual(pods);
    expect(uids('persistentvolumeclaims')).toEqual(claims);
    for (const p of storedList(env, 'v1', 'pods', 'default')) expect(p.metadata.ownerReferences[0].uid).toBe(recreated.metadata.uid);
    expect(events('ClaimReplaced')).toEqual([]);
  });

  it('a storage class change on claims that never bound replaces them: VolumePending names the claim, then it recovers', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2, flash: { storageClassName: 'fast-ssd' } }));
    const pending = await eventually(() => {
      const c = condition(cluster(), 'Ready');
      return c?.reason === 'VolumePending' && c.message.includes('flash-web-1') ? c : undefined;
    }, 'Ready=False/VolumePending');
    expect(pending.status).toBe('False');
    expect(pending.message).toBe('0/2 members ready; PersistentVolumeClaim flash-web-0 is Pending: StorageClass "fast-ssd" not found; PersistentVolumeClaim flash-web-1 is Pending: StorageClass "fast-ssd" not found');
    const ev = await eventually(() => events('VolumePending').find((e) => e.message.includes('flash-web-1')), 'VolumePending event');
    expect(ev.type).toBe('Warning');
    expect(ev.message).toContain('PersistentVolumeClaim flash-web-0 is Pending: StorageClass "fast-ssd" not found');

    await patchMerge(env.api.url, `${CC}/web`, { spec: { flash: { storageClassName: 'local-storage' } } });
    await ready(2);
    expect(storedList(env, 'v1', 'persistentvolumeclaims', 'default').map((c) => c.spec.storageClassName)).toEqual(['local-storage', 'local-storage']);
    expect(events('StatefulSetRecreated')).toHaveLength(1);
    expect(events('ClaimReplaced').map((e) => e.message.split(' ')[1]).sort()).toEqual(['flash-web-0', 'flash-web-1']);
  });
});

describe('a child the API server refuses', () => {
  it('does not stop ring publication, scaling or status: the failure is Degraded and an Event', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 3, ring: { drainSeconds: 0, transitionSeconds: 0 } }));
    await ready(3);
    // An admission webhook refusing every write of the whole StatefulSet; its scale subresource still works.
    env.api.injectFault({ match: (r) => r.verb === 'patch' && r.plural === 'statefulsets' && !r.subresource, status: 403, reason: 'Forbidden', message: 'admission webhook "policy.example.com" denied the request', times: Number.MAX_SAFE_INTEGER });
    await patchMerge(env.api.url, `${CC}/web/scale`, { spec: { replicas: 5 } });
    const degraded = await eventually(() => {
      const cc = cluster();
      return condition(cc, 'Degraded')?.reason === 'ReconcileError' && cc.status.ring.members === 5 ? cc : undefined;
    }, 'Degraded=ReconcileError with a 5-member ring');
    expect(condition(degraded, 'Degraded').message).toBe('apply StatefulSet web: admission webhook "policy.example.com" denied the request (HTTP 403)');
    expect(ringOf(env, 'web').members.map((m: any) => m.name)).toEqual(['web-0', 'web-1', 'web-2', 'web-3', 'web-4']);
    await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.replicas === 5, 'StatefulSet scaled to 5 by its scale subresource');
    await eventually(() => cluster().status.readyReplicas === 5, 'status follows: 5 ready');
    const warning = await eventually(() => events('ReconcileFailed')[0], 'ReconcileFailed event');
    expect(warning.message).toBe(condition(degraded, 'Degraded').message);

    env.api.clearFaults();
    await ready(5);
  });
});

describe('node loss', () => {
  async function nodeOf(pod: string): Promise<string> {
    return eventually(() => stored(env, 'v1', 'pods', 'default', pod)?.spec?.nodeName, `${pod} bound`);
  }

  it('a member whose node is NotReady past the grace period, stuck Terminating, is force-deleted and comes back empty on another node', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 3, flash: { storageClassName: 'local-storage' }, nodeLossRecovery: { gracePeriodSeconds: 3600 } }));
    await ready(3);
    const node = await nodeOf('web-1');
    const claimUid = stored(env, 'v1', 'persistentvolumeclaims', 'default', 'flash-web-1').metadata.uid;
    const podUid = stored(env, 'v1', 'pods', 'default', 'web-1').metadata.uid;
    setNode(node, notReady);
    const degraded = await eventually(() => {
      const c = condition(cluster(), 'Degraded');
      return c?.reason === 'NodeLost' ? c : undefined;
    }, 'Degraded=NodeLost');
    expect(degraded.message).toBe(`web-1: node ${node} is NotReady; recovering after the grace period`);
    expect(stored(env, 'v1', 'persistentvolumeclaims', 'default', 'flash-web-1').metadata.uid).toBe(claimUid);
    // Evicted the way taint-based eviction does it, gracefully: with no kubelet to confirm, it stays Terminating.
    await env.objects.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'default' } });
    await new Promise((r) => setTimeout(r, 300));
    expect(stored(env, 'v1', 'pods', 'default', 'web-1')).toMatchObject({ metadata: { uid: podUid, deletionTimestamp: expect.any(String) } });

    const deletes: any[] = [];
    const seen = env.api.requests.length;
    await patchMerge(env.api.url, `${CC}/web`, { spec: { nodeLossRecovery: { gracePeriodSeconds: 0 } } });
    const ev = await eventually(() => events('NodeLost')[0], 'NodeLost event');
    expect(ev.message).toBe(`node ${node} is NotReady: deleted PersistentVolumeClaim flash-web-1 and force-deleted pod web-1; the member restarts with an empty flash tier`);
    for (const r of env.api.requests.slice(seen)) if (r.verb === 'delete' && r.plural === 'pods') deletes.push(r);
    // A force delete: the pod's kubelet is not there to confirm a graceful one.
    expect(deletes.filter((r) => r.name === 'web-1').map((r) => new URLSearchParams(r.query).get('gracePeriodSeconds'))).toEqual(['0']);
    const back = await eventually(() => {
      const p = stored(env, 'v1', 'pods', 'default', 'web-1');
      return p && p.metadata.uid !== podUid && p.status?.phase === 'Running' ? p : undefined;
    }, 'web-1 running again');
    expect(back.spec.nodeName).not.toBe(node);
    expect(stored(env, 'v1', 'persistentvolumeclaims', 'default', 'flash-web-1').metadata.uid).not.toBe(claimUid);
  });

  it('an out-of-service taint is acted on at once, grace period or not', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 3, flash: { storageClassName: 'local-storage' }, nodeLossRecovery: { gracePeriodSeconds: 3600 } }));
    await ready(3);
    const node = await nodeOf('web-0');
    const claimUid = stored(env, 'v1', 'persistentvolumeclaims', 'default', 'flash-web-0').metadata.uid;
    setNode(node, (n) => {
      n.spec = { ...(n.spec ?? {}), taints: [{ key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute', timeAdded: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] };
    });
    const ev = await eventually(() => events('NodeLost')[0], 'NodeLost event');
    expect(ev.message).toContain(`node ${node} is tainted node.kubernetes.io/out-of-service`);
    const back = await eventually(() => {
      const p = stored(env, 'v1', 'pods', 'default', 'web-0');
      return p?.status?.phase === 'Running' && p.spec.nodeName !== node ? p : undefined;
    }, 'web-0 running on another node');
    expect(back.spec.nodeName).not.toBe(node);
    expect(stored(env, 'v1', 'persistentvolumeclaims', 'default', 'flash-web-0').metadata.uid).not.toBe(claimUid);
  });

  it('a node that is gone: the member moves, and its local PV (pinned to that node) is deleted; other PVs are left', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2, flash: { storageClassName: 'local-storage' }, nodeLossRecovery: { gracePeriodSeconds: 0 } }));
    await ready(2);
    const node = await nodeOf('web-0');
    const pvDef = env.api.store.lookup('v1', 'persistentvolumes')!;
    const pvcDef = env.api.store.lookup('v1', 'persistentvolumeclaims')!;
    const localPv = (name: string, claim: string, host: string) => ({
      metadata: { name },
      spec: {
        capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Delete', storageClassName: 'local-storage', local: { path: `/mnt/disks/${name}` },
        claimRef: { kind: 'PersistentVolumeClaim', namespace: 'default', name: claim },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [host] }] }] } },
      },
    });
    // Bind the member's claim to a local PV, as the PV controller would; and a PV of someone else on that node.
    env.api.store.create(pvDef, undefined, localPv('local-pv-web0', 'flash-web-0', node) as any);
    env.api.store.create(pvDef, undefined, localPv('local-pv-other', 'something-else', node) as any);
    const claim = env.api.store.get(pvcDef, 'default', 'flash-web-0') as any;
    env.api.store.update(pvcDef, 'default', 'flash-web-0', { ...claim, spec: { ...claim.spec, volumeName: 'local-pv-web0' } });
    env.sim.deleteNode(node);
    const ev = await eventually(() => events('NodeLost')[0], 'NodeLost event');
    expect(ev.message).toBe(`node ${node} is gone: deleted PersistentVolumeClaim flash-web-0 and force-deleted pod web-0, deleted PersistentVolume local-pv-web0; the member restarts with an empty flash tier`);
    await eventually(() => env.api.store.tryGet(pvDef, undefined, 'local-pv-web0') === undefined, 'the lost node\'s PV deleted');
    expect(env.api.store.tryGet(pvDef, undefined, 'local-pv-other')).toBeDefined();
    await ready(2);
  });

  it('recovery is off by default for volumes that are not local', async () => {
    env = await startEnv();
    createStorageClass('network', { provisioner: 'ebs.csi.aws.com' });
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2, flash: { storageClassName: 'network' }, nodeLossRecovery: { gracePeriodSeconds: 0 } }));
    await ready(2);
    const node = await nodeOf('web-0');
    setNode(node, notReady);
    const degraded = await eventually(() => {
      const c = condition(cluster(), 'Degraded');
      return c?.reason === 'NodeLost' ? c : undefined;
    }, 'Degraded=NodeLost');
    expect(degraded.message).toBe(`web-0: node ${node} is NotReady; enable spec.nodeLossRecovery to recreate them empty`);
    expect(events('NodeLost')).toEqual([]);
  });
});
