/* eslint-disable @typescript-eslint/no-explicit-any */
import { buildStatefulSet } from '../../../operator/src/builders/index.js';
import { immutableChanges } from '../../../operator/src/controller/immutable.js';
import { nodeLoss, graceMs } from '../../../operator/src/controller/nodeloss.js';
import { API_VERSION, KIND, withDefaults, type CacheCluster, type CacheClusterSpec } from '../../../operator/src/api/types.js';

const cc = (spec: CacheClusterSpec = {}): CacheCluster => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web', namespace: 'prod', uid: 'u1' }, spec });
/** What a real API server hands back: defaulted fields added, quantities in canonical form, keys sorted. */
function asStored(spec: ReturnType<typeof buildStatefulSet>['spec']): any {
  const s = JSON.parse(JSON.stringify(spec));
  for (const t of s.volumeClaimTemplates) {
    t.spec.volumeMode = 'Filesystem';
    t.status = { phase: 'Pending' };
  }
  s.revisionHistoryLimit = 10;
  return s;
}

describe('immutable StatefulSet fields', () => {
  it('finds no change between the desired StatefulSet and the same one as the server stored it', () => {
    const want = buildStatefulSet(cc({ flash: { size: '1024Mi' } })).spec;
    const stored = asStored(want);
    stored.volumeClaimTemplates[0].spec.resources.requests.storage = '1Gi';
    expect(immutableChanges(stored, want)).toEqual([]);
    // Mutable fields (replicas, template) never count.
    expect(immutableChanges(stored, buildStatefulSet(cc({ flash: { size: '1Gi' }, memory: '2Gi', replicas: 7 })).spec)).toEqual([]);
  });

  it('names flash size and storage class changes as volumeClaimTemplates, and other immutable fields by name', () => {
    const stored = asStored(buildStatefulSet(cc()).spec);
    expect(immutableChanges(stored, buildStatefulSet(cc({ flash: { size: '20Gi' } })).spec)).toEqual(['volumeClaimTemplates']);
    expect(immutableChanges(stored, buildStatefulSet(cc({ flash: { storageClassName: 'fast' } })).spec)).toEqual(['volumeClaimTemplates']);
    expect(immutableChanges({ ...stored, serviceName: 'old', podManagementPolicy: undefined }, buildStatefulSet(cc()).spec)).toEqual(['serviceName', 'podManagementPolicy']);
    expect(immutableChanges(undefined, buildStatefulSet(cc()).spec)).toEqual([]);
  });
});

describe('node loss', () => {
  const t = Date.parse('2026-01-01T00:00:00Z');
  it('tells gone, out-of-service and NotReady apart, each with its own clock', () => {
    expect(nodeLoss(undefined, t)).toEqual({ why: 'gone', since: t });
    expect(nodeLoss({ spec: { taints: [{ key: 'node.kubernetes.io/out-of-service', effect: 'NoExecute', timeAdded: '2026-01-01T00:01:00Z' }] } }, t)).toEqual({ why: 'out-of-service', since: t + 60_000 });
    expect(nodeLoss({ status: { conditions: [{ type: 'Ready', status: 'Unknown', lastTransitionTime: '2026-01-01T00:02:00Z' }] } }, t)).toEqual({ why: 'NotReady', since: t + 120_000 });
    expect(nodeLoss({ status: { conditions: [{ type: 'Ready', status: 'True' }] } }, t)).toBeUndefined();
    // A node that has not reported yet is not lost.
    expect(nodeLoss({ status: {} }, t)).toBeUndefined();
  });

  it('waits the grace period except for an out-of-service taint', () => {
    const spec = withDefaults({ nodeLossRecovery: { gracePeriodSeconds: 42 } });
    expect(graceMs('NotReady', spec)).toBe(42_000);
    expect(graceMs('gone', spec)).toBe(42_000);
    expect(graceMs('out-of-service', spec)).toBe(0);
  });
});
