/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The contract between the operator and the sidecar: the ring the operator publishes in ConfigMap
 * `<name>-ring` is read, through the API server double, by the sidecar's own ConfigMapRingSource, and every
 * document it sees across a scale-up and a draining scale-down parses and says what the operator meant.
 */
import { ConfigMapRingSource } from '../../server/src/sidecar/ring/configmap.js';
import type { RingSpec } from '../../server/src/sidecar/ring/document.js';
import { cacheCluster, eventually, patchMerge, startEnv, type Env } from './helpers.js';

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
    await env.objects.create(cacheCluster('web', { replicas: 2, ring: { drainSeconds: 3600 } }));
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
