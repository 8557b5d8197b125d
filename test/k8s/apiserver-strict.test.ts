/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * What the API server double refuses because kube-apiserver refuses it, each asserted through the real
 * @kubernetes/client-node or the real kubectl over HTTP: the status code, the reason and the message.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import type { ApiServerDouble } from './apiserver/index.js';
import { installChartRbac } from './chart.js';
import { WorkloadSimulator } from './apiserver/workloads.js';
import { eventually, installCrd, startDouble } from './helpers.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

let api: ApiServerDouble;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let objects: KubernetesObjectApi;
let dir: string;

beforeEach(async () => {
  ({ api, kc } = await startDouble());
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  objects = KubernetesObjectApi.makeApiClient(kc);
  dir = mkdtempSync(join(tmpdir(), 'cachalot-strict-'));
  writeFileSync(join(dir, 'kubeconfig'), api.kubeconfigYaml());
});
afterEach(async () => {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(KUBECTL, ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', join(dir, 'cache'), ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ stdout, stderr, code: err ? Number((err as { code?: number }).code ?? 1) : 0 }),
    );
  });
}

/** The Status a rejected client-node call carried. */
async function refusal(p: Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    return { code: Number(e.code), status: typeof e.body === 'string' ? JSON.parse(e.body) : e.body };
  }
  throw new Error('the request was accepted');
}

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function statefulSet(name: string, over: Record<string, any> = {}): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: 'default' },
    spec: {
      serviceName: `${name}-headless`,
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'server', image: 'cachalot:dev' }] } },
      volumeClaimTemplates: [{ metadata: { name: 'flash' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      ...over,
    },
  };
}

const STS_FORBIDDEN = "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

