/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Auth, TLS and the NetworkPolicy through the operator against the API server double, as the chart's
 * ServiceAccount: the CRD's rules refuse contradictory specs, the Certificate is applied against cert-manager's
 * own CRD schema where cert-manager is served and reported as missing where it is not, and a Secret's
 * contents changing never changes the StatefulSet (a rotation rolls no server).
 */
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { cacheCluster, condition, eventually, installCrd, patchMerge, startEnv, stored, storedList, type Env } from './helpers.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

const BASE = '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters';
const CERT_MANAGER_CRD = parse(readFileSync(new URL('./certmanager-crd.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
const ISSUER = { name: 'cache-ca', kind: 'Issuer', group: 'cert-manager.io' };
const CLIENTS = { matchLabels: { 'app.kubernetes.io/name': 'web-app' } };

const cc = (env: Env, name = 'web') => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', name);

async function createStatus(env: Env, body: unknown): Promise<{ status: number; message: string }> {
  const r = await fetch(`${env.api.url}${BASE}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, message: String(((await r.json()) as any).message) };
}

describe('CacheCluster auth, TLS and NetworkPolicy', () => {
  it('the CRD refuses tls with both or neither source, networkPolicy without clients, and selector expressions without values', async () => {
    env = await startEnv();
    const refused: [Record<string, unknown>, string][] = [
      [{ tls: { secretName: 'a', certManager: { issuerRef: ISSUER } } }, 'tls takes exactly one of secretName and certManager'],
      [{ tls: { clientAuth: true } }, 'tls takes exactly one of secretName and certManager'],
      [{ networkPolicy: { enabled: true } }, 'networkPolicy.enabled needs clientSelector'],
      [{ networkPolicy: { enabled: true, clientSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } }, 'In and NotIn take values'],
      [{ networkPolicy: { enabled: true, clientSelector: CLIENTS, metricsScraper: {} } }, 'metricsScraper needs namespaceSelector or podSelector'],
      [{ auth: {} }, 'spec.auth.secretName: Required value'],
      [{ networkPolicy: { enabled: true, clientSelector: { matchExpressions: Array.from({ length: 33 }, (_, i) => ({ key: `k${i}`, operator: 'Exists' })) } } }, 'Too many: 33: must have at most 32 items'],
      [{ tls: { certManager: { issuerRef: { kind: 'Issuer' } } } }, 'spec.tls.certManager.issuerRef.name: Required value'],
    ];
    for (const [spec, message] of refused) {
      const r = await createStatus(env, cacheCluster('bad', spec));
      expect([spec, r.status, r.message.includes(message) ? message : r.message]).toEqual([spec, 422, message]);
    }
    // And the valid shapes are accepted; networkPolicy defaults to off.
    for (const spec of [{ tls: { secretName: 'a', clientAuth: true } }, { tls: { certManager: { issuerRef: { name: 'x' } } } }, { networkPolicy: { enabled: true, clientSelector: CLIENTS } }, { auth: { secretName: 'web-auth' } }]) {
      const r = await createStatus(env, cacheCluster('good', spec));
      expect([spec, r.status]).toEqual([spec, 201]);
      expect((await fetch(`${env.api.url}${BASE}/good`, { method: 'DELETE' })).status).toBe(200);
    }
    // examples/cachecluster-secure.yaml's CacheCluster, under kubectl's strict field validation.
    const secure = parseAllDocuments(readFileSync(new URL('../../examples/cachecluster-secure.yaml', import.meta.url), 'utf8')).map((d) => d.toJS()).find((d) => d.kind === 'CacheCluster');
    const strict = await fetch(`${env.api.url}${BASE}?fieldValidation=Strict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(secure) });
    expect(strict.status).toBe(201);
    const r = await createStatus(env, cacheCluster('plain'));
    expect(r.status).toBe(201);
    expect(cc(env, 'plain').spec.networkPolicy).toEqual({ enabled: false });
  });

  it('with cert-manager: a Certificate and a NetworkPolicy owned by the cluster, the Secrets mounted, and both removed when the spec drops them', async () => {
    env = await startEnv();
    await installCrd(env.api.url, CERT_MANAGER_CRD);
    await env.startOperator();
    const created = await env.objects.create(cacheCluster('web', {
      replicas: 2, auth: { secretName: 'web-auth' }, tls: { certManager: { issuerRef: ISSUER }, clientAuth: true },
      networkPolicy: { enabled: true, clientSelector: CLIENTS, metricsScraper: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } } },
    }));
    const owner = { apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', name: 'web', uid: created.metadata!.uid, controller: true, blockOwnerDeletion: true };
    const cert = await eventually(() => stored(env, 'cert-manager.io/v1', 'certificates', 'default', 'web-tls'), 'Certificate');
    expect(cert.metadata.ownerReferences).toEqual([owner]);
    expect(cert.spec).toMatchObject({ secretName: 'web-tls', issuerRef: ISSUER, privateKey: { rotationPolicy: 'Always' } });
    expect(cert.spec.dnsNames).toContain('*.web-headless.default.svc.cluster.local');
    const np = await eventually(() => stored(env, 'networking.k8s.io/v1', 'networkpolicies', 'default', 'web'), 'NetworkPolicy');
    expect(np.metadata.ownerReferences).toEqual([owner]);
    expect(np.spec.ingress.map((r: any) => r.ports[0].port)).toEqual([11211, 9150]);
    const sts = stored(env, 'apps/v1', 'statefulsets', 'default', 'web');
    expect(sts.spec.template.spec.volumes.map((v: any) => v.secret.secretName)).toEqual(['web-auth', 'web-tls']);
    expect(sts.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(['-Y', '/etc/cachalot/auth/auth', '-Z']));
    const ready = await eventually(() => condition(cc(env), 'Ready')?.status === 'True' && cc(env), 'Ready');
    expect(condition(ready, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    // The router reaches the servers through the same TLS Secret (CA, and its certificate for clientAuth) and
    // the auth Secret: its listener asks clients for the servers' -Y file, and it authenticates with `router`.
    const router = stored(env, 'apps/v1', 'deployments', 'default', 'web-router').spec.template.spec;
    expect(router.volumes).toEqual([
      { name: 'auth', secret: { secretName: 'web-auth', defaultMode: 0o440 } },
      { name: 'tls', secret: { secretName: 'web-tls', defaultMode: 0o440 } },
    ]);
    expect(router.containers[0].args).toEqual(expect.arrayContaining(['--tls-ca=/etc/cachalot/tls/ca.crt', '--tls-cert=/etc/cachalot/tls/tls.crt', '--tls-key=/etc/cachalot/tls/tls.key',
      '--listen-auth-file=/etc/cachalot/auth/auth', '--auth-file=/etc/cachalot/auth/router']));
    expect(cert.spec.usages).toContain('client auth');

    await patchMerge(env.api.url, `${BASE}/web`, { spec: { tls: { certManager: null, secretName: 'own-cert' }, networkPolicy: { enabled: false } } });
    await eventually(() => !stored(env, 'cert-manager.io/v1', 'certificates', 'default', 'web-tls'), 'Certificate deleted');
    await eventually(() => !stored(env, 'networking.k8s.io/v1', 'networkpolicies', 'default', 'web'), 'NetworkPolicy deleted');
    await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.template.spec.volumes[1].secret.secretName === 'own-cert', 'own Secret mounted');
    await eventually(() => stored(env, 'apps/v1', 'deployments', 'default', 'web-router').spec.template.spec.volumes[1].secret.secretName === 'own-cert', 'own Secret mounted by the router');
  });

  it('without cert-manager: Degraded CertManagerMissing with one Event, the StatefulSet still applied; installing cert-manager clears it', async () => {
    env = await startEnv();
    const op = await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 1, tls: { certManager: { issuerRef: ISSUER } } }));
    const degraded = await eventually(() => condition(cc(env), 'Degraded')?.status === 'True' && condition(cc(env), 'Degraded'), 'Degraded');
    expect(degraded.reason).toBe('CertManagerMissing');
    expect(degraded.message).toContain('this cluster does not serve cert-manager.io/v1 Certificate');
    expect(degraded.message).toContain('spec.tls.secretName');
    // Pods wait for the Secret rather than serve plaintext: the StatefulSet mounts it all the same.
    const sts = await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web'), 'StatefulSet');
    expect(sts.spec.template.spec.volumes).toEqual([{ name: 'tls', secret: { secretName: 'web-tls', defaultMode: 0o440 } }]);
    // Reconciles go on (a spec change), and the Event is not repeated for each.
    await patchMerge(env.api.url, `${BASE}/web`, { spec: { threads: 3 } });
    await eventually(() => cc(env).status?.observedGeneration === 2, 'observedGeneration 2');
    const events = storedList(env, 'v1', 'events', 'default').filter((e: any) => e.reason === 'CertManagerMissing');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'Warning', count: 1 });

    // cert-manager installed: a new operator (the kind is looked up again) creates the Certificate.
    await op.stop();
    await installCrd(env.api.url, CERT_MANAGER_CRD);
    await env.startOperator();
    await eventually(() => stored(env, 'cert-manager.io/v1', 'certificates', 'default', 'web-tls'), 'Certificate');
    await eventually(() => condition(cc(env), 'Degraded')?.status === 'False', 'Degraded cleared');
  });

  it('a credential rotation or a certificate renewal changes no StatefulSet and no pod', async () => {
    env = await startEnv();
    const secret = (name: string, data: Record<string, string>, type = 'Opaque') =>
      ({ apiVersion: 'v1', kind: 'Secret', type, metadata: { name, namespace: 'default' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
    await env.objects.create(secret('web-auth', { auth: 'app:one\n' }));
    await env.objects.create(secret('web-cert', { 'tls.crt': 'CERT-1', 'tls.key': 'KEY-1', 'ca.crt': 'CA' }, 'kubernetes.io/tls'));
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2, auth: { secretName: 'web-auth' }, tls: { secretName: 'web-cert', clientAuth: true } }));
    await eventually(() => cc(env)?.status?.readyReplicas === 2 && condition(cc(env), 'Progressing')?.status === 'False', 'Ready');
    const before = stored(env, 'apps/v1', 'statefulsets', 'default', 'web');
    const podUids = () => storedList(env, 'v1', 'pods', 'default').map((p: any) => p.metadata.uid).sort();
    const uids = podUids();

    // The rotation as documented: both passwords, then the new one alone; and a renewed certificate and key.
    for (const auth of ['app:one\napp:two\n', 'app:two\n']) await env.objects.replace(secret('web-auth', { auth }));
    await env.objects.replace(secret('web-cert', { 'tls.crt': 'CERT-2', 'tls.key': 'KEY-2', 'ca.crt': 'CA' }, 'kubernetes.io/tls'));
    // A reconcile after the change (any edit of the CacheCluster starts one); its StatefulSet apply is seen.
    const mark = env.api.requests.length;
    await patchMerge(env.api.url, `${BASE}/web`, { metadata: { annotations: { touched: 'yes' } } });
    await eventually(() => env.api.requests.slice(mark).some((r) => r.plural === 'statefulsets' && r.verb === 'patch' && r.user === env.operatorUser), 'a reconcile');
    const after = stored(env, 'apps/v1', 'statefulsets', 'default', 'web');
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec.template).toEqual(before.spec.template);
    expect(podUids()).toEqual(uids);
    // The operator never reads Secrets (and the chart grants it none).
    expect(env.api.requests.filter((r) => r.plural === 'secrets' && r.user === env.operatorUser)).toEqual([]);
  });
});
