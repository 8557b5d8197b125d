/**
 * CacheCluster (cachalot.io/v1alpha1): the one API the operator serves.
 *
 * These types and crds/cachecluster.yaml describe the same object. They are kept in step by
 * test/unit/operator/crd.test.ts, which walks a fully-populated CacheClusterSpec (whose literal the compiler
 * checks against these interfaces, key for key) and the CRD's OpenAPI schema and fails on any path or default
 * that one has and the other lacks. Validation lives in the CRD schema (STYLE rule 7); the defaults below are the
 * same values the schema declares, applied again in `withDefaults` so that objects written before a default
 * existed still reconcile.
 */

export const GROUP = 'cachalot.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'CacheCluster';
export const PLURAL = 'cacheclusters';
export const SHORT_NAME = 'cc';

/** Field manager for every server-side apply the operator sends. */
export const FIELD_MANAGER = 'cachalot-operator';

/** memcached's port; the ring's server strings omit it (ketama compatibility, see ring.ts). */
export const MEMCACHED_PORT = 11211;
/** memcached_exporter's port, which cachalot-server serves /metrics, /healthz and /readyz on. */
export const METRICS_PORT = 9150;

export const DEFAULTS = {
  replicas: 3,
  /** No registry publishes this image: the README builds it from the Dockerfile under this name, and a
   * cluster pulling from a registry sets spec.image. */
  image: 'cachalot/cachalot-server:0.1.0',
  threads: 2,
  memory: '1Gi',
  maxItemSize: '1m',
  flashSize: '10Gi',
  pdbMaxUnavailable: 1,
  monitoringEnabled: true,
  monitoringInterval: '30s',
  ringDrainSeconds: 60,
  /** A reader that mounts the ring ConfigMap sees a change up to about 90 s late: the kubelet re-syncs a pod's
   * volumes every syncFrequency (1 min) with up to 50% jitter, and the file source polls on top. 120 s covers
   * that with room; readers watching the API (the router, --ring-configmap sidecars) see it within a second. */
  ringTransitionSeconds: 120,
  routerEnabled: true,
  /** Two: one router pod can be evicted or restarting while the other serves (with a PDB of maxUnavailable 1). */
  routerReplicas: 2,
  routerAutoscale: false,
  /** The sidecar image (Dockerfile target `sidecar`), as examples/app-with-sidecar.yaml names it. */
  routerImage: 'cachalot/cachalot-sidecar:0.1.0',
  /** Two shards on one node fail together and share its disk; one per node is the safe default. */
  onePerNode: true,
  /** How long a member's node may be NotReady (or gone) before the member is rescheduled empty elsewhere. */
  nodeLossGracePeriodSeconds: 300,
  serviceType: 'ClusterIP' as const,
} as const;

export interface Quantityish {
  [resource: string]: string;
}

export interface ResourceRequirements {
  requests?: Quantityish;
  limits?: Quantityish;
}

export interface EnvVar {
  name: string;
  value?: string;
  /** Passed through untouched (secretKeyRef, fieldRef...). */
  valueFrom?: Record<string, unknown>;
}

export interface FlashSpec {
  /** PVC size, and the flash tier's size given to the server (-o ext_path=DIR:SIZE). */
  size?: string;
  /** Unset: the cluster's default StorageClass. examples/local-volumes.yaml sets up local PVs. */
  storageClassName?: string;
}

/** The uid and gid of the image's `node` user (Dockerfile): the kubelet can only check runAsNonRoot against a
 * numeric user, and fsGroup makes the flash volume writable by it. */
export const SERVER_UID = 1000;
export const SERVER_GID = 1000;

/** Free-form Kubernetes objects (PodSecurityContext, Affinity, Toleration...): the CRD preserves their fields
 * and the API server validates them when the StatefulSet is applied. */
export type KubeFields = Record<string, unknown>;

export interface LocalObjectReference {
  name: string;
}

