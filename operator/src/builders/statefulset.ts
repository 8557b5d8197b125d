import { MEMCACHED_PORT, METRICS_PORT, SERVER_GID, SERVER_UID, withDefaults, type CacheCluster, type KubeFields, type ResourceRequirements, type ResolvedSpec } from '../api/types.js';
import { headlessServiceName, ringConfigMapName } from '../ring.js';
import { childMeta, commonLabels, selectorLabels } from './labels.js';
import { mebibytes, quantityBytes } from './quantity.js';
import { securityArgs, securityMounts, securityVolumes } from './security.js';
import { serverServiceAccountName } from './serveraccess.js';

export const FLASH_VOLUME = 'flash';
export const DATA_DIR = '/data';
export const FLASH_DIR = `${DATA_DIR}/flash`;
export const CONTAINER_NAME = 'cachalot';

/** Beside `-m`: Node's runtime, the index, connection buffers, the flash tier's part that does not fit in `-m`
 * (with a small `-m` the RAM tier keeps half of it) and each worker thread's own heap. A server filled to
 * `-m` with 100 B .. 100 KiB values and the flash tier on peaked at 206 MiB (`-m 64 -t 1`), 318 MiB
 * (`-m 64 -t 8`, ~16 MiB per thread), 449 MiB (`-m 256 -t 4`) and 1,262 MiB (`-m 1024 -t 2`, the CR's
 * defaults): 1/8 of `-m` + 128 MiB + 24 MiB per thread covers each with 50 MiB or more to spare, where the
 * former 1/8 + 64 MiB left the defaults 46 MiB short of their peak (an OOM kill once the cache fills). */
const MEMORY_OVERHEAD_FIXED_MIB = 128;
const MEMORY_OVERHEAD_PER_THREAD_MIB = 24;
const MEMORY_OVERHEAD_FRACTION = 0.125;
/** The flash log files are given 90% of the claim: filesystem metadata and the file being reclaimed need the rest. */
const FLASH_USABLE_FRACTION = 0.9;
/** SIGTERM writes RAM items to flash. 100 MiB/s is a conservative floor for a local SSD under a cold page
 * cache; 30 s covers draining connections and the preStop pause. */
const FLUSH_MIB_PER_SECOND = 100;
const TERMINATION_BASE_SECONDS = 30;
/** Lets kube-proxy and sidecars see the endpoint go before the server stops accepting. An exec of the image's
 * /bin/sleep rather than the lifecycle `sleep` action, which needs Kubernetes 1.30 (the chart supports 1.27). */
const PRESTOP_SLEEP_SECONDS = 5;
export const HOSTNAME_TOPOLOGY_KEY = 'kubernetes.io/hostname';

/** Pod Security "restricted" as rendered. The server writes only under the flash mount (its files and lock),
 * so the root filesystem can be read-only. fsGroup makes a freshly formatted (root-owned) volume writable by
 * the server's gid; OnRootMismatch skips the recursive chown on restarts once the volume root is right,
 * which on a large flash tier would otherwise delay every start. */