describe('immutable fields', () => {
  it.each([
    ['serviceName', { serviceName: 'other' }],
    ['selector', { selector: { matchLabels: { app: 'web', tier: 'x' } } }],
    ['volumeClaimTemplates', { volumeClaimTemplates: [{ metadata: { name: 'flash' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } } }] }],
    ['podManagementPolicy', { podManagementPolicy: 'Parallel' }],
  ])('StatefulSet spec.%s cannot change (422, by server-side apply and by PUT)', async (_field, change) => {
    await objects.patch(statefulSet('web'), undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
    const applied = await refusal(objects.patch(statefulSet('web', change), undefined, undefined, 'test', true, PatchStrategy.ServerSideApply));
    expect(applied.code).toBe(422);
    expect(applied.status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422, message: `StatefulSet.apps "web" is invalid: ${STS_FORBIDDEN}` });
    expect(applied.status.details).toMatchObject({ name: 'web', group: 'apps', kind: 'StatefulSet', causes: [{ reason: 'FieldValueForbidden', field: 'spec' }] });
    const current = await apps.readNamespacedStatefulSet({ name: 'web', namespace: 'default' });
    const put = await refusal(apps.replaceNamespacedStatefulSet({ name: 'web', namespace: 'default', body: { ...current, spec: { ...current.spec!, ...change } } }));
    expect(put.code).toBe(422);
    // The fields the real server lets change still change.
    const scaled = await apps.replaceNamespacedStatefulSet({ name: 'web', namespace: 'default', body: { ...current, spec: { ...current.spec!, replicas: 3, minReadySeconds: 5 } } });
    expect(scaled.spec).toMatchObject({ replicas: 3, minReadySeconds: 5 });
  });

  it('a StatefulSet is stored with its defaults, so setting a defaulted immutable field later is refused', async () => {
    const created = await apps.createNamespacedStatefulSet({ namespace: 'default', body: statefulSet('web') });
    expect(created.spec).toMatchObject({ podManagementPolicy: 'OrderedReady', revisionHistoryLimit: 10, persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' } });
    expect(created.spec!.volumeClaimTemplates![0]!.spec!.volumeMode).toBe('Filesystem');
    const r = await refusal(objects.patch(statefulSet('web', { podManagementPolicy: 'Parallel' }), undefined, undefined, 'late', true, PatchStrategy.ServerSideApply));
    expect(r.code).toBe(422);
    // Stating the default explicitly is no change.
    await objects.patch(statefulSet('web', { podManagementPolicy: 'OrderedReady', revisionHistoryLimit: 10 }), undefined, undefined, 'late', true, PatchStrategy.ServerSideApply);
  });

  it('kubectl apply shows the real message for a changed StatefulSet serviceName', async () => {
    writeFileSync(join(dir, 'a.yaml'), JSON.stringify(statefulSet('web')));
    writeFileSync(join(dir, 'b.yaml'), JSON.stringify(statefulSet('web', { serviceName: 'other' })));
    expect((await kubectl('apply', '-f', join(dir, 'a.yaml'))).code).toBe(0);
    const r = await kubectl('apply', '-f', join(dir, 'b.yaml'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`The StatefulSet "web" is invalid: ${STS_FORBIDDEN}`);
  });

  it('a PersistentVolumeClaim spec is immutable except a bound claim growing; it never shrinks', async () => {
    const claim = { metadata: { name: 'data', namespace: 'default' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'fast' } };
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim });
    const grow = (size: string) => core.patchNamespacedPersistentVolumeClaim({ name: 'data', namespace: 'default', body: { spec: { resources: { requests: { storage: size } } } } }, MERGE);
    const pending = await refusal(grow('2Gi'));
    expect(pending.code).toBe(422);
    expect(pending.status.message).toBe('PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims');
    const cls = await refusal(core.patchNamespacedPersistentVolumeClaim({ name: 'data', namespace: 'default', body: { spec: { storageClassName: 'slow' } } }, MERGE));
    expect(cls.code).toBe(422);
    await core.patchNamespacedPersistentVolumeClaimStatus({ name: 'data', namespace: 'default', body: { status: { phase: 'Bound' } } }, MERGE);
    // Binding may fill in volumeName once.
    await core.patchNamespacedPersistentVolumeClaim({ name: 'data', namespace: 'default', body: { spec: { volumeName: 'pv-1' } } }, MERGE);
    expect((await grow('2Gi')).spec?.resources?.requests?.storage).toBe('2Gi');
    const shrink = await refusal(grow('1Gi'));
    expect(shrink.code).toBe(422);
    expect(shrink.status.message).toBe('PersistentVolumeClaim "data" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity');
  });

  it('a Service keeps its allocated clusterIP, which cannot change', async () => {
    const svc = await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { ports: [{ port: 11211 }] } } });
    const ip = svc.spec!.clusterIP!;
    expect(ip).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(svc.spec!.clusterIPs).toEqual([ip]);
    const headless = await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web-headless' }, spec: { clusterIP: 'None', ports: [{ port: 11211 }] } } });
    expect(headless.spec!.clusterIP).toBe('None');
    // An apply that does not mention clusterIP keeps it (what the operator's apply of its client Service does).
    const applied = await objects.patch({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 11211 }] } } as any, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
    expect((applied as any).spec.clusterIP).toBe(ip);
    const changed = await refusal(core.patchNamespacedService({ name: 'web', namespace: 'default', body: { spec: { clusterIP: '10.96.200.200', clusterIPs: ['10.96.200.200'] } } }, MERGE));
    expect(changed.code).toBe(422);
    expect(changed.status.message).toBe('Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.200.200"}: may not change once set');
  });

  it('a Deployment selector is immutable', async () => {
    const dep = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'op', namespace: 'default' }, spec: { selector: { matchLabels: { app: 'op' } }, template: { metadata: { labels: { app: 'op', v: '1' } }, spec: { containers: [{ name: 'op', image: 'op:1' }] } } } };
    await objects.create(dep as any);
    const r = await refusal(objects.patch({ ...dep, spec: { ...dep.spec, selector: { matchLabels: { app: 'op', v: '1' } } } } as any, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply));
    expect(r.code).toBe(422);
    expect(r.status.message).toMatch(/^Deployment\.apps "op" is invalid: spec\.selector: Invalid value: .*: field is immutable$/);
  });

  it('a PodDisruptionBudget selector may change (mutable in policy/v1)', async () => {
    const pdb = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: 'default' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } } };
    await objects.patch(pdb as any, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
    const changed = await objects.patch({ ...pdb, spec: { ...pdb.spec, selector: { matchLabels: { app: 'web', tier: 'cache' } } } } as any, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
    expect((changed as any).spec.selector.matchLabels).toEqual({ app: 'web', tier: 'cache' });
  });

  it('a write cannot rename an object or move it to another namespace or uid', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'a' } } });
    const renamed = await refusal(core.replaceNamespacedConfigMap({ name: 'a', namespace: 'default', body: { ...cm, metadata: { ...cm.metadata, name: 'b' } } }));
    expect(renamed).toMatchObject({ code: 400, status: { reason: 'BadRequest', message: 'the name of the object (b) does not match the name on the URL (a)' } });
    const moved = await refusal(core.replaceNamespacedConfigMap({ name: 'a', namespace: 'default', body: { ...cm, metadata: { ...cm.metadata, namespace: 'other' } } }));
    expect(moved).toMatchObject({ code: 400, status: { message: 'the namespace of the provided object does not match the namespace sent on the request' } });
    const reuid = await refusal(core.replaceNamespacedConfigMap({ name: 'a', namespace: 'default', body: { ...cm, metadata: { ...cm.metadata, uid: '00000000-0000-0000-0000-000000000000' } } }));
    expect(reuid.code).toBe(409);
    expect(reuid.status.message).toContain(`Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: ${cm.metadata!.uid}`);
  });
});

