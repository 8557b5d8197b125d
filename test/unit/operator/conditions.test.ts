import { setCondition } from '../../../operator/src/controller/conditions.js';
import { computeStatus } from '../../../operator/src/controller/reconciler.js';
import { API_VERSION, KIND, withDefaults, type CacheCluster } from '../../../operator/src/api/types.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:05:00Z');

describe('conditions', () => {
  it('keep lastTransitionTime while the status is unchanged, and move it when it flips', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'MembersNotReady', message: '0/3' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'MembersNotReady', message: '1/3' }, t1);
    expect(b[0]).toMatchObject({ message: '1/3', lastTransitionTime: '2026-01-01T00:00:00Z' });
    const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'AllMembersReady', message: '3/3' }, t1);
    expect(c).toHaveLength(1);
    expect(c[0]!.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });
});

describe('computeStatus', () => {
  const cc: CacheCluster = { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web', namespace: 'prod', uid: 'u', generation: 4 }, spec: { replicas: 3 } };
  const spec = withDefaults(cc.spec);
  const sts = (replicas: number, ready: number, observed = 2) => ({ metadata: { generation: 2 }, status: { replicas, readyReplicas: ready, updatedReplicas: replicas, observedGeneration: observed } });
  const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

  it('all ready and stable', () => {
    const s = computeStatus(cc, spec, sts(3, 3), { ringVersion: 5, ringMembers: 3, draining: [], lost: [] }, t0);
    expect(s).toMatchObject({ observedGeneration: 4, replicas: 3, readyReplicas: 3, ring: { version: 5, members: 3, draining: 0 } });
    expect([cond(s, 'Ready').status, cond(s, 'Progressing').status, cond(s, 'Degraded').status]).toEqual(['True', 'False', 'False']);
    expect(s.conditions!.every((c) => c.observedGeneration === 4)).toBe(true);
  });

  it('draining is Progressing/Draining while still Ready', () => {
    const s = computeStatus(cc, spec, sts(5, 5), { ringVersion: 6, ringMembers: 5, draining: ['web-3', 'web-4'], lost: [] }, t0);
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'Draining' });
    expect(cond(s, 'Ready').status).toBe('True');
  });

  it('every pod Ready but new members not yet in the ring is Progressing/Joining', () => {
    const s = computeStatus(cc, spec, sts(3, 3), { ringVersion: 1, ringMembers: 2, draining: [], lost: [] }, t0);
    expect(cond(s, 'Ready').status).toBe('True');
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'Joining', message: '2/3 members in the ring' });
  });

  it('a StatefulSet the controller has not observed yet is not Ready', () => {
    const s = computeStatus(cc, spec, sts(3, 3, 1), { ringVersion: 1, ringMembers: 3, draining: [], lost: [] }, t0);
    expect(cond(s, 'Ready').status).toBe('False');
    expect(cond(s, 'Progressing').reason).toBe('Scaling');
  });

  it('a lost node is Degraded/NodeLost and says how to recover', () => {
    const s = computeStatus(cc, spec, sts(3, 2), { ringVersion: 1, ringMembers: 3, draining: [], lost: [{ pod: 'web-1', node: 'n2', claim: 'flash-web-1', why: 'NotReady', recovering: false, remainingMs: 0 }] }, t0);
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'NodeLost', message: 'web-1: node n2 is NotReady; enable spec.nodeLossRecovery to recreate them empty' });
    expect(cond(s, 'Progressing').reason).toBe('WaitingForMembers');
    const both = computeStatus(cc, spec, sts(3, 1), { ringVersion: 1, ringMembers: 3, draining: [], lost: [
      { pod: 'web-0', node: 'n1', claim: 'flash-web-0', why: 'out-of-service', recovering: true, remainingMs: 0 },
      { pod: 'web-1', node: 'n2', claim: 'flash-web-1', why: 'gone', recovering: false, remainingMs: 0 },
    ] }, t0);
    expect(cond(both, 'Degraded').message).toBe('web-0: node n1 is tainted node.kubernetes.io/out-of-service; recovering after the grace period; web-1: node n2 is gone; enable spec.nodeLossRecovery to recreate them empty');
  });

  it('a Pending claim makes Ready=False/VolumePending naming the claim and why', () => {
    const s = computeStatus(cc, spec, sts(3, 2), { ringVersion: 1, ringMembers: 3, draining: [], lost: [], pendingClaims: [{ claim: 'flash-web-2', pod: 'web-2', detail: 'StorageClass "fast" not found', stale: false }] }, t0);
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'VolumePending', message: '2/3 members ready; PersistentVolumeClaim flash-web-2 is Pending: StorageClass "fast" not found' });
    // Once every member is Ready, a Pending claim (e.g. of a member being replaced) does not hide that.
    expect(cond(computeStatus(cc, spec, sts(3, 3), { ringVersion: 1, ringMembers: 3, draining: [], lost: [], pendingClaims: [{ claim: 'x', pod: 'web-0', detail: 'y', stale: false }] }, t0), 'Ready').reason).toBe('AllMembersReady');
  });

  it('a failed step is Degraded=ReconcileError naming the step, ahead of a lost node', () => {
    const s = computeStatus(cc, spec, sts(3, 3), {
      ringVersion: 1, ringMembers: 3, draining: [], lost: [{ pod: 'web-1', node: 'n2', claim: 'flash-web-1', why: 'gone', recovering: true, remainingMs: 5 }],
      failures: [{ step: 'apply StatefulSet web', message: 'admission webhook denied the request (HTTP 403)', code: 403 }],
    }, t0);
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'ReconcileError', message: 'apply StatefulSet web: admission webhook denied the request (HTTP 403)' });
    expect(cond(s, 'Ready').status).toBe('True');
  });
});
