import { memberOrdinal, parseRing, planRing, serializeRing, type RingPlanInput } from '../../../operator/src/ring.js';

const base = (over: Partial<RingPlanInput>): RingPlanInput => ({ cluster: 'web', namespace: 'prod', replicas: 3, vnodes: 40, drainSeconds: 60, drainingSince: {}, now: new Date('2026-01-01T00:00:00Z'), ...over });

describe('ring planning', () => {
  it('first ring is version 1 with members by ordinal and stable DNS names', () => {
    const p = planRing(base({}));
    expect(p.ring.version).toBe(1);
    expect(p.ring.members.map((m) => m.host)).toEqual([0, 1, 2].map((i) => `web-${i}.web-headless.prod.svc.cluster.local`));
    expect(p.statefulSetReplicas).toBe(3);
  });

  it('an unchanged ring keeps its version; scale-up bumps it once', () => {
    const first = planRing(base({})).ring;
    const again = planRing(base({ previous: parseRing(serializeRing(first)) }));
    expect(again.changed).toBe(false);
    expect(again.ring.version).toBe(1);
    const up = planRing(base({ previous: first, replicas: 5 }));
    expect(up.ring.version).toBe(2);
    expect(up.ring.members).toHaveLength(5);
    expect(planRing(base({ previous: up.ring, replicas: 5 })).ring.version).toBe(2);
  });

  it('scale-down marks leaving members draining and keeps the StatefulSet size until drainSeconds pass', () => {
    const five = planRing(base({ replicas: 5 })).ring;
    const t0 = new Date('2026-01-01T00:00:00Z');
    const d1 = planRing(base({ previous: five, replicas: 3, now: t0 }));
    expect(d1.ring.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active', 'web-3:draining', 'web-4:draining']);
    expect(d1.ring.version).toBe(2);
    expect(d1.statefulSetReplicas).toBe(5);
    expect(d1.nextDrainDeadlineMs).toBe(60_000);
    const mid = planRing(base({ previous: d1.ring, replicas: 3, drainingSince: d1.drainingSince, now: new Date(t0.getTime() + 30_000) }));
    expect(mid.changed).toBe(false);
    expect(mid.statefulSetReplicas).toBe(5);
    expect(mid.nextDrainDeadlineMs).toBe(30_000);
    const done = planRing(base({ previous: mid.ring, replicas: 3, drainingSince: mid.drainingSince, now: new Date(t0.getTime() + 60_000) }));
    expect(done.ring.members).toHaveLength(3);
    expect(done.ring.version).toBe(3);
    expect(done.statefulSetReplicas).toBe(3);
    expect(done.drainingSince).toEqual({});
  });

  it('drainSeconds 0 still publishes draining once before shrinking', () => {
    const four = planRing(base({ replicas: 4 })).ring;
    const d = planRing(base({ previous: four, replicas: 3, drainSeconds: 0 }));
    expect(d.ring.members[3]!.state).toBe('draining');
    expect(d.statefulSetReplicas).toBe(4);
    const done = planRing(base({ previous: d.ring, replicas: 3, drainSeconds: 0, drainingSince: d.drainingSince }));
    expect(done.statefulSetReplicas).toBe(3);
  });

  it('scaling back up during a drain reactivates the draining member', () => {
    const four = planRing(base({ replicas: 4 })).ring;
    const d = planRing(base({ previous: four, replicas: 3 }));
    const back = planRing(base({ previous: d.ring, replicas: 4, drainingSince: d.drainingSince }));
    expect(back.ring.members.every((m) => m.state === 'active')).toBe(true);
    expect(back.ring.version).toBe(d.ring.version + 1);
  });

  it('a lost ring document restarts above the version recorded in status', () => {
    expect(planRing(base({ minVersion: 9 })).ring.version).toBe(10);
  });

  it('ordinals parse only for this cluster', () => {
    expect(memberOrdinal('web', 'web-12')).toBe(12);
    expect(memberOrdinal('web', 'web-01')).toBe(-1);
    expect(memberOrdinal('web', 'webx-1')).toBe(-1);
  });
});