export interface PodDisruptionBudgetSpec {
  enabled?: boolean;
  /** Integer or percentage. Mutually exclusive with minAvailable (CEL rule in the CRD). */
  maxUnavailable?: number | string;
  minAvailable?: number | string;
}

export interface MonitoringSpec {
  /** Create a ServiceMonitor (only when the monitoring.coreos.com CRD exists). */
  enabled?: boolean;
  interval?: string;
  /** Extra labels so a Prometheus serviceMonitorSelector picks it up. */
  labels?: Record<string, string>;
}

export interface RingSpec {
  /** How long leaving members stay in the ring as `draining` before the StatefulSet shrinks. */
  drainSeconds?: number;
  /** How long a changed ring carries `previous` (docs/ring.md); 0 publishes every ring without it. */
  transitionSeconds?: number;
  vnodes?: number;
}

/** The routing tier behind the client Service: cachalot-sidecar in proxy mode, as a Deployment. */
export interface RouterSpec {
  /** false: no router; the client Service then selects the servers themselves (one address, any member). */
  enabled?: boolean;
  replicas?: number;
  /** true: the Deployment carries no replicas field, so a HorizontalPodAutoscaler owns it. */
  autoscale?: boolean;
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Default: 500m CPU and 128Mi requested, 512Mi memory limit, no CPU limit (docs/sidecar.md, "Upstreams"). */
  resources?: ResourceRequirements;
}

export interface NodeLossRecoverySpec {
  /** Unset: on for members on local volumes (whose data cannot follow them to another node), off otherwise. */
  enabled?: boolean;
  gracePeriodSeconds?: number;
}

export interface ServiceSpec {
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  annotations?: Record<string, string>;
}

/** metav1.LabelSelector */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** The auth Secret's key holding memcached's -Y file: one `user:password` per line. */
export const AUTH_SECRET_KEY = 'auth';
/**
 * The auth Secret's key holding the router's own credential towards the servers: one line `user password`
 * (cachalot-sidecar's --auth-file), one of the pairs of the `auth` key.
 */
export const ROUTER_AUTH_SECRET_KEY = 'router';

export interface AuthSpec {
  /**
   * A Secret in the cluster's namespace whose key `auth` (AUTH_SECRET_KEY) is the server's -Y file; with the
   * router enabled, its key `router` (ROUTER_AUTH_SECRET_KEY) is the router's `user password`.
   */
  secretName: string;
}

export interface TlsSpec {
  /** A kubernetes.io/tls Secret: tls.crt, tls.key, and ca.crt (needed with clientAuth). */
  secretName?: string;
  /** The operator creates a cert-manager Certificate (cert-manager.io/v1) whose Secret the servers mount. */
  certManager?: { issuerRef: { name: string; kind?: string; group?: string } };
  /** Mutual TLS: servers refuse clients without a certificate signed by ca.crt (ssl_verify_mode=2). */
  clientAuth?: boolean;
}

export interface NetworkPolicySpec {
  enabled?: boolean;
  /** Pods admitted to the memcached port; in the cluster's namespace unless clientNamespaceSelector is set. */
  clientSelector?: LabelSelector;
  clientNamespaceSelector?: LabelSelector;
  /** The Prometheus scraper, admitted to the metrics port only. Unset: nothing but the node (probes) reaches it. */
  metricsScraper?: { namespaceSelector?: LabelSelector; podSelector?: LabelSelector };
}

