/**
 * examples/app-with-sidecar.yaml, the way users add the sidecar to an application: every object passes the
 * Kubernetes schemas (kubernetes-models), the sidecar's arguments are accepted by its own parser, and the
 * pieces agree with each other and with examples/cachecluster.yaml (the ring ConfigMap the operator
 * publishes for that cluster, the Role that lets the sidecar watch it, the probes on the metrics port).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { REPO_ROOT } from '../../support/servers.js';
import { restrictedViolations } from '../../support/pss.js';
import { parseArgs } from '../../../server/src/sidecar/config.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const docs: any[] = parseAllDocuments(readFileSync(join(REPO_ROOT, 'examples', 'app-with-sidecar.yaml'), 'utf8')).map((d) => d.toJSON());
const cluster: any = parse(readFileSync(join(REPO_ROOT, 'examples', 'cachecluster.yaml'), 'utf8'));
const byKind = (kind: string): any => {
  const found = docs.filter((d) => d.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
};

test('every object passes the Kubernetes schemas', () => {
  expect(docs.map((d) => d.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'Deployment']);
  expect(() => new ServiceAccount(byKind('ServiceAccount')).validate()).not.toThrow();
  expect(() => new Role(byKind('Role')).validate()).not.toThrow();
  expect(() => new RoleBinding(byKind('RoleBinding')).validate()).not.toThrow();
  expect(() => new Deployment(byKind('Deployment')).validate()).not.toThrow();
  // The check can fail: a misspelt field is refused.
  const bad = structuredClone(byKind('Deployment'));
  bad.spec.template.spec.initContainers[0].restartPolicy = 7;
  expect(() => new Deployment(bad).validate()).toThrow();
});

test('the sidecar is a native sidecar whose arguments its own parser accepts, on the cluster\'s ring', () => {
  const pod = byKind('Deployment').spec.template.spec;
  const sidecar = pod.initContainers.find((c: any) => c.name === 'cachalot-sidecar');
  expect(sidecar.restartPolicy).toBe('Always');
  // Kubernetes expands $(POD_NAMESPACE) from the env entry (the downward API) before the process sees it.
  expect(sidecar.env.find((e: any) => e.name === 'POD_NAMESPACE').valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
  const args = sidecar.args.map((a: string) => a.replace('$(POD_NAMESPACE)', 'default'));
  const parsed = parseArgs(args);
  if (parsed.kind !== 'run') throw new Error('expected a run configuration');
  const ringName = `${cluster.metadata.name}-ring`;
  expect(parsed.config.ringConfigMap).toEqual({ namespace: 'default', name: ringName });
  expect(parsed.config.listen).toBe('127.0.0.1');
  expect(parsed.config.port).toBe(11211);
  // The application talks to that port.
  const app = pod.containers.find((c: any) => c.name === 'app');
  expect(app.env.find((e: any) => e.name === 'MEMCACHED_SERVERS').value).toBe(`127.0.0.1:${parsed.config.port}`);
  // Probes on the metrics port, at the paths the sidecar serves.
  const metricsPort = sidecar.ports.find((p: any) => p.name === 'metrics').containerPort;
  expect(metricsPort).toBe(parsed.config.metricsPort);
  for (const probe of [sidecar.startupProbe, sidecar.readinessProbe, sidecar.livenessProbe]) {
    expect(probe.httpGet.port).toBe('metrics');
    expect(['/readyz', '/healthz']).toContain(probe.httpGet.path);
  }
  // No CPU limit (spinning under a fractional limit is turned off by the sidecar itself, but none is set).
  expect(sidecar.resources.limits.cpu).toBeUndefined();
  // runAsNonRoot needs a numeric user the kubelet can check: the image's own (the Dockerfile's USER uid:gid).
  expect(sidecar.securityContext.runAsNonRoot).toBe(true);
  const user = /^USER (\d+):(\d+)$/m.exec(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  expect(user).not.toBeNull();
  expect(sidecar.securityContext.runAsUser).toBe(Number(user![1]));
  // The sidecar container passes Pod Security "restricted" (the application container is the user's).
  expect(restrictedViolations({ spec: { containers: [sidecar] } })).toEqual([]);
});

test('the Role lets the pod\'s service account read exactly the ring ConfigMap, with the verbs the watch uses', () => {
  const role = byKind('Role');
  const binding = byKind('RoleBinding');
  const pod = byKind('Deployment').spec.template.spec;
  expect(role.rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: [`${cluster.metadata.name}-ring`], verbs: ['get', 'list', 'watch'] }]);
  expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
  expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: pod.serviceAccountName }]);
  expect(byKind('ServiceAccount').metadata.name).toBe(pod.serviceAccountName);
});

test('the sidecar mounts the TLS and auth Secrets whole and read-only, optional so the manifest runs beside a plain cluster', () => {
  const pod = byKind('Deployment').spec.template.spec;
  const sidecar = pod.initContainers.find((c: any) => c.name === 'cachalot-sidecar');
  expect(pod.volumes.map((v: any) => [v.name, v.secret.optional, v.secret.defaultMode])).toEqual([['cache-tls', true, 0o440], ['cache-auth', true, 0o440]]);
  expect(pod.securityContext.fsGroup).toBe(sidecar.securityContext.runAsGroup);
  for (const m of sidecar.volumeMounts) {
    expect(m.readOnly).toBe(true);
    // A subPath mount never sees a renewed certificate or a rotated password.
    expect(m).not.toHaveProperty('subPath');
  }
  // The flags that read these files are named in the manifest, on the paths mounted here.
  const text = readFileSync(join(REPO_ROOT, 'examples', 'app-with-sidecar.yaml'), 'utf8');
  const mountOf = (name: string) => sidecar.volumeMounts.find((m: any) => m.name === name).mountPath;
  for (const flag of [`--tls-ca=${mountOf('cache-tls')}/ca.crt`, `--tls-cert=${mountOf('cache-tls')}/tls.crt`, `--tls-key=${mountOf('cache-tls')}/tls.key`, `--auth-file=${mountOf('cache-auth')}/credentials`]) {
    expect(text).toContain(flag);
  }
});
