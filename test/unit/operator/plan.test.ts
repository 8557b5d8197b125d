import { memberOrdinal, parseDrainingSince, parseRing, planRing, type RingPlanInput } from '../../../operator/src/ring.js';
import { buildRingConfigMap } from '../../../operator/src/builders/configmap.js';
import { buildStatefulSet } from '../../../operator/src/builders/statefulset.js';
import { mebibytes, quantityBytes } from '../../../operator/src/builders/quantity.js';
import { API_VERSION, KIND, type CacheCluster } from '../../../operator/src/api/types.js';

const base = (over: Partial<RingPlanInput>): RingPlanInput => ({ cluster: 'web', namespace: 'prod', replicas: 3, vnodes: 40, drainSeconds: 60, transitionSeconds: 0, drainingSince: {}, now: new Date('2026-01-01T00:00:00Z'), ...over });

describe('ring planning details', () => {
  it("only this cluster's member names have an ordinal", () => {
    expect(memberOrdinal('web', 'web-3')).toBe(3);
    expect(memberOrdinal('web', 'api-3')).toBe(-1);
    expect(memberOrdinal('web', 'xweb-3')).toBe(-1);
    expect(memberOrdinal('web', 'web-')).toBe(-1);
  });

  it('the next drain deadline is the earliest of the draining members', () => {
    const five = planRing(base({ replicas: 5 })).ring;
    const t0 = new Date('2026-01-01T00:00:00Z');
    // web-4 started draining 50 s ago (10 s left), web-3 starts now (60 s left).
    const since = { 'web-4': new Date(t0.getTime() - 50_000).toISOString() };
    const p = planRing(base({ published: five, replicas: 3, drainingSince: since, now: t0 }));
    expect(p.ring.members.filter((m) => m.state === 'draining').map((m) => m.name)).toEqual(['web-3', 'web-4']);
    expect(p.nextDeadlineMs).toBe(10_000);
  });

  it('a published ring without a version or a members list is no ring', () => {
    expect(parseRing(JSON.stringify({ members: [] }))).toBeUndefined();
    expect(parseRing(JSON.stringify({ version: '3', members: [] }))).toBeUndefined();
    expect(parseRing(JSON.stringify({ version: 3, members: {} }))).toBeUndefined();
    expect(parseRing(JSON.stringify({ version: 3, members: [] }))?.version).toBe(3);
  });

  it('a draining-since annotation keeps only string times', () => {
    expect(parseDrainingSince(JSON.stringify({ 'web-3': '2026-01-01T00:00:00.000Z', 'web-4': 5, 'web-5': null })))
      .toEqual({ 'web-3': '2026-01-01T00:00:00.000Z' });
  });
});

describe('builder details', () => {
  const cc = (spec: CacheCluster['spec']): CacheCluster => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web', namespace: 'prod', uid: 'u-1', generation: 1 }, spec });

  it('quantities: binary suffixes are powers of 1024, decimals are accepted, MiB round up', () => {
    expect(quantityBytes('1Ki')).toBe(1024);
    expect(quantityBytes('3Mi')).toBe(3 * 1024 * 1024);
    expect(quantityBytes('1.5G')).toBe(1_500_000_000);
    expect(quantityBytes('0.5Gi')).toBe(512 * 1024 * 1024);
    expect(mebibytes(1024 * 1024 + 1)).toBe(2);
    expect(mebibytes(1024 * 1024)).toBe(1);
  });

  it('the StatefulSet takes the replicas it is given (a shrink waits for the drain) and spec.affinity', () => {
    const affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }] } } };
    type Sts = { spec: { replicas: number; template: { spec: { affinity?: Record<string, unknown> } } } };
    const sts = buildStatefulSet(cc({ replicas: 3, affinity, onePerNode: false }), 5) as Sts;
    expect(sts.spec.replicas).toBe(5);
    expect(sts.spec.template.spec.affinity).toEqual(affinity);
    // One server per node (the default) adds its anti-affinity beside the user's terms, which stay as given.
    const spread = buildStatefulSet(cc({ replicas: 3, affinity }), 5) as Sts;
    expect(spread.spec.template.spec.affinity?.nodeAffinity).toEqual(affinity.nodeAffinity);
    expect(spread.spec.template.spec.affinity?.podAntiAffinity).toBeDefined();
    expect((buildStatefulSet(cc({ replicas: 3 })) as { spec: { replicas: number } }).spec.replicas).toBe(3);
  });

  it("the ring ConfigMap's version annotation is the ring's version", () => {
    const ring = planRing(base({})).ring;
    const cm = buildRingConfigMap(cc({ replicas: 3 }), { ...ring, version: 9 }, {});
    expect(cm.metadata.annotations?.['cachalot.io/ring-version']).toBe('9');
  });
});