export interface CacheClusterSpec {
  replicas?: number;
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  threads?: number;
  /** RAM tier (-m), a Kubernetes quantity. */
  memory?: string;
  /** -I, memcached's syntax (1m, 512k, 128m). */
  maxItemSize?: string;
  flash?: FlashSpec;
  imagePullSecrets?: LocalObjectReference[];
  serviceAccountName?: string;
  priorityClassName?: string;
  /** Added to the pods (the operator's own selector labels win over a clash). */
  podLabels?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  /** Replaces the default pod securityContext (non-root uid/gid 1000, fsGroup, seccomp RuntimeDefault). */
  podSecurityContext?: KubeFields;
  /** Replaces the default container securityContext (no privilege escalation, no capabilities, read-only root). */
  securityContext?: KubeFields;
  /** Derived from memory and threads when absent (builders/statefulset.ts). */
  resources?: ResourceRequirements;
  affinity?: KubeFields;
  tolerations?: KubeFields[];
  nodeSelector?: Record<string, string>;
  /** Default true: a required pod anti-affinity on kubernetes.io/hostname, added to `affinity`. */
  onePerNode?: boolean;
  /** Default: none when onePerNode; otherwise spread across nodes (kubernetes.io/hostname, ScheduleAnyway). */
  topologySpreadConstraints?: KubeFields[];
  podDisruptionBudget?: PodDisruptionBudgetSpec;
  monitoring?: MonitoringSpec;
  ring?: RingSpec;
  nodeLossRecovery?: NodeLossRecoverySpec;
  extraArgs?: string[];
  env?: EnvVar[];
  service?: ServiceSpec;
  auth?: AuthSpec;
  tls?: TlsSpec;
  networkPolicy?: NetworkPolicySpec;
  router?: RouterSpec;
}

/** metav1.Condition */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface RingStatus {
  version: number;
  members: number;
  draining?: number;
  /** The version `previous` names while a transition is in progress; absent otherwise. */
  previousVersion?: number;
}

export interface CacheClusterStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  /** Label selector string for the scale subresource (HorizontalPodAutoscaler). */
  selector?: string;
  ring?: RingStatus;
  conditions?: Condition[];
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface CacheCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: CacheClusterSpec;
  status?: CacheClusterStatus;
}

export const CONDITION_READY = 'Ready';
export const CONDITION_PROGRESSING = 'Progressing';
export const CONDITION_DEGRADED = 'Degraded';

