import { memberOrdinal, parseRing, planRing, ringReplicas, serializeRing, type RingPlanInput } from '../../../operator/src/ring.js';

const base = (over: Partial<RingPlanInput>): RingPlanInput => ({ cluster: 'web', namespace: 'prod', replicas: 3, vnodes: 40, drainSeconds: 60, transitionSeconds: 0, drainingSince: {}, now: new Date('2026-01-01T00:00:00Z'), ...over });

describe('ring planning', () => {
  it('first ring is version 1 with members by ordinal and stable DNS names', () => {
    const p = planRing(base({}));
    expect(p.ring.version).toBe(1);
    expect(p.ring.members.map((m) => m.host)).toEqual([0, 1, 2].map((i) => `web-${i}.web-headless.prod.svc.cluster.local`));
    expect(p.statefulSetReplicas).toBe(3);
  });

  it('an unchanged ring keeps its version; scale-up bumps it once', () => {
    const first = planRing(base({})).ring;
    const again = planRing(base({ published: parseRing(serializeRing(first)) }));
    expect(again.changed).toBe(false);
    expect(again.ring.version).toBe(1);
    const up = planRing(base({ published: first, replicas: 5 }));
    expect(up.ring.version).toBe(2);
    expect(up.ring.members).toHaveLength(5);
    expect(planRing(base({ published: up.ring, replicas: 5 })).ring.version).toBe(2);
  });

  it('scale-down marks leaving members draining and keeps the StatefulSet size until drainSeconds pass', () => {
    const five = planRing(base({ replicas: 5 })).ring;
    const t0 = new Date('2026-01-01T00:00:00Z');
    const d1 = planRing(base({ published: five, replicas: 3, now: t0 }));
    expect(d1.ring.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active', 'web-3:draining', 'web-4:draining']);
    expect(d1.ring.version).toBe(2);
    expect(d1.statefulSetReplicas).toBe(5);
    expect(d1.nextDeadlineMs).toBe(60_000);
    const mid = planRing(base({ published: d1.ring, replicas: 3, drainingSince: d1.drainingSince, now: new Date(t0.getTime() + 30_000) }));
    expect(mid.changed).toBe(false);
    expect(mid.statefulSetReplicas).toBe(5);
    expect(mid.nextDeadlineMs).toBe(30_000);
    const done = planRing(base({ published: mid.ring, replicas: 3, drainingSince: mid.drainingSince, now: new Date(t0.getTime() + 60_000) }));
    expect(done.ring.members).toHaveLength(3);
    expect(done.ring.version).toBe(3);
    expect(done.statefulSetReplicas).toBe(3);
    expect(done.drainingSince).toEqual({});
  });

  it('drainSeconds 0 still publishes draining once before shrinking', () => {
    const four = planRing(base({ replicas: 4 })).ring;
    const d = planRing(base({ published: four, replicas: 3, drainSeconds: 0 }));
    expect(d.ring.members[3]!.state).toBe('draining');
    expect(d.statefulSetReplicas).toBe(4);
    const done = planRing(base({ published: d.ring, replicas: 3, drainSeconds: 0, drainingSince: d.drainingSince }));
    expect(done.statefulSetReplicas).toBe(3);
  });

  it('scaling back up during a drain reactivates the draining member', () => {
    const four = planRing(base({ replicas: 4 })).ring;
    const d = planRing(base({ published: four, replicas: 3 }));
    const back = planRing(base({ published: d.ring, replicas: 4, drainingSince: d.drainingSince }));
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

describe('ring transitions', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const at = (s: number) => new Date(t0.getTime() + s * 1000);
  const tr = (over: Partial<RingPlanInput>): RingPlanInput => base({ transitionSeconds: 120, ...over });
  /** What the reconciler does: the published document and its annotations go back in as the next input. */
  const next = (p: ReturnType<typeof planRing>, over: Partial<RingPlanInput>) =>
    planRing(tr({ published: parseRing(serializeRing(p.ring)), drainingSince: p.drainingSince, ...(p.transitionSince ? { transitionSince: p.transitionSince } : {}), ...over }));

  it('a scale-up publishes the new ring with previous, keeps it transitionSeconds, then drops it in a new version', () => {
    const three = planRing(tr({ now: t0 }));
    expect(three.ring.previous).toBeUndefined();
    const up = next(three, { replicas: 5, now: t0 });
    expect(up.ring.version).toBe(2);
    expect(up.ring.members.map((m) => m.name)).toEqual(['web-0', 'web-1', 'web-2', 'web-3', 'web-4']);
    expect(up.ring.previous).toEqual({ version: 1, members: three.ring.members });
    expect(up.transitionSince).toBe(t0.toISOString());
    expect(up.statefulSetReplicas).toBe(5);
    expect(up.nextDeadlineMs).toBe(120_000);
    const mid = next(up, { replicas: 5, now: at(119) });
    expect(mid.changed).toBe(false);
    expect(mid.ring).toEqual(up.ring);
    expect(mid.transitionSince).toBe(t0.toISOString());
    expect(mid.nextDeadlineMs).toBe(1_000);
    const done = next(mid, { replicas: 5, now: at(120) });
    expect(done.changed).toBe(true);
    expect(done.ring.version).toBe(3);
    expect(done.ring.previous).toBeUndefined();
    expect(done.ring.members).toEqual(up.ring.members);
    expect(done.transitionSince).toBeUndefined();
    expect(done.nextDeadlineMs).toBeUndefined();
    expect(next(done, { replicas: 5, now: at(500) }).changed).toBe(false);
  });

  it('an operator restarted mid-transition ends it when the first one would have (the clock is in the ConfigMap)', () => {
    const up = next(planRing(tr({ now: t0 })), { replicas: 4, now: t0 });
    // A fresh planner sees only the published text and the annotation.
    const afterRestart = planRing(tr({ replicas: 4, published: parseRing(serializeRing(up.ring)), transitionSince: up.transitionSince!, now: at(60) }));
    expect(afterRestart.changed).toBe(false);
    expect(afterRestart.nextDeadlineMs).toBe(60_000);
    // A lost annotation restarts the clock instead of ending the transition early.
    const noClock = planRing(tr({ replicas: 4, published: parseRing(serializeRing(up.ring)), now: at(200) }));
    expect(noClock.ring.previous).toEqual(up.ring.previous);
    expect(noClock.transitionSince).toBe(at(200).toISOString());
  });

  it('a change during a change keeps the ring every reader was last fully on as previous, and restarts the clock', () => {
    const three = planRing(tr({ now: t0 }));
    const five = next(three, { replicas: 5, now: t0 });
    const four = next(five, { replicas: 4, now: at(30) });
    expect(four.ring.previous?.version).toBe(1);
    expect(four.ring.previous?.members).toEqual(three.ring.members);
    expect(four.transitionSince).toBe(at(30).toISOString());
    // web-4 was only ever active in the interim ring: it drains on its own clock, previous does not hold it.
    expect(four.ring.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active', 'web-3:active', 'web-4:draining']);
    // Once a transition has run its course its members are what readers are on, even if not yet ended.
    const late = next(five, { replicas: 4, now: at(121) });
    expect(late.ring.previous?.version).toBe(five.ring.version);
    expect(late.ring.previous?.members).toEqual(five.ring.members);
  });

  it('scale-down: leaving members drain and stay until both drainSeconds and the transition are over', () => {
    const five = planRing(tr({ replicas: 5, now: t0 }));
    const down = next(five, { replicas: 3, drainSeconds: 30, now: t0 });
    expect(down.ring.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active', 'web-3:draining', 'web-4:draining']);
    expect(down.ring.previous?.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active', 'web-3:active', 'web-4:active']);
    expect(down.statefulSetReplicas).toBe(5);
    // drainSeconds is over but previous still lists them as active: readers fill moved keys from them.
    const drained = next(down, { replicas: 3, drainSeconds: 30, now: at(60) });
    expect(drained.changed).toBe(false);
    expect(drained.statefulSetReplicas).toBe(5);
    expect(drained.nextDeadlineMs).toBe(60_000);
    const done = next(drained, { replicas: 3, drainSeconds: 30, now: at(120) });
    expect(done.ring.previous).toBeUndefined();
    expect(done.ring.members.map((m) => m.name)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(done.statefulSetReplicas).toBe(3);
    expect(done.ring.version).toBe(down.ring.version + 1);
    // The longer drain wins the other way round: the transition ends, the members stay draining.
    const longDrain = next(next(five, { replicas: 3, drainSeconds: 300, now: t0 }), { replicas: 3, drainSeconds: 300, now: at(120) });
    expect(longDrain.ring.previous).toBeUndefined();
    expect(longDrain.ring.members.filter((m) => m.state === 'draining').map((m) => m.name)).toEqual(['web-3', 'web-4']);
    expect(longDrain.statefulSetReplicas).toBe(5);
    expect(longDrain.nextDeadlineMs).toBe(180_000);
  });

  it('scaling back up during a scale-down transition reactivates members and keeps the fully-seen ring as previous', () => {
    const four = planRing(tr({ replicas: 4, now: t0 }));
    const three = next(four, { replicas: 3, now: t0 });
    const back = next(three, { replicas: 4, now: at(10) });
    expect(back.ring.members.every((m) => m.state === 'active')).toBe(true);
    expect(back.ring.previous?.version).toBe(four.ring.version);
    expect(back.ring.version).toBe(three.ring.version + 1);
  });

  it('dropping a draining member is not a transition: no previous, the continuum is unchanged', () => {
    const four = planRing(base({ replicas: 4, now: t0 }));
    const d = planRing(base({ published: four.ring, replicas: 3, drainSeconds: 0, now: t0 }));
    const done = planRing(tr({ published: d.ring, replicas: 3, drainSeconds: 0, drainingSince: d.drainingSince, now: at(1) }));
    expect(done.ring.members).toHaveLength(3);
    expect(done.ring.previous).toBeUndefined();
  });

  it('transitionSeconds 0 publishes every ring without previous', () => {
    const up = planRing(base({ published: planRing(base({})).ring, replicas: 5 }));
    expect(up.ring.previous).toBeUndefined();
    expect(up.transitionSince).toBeUndefined();
    expect(serializeRing(up.ring)).not.toContain('previous');
  });

  it('a vnodes change is a transition whose previous names its own vnodes', () => {
    const first = planRing(tr({ now: t0 }));
    const p = next(first, { vnodes: 80, now: t0 });
    expect(p.ring.previous).toEqual({ version: 1, vnodes: 40, members: first.ring.members });
    const text = serializeRing(p.ring);
    expect(JSON.parse(text).previous.vnodes).toBe(40);
    expect(Object.keys(JSON.parse(text))).toEqual(['cluster', 'namespace', 'version', 'hash', 'vnodes', 'members', 'previous']);
    expect(Object.keys(JSON.parse(serializeRing(next(first, { replicas: 4, now: t0 }).ring)).previous)).toEqual(['version', 'members']);
    // A previous that names the document's own vnodes is written without it: one shape for one meaning.
    const same = { ...first.ring, version: 2, previous: { version: 1, vnodes: 40, members: first.ring.members } };
    expect(Object.keys(JSON.parse(serializeRing(same)).previous)).toEqual(['version', 'members']);
  });

  it('a published document with a damaged previous still routes by its members', () => {
    const doc = JSON.parse(serializeRing(planRing(base({})).ring));
    const parsed = parseRing(JSON.stringify({ ...doc, previous: { version: 'x' } }));
    expect(parsed?.members).toHaveLength(3);
    expect(parsed?.previous).toBeUndefined();
  });
});

describe('ringReplicas: new members join once their pods are Ready', () => {
  const base = { cluster: 'web', namespace: 'prod', vnodes: 40, drainSeconds: 60, transitionSeconds: 0, drainingSince: {}, now: new Date(0) };
  /** A published ring with `active` active members and the given ordinals draining. */
  const ring = (active: number, draining: number[] = []) => {
    const doc = planRing({ ...base, replicas: active }).ring;
    const leaving = draining.map((i) => ({ name: `web-${i}`, host: `web-${i}.web-headless.prod.svc.cluster.local`, port: 11211, weight: 1, state: 'draining' as const }));
    return { ...doc, members: [...doc.members, ...leaving] };
  };
  const readyBelow = (n: number) => (i: number) => i < n;

  it('the first ring names every ordinal', () => {
    expect(ringReplicas('web', undefined, 3, () => false)).toBe(3);
  });

  it('a scale-up waits until every new pod is Ready, then takes them all at once', () => {
    expect(ringReplicas('web', ring(3), 5, readyBelow(3))).toBe(3);
    expect(ringReplicas('web', ring(3), 5, readyBelow(4))).toBe(3);
    expect(ringReplicas('web', ring(3), 5, readyBelow(5))).toBe(5);
  });

  it('members the ring lists count whether Ready or not: restarts, scale-downs and reactivated drains', () => {
    expect(ringReplicas('web', ring(3), 3, () => false)).toBe(3);
    expect(ringReplicas('web', ring(5), 3, () => false)).toBe(3);
    expect(ringReplicas('web', ring(3, [3, 4]), 5, () => false)).toBe(5);
    // web-3 draining comes back at once; web-4, a new pod, waits for Ready.
    expect(ringReplicas('web', ring(3, [3]), 5, (i) => i !== 4)).toBe(4);
  });
});
