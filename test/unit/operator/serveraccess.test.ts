/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The servers follow their ring (builders/serveraccess.ts, builders/statefulset.ts): ring flags naming the
 * ConfigMap and the pod, a ServiceAccount token in the pod, and a Role that reads only the ring ConfigMap.
 * Pure builders, checked against the Kubernetes schemas and Pod Security "restricted".
 */
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { API_VERSION, KIND, type CacheCluster, type CacheClusterSpec } from '../../../operator/src/api/types.js';
import { buildServerRole, buildServerRoleBinding, buildServerServiceAccount, buildStatefulSet } from '../../../operator/src/builders/index.js';
import { parseArgs } from '../../../server/src/cache/config.js';
import { podTemplateOf, restrictedViolations } from '../../support/pss.js';

function cluster(spec: CacheClusterSpec = {}): CacheCluster {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web', namespace: 'prod', uid: 'uid-1', generation: 1 }, spec };
}

const podSpec = (sts: any) => sts.spec.template.spec;

describe('servers follow the ring', () => {
  it('by default: --ring-configmap names the ring ConfigMap, --ring-member the pod through $(POD_NAME)', () => {
    const sts: any = buildStatefulSet(cluster(), 3);
    expect(() => new StatefulSet(sts).validate()).not.toThrow();
    const c = podSpec(sts).containers[0];
    expect(c.args.slice(-4)).toEqual(['--ring-configmap', 'prod/web-ring', '--ring-member', '$(POD_NAME)']);
    // $(POD_NAME) expands only from an env var the container declares, and only one declared before use.
    expect(c.env[0]).toEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    // What the kubelet hands the server once it has expanded the reference: flags the server accepts.
    const expanded = c.args.map((a: string) => a.replace('$(POD_NAME)', 'web-1'));
    const parsed = parseArgs(expanded, {});
    if (parsed.kind !== 'run') throw new Error(parsed.text);
    const cfg = parsed.config;
    expect(cfg.ringConfigMap).toEqual({ namespace: 'prod', name: 'web-ring' });
    expect(cfg.ringMember).toBe('web-1');
  });

  it('the pod runs as <name>-server with its token mounted, and stays "restricted"', () => {
    const sts: any = buildStatefulSet(cluster(), 3);
    expect(podSpec(sts)).toMatchObject({ serviceAccountName: 'web-server', automountServiceAccountToken: true });
    expect(restrictedViolations(podTemplateOf(sts)!)).toEqual([]);
  });

  it('ringArgs: false gives servers that do not follow the ring and no ServiceAccount of ours', () => {
    const spec = podSpec(buildStatefulSet(cluster(), 3, { ringArgs: false }));
    expect(spec.containers[0].args.some((a: string) => a.startsWith('--ring'))).toBe(false);
    expect(spec).not.toHaveProperty('serviceAccountName');
    expect(spec).not.toHaveProperty('automountServiceAccountToken');
  });

  it('a Role that reads only the ring ConfigMap, bound to the ServiceAccount, all owned by the CacheCluster', () => {
    const sa: any = buildServerServiceAccount(cluster());
    const role: any = buildServerRole(cluster());
    const binding: any = buildServerRoleBinding(cluster());
    expect(() => new ServiceAccount(sa).validate()).not.toThrow();
    expect(() => new Role(role).validate()).not.toThrow();
    expect(() => new RoleBinding(binding).validate()).not.toThrow();
    expect(sa.metadata).toMatchObject({ name: 'web-server', namespace: 'prod' });
    // Only the pods that ask for a token get one (the server pod does).
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['web-ring'], verbs: ['get', 'list', 'watch'] }]);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'web-server' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'web-server', namespace: 'prod' }]);
    for (const o of [sa, role, binding]) expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'CacheCluster', name: 'web', uid: 'uid-1', controller: true })]);
  });

  it('with spec.serviceAccountName the pods run as that account, and the Role is bound to it', () => {
    const cc = cluster({ serviceAccountName: 'cache' });
    expect(buildServerServiceAccount(cc)).toBeUndefined();
    expect(podSpec(buildStatefulSet(cc, 3))).toMatchObject({ serviceAccountName: 'cache', automountServiceAccountToken: true });
    expect((buildServerRoleBinding(cc) as any).subjects).toEqual([{ kind: 'ServiceAccount', name: 'cache', namespace: 'prod' }]);
  });
});
