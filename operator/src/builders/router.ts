/**
 * The router: cachalot-sidecar in proxy mode behind the client Service, so that an ordinary memcached client
 * given the one Service address reaches each key's owner on the ring whichever connection it uses (a
 * Service over the servers themselves would spread one client's keys over every member). Its pods read the
 * ring through the API (a watch sees a new ring within a second; a mounted ConfigMap can be a minute and
 * more late), which needs a ServiceAccount and a Role naming only the ring ConfigMap.
 *
 * With spec.tls the router mounts the servers' TLS Secret and verifies them with its `ca.crt`; with clientAuth
 * it presents the servers' own certificate as its client certificate (the Certificate the operator requests
 * then carries the client-auth usage too), so no second Secret has to exist before the router can start. Its
 * listener serves TLS with the same certificate, so that clients speak to the client Service as to a server. With
 * spec.auth it mounts the servers' auth Secret whole: its listener asks clients for the servers' own -Y file
 * (`--listen-auth-file`, key `auth`), so that the client Service admits only who a server would admit, and it
 * authenticates to the servers with the Secret's key `router` (`--auth-file`, one line `user password`). A key
 * of its own rather than a line of `auth`: a rotation changes `auth` in two steps (add the new pair, remove the
 * old), and a pair taken from it could be removed from a server's file before the router's copy changed; the
 * `router` key changes when the clients' credentials do, between those steps.
 *
 * Router pods carry their own `app.kubernetes.io/name`, so the StatefulSet, the headless Service, the
 * servers' PDB and the ServiceMonitor, which select `cachalot`, never see them. The servers' placement
 * (nodeSelector, tolerations, priority) is not copied: it is about SSDs and shards, not a stateless proxy.
 */
import { AUTH_SECRET_KEY, FIELD_MANAGER, MEMCACHED_PORT, ROUTER_AUTH_SECRET_KEY, SERVER_GID, SERVER_UID, withDefaults, type CacheCluster, type KubeFields, type ResourceRequirements } from '../api/types.js';
import { ringConfigMapName } from '../ring.js';
import { childMeta, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME } from './labels.js';
import { defaultContainerSecurityContext, HOSTNAME_TOPOLOGY_KEY } from './statefulset.js';
import { AUTH_DIR, AUTH_VOLUME, authVolumes, TLS_DIR, TLS_VOLUME, tlsVolumes } from './security.js';

export const ROUTER_CONTAINER = 'router';
/** cachalot-sidecar's default metrics port (server/src/sidecar/config.ts). */
export const ROUTER_METRICS_PORT = 9151;
/** Lets kube-proxy drop the endpoint before the router stops accepting, as the servers' preStop does. */
const ROUTER_PRESTOP_SLEEP_SECONDS = 5;
/** About 10-12 µs of CPU per request from clients that do not pipeline (docs/sidecar.md): 500m serves some
 * 40,000 such requests per second per pod; the HPA or spec.router.resources adjusts it. */
export const DEFAULT_ROUTER_RESOURCES: ResourceRequirements = { requests: { cpu: '500m', memory: '128Mi' }, limits: { memory: '512Mi' } };

export function routerName(cluster: string): string {
  return `${cluster}-router`;
}

export function routerSelectorLabels(cc: CacheCluster): Record<string, string> {
  return { [LABEL_NAME]: 'cachalot-router', [LABEL_INSTANCE]: cc.metadata.name };
}

function routerLabels(cc: CacheCluster): Record<string, string> {
  return { ...routerSelectorLabels(cc), [LABEL_COMPONENT]: 'router', [LABEL_MANAGED_BY]: FIELD_MANAGER };
}

function routerMeta(cc: CacheCluster) {
  const meta = childMeta(cc, routerName(cc.metadata.name));
  return { ...meta, labels: routerLabels(cc) };
}

/** The arguments cachalot-sidecar takes (server/src/sidecar/config.ts). */
export function routerArgs(cc: CacheCluster): string[] {
  return [
    `--ring-configmap=$(POD_NAMESPACE)/${ringConfigMapName(cc.metadata.name)}`,
    // The Service reaches it on the pod IP; the sidecar's default is loopback only.
    '--listen=0.0.0.0',
    `--port=${MEMCACHED_PORT}`,
    `--metrics-port=${ROUTER_METRICS_PORT}`,
    ...routerTlsArgs(cc),
    ...routerAuthArgs(cc),
  ];
}

/** cachalot-sidecar's auth flags (server/src/sidecar/config.ts), from the mounted auth Secret. */
export function routerAuthArgs(cc: CacheCluster): string[] {
  if (!cc.spec.auth) return [];
  return [`--listen-auth-file=${AUTH_DIR}/${AUTH_SECRET_KEY}`, `--auth-file=${AUTH_DIR}/${ROUTER_AUTH_SECRET_KEY}`];
}

/**
 * cachalot-sidecar's TLS flags (server/src/sidecar/config.ts), from the mounted TLS Secret: towards the servers,
 * and on its own listener with the servers' certificate (whose DNS names cover the client Service), asking
 * clients for a certificate from `ca.crt` with clientAuth, as the servers do.
 */
