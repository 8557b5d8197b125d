import { withDefaults, type CacheCluster } from '../api/types.js';
import { childMeta, selectorLabels } from './labels.js';

/** undefined when spec.podDisruptionBudget.enabled is false (the controller then deletes an existing one). */
export function buildPodDisruptionBudget(cc: CacheCluster) {
  const { podDisruptionBudget: pdb } = withDefaults(cc.spec);
  if (!pdb.enabled) return undefined;
  const budget = pdb.minAvailable !== undefined ? { minAvailable: pdb.minAvailable } : { maxUnavailable: pdb.maxUnavailable };
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMeta(cc, cc.metadata.name),
    spec: { ...budget, selector: { matchLabels: selectorLabels(cc) } },
  };
}
