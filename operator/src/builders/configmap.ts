import type { CacheCluster } from '../api/types.js';
import { DRAINING_SINCE_ANNOTATION, ringConfigMapName, RING_KEY, serializeRing, type RingDocument } from '../ring.js';
import { childMeta } from './labels.js';

export function buildRingConfigMap(cc: CacheCluster, ring: RingDocument, drainingSince: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(cc, ringConfigMapName(cc.metadata.name), { 'cachalot.io/ring': 'true' }, {
      // Always present (possibly `{}`) so that server-side apply replaces the previous value instead of keeping it.
      [DRAINING_SINCE_ANNOTATION]: JSON.stringify(drainingSince),
      'cachalot.io/ring-version': String(ring.version),
    }),
    data: { [RING_KEY]: serializeRing(ring) },
  };
}
