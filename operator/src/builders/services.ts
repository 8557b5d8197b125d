import { MEMCACHED_PORT, METRICS_PORT, withDefaults, type CacheCluster } from '../api/types.js';
import { headlessServiceName } from '../ring.js';
import { childMeta, LABEL_SERVICE_ROLE, selectorLabels } from './labels.js';
import { routerSelectorLabels } from './router.js';

const PORTS = [
  { name: 'memcached', port: MEMCACHED_PORT, targetPort: 'memcached', protocol: 'TCP' },
  { name: 'metrics', port: METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' },
];

/** Gives every member the stable DNS name the ring publishes. Not-ready addresses are published because the
 * ring names members by ordinal, not readiness: a restarting pod must stay resolvable. */
export function buildHeadlessService(cc: CacheCluster) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(cc, headlessServiceName(cc.metadata.name), { [LABEL_SERVICE_ROLE]: 'headless' }),
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: selectorLabels(cc), ports: PORTS },
  };
}

/** For clients without the sidecar: one address. It reaches the router pods, which send each key to its
 * owner, so a client's keys stay consistent whichever connection carries them; with spec.router.enabled
 * false it reaches any member (only right for clients that use one connection, or hash by the ring).
 * `routerReady` false (no router pod available yet, and the Service does not select them already) keeps the
 * members behind it meanwhile: an operator upgrade must not point running clients at nothing. */
export function buildClientService(cc: CacheCluster, options: { routerReady?: boolean } = { routerReady: true }) {
  const spec = withDefaults(cc.spec);
  const viaRouter = spec.router.enabled && options.routerReady !== false;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(cc, cc.metadata.name, { [LABEL_SERVICE_ROLE]: 'client' }, spec.service.annotations),
    spec: { type: spec.service.type, selector: viaRouter ? routerSelectorLabels(cc) : selectorLabels(cc), ports: [PORTS[0]!] },
  };
}