export function routerTlsArgs(cc: CacheCluster): string[] {
  const tls = cc.spec.tls;
  if (!tls) return [];
  return [
    `--tls-ca=${TLS_DIR}/ca.crt`, ...(tls.clientAuth ? [`--tls-cert=${TLS_DIR}/tls.crt`, `--tls-key=${TLS_DIR}/tls.key`] : []),
    `--listen-tls-cert=${TLS_DIR}/tls.crt`, `--listen-tls-key=${TLS_DIR}/tls.key`, ...(tls.clientAuth ? [`--listen-tls-ca=${TLS_DIR}/ca.crt`] : []),
  ];
}

export function buildRouterServiceAccount(cc: CacheCluster) {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: routerMeta(cc) };
}

/** Read access to the one ring ConfigMap: the sidecar lists and watches it with a metadata.name field selector. */
export function buildRouterRole(cc: CacheCluster) {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: routerMeta(cc),
    rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [ringConfigMapName(cc.metadata.name)], verbs: ['get', 'list', 'watch'] }],
  };
}

export function buildRouterRoleBinding(cc: CacheCluster) {
  const name = routerName(cc.metadata.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: routerMeta(cc),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: cc.metadata.namespace ?? 'default' }],
  };
}

/** Pod Security "restricted": non-root as the image's `node` user, no privilege escalation, no capabilities,
 * RuntimeDefault seccomp, read-only root (the sidecar writes no files). With spec.tls or spec.auth, the fsGroup
 * through which it reads the Secrets' files (mode 0440, as the servers'). */
function routerPodSecurityContext(cc: CacheCluster): KubeFields {
  const secrets = cc.spec.tls !== undefined || cc.spec.auth !== undefined;
  return { runAsNonRoot: true, runAsUser: SERVER_UID, runAsGroup: SERVER_GID, ...(secrets ? { fsGroup: SERVER_GID } : {}), seccompProfile: { type: 'RuntimeDefault' } };
}

function routerMounts(cc: CacheCluster): KubeFields[] {
  return [
    ...(cc.spec.auth ? [{ name: AUTH_VOLUME, mountPath: AUTH_DIR, readOnly: true }] : []),
    ...(cc.spec.tls ? [{ name: TLS_VOLUME, mountPath: TLS_DIR, readOnly: true }] : []),
  ];
}

/**
 * With spec.router.autoscale the Deployment has no `replicas`: the operator never owns the field, so it
 * never fights a HorizontalPodAutoscaler that scales the Deployment.
 */
export function buildRouterDeployment(cc: CacheCluster) {
  const spec = withDefaults(cc.spec);
  const r = spec.router;
  const selector = routerSelectorLabels(cc);
  const mounts = routerMounts(cc);
  const volumes = [...authVolumes(cc), ...tlsVolumes(cc)];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: routerMeta(cc),
    spec: {
      ...(r.autoscale ? {} : { replicas: r.replicas }),
      selector: { matchLabels: selector },
      // A new router pod is Ready (ring loaded) before an old one goes: the Service never loses capacity.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: routerLabels(cc) },
        spec: {
          serviceAccountName: routerName(cc.metadata.name),
          ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets } : {}),
          securityContext: routerPodSecurityContext(cc),
          containers: [
            {
              name: ROUTER_CONTAINER,
              image: r.image,
              ...(r.imagePullPolicy ? { imagePullPolicy: r.imagePullPolicy } : {}),
              args: routerArgs(cc),
              env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
              ports: [
                { name: 'memcached', containerPort: MEMCACHED_PORT, protocol: 'TCP' },
                { name: 'metrics', containerPort: ROUTER_METRICS_PORT, protocol: 'TCP' },
              ],
              resources: r.resources ?? DEFAULT_ROUTER_RESOURCES,
              // Ready once a ring is loaded; before that every key would be a miss.
              startupProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 1, failureThreshold: 60 },
              readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, failureThreshold: 3 },
              lifecycle: { preStop: { exec: { command: ['/bin/sleep', String(ROUTER_PRESTOP_SLEEP_SECONDS)] } } },
              securityContext: defaultContainerSecurityContext(),
              ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
            },
          ],
          ...(volumes.length > 0 ? { volumes } : {}),
          // Best effort, so that one node going away takes at most part of the routing tier.
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: HOSTNAME_TOPOLOGY_KEY, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector } }],
        },
      },
    },
  };
}

/** One router pod at a time may be evicted; undefined (none) for a single fixed replica, which a PDB of
 * maxUnavailable 1 would not protect and minAvailable 1 would block node drains on. */
export function buildRouterPodDisruptionBudget(cc: CacheCluster) {
  const { router } = withDefaults(cc.spec);
  if (!router.autoscale && router.replicas < 2) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: routerMeta(cc),
    spec: { maxUnavailable: 1, selector: { matchLabels: routerSelectorLabels(cc) } },
  };
}
