import { API_VERSION, FIELD_MANAGER, KIND, type CacheCluster, type OwnerReference } from '../api/types.js';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
/** Distinguishes the headless Service (which the ServiceMonitor selects) from the client Service. */
export const LABEL_SERVICE_ROLE = 'cachalot.io/service';

/** Immutable once a StatefulSet exists (its selector cannot change), so only name and instance. */
export function selectorLabels(cc: CacheCluster): Record<string, string> {
  return { [LABEL_NAME]: 'cachalot', [LABEL_INSTANCE]: cc.metadata.name };
}

export function commonLabels(cc: CacheCluster): Record<string, string> {
  return { ...selectorLabels(cc), [LABEL_COMPONENT]: 'cache', [LABEL_MANAGED_BY]: FIELD_MANAGER };
}

export function selectorString(cc: CacheCluster): string {
  return Object.entries(selectorLabels(cc))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function ownerReference(cc: CacheCluster): OwnerReference {
  if (!cc.metadata.uid) throw new Error(`CacheCluster ${cc.metadata.name} has no uid: it must be read from the API server`);
  return { apiVersion: API_VERSION, kind: KIND, name: cc.metadata.name, uid: cc.metadata.uid, controller: true, blockOwnerDeletion: true };
}

/** metadata for every child: same namespace, common labels, one controller owner reference. */
export function childMeta(cc: CacheCluster, name: string, extraLabels: Record<string, string> = {}, annotations?: Record<string, string>) {
  return {
    name,
    namespace: cc.metadata.namespace ?? 'default',
    labels: { ...commonLabels(cc), ...extraLabels },
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    ownerReferences: [ownerReference(cc)],
  };
}
