/**
 * Resource registry of the API server double: what discovery advertises and how each kind behaves (scope,
 * subresources, schema for custom resources). Built-in kinds are declared here; custom kinds are registered
 * when a CustomResourceDefinition is created, exactly as the real apiextensions-apiserver does.
 */

export interface ScaleSpec {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface JSONSchema {
  type?: string;
  properties?: Record<string, JSONSchema>;
  items?: JSONSchema;
  additionalProperties?: JSONSchema | boolean;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  anyOf?: JSONSchema[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message?: string; messageExpression?: string; reason?: string; fieldPath?: string }[];
}

export interface ResourceDef {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  status: boolean;
  scale?: ScaleSpec;
  /** Custom resources only: structural schema used for defaulting, pruning and validation. */
  schema?: JSONSchema;
  printerColumns?: PrinterColumn[];
  /** The CRD that registered this resource, if any. */
  crdName?: string;
}

export function groupVersion(def: { group: string; version: string }): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

const STS_SCALE: ScaleSpec = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' };

function core(kind: string, plural: string, namespaced: boolean, status = false, shortNames?: string[]): ResourceDef {
  return { group: '', version: 'v1', kind, plural, singular: kind.toLowerCase(), namespaced, status, ...(shortNames ? { shortNames } : {}) };
}

export const BUILTINS: ResourceDef[] = [
  core('Namespace', 'namespaces', false, true, ['ns']),
  core('Node', 'nodes', false, true, ['no']),
  core('Pod', 'pods', true, true, ['po']),
  core('Service', 'services', true, true, ['svc']),
  core('ConfigMap', 'configmaps', true, false, ['cm']),
  core('Secret', 'secrets', true),
  core('ServiceAccount', 'serviceaccounts', true, false, ['sa']),
  core('Event', 'events', true, false, ['ev']),
  core('PersistentVolumeClaim', 'persistentvolumeclaims', true, true, ['pvc']),
  core('PersistentVolume', 'persistentvolumes', false, true, ['pv']),
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', singular: 'statefulset', namespaced: true, status: true, scale: STS_SCALE, shortNames: ['sts'] },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', singular: 'deployment', namespaced: true, status: true, scale: STS_SCALE, shortNames: ['deploy'] },
  { group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', plural: 'storageclasses', singular: 'storageclass', namespaced: false, status: false, shortNames: ['sc'] },
  { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', singular: 'poddisruptionbudget', namespaced: true, status: true, shortNames: ['pdb'] },
  { group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', singular: 'networkpolicy', namespaced: true, status: false, shortNames: ['netpol'] },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', singular: 'lease', namespaced: true, status: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', singular: 'clusterrole', namespaced: false, status: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', singular: 'clusterrolebinding', namespaced: false, status: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', singular: 'role', namespaced: true, status: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', singular: 'rolebinding', namespaced: true, status: false },
  { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', singular: 'customresourcedefinition', namespaced: false, status: true, shortNames: ['crd', 'crds'] },
];

/** Verbs advertised in discovery; kubectl refuses `scale`/`apply` on resources that do not list them. */
export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
