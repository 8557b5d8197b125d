/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * `cachalot-operator render -f FILE`: the objects it prints are the builders' own (the reconciler applies the
 * same functions), valid against the Kubernetes schemas and Pod Security "restricted", for every example.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Service } from 'kubernetes-models/v1/Service';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { PersistentVolume } from 'kubernetes-models/v1/PersistentVolume';
import { StorageClass } from 'kubernetes-models/storage.k8s.io/v1/StorageClass';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { buildStatefulSet, quantityBytes } from '../../../operator/src/builders/index.js';
import { PLACEHOLDER_UID, renderObjects, renderYaml } from '../../../operator/src/render.js';
import { podTemplateOf, restrictedViolations } from '../../support/pss.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'dist/operator/src/main.js');
/** prometheus-operator's and cert-manager's schemas are not in kubernetes-models (builders.test.ts checks the
 * ServiceMonitor's shape; test/k8s/security.test.ts applies the Certificate against cert-manager's CRD schema). */
const UNMODELLED = new Set(['ServiceMonitor', 'Certificate']);
const MODELS: Record<string, { new (o: any): { validate(): void } }> = { StatefulSet, Service, ConfigMap, PodDisruptionBudget, NetworkPolicy, Deployment, ServiceAccount, Role, RoleBinding };