export function defaultPodSecurityContext(): KubeFields {
  return {
    runAsNonRoot: true,
    runAsUser: SERVER_UID,
    runAsGroup: SERVER_GID,
    fsGroup: SERVER_GID,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function defaultContainerSecurityContext(): KubeFields {
  return { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
}

export function derivedResources(spec: ResolvedSpec): ResourceRequirements {
  const memMiB = mebibytes(quantityBytes(spec.memory));
  const total = Math.ceil(memMiB * (1 + MEMORY_OVERHEAD_FRACTION) + MEMORY_OVERHEAD_FIXED_MIB + MEMORY_OVERHEAD_PER_THREAD_MIB * spec.threads);
  // No CPU limit: CFS throttling shows up as tail latency in a cache; request one core per worker thread.
  return { requests: { cpu: String(spec.threads), memory: `${total}Mi` }, limits: { memory: `${total}Mi` } };
}

export function terminationGraceSeconds(spec: ResolvedSpec): number {
  const memMiB = mebibytes(quantityBytes(spec.memory));
  return TERMINATION_BASE_SECONDS + PRESTOP_SLEEP_SECONDS + Math.ceil(memMiB / FLUSH_MIB_PER_SECOND);
}

export interface StatefulSetOptions {
  /** Pass `--ring-configmap NS/NAME --ring-member POD` so each server follows the ring and purges the keys
   * it no longer owns (docs/ring.md, "Servers"); the pods run as a ServiceAccount whose Role reads the ring
   * ConfigMap (builders/serveraccess.ts). Default true; false gives servers that do not follow the ring. */
  ringArgs?: boolean;
}

/** The ring flags a server gets with StatefulSetOptions.ringArgs; POD_NAME is the pod's env (downward API),
 * which the kubelet expands in `$(POD_NAME)`. */
export function serverRingArgs(cc: CacheCluster): string[] {
  return ['--ring-configmap', `${cc.metadata.namespace ?? 'default'}/${ringConfigMapName(cc.metadata.name)}`, '--ring-member', '$(POD_NAME)'];
}

/** cachalot-server takes memcached's flags (DESIGN.md, server/src/cache/config.ts). */
export function serverArgs(spec: ResolvedSpec): string[] {
  const memMiB = mebibytes(quantityBytes(spec.memory));
  const flashMiB = Math.floor(mebibytes(quantityBytes(spec.flash.size)) * FLASH_USABLE_FRACTION);
  return [
    '-p', String(MEMCACHED_PORT),
    '-m', String(memMiB),
    '-t', String(spec.threads),
    '-I', spec.maxItemSize,
    '-o', `ext_path=${FLASH_DIR}:${flashMiB}m`,
    ...securityArgs(spec),
    ...spec.extraArgs,
  ];
}

/** Used only with onePerNode off: then a cluster with fewer nodes than servers still runs, spread best effort. */
export function defaultTopologySpread(cc: CacheCluster): KubeFields[] {
  return [{ maxSkew: 1, topologyKey: HOSTNAME_TOPOLOGY_KEY, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selectorLabels(cc) } }];
}

/** The user's affinity plus a required anti-affinity between this cluster's pods per node (onePerNode). */
export function podAffinity(cc: CacheCluster, spec: ResolvedSpec): KubeFields | undefined {
  if (!spec.onePerNode) return spec.affinity;
  const user = spec.affinity ?? {};
  const anti = (user.podAntiAffinity ?? {}) as KubeFields;
  const required = (anti.requiredDuringSchedulingIgnoredDuringExecution ?? []) as KubeFields[];
  const term = { labelSelector: { matchLabels: selectorLabels(cc) }, topologyKey: HOSTNAME_TOPOLOGY_KEY };
  return { ...user, podAntiAffinity: { ...anti, requiredDuringSchedulingIgnoredDuringExecution: [...required, term] } };
}

export function buildStatefulSet(cc: CacheCluster, replicas?: number, options: StatefulSetOptions = {}) {
  const spec = withDefaults(cc.spec);
  const name = cc.metadata.name;
  const affinity = podAffinity(cc, spec);
  const spread = spec.topologySpreadConstraints ?? (spec.onePerNode ? undefined : defaultTopologySpread(cc));
  const followRing = options.ringArgs ?? true;
  const podSpec: KubeFields = {
    terminationGracePeriodSeconds: terminationGraceSeconds(spec),
    // The token lets the server watch its ring; the pod asks for it because the operator's ServiceAccount
    // (and perhaps the user's) does not mount one by default.
    ...(followRing
      ? { serviceAccountName: serverServiceAccountName(cc), automountServiceAccountToken: true }
      : spec.serviceAccountName ? { serviceAccountName: spec.serviceAccountName } : {}),
    ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets } : {}),
    ...(spec.priorityClassName ? { priorityClassName: spec.priorityClassName } : {}),
    securityContext: spec.podSecurityContext ?? defaultPodSecurityContext(),
    containers: [
      {
        name: CONTAINER_NAME,
        image: spec.image,
        ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
        args: followRing ? [...serverArgs(spec), ...serverRingArgs(cc)] : serverArgs(spec),
        ports: [
          { name: 'memcached', containerPort: MEMCACHED_PORT, protocol: 'TCP' },
          { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
        ],
        env: [
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'CACHALOT_CLUSTER', value: name },
          ...spec.env,
        ],
        resources: spec.resources ?? derivedResources(spec),
        readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5, failureThreshold: 2 },
        // Recovery from flash can take a while on a big tier; the startup probe holds off liveness until /healthz answers.
        startupProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 5, failureThreshold: 120 },
        livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, failureThreshold: 3 },
        lifecycle: { preStop: { exec: { command: ['/bin/sleep', String(PRESTOP_SLEEP_SECONDS)] } } },
        securityContext: spec.securityContext ?? defaultContainerSecurityContext(),
        volumeMounts: [{ name: FLASH_VOLUME, mountPath: DATA_DIR }, ...securityMounts(spec)],
      },
    ],
    ...(spec.auth || spec.tls ? { volumes: securityVolumes(cc, spec) } : {}),
    ...(spread ? { topologySpreadConstraints: spread } : {}),
    ...(affinity ? { affinity } : {}),
    ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
    ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: childMeta(cc, name),
    spec: {
      replicas: replicas ?? spec.replicas,
      serviceName: headlessServiceName(name),
      // Members are independent shards: start and stop them together rather than one at a time.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(cc) },
      updateStrategy: { type: 'RollingUpdate' },
      // A claim left behind by a scale-down would hold values that went stale while the member was out of
      // the ring; a later scale-up must start that member empty, so claims go with their pods.
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete', whenDeleted: 'Delete' },
      template: {
        metadata: {
          labels: { ...spec.podLabels, ...commonLabels(cc) },
          ...(spec.podAnnotations ? { annotations: spec.podAnnotations } : {}),
        },
        spec: podSpec,
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: FLASH_VOLUME, labels: commonLabels(cc) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(spec.flash.storageClassName ? { storageClassName: spec.flash.storageClassName } : {}),
            resources: { requests: { storage: spec.flash.size } },
          },
        },
      ],
    },
  };
}

export function pvcName(cluster: string, ordinal: number): string {
  return `${FLASH_VOLUME}-${cluster}-${ordinal}`;
}