/** A client-node config authenticated with `token`. */
function as(token: string): { kc: KubeConfig } {
  const c = new KubeConfig();
  c.loadFromString(api.kubeconfigYaml('default', token));
  return { kc: c };
}

const SA = 'system:serviceaccount:default:cachalot-cachalot-operator';

describe('authentication and RBAC from the chart', () => {
  it('the chart ServiceAccount gets what the chart grants and 403 for the rest', async () => {
    await installCrd(api.url);
    const { user, token } = await installChartRbac(api);
    expect(user.name).toBe(SA);
    await objects.create({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: 'web', namespace: 'default' }, spec: {} } as any);
    const sa = as(token);
    const custom = sa.kc.makeApiClient(CustomObjectsApi);
    expect((await custom.getNamespacedCustomObject({ group: 'cachalot.io', version: 'v1alpha1', namespace: 'default', plural: 'cacheclusters', name: 'web' })).metadata.name).toBe('web');
    const del = await refusal(custom.deleteNamespacedCustomObject({ group: 'cachalot.io', version: 'v1alpha1', namespace: 'default', plural: 'cacheclusters', name: 'web' }));
    expect(del.code).toBe(403);
    expect(del.status).toMatchObject({
      kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403,
      message: `cacheclusters.cachalot.io "web" is forbidden: User "${SA}" cannot delete resource "cacheclusters" in API group "cachalot.io" in the namespace "default"`,
      details: { name: 'web', group: 'cachalot.io', kind: 'cacheclusters' },
    });
    const saCore = sa.kc.makeApiClient(CoreV1Api);
    expect((await refusal(saCore.listNode())).status.message).toBe(`nodes is forbidden: User "${SA}" cannot list resource "nodes" in API group "" at the cluster scope`);
    expect((await refusal(saCore.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } } }))).status.message).toBe(`pods is forbidden: User "${SA}" cannot create resource "pods" in API group "" in the namespace "default"`);
    // The leader-election Role holds in the release namespace only.
    const leases = sa.kc.makeApiClient(CoordinationV1Api);
    const lease = { metadata: { name: 'l' }, spec: { holderIdentity: 'x' } };
    await leases.createNamespacedLease({ namespace: 'default', body: lease });
    expect((await refusal(leases.createNamespacedLease({ namespace: 'other', body: lease }))).code).toBe(403);
    // kubectl (acting as the ServiceAccount by impersonation) prints the same Status.
    const r = await kubectl('--as', SA, 'delete', 'cachecluster', 'web');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Error from server (Forbidden): cacheclusters.cachalot.io "web" is forbidden: User "${SA}" cannot delete resource "cacheclusters" in API group "cachalot.io" in the namespace "default"`);
  });

  it('a token nobody issued gets 401', async () => {
    const stranger = as('not-a-token');
    expect(await refusal(stranger.kc.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace: 'default' }))).toMatchObject({ code: 401 });
    const r = await fetch(`${api.url}/api/v1/namespaces/default/configmaps`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', message: 'Unauthorized', code: 401 });
  });
});

describe('OwnerReferencesPermissionEnforcement', () => {
  it('blockOwnerDeletion needs update on the owner\'s finalizers; an ownerRef needs delete on the object', async () => {
    await installCrd(api.url);
    const { token } = await installChartRbac(api);
    const owner = await objects.create({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: 'web', namespace: 'default' }, spec: {} } as any);
    const ref = { apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', name: 'web', uid: owner.metadata!.uid!, controller: true, blockOwnerDeletion: true };
    const child = (name: string, r: object) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', ownerReferences: [r] }, data: {} });
    const sa = KubernetesObjectApi.makeApiClient(as(token).kc);
    // The chart grants cacheclusters/finalizers update: the operator's children are admitted.
    await sa.patch(child('ring', ref) as any, undefined, undefined, 'cachalot-operator', true, PatchStrategy.ServerSideApply);

    // Without that rule, every child with blockOwnerDeletion is refused, by apply as by create.
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = await rbac.readClusterRole({ name: 'cachalot-cachalot-operator' });
    await rbac.replaceClusterRole({ name: 'cachalot-cachalot-operator', body: { ...role, rules: role.rules!.filter((r) => !(r.resources ?? []).includes('cacheclusters/finalizers')) } });
    const applied = await refusal(sa.patch(child('other', ref) as any, undefined, undefined, 'cachalot-operator', true, PatchStrategy.ServerSideApply));
    expect(applied).toMatchObject({ code: 403, status: { reason: 'Forbidden', message: 'configmaps "other" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you can\'t set finalizers on: , <nil>' } });
    expect((await refusal(sa.create(child('other', ref) as any))).code).toBe(403);
    // A reference that does not block deletion only needs delete on the child, which the chart grants.
    await sa.create(child('other', { ...ref, blockOwnerDeletion: false }) as any);
    // Turning blockOwnerDeletion on later is checked too; leaving an existing blocking ref alone is not.
    const turnOn = await refusal(sa.patch({ ...child('other', ref) } as any, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch));
    expect(turnOn.code).toBe(403);
    await sa.patch({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ring', namespace: 'default' }, data: { k: 'v' } } as any, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);

    // Without delete on the object, no ownerReference at all.
    const limited = api.issueToken({ name: 'limited', groups: ['system:authenticated'] });
    await rbac.createNamespacedRole({ namespace: 'default', body: { metadata: { name: 'cm-writer' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get'] }] } });
    await rbac.createNamespacedRoleBinding({ namespace: 'default', body: { metadata: { name: 'cm-writer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-writer' }, subjects: [{ kind: 'User', name: 'limited', apiGroup: 'rbac.authorization.k8s.io' }] } });
    const lim = as(limited).kc.makeApiClient(CoreV1Api);
    await lim.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'plain' } } });
    const noDelete = await refusal(lim.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'owned', ownerReferences: [{ ...ref, blockOwnerDeletion: false }] } } }));
    expect(noDelete).toMatchObject({ code: 403, status: { message: 'configmaps "owned" is forbidden: cannot set an ownerRef on a resource you can\'t delete: , <nil>' } });
  });
});

describe('RBAC escalation prevention', () => {
  it('a Role or binding may grant only what its writer holds, unless it may escalate or bind', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const token = api.issueToken({ name: 'granter', groups: ['system:authenticated'] });
    // The granter may write Roles and RoleBindings and read one ConfigMap, as the operator reads its ring.
    await rbac.createNamespacedRole({ namespace: 'default', body: { metadata: { name: 'granter' }, rules: [
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['web-ring'], verbs: ['get', 'list', 'watch'] },
    ] } });
    await rbac.createNamespacedRoleBinding({ namespace: 'default', body: { metadata: { name: 'granter' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'granter' }, subjects: [{ kind: 'User', name: 'granter', apiGroup: 'rbac.authorization.k8s.io' }] } });
    const g = as(token).kc.makeApiClient(RbacAuthorizationV1Api);
    const reader = { apiGroups: [''], resources: ['configmaps'], resourceNames: ['web-ring'], verbs: ['get', 'list', 'watch'] };
    await g.createNamespacedRole({ namespace: 'default', body: { metadata: { name: 'ring-reader' }, rules: [reader] } });
    const wider = await refusal(g.createNamespacedRole({ namespace: 'default', body: { metadata: { name: 'all-configmaps' }, rules: [{ ...reader, resourceNames: [] }] } }));
    expect(wider).toMatchObject({ code: 403, status: { reason: 'Forbidden' } });
    expect(wider.status.message).toContain('roles.rbac.authorization.k8s.io "all-configmaps" is forbidden: user "granter" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["configmaps"], Verbs:["get"]}');
    // Binding a role it holds the permissions of is allowed; binding a wider one (made by the admin) is not.
    const binding = (name: string, role: string) => ({ metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role }, subjects: [{ kind: 'ServiceAccount', name: 'web-server', namespace: 'default' }] });
    await g.createNamespacedRoleBinding({ namespace: 'default', body: binding('ring-reader', 'ring-reader') });
    await rbac.createNamespacedRole({ namespace: 'default', body: { metadata: { name: 'secrets' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] } });
    expect((await refusal(g.createNamespacedRoleBinding({ namespace: 'default', body: binding('secrets', 'secrets') }))).code).toBe(403);
    // With `bind` on that role it may.
    await rbac.createNamespacedRole({ namespace: 'default', body: { metadata: { name: 'binder' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], resourceNames: ['secrets'], verbs: ['bind'] }] } });
    await rbac.createNamespacedRoleBinding({ namespace: 'default', body: { metadata: { name: 'binder' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'binder' }, subjects: [{ kind: 'User', name: 'granter', apiGroup: 'rbac.authorization.k8s.io' }] } });
    await g.createNamespacedRoleBinding({ namespace: 'default', body: binding('secrets', 'secrets') });
  });
});

describe('built-in kinds against the published OpenAPI schema', () => {
  it('kubectl (fieldValidation=Strict) is refused an unknown field; server-side apply always is', async () => {
    const sts = statefulSet('web');
    sts.spec.bogus = 1;
    sts.spec.template.spec.containers[0].imagePullPolcy = 'Always';
    writeFileSync(join(dir, 'bad.yaml'), JSON.stringify(sts));
    const created = await kubectl('apply', '-f', join(dir, 'bad.yaml'));
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain('StatefulSet in version "v1" cannot be handled as a StatefulSet: strict decoding error: unknown field "spec.bogus", unknown field "spec.template.spec.containers[0].imagePullPolcy"');
    const ssa = await kubectl('apply', '--server-side', '--validate=false', '-f', join(dir, 'bad.yaml'));
    expect(ssa.code).not.toBe(0);
    expect(ssa.stderr).toContain('failed to create typed patch object (apps/v1, Kind=StatefulSet): errors:\n  .spec.bogus: field not declared in schema\n  .spec.template.spec.containers[0].imagePullPolcy: field not declared in schema');
    expect(api.store.tryGet(api.store.lookup('apps/v1', 'statefulsets')!, 'default', 'web')).toBeUndefined();
  });

  it('without fieldValidation (client-node) an unknown field is dropped with a warning', async () => {
    const r = await fetch(`${api.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'c', colour: 'red' }, data: { k: 'v' }, extra: true }) });
    expect(r.status).toBe(201);
    expect(r.headers.get('warning')).toBe('299 - "unknown field \\"metadata.colour\\"", 299 - "unknown field \\"extra\\""');
    const body = (await r.json()) as any;
    expect(body.extra).toBeUndefined();
    expect(body.metadata.colour).toBeUndefined();
    expect(body.data).toEqual({ k: 'v' });
  });

  it('a value of the wrong type is 400, as Go decoding reports it', async () => {
    const r = await refusal(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'c' }, data: { k: 5 as unknown as string } } }));
    expect(r.code).toBe(400);
    expect(r.status).toMatchObject({ reason: 'BadRequest', message: 'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data.k of type string' });
    const sts = await refusal(objects.create(statefulSet('web', { replicas: 'three' })));
    expect(sts.status.message).toBe('StatefulSet in version "v1" cannot be handled as a StatefulSet: json: cannot unmarshal string into Go struct field StatefulSetSpec.spec.replicas of type int32');
  });

  it('a missing required field or a value outside an enum is 422 Invalid', async () => {
    const pod = await refusal(core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: {} as any } }));
    expect(pod).toMatchObject({ code: 422, status: { reason: 'Invalid', message: 'Pod "p" is invalid: spec.containers: Required value', details: { causes: [{ reason: 'FieldValueRequired', field: 'spec.containers' }] } } });
    const sts = await refusal(objects.create(statefulSet('web', { podManagementPolicy: 'Sometimes' })));
    expect(sts.code).toBe(422);
    expect(sts.status.message).toBe('StatefulSet.apps "web" is invalid: spec.podManagementPolicy: Unsupported value: "Sometimes": supported values: "OrderedReady", "Parallel"');
  });
});

