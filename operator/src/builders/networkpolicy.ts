import { MEMCACHED_PORT, METRICS_PORT, withDefaults, type CacheCluster } from '../api/types.js';
import { childMeta, selectorLabels } from './labels.js';
import { ROUTER_METRICS_PORT, routerName, routerSelectorLabels } from './router.js';

/**
 * Ingress to the servers: client pods to the memcached port, the metrics scraper to the metrics port, nothing
 * else (not even the cluster's own members, which never talk to each other). With the router on, its pods are
 * clients of the servers, and they get a policy of their own admitting the same client pods: otherwise the
 * client Service would be an open door around the servers' policy. Egress is left open: servers read
 * their ring from the API server and resolve names. The kubelet's probes come from the node, which a
 * NetworkPolicy always admits. undefined when spec.networkPolicy.enabled is false.
 */
export function buildNetworkPolicy(cc: CacheCluster) {
  const { networkPolicy: np, router } = withDefaults(cc.spec);
  if (!np.enabled) return undefined;
  const routerPeer = router.enabled ? [{ podSelector: { matchLabels: routerSelectorLabels(cc) } }] : [];
  return policy(cc, cc.metadata.name, selectorLabels(cc), routerPeer, METRICS_PORT);
}

/** The router pods' policy: the same client pods and scraper as the servers'. undefined without both. */
export function buildRouterNetworkPolicy(cc: CacheCluster) {
  const { networkPolicy: np, router } = withDefaults(cc.spec);
  if (!np.enabled || !router.enabled) return undefined;
  return policy(cc, routerName(cc.metadata.name), routerSelectorLabels(cc), [], ROUTER_METRICS_PORT);
}

function policy(cc: CacheCluster, name: string, pods: Record<string, string>, extraClients: object[], metricsPort: number) {
  const { networkPolicy: np } = withDefaults(cc.spec);
  if (!np.clientSelector) throw new Error('spec.networkPolicy.enabled needs spec.networkPolicy.clientSelector');
  const scraper = np.metricsScraper;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(cc, name),
    spec: {
      podSelector: { matchLabels: pods },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: np.clientSelector, ...(np.clientNamespaceSelector ? { namespaceSelector: np.clientNamespaceSelector } : {}) }, ...extraClients],
          ports: [{ protocol: 'TCP', port: MEMCACHED_PORT }],
        },
        ...(scraper
          ? [{
              from: [{ ...(scraper.namespaceSelector ? { namespaceSelector: scraper.namespaceSelector } : {}), ...(scraper.podSelector ? { podSelector: scraper.podSelector } : {}) }],
              ports: [{ protocol: 'TCP', port: metricsPort }],
            }]
          : []),
      ],
    },
  };
}
