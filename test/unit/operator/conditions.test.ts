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
    const s = computeStatus(cc, spec, sts(3, 3), 5, 3, [], [], t0);
    expect(s).toMatchObject({ observedGeneration: 4, replicas: 3, readyReplicas: 3, ring: { version: 5, members: 3, draining: 0 } });
    expect([cond(s, 'Ready').status, cond(s, 'Progressing').status, cond(s, 'Degraded').status]).toEqual(['True', 'False', 'False']);
    expect(s.conditions!.every((c) => c.observedGeneration === 4)).toBe(true);
  });

  it('draining is Progressing/Draining while still Ready', () => {
    const s = computeStatus(cc, spec, sts(5, 5), 6, 5, ['web-3', 'web-4'], [], t0);
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'Draining' });
    expect(cond(s, 'Ready').status).toBe('True');
  });

  it('a StatefulSet the controller has not observed yet is not Ready', () => {
    const s = computeStatus(cc, spec, sts(3, 3, 1), 1, 3, [], [], t0);
    expect(cond(s, 'Ready').status).toBe('False');
    expect(cond(s, 'Progressing').reason).toBe('Scaling');
  });

  it('a lost node is Degraded/NodeLost and says how to recover', () => {
    const s = computeStatus(cc, spec, sts(3, 2), 1, 3, [], [{ pod: 'web-1', node: 'n2', claim: 'flash-web-1', remainingMs: 0 }], t0);
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'NodeLost' });
    expect(cond(s, 'Degraded').message).toContain('enable spec.nodeLossRecovery');
    expect(cond(s, 'Progressing').reason).toBe('WaitingForMembers');
  });
});
