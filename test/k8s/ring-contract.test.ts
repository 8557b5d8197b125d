/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The contract between the operator and the sidecar: the ring the operator publishes in ConfigMap
 * `<name>-ring` is read, through the API server double, by the sidecar's own ConfigMapRingSource, and every
 * document it sees across a scale-up and a draining scale-down parses and says what the operator meant,
 * `previous` included: each change carries the ring being left for spec.ring.transitionSeconds.
 */
import { ConfigMapRingSource } from '../../server/src/ring/configmap.js';
import type { RingSpec } from '../../server/src/ring/document.js';
import { cacheCluster, eventually, patchMerge, startEnv, stored, type Env } from './helpers.js';

let env: Env;
let source: ConfigMapRingSource | undefined;
afterEach(async () => {
  source?.stop();
  await env?.stop();
});

describe('operator ring -> sidecar ring source', () => {
  it('the sidecar follows the published ring through scale-up, drain and shrink, rejecting nothing', async () => {
    env = await startEnv();
    await env.startOperator();
    // transitionSeconds 0: this test is about members and states; the next one is about `previous`.
    await env.objects.create(cacheCluster('web', { replicas: 2, ring: { drainSeconds: 3600, transitionSeconds: 0 } }));
    const seen: RingSpec[] = [];
    const invalid: string[] = [];
    source = new ConfigMapRingSource(env.kc, 'default', 'web-ring');
    // The sidecar may start before the ConfigMap exists: it retries until the operator publishes.
    await source.start({ ring: (spec) => seen.push(spec), invalid: (err) => invalid.push(err.message) });
    const last = () => seen[seen.length - 1];
    await eventually(() => last()?.version === 1, 'ring 1');
    expect(last()!.members.map((m) => [m.name, m.host, m.port, m.weight, m.state, m.address])).toEqual([
      ['web-0', 'web-0.web-headless.default.svc.cluster.local', 11211, 1, 'active', 'web-0.web-headless.default.svc.cluster.local:11211'],
      ['web-1', 'web-1.web-headless.default.svc.cluster.local', 11211, 1, 'active', 'web-1.web-headless.default.svc.cluster.local:11211'],
    ]);

    const base = '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web';
    await patchMerge(env.api.url, `${base}/scale`, { spec: { replicas: 4 } });
    await eventually(() => last()?.version === 2, 'ring 2');
    expect(last()!.members.map((m) => m.state)).toEqual(['active', 'active', 'active', 'active']);

    await patchMerge(env.api.url, `${base}/scale`, { spec: { replicas: 3 } });
    await eventually(() => last()?.version === 3, 'ring 3 (draining)');
    expect(last()!.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active', 'web-3:draining']);

    await patchMerge(env.api.url, base, { spec: { ring: { drainSeconds: 0 } } });
    await eventually(() => last()?.version === 4, 'ring 4 (shrunk)');
    expect(last()!.members.map((m) => m.name)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(last()!).toMatchObject({ cluster: 'web', namespace: 'default', hash: 'ketama-md5', vnodes: 40 });
    // Versions only ever went up, one step per routing change.
    expect([...new Set(seen.map((s) => s.version))]).toEqual([1, 2, 3, 4]);
    expect(invalid.filter((m) => !m.includes('not found'))).toEqual([]);
  });
});

describe('operator ring transitions -> sidecar ring source', () => {
  it('a scale-up and a draining scale-down each carry previous for transitionSeconds, then drop it in a new version', async () => {
    env = await startEnv();
    await env.startOperator();
    // An hour-long transition: what is asserted mid-transition cannot depend on how fast this machine is.
    await env.objects.create(cacheCluster('web', { replicas: 2, ring: { drainSeconds: 0, transitionSeconds: 3600 } }));
    const seen: RingSpec[] = [];
    const invalid: string[] = [];
    source = new ConfigMapRingSource(env.kc, 'default', 'web-ring');
    await source.start({ ring: (spec) => seen.push(spec), invalid: (err) => invalid.push(err.message) });
    const last = () => seen[seen.length - 1];
    const base = '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web';
    await eventually(() => last()?.version === 1, 'ring 1');
    expect(last()!.previous).toBeUndefined();

    await patchMerge(env.api.url, `${base}/scale`, { spec: { replicas: 3 } });
    await eventually(() => last()?.version === 2, 'ring 2 (transition)');
    expect(last()!.members.map((m) => m.name)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(last()!.previous!.version).toBe(1);
    expect(last()!.previous!.members.map((m) => m.name)).toEqual(['web-0', 'web-1']);
    const cm = stored(env, 'v1', 'configmaps', 'default', 'web-ring');
    expect(Date.parse(cm.metadata.annotations['cachalot.io/transition-since'])).not.toBeNaN();
    await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.ring?.previousVersion === 1, 'status.ring.previousVersion');

    // An operator restarted mid-transition keeps it (the clock is in the ConfigMap, not in memory) ...
    await env.operators[0]!.stop();
    env.operators.length = 0;
    const mark = env.api.requests.length;
    await env.startOperator();
    // Every reconcile applies the ring ConfigMap: once the new operator has, the document is its decision.
    await eventually(() => env.api.requests.slice(mark).some((r) => r.verb === 'patch' && r.plural === 'configmaps' && r.name === 'web-ring'), 'the new operator reconciled');
    expect(JSON.parse(stored(env, 'v1', 'configmaps', 'default', 'web-ring').data['ring.json'])).toMatchObject({ version: 2, previous: { version: 1 } });
    // ... and ends it once transitionSeconds have passed since the change, here by shortening it.
    expect(last()!.version).toBe(2);
    await patchMerge(env.api.url, base, { spec: { ring: { transitionSeconds: 0 } } });
    await eventually(() => last()?.version === 3, 'ring 3 (transition over)');
    expect(last()!.previous).toBeUndefined();
    expect(last()!.members.map((m) => m.name)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(stored(env, 'v1', 'configmaps', 'default', 'web-ring').metadata.annotations['cachalot.io/transition-since']).toBe('');

    // Scale-down: the leaving member drains; drainSeconds 0 is over at once, but previous lists it as
    // active, so it stays until the transition ends.
    await patchMerge(env.api.url, base, { spec: { replicas: 2, ring: { transitionSeconds: 3600 } } });
    await eventually(() => last()?.version === 4, 'ring 4 (draining, transition)');
    expect(last()!.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:draining']);
    expect(last()!.previous!.version).toBe(3);
    expect(last()!.previous!.members.map((m) => `${m.name}:${m.state}`)).toEqual(['web-0:active', 'web-1:active', 'web-2:active']);
    await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.ring?.draining === 1, 'status: 1 draining');
    expect(stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.replicas).toBe(3);
    await patchMerge(env.api.url, base, { spec: { ring: { transitionSeconds: 0 } } });
    await eventually(() => last()?.version === 5, 'ring 5 (left, transition over)');
    expect(last()!.members.map((m) => m.name)).toEqual(['web-0', 'web-1']);
    expect(last()!.previous).toBeUndefined();
    await eventually(() => stored(env, 'apps/v1', 'statefulsets', 'default', 'web').spec.replicas === 2, 'StatefulSet shrunk to 2');
    expect([...new Set(seen.map((s) => s.version))]).toEqual([1, 2, 3, 4, 5]);
    expect(invalid.filter((m) => !m.includes('not found'))).toEqual([]);
  });
});
