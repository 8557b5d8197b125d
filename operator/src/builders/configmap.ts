import type { CacheCluster } from '../api/types.js';
import { DRAINING_SINCE_ANNOTATION, ringConfigMapName, RING_KEY, serializeRing, TRANSITION_SINCE_ANNOTATION, type RingDocument } from '../ring.js';
import { childMeta } from './labels.js';

export function buildRingConfigMap(cc: CacheCluster, ring: RingDocument, drainingSince: Record<string, string>, transitionSince?: string) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(cc, ringConfigMapName(cc.metadata.name), { 'cachalot.io/ring': 'true' }, {
      // Always present (possibly `{}`) so that server-side apply replaces the previous value instead of keeping it.
      [DRAINING_SINCE_ANNOTATION]: JSON.stringify(drainingSince),
      'cachalot.io/ring-version': String(ring.version),
      // Empty outside a transition, for the same reason; the planner reads it only while `previous` is set.
      [TRANSITION_SINCE_ANNOTATION]: ring.previous && transitionSince ? transitionSince : '',
    }),
    data: { [RING_KEY]: serializeRing(ring) },
  };
}
