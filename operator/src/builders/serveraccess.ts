/**
 * The servers' read access to their ring: each server follows the ring ConfigMap through the API
 * (`--ring-configmap`, docs/ring.md "Servers") and purges the keys it no longer owns, which needs a
 * ServiceAccount token in the pod and a Role that reads only `<name>-ring`.
 *
 * With `spec.serviceAccountName` the pods run as the user's ServiceAccount (which may carry other grants, an
 * image pull secret or a cloud identity): the operator binds its Role to that account and creates none of its
 * own. Otherwise the pods run as `<name>-server`, created here.
 *
 * The operator's own ServiceAccount does not mount its token into every pod that names it
 * (automountServiceAccountToken false); the server pod asks for it explicitly (builders/statefulset.ts), so
 * only the servers hold a token, and one that can only read the ring.
 */
import type { CacheCluster } from '../api/types.js';
import { ringConfigMapName } from '../ring.js';
import { childMeta } from './labels.js';

export function serverAccessName(cluster: string): string {
  return `${cluster}-server`;
}

/** The ServiceAccount the server pods run as. */
export function serverServiceAccountName(cc: CacheCluster): string {
  return cc.spec.serviceAccountName ?? serverAccessName(cc.metadata.name);
}

/** undefined when the user names the pods' ServiceAccount (spec.serviceAccountName). */
export function buildServerServiceAccount(cc: CacheCluster) {
  if (cc.spec.serviceAccountName) return undefined;
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: childMeta(cc, serverAccessName(cc.metadata.name)), automountServiceAccountToken: false };
}

/** Read access to the one ring ConfigMap: the server lists and watches it with a metadata.name field selector,
 * which kube-apiserver authorizes against resourceNames. */
export function buildServerRole(cc: CacheCluster) {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: childMeta(cc, serverAccessName(cc.metadata.name)),
    rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [ringConfigMapName(cc.metadata.name)], verbs: ['get', 'list', 'watch'] }],
  };
}

export function buildServerRoleBinding(cc: CacheCluster) {
  const name = serverAccessName(cc.metadata.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: childMeta(cc, name),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: serverServiceAccountName(cc), namespace: cc.metadata.namespace ?? 'default' }],
  };
}
