/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * What the API server double refuses because kube-apiserver refuses it, each asserted through the real
 * @kubernetes/client-node or the real kubectl over HTTP: the status code, the reason and the message.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { ApiServerDouble } from './apiserver/index.js';
import { startDouble } from './helpers.js';

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
