/**
 * The API server double itself, exercised through the real @kubernetes/client-node over HTTP: the semantics
 * the operator tests rely on must hold here first.
 */
import { CoreV1Api, KubernetesObjectApi, PatchStrategy, Watch, type KubernetesObject } from '@kubernetes/client-node';
import type { ApiServerDouble } from './apiserver/index.js';
import { eventually, installCrd, startDouble } from './helpers.js';
import type { KubeConfig } from '@kubernetes/client-node';

let api: ApiServerDouble;
let kc: KubeConfig;
let objects: KubernetesObjectApi;
let core: CoreV1Api;

beforeEach(async () => {
  ({ api, kc } = await startDouble({ bookmarkIntervalMs: 100 }));
  objects = KubernetesObjectApi.makeApiClient(kc);
  core = kc.makeApiClient(CoreV1Api);
});
afterEach(async () => {
  await api.stop();
});

type Obj = KubernetesObject & { spec?: any; status?: any; data?: Record<string, string> };

describe('API server double', () => {
  it('creates, reads, lists, updates with resourceVersion checks (409) and deletes', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'a' }, data: { k: 'v' } } });
    expect(cm.metadata?.uid).toBeDefined();
    const rv1 = cm.metadata!.resourceVersion!;
    const updated = await core.replaceNamespacedConfigMap({ name: 'a', namespace: 'default', body: { ...cm, data: { k: 'w' } } });
    expect(Number(updated.metadata!.resourceVersion)).toBeGreaterThan(Number(rv1));
    // A write carrying the old resourceVersion loses.
    await expect(core.replaceNamespacedConfigMap({ name: 'a', namespace: 'default', body: { ...cm, data: { k: 'x' } } })).rejects.toMatchObject({ code: 409 });
    await expect(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'a' } } })).rejects.toMatchObject({ code: 409 });
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    expect(list.items.map((i) => i.data?.k)).toEqual(['w']);
    await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'default' });
    await expect(core.readNamespacedConfigMap({ name: 'a', namespace: 'default' })).rejects.toMatchObject({ code: 404 });
  });

  it('merge patch, and server-side apply that removes fields the same manager stopped applying', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'p', labels: { a: '1' } }, data: { x: '1' } } });
    const merged = await objects.patch<Obj>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'p', namespace: 'default', labels: { b: '2' } } }, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
    expect(merged.metadata?.labels).toEqual({ a: '1', b: '2' });
    const ssa = (data: Record<string, string>) => objects.patch<Obj>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'q', namespace: 'default' }, data }, undefined, undefined, 'me', true, PatchStrategy.ServerSideApply);
    expect((await ssa({ one: '1', two: '2' })).data).toEqual({ one: '1', two: '2' });
    const second = await ssa({ one: '1' });
    expect(second.data).toEqual({ one: '1' });
    expect(second.metadata?.managedFields?.map((f) => `${f.manager}/${f.operation}`)).toContain('me/Apply');
  });

  it('registers a CRD: discovery, defaults, validation (422), status and scale subresources, generation', async () => {
    await installCrd(api.url);
    const cc = (await objects.create({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: 'web', namespace: 'default' }, spec: { replicas: 2 }, status: { replicas: 9 } } as Obj)) as Obj;
    expect(cc.spec).toMatchObject({ replicas: 2, memory: '1Gi', flash: { size: '10Gi' }, onePerNode: true, ring: { drainSeconds: 60 } });
    expect(cc.spec.flash.storageClassName).toBeUndefined();
    expect(cc.status).toBeUndefined();
    expect(cc.metadata?.generation).toBe(1);
    await expect(objects.create({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: 'bad', namespace: 'default' }, spec: { replicas: -1 } } as Obj)).rejects.toMatchObject({ code: 422 });
    // Status writes do not bump generation; spec writes do; main-resource writes cannot change status.
    const base = `/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web`;
    const req = async (method: string, path: string, body?: unknown, ct = 'application/merge-patch+json') => {
      const r = await fetch(`${api.url}${path}`, { method, headers: { 'content-type': ct }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { code: r.status, body: (await r.json()) as any };
    };
    expect((await req('PATCH', `${base}/status`, { status: { replicas: 2, selector: 'a=b' } })).body.metadata.generation).toBe(1);
    const specPatched = await req('PATCH', base, { spec: { threads: 4 }, status: { replicas: 7 } });
    expect(specPatched.body.metadata.generation).toBe(2);
    expect(specPatched.body.status.replicas).toBe(2);
    const scale = await req('GET', `${base}/scale`);
    expect(scale.body).toMatchObject({ kind: 'Scale', spec: { replicas: 2 }, status: { replicas: 2, selector: 'a=b' } });
    await req('PATCH', `${base}/scale`, { spec: { replicas: 5 } });
    expect((await req('GET', base)).body.spec.replicas).toBe(5);
    expect((await req('PUT', `${base}/scale`, { ...scale.body, spec: { replicas: 1 } })).code).toBe(409);
  });

  it('garbage-collects dependents whose owners are all gone,', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'owner' } } });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! };
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'child', ownerReferences: [ref] } } });
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'grandchild', ownerReferences: [{ ...ref, name: 'child', uid: (await core.readNamespacedConfigMap({ name: 'child', namespace: 'default' })).metadata!.uid! }] } } });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: 'default' });
    await eventually(async () => (await core.listNamespacedConfigMap({ namespace: 'default' })).items.length === 0, 'cascade');
  });

  it('streams watch events, replays from a resourceVersion, sends bookmarks, and answers 410 after compaction', async () => {
    const first = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'w1' } } });
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'w2' } } });
    const seen: string[] = [];
    const watch = new Watch(kc);
    const ac = await watch.watch('/api/v1/namespaces/default/configmaps', { resourceVersion: first.metadata!.resourceVersion!, allowWatchBookmarks: true }, (type, obj) => seen.push(`${type}:${obj.metadata?.name ?? ''}`), () => undefined);
    await core.deleteNamespacedConfigMap({ name: 'w1', namespace: 'default' });
    await eventually(() => seen.includes('DELETED:w1') && seen.some((s) => s.startsWith('BOOKMARK')), 'events and a bookmark');
    expect(seen.filter((s) => !s.startsWith('BOOKMARK'))).toEqual(['ADDED:w2', 'DELETED:w1']);
    ac.abort();
    api.store.compact();
    const gone: any[] = [];
    await watch.watch('/api/v1/namespaces/default/configmaps', { resourceVersion: first.metadata!.resourceVersion! }, (type, obj) => gone.push({ type, obj }), () => undefined);
    await eventually(() => gone.length > 0, '410');
    expect(gone[0]).toMatchObject({ type: 'ERROR', obj: { code: 410, reason: 'Expired' } });
  });

  it('injects faults by request and breaks watches', async () => {
    api.injectFault({ match: (r) => r.verb === 'create' && r.plural === 'configmaps', status: 409, reason: 'Conflict', times: 1 });
    await expect(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'f' } } })).rejects.toMatchObject({ code: 409 });
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'f' } } });
    let ended = false;
    await new Watch(kc).watch('/api/v1/namespaces/default/configmaps', {}, () => undefined, () => {
      ended = true;
    });
    await eventually(() => api.activeWatches('configmaps') === 1, 'watch open');
    expect(api.breakWatches()).toBe(1);
    await eventually(() => ended, 'client notices the broken watch');
  });
});
