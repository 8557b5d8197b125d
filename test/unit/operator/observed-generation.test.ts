/**
 * observedGeneration tells a client which spec the status describes (metav1.Condition rules): after a
 * reconcile of generation N, status.observedGeneration and every condition's observedGeneration are N,
 * whether or not a condition's status changed, while lastTransitionTime moves only when the status does.
 */
import { setCondition } from '../../../operator/src/controller/conditions.js';
import { computeStatus } from '../../../operator/src/controller/reconciler.js';
import { API_VERSION, KIND, withDefaults, type CacheCluster } from '../../../operator/src/api/types.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:05:00Z');

test('a condition whose status does not change still takes the new observedGeneration', () => {
  const a = setCondition([], { type: 'Ready', status: 'True', observedGeneration: 1, reason: 'AllMembersReady', message: '3/3' }, t0);
  const b = setCondition(a, { type: 'Ready', status: 'True', observedGeneration: 2, reason: 'AllMembersReady', message: '3/3' }, t1);
  expect(b).toEqual([{ type: 'Ready', status: 'True', observedGeneration: 2, reason: 'AllMembersReady', message: '3/3', lastTransitionTime: '2026-01-01T00:00:00Z' }]);
  // And one whose status flips takes both.
  const c = setCondition(b, { type: 'Ready', status: 'False', observedGeneration: 3, reason: 'MembersNotReady', message: '2/3' }, t1);
  expect(c[0]).toMatchObject({ observedGeneration: 3, lastTransitionTime: '2026-01-01T00:05:00Z' });
});

test('a spec change bumps status.observedGeneration and every condition\'s, on every reconcile after the first', () => {
  const sts = { metadata: { generation: 2 }, status: { replicas: 3, readyReplicas: 3, updatedReplicas: 3, observedGeneration: 2 } };
  let cc: CacheCluster = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web', namespace: 'prod', uid: 'u', generation: 1 }, spec: { replicas: 3 } };
  for (const generation of [1, 2, 3, 7]) {
    cc = { ...cc, metadata: { ...cc.metadata, generation } };
    const status = computeStatus(cc, withDefaults(cc.spec), sts, { ringVersion: 1, ringMembers: 3, draining: [], lost: [] }, t0);
    expect(status.observedGeneration).toBe(generation);
    expect(status.conditions!.map((c) => [c.type, c.observedGeneration])).toEqual([['Ready', generation], ['Progressing', generation], ['Degraded', generation]]);
    cc = { ...cc, status };
  }
});