const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml') && readFileSync(join(ROOT, 'examples', f), 'utf8').includes('kind: CacheCluster'));

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, timeout: 120_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as any).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('cachalot-operator render', () => {
  it('has CacheCluster examples to render', () => {
    expect(examples).toEqual(expect.arrayContaining(['cachecluster.yaml', 'cachecluster-production.yaml', 'cachecluster-secure.yaml']));
  });

  it('examples/cachecluster-secure.yaml also renders its NetworkPolicy and Certificate, after the other children', () => {
    const objs: any[] = renderObjects(readFileSync(join(ROOT, 'examples/cachecluster-secure.yaml'), 'utf8'));
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Service/web-headless',
      'ServiceAccount/web-router', 'Role/web-router', 'RoleBinding/web-router', 'Deployment/web-router', 'PodDisruptionBudget/web-router',
      'Service/web', 'ServiceAccount/web-server', 'Role/web-server', 'RoleBinding/web-server', 'StatefulSet/web', 'ConfigMap/web-ring', 'PodDisruptionBudget/web', 'ServiceMonitor/web', 'NetworkPolicy/web',
      'NetworkPolicy/web-router', 'Certificate/web-tls',
    ]);
    const args: string[] = objs.find((o) => o.kind === 'StatefulSet').spec.template.spec.containers[0].args;
    expect(args).toEqual(expect.arrayContaining(['-Y', '-Z']));
    // The router asks its clients for what the servers ask: a certificate from the CA, and the password.
    const routerArgs: string[] = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].args;
    expect(routerArgs).toEqual(expect.arrayContaining(['--listen-tls-ca=/etc/cachalot/tls/ca.crt', '--listen-auth-file=/etc/cachalot/auth/auth']));
  });

  it.each(examples)('examples/%s: every object validates and every pod template passes Pod Security "restricted"', (file) => {
    const objs: any[] = renderObjects(readFileSync(join(ROOT, 'examples', file), 'utf8'), file);
    expect(objs.map((o) => o.kind)).toEqual(expect.arrayContaining(['Service', 'StatefulSet', 'ConfigMap']));
    for (const o of objs) {
      if (UNMODELLED.has(o.kind)) continue;
      expect(() => new MODELS[o.kind]!(o).validate()).not.toThrow();
      const pod = podTemplateOf(o);
      if (pod) expect(restrictedViolations(pod)).toEqual([]);
    }
  });

  it('prints the builders\' objects in reconcile order, for every CacheCluster of a multi-document file', () => {
    const text = [
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: cache}',
      'apiVersion: cachalot.io/v1alpha1\nkind: CacheCluster\nmetadata: {name: a, namespace: cache}\nspec: {replicas: 2, monitoring: {enabled: false}}',
      'apiVersion: cachalot.io/v1alpha1\nkind: CacheCluster\nmetadata: {name: b, uid: 6b1e2a4c-0f0e-4c1a-9a57-2d1c0b9e7a11}\nspec: {podDisruptionBudget: {enabled: false}}',
    ].join('\n---\n');
    const objs: any[] = renderObjects(text);
    expect(objs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'Service/cache/a-headless', 'ServiceAccount/cache/a-router', 'Role/cache/a-router', 'RoleBinding/cache/a-router', 'Deployment/cache/a-router', 'PodDisruptionBudget/cache/a-router',
      'Service/cache/a', 'ServiceAccount/cache/a-server', 'Role/cache/a-server', 'RoleBinding/cache/a-server', 'StatefulSet/cache/a', 'ConfigMap/cache/a-ring', 'PodDisruptionBudget/cache/a',
      'Service/default/b-headless', 'ServiceAccount/default/b-router', 'Role/default/b-router', 'RoleBinding/default/b-router', 'Deployment/default/b-router', 'PodDisruptionBudget/default/b-router',
      'Service/default/b', 'ServiceAccount/default/b-server', 'Role/default/b-server', 'RoleBinding/default/b-server', 'StatefulSet/default/b', 'ConfigMap/default/b-ring', 'ServiceMonitor/default/b',
    ]);
    const sts = objs[10];
    expect(sts).toEqual(buildStatefulSet({ apiVersion: 'cachalot.io/v1alpha1', kind: 'CacheCluster', metadata: { name: 'a', namespace: 'cache', uid: PLACEHOLDER_UID }, spec: { replicas: 2, monitoring: { enabled: false } } }));
    // A uid from the file (kubectl get -o yaml output) is used in the owner references.
    expect(objs[23].metadata.ownerReferences[0].uid).toBe('6b1e2a4c-0f0e-4c1a-9a57-2d1c0b9e7a11');
    expect(JSON.parse(objs[11].data['ring.json']).members.map((m: any) => m.name)).toEqual(['a-0', 'a-1']);
    // The client Service reaches the router pods, never the servers directly.
    expect(objs[6].spec.selector).toEqual(objs[4].spec.selector.matchLabels);
    // The YAML form parses back to the same objects.
    expect(parseAllDocuments(renderYaml(text)).map((d) => d.toJS())).toEqual(objs);
  });

  it('refuses input it cannot render, naming the document or the cluster', () => {
    expect(() => renderObjects('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}', 'f.yaml')).toThrow('f.yaml: no CacheCluster (apiVersion cachalot.io/v1alpha1, kind CacheCluster) found');
    expect(() => renderObjects('apiVersion: cachalot.io/v1\nkind: CacheCluster\nmetadata: {name: x}', 'f.yaml')).toThrow('f.yaml: document 1: CacheCluster apiVersion must be cachalot.io/v1alpha1, got cachalot.io/v1');
    expect(() => renderObjects('apiVersion: cachalot.io/v1alpha1\nkind: CacheCluster\nmetadata: {name: x}\nspec: {memory: lots}', 'f.yaml')).toThrow('f.yaml: CacheCluster x: invalid quantity "lots"');
    expect(() => renderObjects('a: [', 'f.yaml')).toThrow(/^f\.yaml: document 1: /);
  });

  it('as a command: `cachalot-operator render -f FILE` and `npm run operator -- render -f FILE`', async () => {
    const file = 'examples/cachecluster.yaml';
    const direct = await run(process.execPath, [MAIN, 'render', '-f', file]);
    expect(direct.stderr).toBe('');
    expect(direct.code).toBe(0);
    expect(parseAllDocuments(direct.stdout).map((d) => d.toJS())).toEqual(renderObjects(readFileSync(join(ROOT, file), 'utf8')));
    const viaNpm = await run('npm', ['run', '--silent', 'operator', '--', 'render', '-f', file]);
    expect(viaNpm.code).toBe(0);
    expect(viaNpm.stdout).toBe(direct.stdout);
    const bad = await run(process.execPath, [MAIN, 'render']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('cachalot-operator render: render needs -f FILE');
  }, 120_000);

  it('examples/local-volumes.yaml: a WaitForFirstConsumer no-provisioner class and local PVs pinned to one node each, that a CacheCluster naming the class can bind', () => {
    const docs: any[] = parseAllDocuments(readFileSync(join(ROOT, 'examples/local-volumes.yaml'), 'utf8')).map((d) => d.toJS());
    const sc = docs.find((d) => d.kind === 'StorageClass');
    expect(() => new StorageClass(sc).validate()).not.toThrow();
    expect(sc).toMatchObject({ provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer' });
    const pvs = docs.filter((d) => d.kind === 'PersistentVolume');
    expect(pvs.length).toBeGreaterThanOrEqual(3);
    const nodes = new Set<string>();
    for (const pv of pvs) {
      expect(() => new PersistentVolume(pv).validate()).not.toThrow();
      expect(pv.spec.storageClassName).toBe(sc.metadata.name);
      expect(pv.spec.local.path).toMatch(/^\//);
      const [term] = pv.spec.nodeAffinity.required.nodeSelectorTerms;
      expect(term.matchExpressions[0]).toMatchObject({ key: 'kubernetes.io/hostname', operator: 'In' });
      nodes.add(term.matchExpressions[0].values[0]);
    }
    expect(nodes.size).toBe(pvs.length);
    // The claim a CacheCluster makes with this class fits these PVs: same class and access mode, size within capacity.
    const sts: any = renderObjects(`apiVersion: cachalot.io/v1alpha1\nkind: CacheCluster\nmetadata: {name: web}\nspec: {flash: {storageClassName: ${sc.metadata.name}}}`).find((o: any) => o.kind === 'StatefulSet');
    const claim = sts.spec.volumeClaimTemplates[0].spec;
    expect(claim.storageClassName).toBe(sc.metadata.name);
    for (const pv of pvs) {
      expect(pv.spec.accessModes).toEqual(expect.arrayContaining(claim.accessModes));
      expect(quantityBytes(pv.spec.capacity.storage)).toBeGreaterThanOrEqual(quantityBytes(claim.resources.requests.storage));
    }
  });
});
