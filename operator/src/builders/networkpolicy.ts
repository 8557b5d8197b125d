import { MEMCACHED_PORT, METRICS_PORT, withDefaults, type CacheCluster } from '../api/types.js';
import { childMeta, selectorLabels } from './labels.js';

/**
 * Ingress to the servers: client pods to the memcached port, the metrics scraper to the metrics port, nothing
 * else (not even the cluster's own members, which never talk to each other). Egress is left open: servers read
 * their ring from the API server and resolve names. The kubelet's probes come from the node, which a
 * NetworkPolicy always admits. undefined when spec.networkPolicy.enabled is false.
 */
export function buildNetworkPolicy(cc: CacheCluster) {
  const { networkPolicy: np } = withDefaults(cc.spec);
  if (!np.enabled) return undefined;
  if (!np.clientSelector) throw new Error('spec.networkPolicy.enabled needs spec.networkPolicy.clientSelector');
  const scraper = np.metricsScraper;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(cc, cc.metadata.name),
    spec: {
      podSelector: { matchLabels: selectorLabels(cc) },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: np.clientSelector, ...(np.clientNamespaceSelector ? { namespaceSelector: np.clientNamespaceSelector } : {}) }],
          ports: [{ protocol: 'TCP', port: MEMCACHED_PORT }],
        },
        ...(scraper
          ? [{
              from: [{ ...(scraper.namespaceSelector ? { namespaceSelector: scraper.namespaceSelector } : {}), ...(scraper.podSelector ? { podSelector: scraper.podSelector } : {}) }],
              ports: [{ protocol: 'TCP', port: METRICS_PORT }],
            }]
          : []),
      ],
    },
  };
}
