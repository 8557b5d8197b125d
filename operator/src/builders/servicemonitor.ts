import { withDefaults, type CacheCluster } from '../api/types.js';
import { childMeta, LABEL_INSTANCE, LABEL_SERVICE_ROLE, selectorLabels } from './labels.js';

export const SERVICE_MONITOR_API_VERSION = 'monitoring.coreos.com/v1';
export const SERVICE_MONITOR_CRD = 'servicemonitors.monitoring.coreos.com';

/** Scrapes every member through the headless Service (one target per pod, like memcached_exporter per host).
 * undefined when monitoring is disabled; the controller also skips it when the CRD is absent. */
export function buildServiceMonitor(cc: CacheCluster) {
  const { monitoring } = withDefaults(cc.spec);
  if (!monitoring.enabled) return undefined;
  return {
    apiVersion: SERVICE_MONITOR_API_VERSION,
    kind: 'ServiceMonitor',
    metadata: childMeta(cc, cc.metadata.name, monitoring.labels ?? {}),
    spec: {
      selector: { matchLabels: { ...selectorLabels(cc), [LABEL_SERVICE_ROLE]: 'headless' } },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: monitoring.interval }],
      // Prometheus `job` becomes the cluster name, which the Grafana dashboard's $cluster variable selects on.
      jobLabel: LABEL_INSTANCE,
    },
  };
}
