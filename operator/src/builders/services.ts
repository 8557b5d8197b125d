import { MEMCACHED_PORT, METRICS_PORT, withDefaults, type CacheCluster } from '../api/types.js';
import { headlessServiceName } from '../ring.js';
import { childMeta, LABEL_SERVICE_ROLE, selectorLabels } from './labels.js';

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

/** For clients without the sidecar: one address, any member (those clients do their own hashing, or not). */
export function buildClientService(cc: CacheCluster) {
  const spec = withDefaults(cc.spec);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(cc, cc.metadata.name, { [LABEL_SERVICE_ROLE]: 'client' }, spec.service.annotations),
    spec: { type: spec.service.type, selector: selectorLabels(cc), ports: [PORTS[0]!] },
  };
}