describe('graceful pod deletion', () => {
  const podBody = (name: string, over: Record<string, any> = {}) => ({ metadata: { name }, spec: { nodeName: 'node-a', terminationGracePeriodSeconds: 20, containers: [{ name: 'c', image: 'i' }], ...over } });

  it('a scheduled pod stays Terminating until a delete with gracePeriodSeconds=0 confirms it', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: podBody('p') });
    const t0 = Date.now();
    const deleting = await core.deleteNamespacedPod({ name: 'p', namespace: 'default' });
    expect(deleting.metadata?.deletionGracePeriodSeconds).toBe(20);
    const still = await core.readNamespacedPod({ name: 'p', namespace: 'default' });
    // deletionTimestamp is when the grace period ends (second precision).
    const ends = new Date(still.metadata!.deletionTimestamp as unknown as string).getTime();
    expect(ends).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) * 1000 + 19_000);
    expect(ends).toBeLessThanOrEqual(Date.now() + 20_000);
    // A later delete may shorten the grace period (DeleteOptions in the body), never lengthen it.
    expect((await core.deleteNamespacedPod({ name: 'p', namespace: 'default', body: { gracePeriodSeconds: 5 } })).metadata?.deletionGracePeriodSeconds).toBe(5);
    expect((await core.deleteNamespacedPod({ name: 'p', namespace: 'default', gracePeriodSeconds: 60 })).metadata?.deletionGracePeriodSeconds).toBe(5);
    // Only that incarnation: a uid precondition that does not hold is 409.
    const wrong = await refusal(core.deleteNamespacedPod({ name: 'p', namespace: 'default', gracePeriodSeconds: 0, body: { preconditions: { uid: 'other' } } }));
    expect(wrong.code).toBe(409);
    expect(wrong.status.message).toContain(`Precondition failed: UID in precondition: other, UID in object meta: ${still.metadata!.uid}`);
    await core.deleteNamespacedPod({ name: 'p', namespace: 'default', gracePeriodSeconds: 0, body: { preconditions: { uid: still.metadata!.uid! } } });
    expect((await refusal(core.readNamespacedPod({ name: 'p', namespace: 'default' }))).code).toBe(404);
  });

  it('the workload simulator confirms deletions as a kubelet on a Ready node does; on a NotReady node the pod stays Terminating', async () => {
    const sim = new WorkloadSimulator(api.store, ['node-a', 'node-b']).start();
    try {
      await core.createNamespacedPod({ namespace: 'default', body: podBody('on-a') });
      await core.createNamespacedPod({ namespace: 'default', body: podBody('on-b', { nodeName: 'node-b' }) });
      await core.patchNodeStatus({ name: 'node-b', body: { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] } } }, MERGE);
      await core.deleteNamespacedPod({ name: 'on-a', namespace: 'default' });
      await core.deleteNamespacedPod({ name: 'on-b', namespace: 'default' });
      await eventually(async () => (await core.listNamespacedPod({ namespace: 'default' })).items.length === 1, 'on-a confirmed');
      const left = await core.readNamespacedPod({ name: 'on-b', namespace: 'default' });
      expect(left.metadata?.deletionTimestamp).toBeDefined();
      await core.deleteNamespacedPod({ name: 'on-b', namespace: 'default', gracePeriodSeconds: 0 });
      expect((await core.listNamespacedPod({ namespace: 'default' })).items).toEqual([]);
    } finally {
      sim.stop();
    }
  });

  it('force deletion, unscheduled pods and finished pods go at once; finalizers still hold a pod', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: podBody('forced') });
    await core.deleteNamespacedPod({ name: 'forced', namespace: 'default', gracePeriodSeconds: 0 });
    await core.createNamespacedPod({ namespace: 'default', body: podBody('pending', { nodeName: undefined }) });
    await core.deleteNamespacedPod({ name: 'pending', namespace: 'default' });
    await core.createNamespacedPod({ namespace: 'default', body: { ...podBody('done'), status: { phase: 'Succeeded' } } });
    await core.deleteNamespacedPod({ name: 'done', namespace: 'default' });
    expect((await core.listNamespacedPod({ namespace: 'default' })).items).toEqual([]);
    await core.createNamespacedPod({ namespace: 'default', body: { ...podBody('held'), metadata: { name: 'held', finalizers: ['example.com/hold'] } } });
    await core.deleteNamespacedPod({ name: 'held', namespace: 'default' });
    // Clearing the finalizer during the grace period does not end it; the kubelet's confirmation does.
    await core.patchNamespacedPod({ name: 'held', namespace: 'default', body: { metadata: { finalizers: null } } }, MERGE);
    expect((await core.readNamespacedPod({ name: 'held', namespace: 'default' })).metadata?.deletionGracePeriodSeconds).toBe(20);
    await core.deleteNamespacedPod({ name: 'held', namespace: 'default', gracePeriodSeconds: 0 });
    expect((await core.listNamespacedPod({ namespace: 'default' })).items).toEqual([]);
  });
});

