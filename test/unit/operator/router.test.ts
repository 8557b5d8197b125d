/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The router tier behind the client Service (builders/router.ts): pure builders, checked against the
 * Kubernetes schemas and Pod Security "restricted".
 */
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { API_VERSION, KIND, type CacheCluster, type CacheClusterSpec } from '../../../operator/src/api/types.js';
import {
  buildClientService,
  buildHeadlessService,
  buildPodDisruptionBudget,
  buildRouterDeployment,
  buildRouterPodDisruptionBudget,
  buildRouterRole,
  buildRouterRoleBinding,
  buildRouterServiceAccount,
  buildServiceMonitor,
  buildStatefulSet,
  selectorLabels,
} from '../../../operator/src/builders/index.js';
import { podTemplateOf, restrictedViolations } from '../../support/pss.js';
import { parseArgs } from '../../../server/src/sidecar/config.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function cluster(spec: CacheClusterSpec = {}): CacheCluster {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web', namespace: 'prod', uid: 'uid-1', generation: 1 }, spec };
}

/** Does a equality selector select these labels? */
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('router builders', () => {
  it('a Deployment of cachalot-sidecar in proxy mode, reading the ring ConfigMap through the API, valid and restricted', () => {
    const d: any = buildRouterDeployment(cluster());
    expect(() => new Deployment(d).validate()).not.toThrow();
    expect(restrictedViolations(podTemplateOf(d)!)).toEqual([]);
    expect(d.metadata.name).toBe('web-router');
    expect(d.metadata.ownerReferences).toEqual([{ apiVersion: API_VERSION, kind: KIND, name: 'web', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(d.spec.replicas).toBe(2);
    const c = d.spec.template.spec.containers[0];
    expect(c.image).toBe('cachalot/cachalot-sidecar:0.1.0');
    expect(c.args).toEqual(['--ring-configmap=$(POD_NAMESPACE)/web-ring', '--listen=0.0.0.0', '--port=11211', '--metrics-port=9151']);
    expect(c.env).toEqual([{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(d.spec.template.spec.serviceAccountName).toBe('web-router');
    expect(c.resources.limits.cpu).toBeUndefined();
  });

  it('its arguments are accepted by cachalot-sidecar\'s own parser: proxy mode on every address, the ring ConfigMap, the metrics port the probes use', () => {
    const d: any = buildRouterDeployment(cluster());
    const c = d.spec.template.spec.containers[0];
    // The kubelet expands $(POD_NAMESPACE) from the env the container declares.
    const parsed = parseArgs(c.args.map((a: string) => a.replace('$(POD_NAMESPACE)', 'prod')));
    if (parsed.kind !== 'run') throw new Error('expected a run configuration');
    expect(parsed.config.ringConfigMap).toEqual({ namespace: 'prod', name: 'web-ring' });
    expect(parsed.config.listen).toBe('0.0.0.0');
    expect(parsed.config.port).toBe(11211);
    expect(c.ports.find((p: any) => p.name === 'metrics').containerPort).toBe(parsed.config.metricsPort);
  });

  it('with spec.tls: the servers\' TLS Secret mounted whole, --tls-ca from it, its certificate as client certificate for clientAuth and on the listener; restricted', () => {
    for (const [tls, flags] of [
      [{ secretName: 'web-cert' }, ['--tls-ca=/etc/cachalot/tls/ca.crt', '--listen-tls-cert=/etc/cachalot/tls/tls.crt', '--listen-tls-key=/etc/cachalot/tls/tls.key']],
      [{ certManager: { issuerRef: { name: 'ca' } }, clientAuth: true }, ['--tls-ca=/etc/cachalot/tls/ca.crt', '--tls-cert=/etc/cachalot/tls/tls.crt', '--tls-key=/etc/cachalot/tls/tls.key',
        '--listen-tls-cert=/etc/cachalot/tls/tls.crt', '--listen-tls-key=/etc/cachalot/tls/tls.key', '--listen-tls-ca=/etc/cachalot/tls/ca.crt']],
    ] as const) {
      const d: any = buildRouterDeployment(cluster({ tls }));
      expect(() => new Deployment(d).validate()).not.toThrow();
      expect(restrictedViolations(podTemplateOf(d)!)).toEqual([]);
      const pod = d.spec.template.spec;
      const secretName = 'secretName' in tls ? tls.secretName : 'web-tls';
      expect(pod.volumes).toEqual([{ name: 'tls', secret: { secretName, defaultMode: 0o440 } }]);
      expect(pod.containers[0].volumeMounts).toEqual([{ name: 'tls', mountPath: '/etc/cachalot/tls', readOnly: true }]);
      // The files are 0440: readable through the fsGroup, as the servers read theirs.
      expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
      // The flags cachalot-sidecar reads (its parser also opens the files, which only the pod has).
      expect(pod.containers[0].args.slice(-flags.length)).toEqual(flags);
      expect(pod.containers[0].args.slice(0, -flags.length)).toEqual(buildRouterDeployment(cluster()).spec.template.spec.containers[0].args);
    }
  });

  it('with spec.auth: the auth Secret mounted whole; clients authenticate with its `auth` key, the servers see its `router` key', () => {
    const d: any = buildRouterDeployment(cluster({ auth: { secretName: 'web-auth' } }));
    expect(() => new Deployment(d).validate()).not.toThrow();
    expect(restrictedViolations(podTemplateOf(d)!)).toEqual([]);
    const pod = d.spec.template.spec;
    expect(pod.volumes).toEqual([{ name: 'auth', secret: { secretName: 'web-auth', defaultMode: 0o440 } }]);
    expect(pod.containers[0].volumeMounts).toEqual([{ name: 'auth', mountPath: '/etc/cachalot/auth', readOnly: true }]);
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
    const flags = ['--listen-auth-file=/etc/cachalot/auth/auth', '--auth-file=/etc/cachalot/auth/router'];
    expect(pod.containers[0].args.slice(-2)).toEqual(flags);
    expect(pod.containers[0].args.slice(0, -2)).toEqual(buildRouterDeployment(cluster()).spec.template.spec.containers[0].args);
    // The listener reads the very file the servers' -Y reads.
    const server: any = buildStatefulSet(cluster({ auth: { secretName: 'web-auth' } }));
    const serverArgs: string[] = server.spec.template.spec.containers[0].args;
    expect(serverArgs[serverArgs.indexOf('-Y') + 1]).toBe('/etc/cachalot/auth/auth');
    expect(server.spec.template.spec.volumes).toContainEqual(pod.volumes[0]);
  });

  it('the auth flags are cachalot-sidecar\'s: its parser takes them and opens the files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cachalot-router-auth-'));
    try {
      writeFileSync(join(dir, 'auth'), 'app:s3cret\n');
      writeFileSync(join(dir, 'router'), 'app s3cret\n');
      const d: any = buildRouterDeployment(cluster({ auth: { secretName: 'web-auth' } }));
      const args = d.spec.template.spec.containers[0].args.map((a: string) => a.replace('$(POD_NAMESPACE)', 'prod').replace('/etc/cachalot/auth', dir));
      const parsed = parseArgs(args);
      if (parsed.kind !== 'run') throw new Error('expected a run configuration');
      expect(parsed.config.listenAuthFile).toBe(join(dir, 'auth'));
      expect(parsed.config.upstreamSecurity.authFile).toBe(join(dir, 'router'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with spec.auth and spec.tls: both Secrets, auth first, and both sets of flags', () => {
    const d: any = buildRouterDeployment(cluster({ auth: { secretName: 'web-auth' }, tls: { secretName: 'web-cert', clientAuth: true } }));
    expect(() => new Deployment(d).validate()).not.toThrow();
    expect(restrictedViolations(podTemplateOf(d)!)).toEqual([]);
    const pod = d.spec.template.spec;
    expect(pod.volumes.map((v: any) => v.secret.secretName)).toEqual(['web-auth', 'web-cert']);
    expect(pod.containers[0].volumeMounts.map((m: any) => m.mountPath)).toEqual(['/etc/cachalot/auth', '/etc/cachalot/tls']);
    expect(pod.containers[0].args.filter((a: string) => a.includes('tls-') || a.includes('auth-file'))).toEqual([
      '--tls-ca=/etc/cachalot/tls/ca.crt', '--tls-cert=/etc/cachalot/tls/tls.crt', '--tls-key=/etc/cachalot/tls/tls.key',
      '--listen-tls-cert=/etc/cachalot/tls/tls.crt', '--listen-tls-key=/etc/cachalot/tls/tls.key', '--listen-tls-ca=/etc/cachalot/tls/ca.crt',
      '--listen-auth-file=/etc/cachalot/auth/auth', '--auth-file=/etc/cachalot/auth/router',
    ]);
  });

  it('replicas and resources come from spec.router; autoscale leaves replicas to the HPA', () => {
    const d: any = buildRouterDeployment(cluster({ router: { replicas: 5, image: 'r:1', imagePullPolicy: 'Always', resources: { requests: { cpu: '2' } } } }));
    expect(d.spec.replicas).toBe(5);
    expect(d.spec.template.spec.containers[0]).toMatchObject({ image: 'r:1', imagePullPolicy: 'Always', resources: { requests: { cpu: '2' } } });
    const auto: any = buildRouterDeployment(cluster({ router: { replicas: 5, autoscale: true } }));
    expect('replicas' in auto.spec).toBe(false);
    expect(() => new Deployment(auto).validate()).not.toThrow();
  });

  it('router pods are not selected by anything that selects servers, and the servers are not selected by the router', () => {
    const cc = cluster();
    const routerPod = buildRouterDeployment(cc).spec.template.metadata.labels;
    const serverPod = (buildStatefulSet(cc).spec.template.metadata as any).labels;
    const serverSelectors = [buildStatefulSet(cc).spec.selector.matchLabels, buildHeadlessService(cc).spec.selector, (buildPodDisruptionBudget(cc) as any).spec.selector.matchLabels, (buildServiceMonitor(cc) as any).spec.selector.matchLabels];
    for (const s of serverSelectors.slice(0, 3)) expect(selects(s, routerPod)).toBe(false);
    expect(selects(selectorLabels(cc), routerPod)).toBe(false);
    const routerSelector = buildRouterDeployment(cc).spec.selector.matchLabels;
    expect(selects(routerSelector, serverPod)).toBe(false);
    expect(selects((buildRouterPodDisruptionBudget(cc) as any).spec.selector.matchLabels, serverPod)).toBe(false);
  });

  it('the client Service selects the router pods once one is available, the servers before that and when disabled', () => {
    const cc = cluster();
    const routerPod = buildRouterDeployment(cc).spec.template.metadata.labels;
    const serverPod = (buildStatefulSet(cc).spec.template.metadata as any).labels;
    const svc: any = buildClientService(cc, { routerReady: true });
    expect(() => new Service(svc).validate()).not.toThrow();
    expect(selects(svc.spec.selector, routerPod)).toBe(true);
    expect(selects(svc.spec.selector, serverPod)).toBe(false);
    expect(svc.spec.ports).toEqual([{ name: 'memcached', port: 11211, targetPort: 'memcached', protocol: 'TCP' }]);
    expect(selects(buildClientService(cc, { routerReady: false }).spec.selector, serverPod)).toBe(true);
    expect(selects(buildClientService(cluster({ router: { enabled: false } }), { routerReady: true }).spec.selector, serverPod)).toBe(true);
  });

  it('the Role reads only the ring ConfigMap and is bound to the router ServiceAccount', () => {
    const sa: any = buildRouterServiceAccount(cluster());
    const role: any = buildRouterRole(cluster());
    const rb: any = buildRouterRoleBinding(cluster());
    for (const [M, o] of [[ServiceAccount, sa], [Role, role], [RoleBinding, rb]] as const) expect(() => new (M as any)(o).validate()).not.toThrow();
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['web-ring'], verbs: ['get', 'list', 'watch'] }]);
    expect(rb.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'prod' }]);
  });

  it('a PDB of maxUnavailable 1 with two or more replicas or an autoscaler, none for one fixed replica', () => {
    const pdb: any = buildRouterPodDisruptionBudget(cluster());
    expect(() => new PodDisruptionBudget(pdb).validate()).not.toThrow();
    expect(pdb.metadata.name).toBe('web-router');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(buildRouterPodDisruptionBudget(cluster({ router: { replicas: 1 } }))).toBeUndefined();
    expect(buildRouterPodDisruptionBudget(cluster({ router: { replicas: 1, autoscale: true } }))).toBeDefined();
  });
});