/** A spec with every defaultable field filled: what builders take, so they never re-derive defaults. */
export interface ResolvedSpec {
  replicas: number;
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  threads: number;
  memory: string;
  maxItemSize: string;
  flash: { size: string; storageClassName?: string };
  imagePullSecrets?: LocalObjectReference[];
  serviceAccountName?: string;
  priorityClassName?: string;
  podLabels?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  podSecurityContext?: KubeFields;
  securityContext?: KubeFields;
  resources?: ResourceRequirements;
  affinity?: KubeFields;
  tolerations?: KubeFields[];
  nodeSelector?: Record<string, string>;
  onePerNode: boolean;
  topologySpreadConstraints?: KubeFields[];
  podDisruptionBudget: { enabled: boolean; maxUnavailable?: number | string; minAvailable?: number | string };
  monitoring: { enabled: boolean; interval: string; labels?: Record<string, string> };
  ring: { drainSeconds: number; transitionSeconds: number; vnodes: number };
  /** enabled undefined: decided per member by whether its volume is local (controller/nodeloss.ts). */
  nodeLossRecovery: { enabled?: boolean; gracePeriodSeconds: number };
  extraArgs: string[];
  env: EnvVar[];
  service: { type: 'ClusterIP' | 'NodePort' | 'LoadBalancer'; annotations?: Record<string, string> };
  auth?: AuthSpec;
  tls?: TlsSpec;
  networkPolicy: NetworkPolicySpec & { enabled: boolean };
  router: { enabled: boolean; replicas: number; autoscale: boolean; image: string; imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never'; resources?: ResourceRequirements };
}

/** libmemcached / twemproxy ketama: 40 points per server, 4 per md5 digest = 160 ring points. */
export const DEFAULT_VNODES = 40;

export function withDefaults(spec: CacheClusterSpec | undefined): ResolvedSpec {
  const s = spec ?? {};
  const pdb = s.podDisruptionBudget ?? {};
  const pdbBudget =
    pdb.minAvailable !== undefined
      ? { minAvailable: pdb.minAvailable }
      : { maxUnavailable: pdb.maxUnavailable ?? DEFAULTS.pdbMaxUnavailable };
  return {
    replicas: s.replicas ?? DEFAULTS.replicas,
    image: s.image ?? DEFAULTS.image,
    ...(s.imagePullPolicy ? { imagePullPolicy: s.imagePullPolicy } : {}),
    threads: s.threads ?? DEFAULTS.threads,
    memory: s.memory ?? DEFAULTS.memory,
    maxItemSize: s.maxItemSize ?? DEFAULTS.maxItemSize,
    flash: {
      size: s.flash?.size ?? DEFAULTS.flashSize,
      ...(s.flash?.storageClassName ? { storageClassName: s.flash.storageClassName } : {}),
    },
    ...(s.imagePullSecrets ? { imagePullSecrets: s.imagePullSecrets } : {}),
    ...(s.serviceAccountName ? { serviceAccountName: s.serviceAccountName } : {}),
    ...(s.priorityClassName ? { priorityClassName: s.priorityClassName } : {}),
    ...(s.podLabels ? { podLabels: s.podLabels } : {}),
    ...(s.podAnnotations ? { podAnnotations: s.podAnnotations } : {}),
    ...(s.podSecurityContext ? { podSecurityContext: s.podSecurityContext } : {}),
    ...(s.securityContext ? { securityContext: s.securityContext } : {}),
    ...(s.resources ? { resources: s.resources } : {}),
    ...(s.affinity ? { affinity: s.affinity } : {}),
    ...(s.tolerations ? { tolerations: s.tolerations } : {}),
    ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
    onePerNode: s.onePerNode ?? DEFAULTS.onePerNode,
    ...(s.topologySpreadConstraints ? { topologySpreadConstraints: s.topologySpreadConstraints } : {}),
    podDisruptionBudget: { enabled: pdb.enabled ?? true, ...pdbBudget },
    monitoring: {
      enabled: s.monitoring?.enabled ?? DEFAULTS.monitoringEnabled,
      interval: s.monitoring?.interval ?? DEFAULTS.monitoringInterval,
      ...(s.monitoring?.labels ? { labels: s.monitoring.labels } : {}),
    },
    ring: {
      drainSeconds: s.ring?.drainSeconds ?? DEFAULTS.ringDrainSeconds,
      transitionSeconds: s.ring?.transitionSeconds ?? DEFAULTS.ringTransitionSeconds,
      vnodes: s.ring?.vnodes ?? DEFAULT_VNODES,
    },
    nodeLossRecovery: {
      ...(s.nodeLossRecovery?.enabled !== undefined ? { enabled: s.nodeLossRecovery.enabled } : {}),
      gracePeriodSeconds: s.nodeLossRecovery?.gracePeriodSeconds ?? DEFAULTS.nodeLossGracePeriodSeconds,
    },
    extraArgs: s.extraArgs ?? [],
    env: s.env ?? [],
    service: {
      type: s.service?.type ?? DEFAULTS.serviceType,
      ...(s.service?.annotations ? { annotations: s.service.annotations } : {}),
    },
    ...(s.auth ? { auth: s.auth } : {}),
    ...(s.tls ? { tls: s.tls } : {}),
    networkPolicy: { ...s.networkPolicy, enabled: s.networkPolicy?.enabled ?? false },
    router: {
      enabled: s.router?.enabled ?? DEFAULTS.routerEnabled,
      replicas: s.router?.replicas ?? DEFAULTS.routerReplicas,
      autoscale: s.router?.autoscale ?? DEFAULTS.routerAutoscale,
      image: s.router?.image ?? DEFAULTS.routerImage,
      ...(s.router?.imagePullPolicy ? { imagePullPolicy: s.router.imagePullPolicy } : {}),
      ...(s.router?.resources ? { resources: s.router.resources } : {}),
    },
  };
}