describe('CRD validation rules (x-kubernetes-validations)', () => {
  it('the CacheCluster rule refuses a PDB with both maxUnavailable and minAvailable', async () => {
    await installCrd(api.url);
    const cc = (pdb: object) => ({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: 'web', namespace: 'default' }, spec: { podDisruptionBudget: pdb } });
    const r = await refusal(objects.create(cc({ enabled: true, maxUnavailable: 1, minAvailable: 1 }) as any));
    expect(r).toMatchObject({ code: 422, status: { reason: 'Invalid', message: 'CacheCluster.cachalot.io "web" is invalid: spec: Invalid value: "object": podDisruptionBudget takes maxUnavailable or minAvailable, not both' } });
    await objects.create(cc({ enabled: true, maxUnavailable: 1 }) as any);
  });

  it('transition rules see oldSelf on update; a value the write leaves alone is not validated again', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com', scope: 'Namespaced', names: { kind: 'Widget', plural: 'widgets' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: {
          size: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'size is immutable' }] },
          replicas: { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self <= 5 && self % 2 == 1', reason: 'FieldValueForbidden', message: 'odd and at most 5' }] },
          name: { type: 'string', 'x-kubernetes-validations': [{ rule: "self.startsWith('w-') && size(self) < 10" }] },
        } } } } } }],
      },
    };
    await installCrd(api.url, crd);
    const w = (spec: object) => ({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'a', namespace: 'default' }, spec });
    await objects.create(w({ size: '1Gi', replicas: 3, name: 'w-1' }) as any);
    const changed = await refusal(objects.patch(w({ size: '2Gi' }) as any, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch));
    expect(changed.status.message).toBe('Widget.example.com "a" is invalid: spec.size: Invalid value: "string": size is immutable');
    expect((await refusal(objects.patch(w({ replicas: 4 }) as any, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch))).status.message).toBe('Widget.example.com "a" is invalid: spec.replicas: Forbidden: odd and at most 5');
    expect((await refusal(objects.patch(w({ name: 'x-1' }) as any, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch))).status.message).toBe(`Widget.example.com "a" is invalid: spec.name: Invalid value: "string": failed rule: self.startsWith('w-') && size(self) < 10`);
    // Tighten the rule: the stored replicas (3) now fails it, but a write that leaves replicas alone passes.
    crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties.replicas['x-kubernetes-validations'] = [{ rule: 'self < 3', reason: 'FieldValueForbidden', message: 'below 3' }];
    // Over plain HTTP: client-node's CRD serializer would drop x-kubernetes-validations (see installCrd).
    const put = await fetch(`${api.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(crd) });
    expect(put.status).toBe(200);
    await objects.patch(w({ replicas: 3, name: 'w-2' }) as any, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
    expect((await refusal(objects.patch(w({ replicas: 5 }) as any, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch))).status.message).toBe('Widget.example.com "a" is invalid: spec.replicas: Forbidden: below 3');
  });
});

describe('what the double returns', () => {
  it('every object, in responses and watch events, has its keys sorted; a reordered write is a no-op', async () => {
    const sorted = (v: unknown): boolean => {
      if (Array.isArray(v)) return v.every(sorted);
      if (typeof v !== 'object' || v === null) return true;
      const keys = Object.keys(v);
      return keys.join('\0') === [...keys].sort().join('\0') && Object.values(v).every(sorted);
    };
    const body = JSON.stringify({ metadata: { name: 'c', labels: { z: '1', a: '2' } }, data: { zeta: '1', alpha: '2' }, apiVersion: 'v1', kind: 'ConfigMap' });
    const created = await fetch(`${api.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await created.text();
    expect(text.indexOf('"alpha"')).toBeLessThan(text.indexOf('"zeta"'));
    const obj = JSON.parse(text);
    expect(sorted(obj)).toBe(true);
    const reordered = { kind: 'ConfigMap', data: { alpha: '2', zeta: '1' }, metadata: { labels: { a: '2', z: '1' }, name: 'c' }, apiVersion: 'v1' };
    const put = await core.replaceNamespacedConfigMap({ name: 'c', namespace: 'default', body: reordered });
    expect(put.metadata!.resourceVersion).toBe(obj.metadata.resourceVersion);
  });
});
