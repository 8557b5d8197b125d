/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The operator's watches under API-server trouble: 410 Gone, broken streams, stalled streams, and node loss.
 * Each test makes a change while the operator cannot see it and asserts the operator still converges.
 */
import { cacheCluster, condition, eventually, metricValue, patchMerge, startEnv, stored, storedList, type Env } from './helpers.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

const reconciled = (env: Env, name: string) => eventually(() => stored(env, 'v1', 'configmaps', 'default', `${name}-ring`), `${name} reconciled`);

describe('watch recovery', () => {
  it('relists after 410 Gone and reconciles what changed while the watch was down', async () => {
    env = await startEnv();
    const op = await env.startOperator();
    await env.objects.create(cacheCluster('first', { replicas: 1 }));
    await reconciled(env, 'first');
    // Watches fail while we make a change, then history is compacted: resuming from the old
    // resourceVersion is impossible and only a relist can find `late`.
    const outage = env.api.injectFault({ match: (r) => r.verb === 'watch', status: 503, reason: 'ServiceUnavailable', times: Number.MAX_SAFE_INTEGER });
    env.api.breakWatches();
    await env.objects.create(cacheCluster('late', { replicas: 1 }));
    env.api.store.compact();
    await eventually(() => (outage.hits ?? 0) >= 6, 'watch retries during the outage');
    env.api.clearFaults();
    await reconciled(env, 'late');
    expect(await metricValue(op, 'cachalot_operator_relists_total', { resource: 'CacheCluster', reason: 'gone' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(op, 'cachalot_operator_watch_restarts_total', { reason: 'gone' })).toBeGreaterThanOrEqual(1);
  });

  it('a relist after 410 also notices deletions it missed', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('gone-soon', { replicas: 1 }));
    await reconciled(env, 'gone-soon');
    env.api.injectFault({ match: (r) => r.verb === 'watch', status: 503, times: Number.MAX_SAFE_INTEGER });
    env.api.breakWatches();
    // Delete the ring ConfigMap behind the operator's back; only a relist shows it is gone.
    env.api.store.delete(env.api.store.lookup('v1', 'configmaps')!, 'default', 'gone-soon-ring');
    env.api.store.compact();
    env.api.clearFaults();
    await reconciled(env, 'gone-soon');
  });

  it('resumes a broken watch from its last resourceVersion', async () => {
    env = await startEnv();
    const op = await env.startOperator();
    await env.objects.create(cacheCluster('a', { replicas: 1 }));
    await reconciled(env, 'a');
    expect(env.api.breakWatches()).toBeGreaterThanOrEqual(6);
    await env.objects.create(cacheCluster('b', { replicas: 1 }));
    await reconciled(env, 'b');
    expect(await metricValue(op, 'cachalot_operator_watch_restarts_total', { resource: 'CacheCluster' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(op, 'cachalot_operator_relists_total', { reason: 'gone' })).toBe(0);
  });

  it('restarts a stalled watch (connected, but no events and no bookmarks)', async () => {
    env = await startEnv({ bookmarkIntervalMs: 100 });
    const op = await env.startOperator({ controller: { stallTimeoutMs: 600 } });
    await env.objects.create(cacheCluster('a', { replicas: 1 }));
    await reconciled(env, 'a');
    env.api.stallWatches();
    await env.objects.create(cacheCluster('b', { replicas: 1 }));
    await reconciled(env, 'b');
    expect(await metricValue(op, 'cachalot_operator_watch_restarts_total', { resource: 'CacheCluster', reason: 'stalled' })).toBeGreaterThanOrEqual(1);
  });
});

describe('API server unreachable at start', () => {
  it('keeps retrying the initial list, converges once the API server answers, and can be stopped meanwhile', async () => {
    env = await startEnv();
    await env.objects.create(cacheCluster('early', { replicas: 1 }));
    const outage = env.api.injectFault({ match: (r) => r.verb === 'list', status: 503, times: Number.MAX_SAFE_INTEGER });
    const { Operator } = await import('../../operator/src/operator.js');
    const { createLogger } = await import('../../operator/src/log.js');
    // Leases are read and written, not listed: this instance becomes leader while its informers cannot list.
    const stuck = new Operator(env.kc, { leaderElection: { namespace: 'default', leaseDurationSeconds: 2, renewDeadlineMs: 1500, retryPeriodMs: 100 }, log: createLogger('silent') });
    await stuck.start();
    await eventually(() => stuck.isLeader && (outage.hits ?? 0) >= 12, 'leader, retrying lists');
    // Regression: stepping down used to wait for the controller's start, which cannot finish while lists fail.
    await stuck.stop();
    expect(stuck.activeController).toBeUndefined();
    const op = env.startOperator();
    env.api.clearFaults();
    await op;
    await reconciled(env, 'early');
  });
});

describe('node loss (local PVs)', () => {
  async function loseNodeOf(env: Env, pod: string) {
    const node = stored(env, 'v1', 'pods', 'default', pod).spec.nodeName;
    const claim = stored(env, 'v1', 'persistentvolumeclaims', 'default', `flash-${pod}`);
    expect(claim.metadata.annotations['volume.kubernetes.io/selected-node']).toBe(node);
    env.sim.deleteNode(node);
    return { node, claimUid: claim.metadata.uid };
  }

  it('deletes the claim and pod of a member whose node is gone, after the grace period, and it comes back empty elsewhere (on by default for local volumes)', async () => {
    env = await startEnv();
    await env.startOperator();
    // An hour of grace first, so the Degraded state can be observed however slow this machine is; then the
    // grace period is cut to zero, which is what ends it.
    // `enabled` unset: local-storage is a kubernetes.io/no-provisioner class in the simulated cluster.
    await env.objects.create(cacheCluster('web', { replicas: 3, flash: { storageClassName: 'local-storage' }, nodeLossRecovery: { gracePeriodSeconds: 3600 } }));
    await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.readyReplicas === 3, 'ready');
    const { node, claimUid } = await loseNodeOf(env, 'web-1');
    const degraded = await eventually(() => {
      const c = condition(stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web'), 'Degraded');
      return c?.reason === 'NodeLost' ? c : undefined;
    }, 'Degraded=NodeLost');
    expect(degraded.message).toBe(`web-1: node ${node} is gone; recovering after the grace period`);
    expect(stored(env, 'v1', 'persistentvolumeclaims', 'default', 'flash-web-1').metadata.uid).toBe(claimUid);
    await patchMerge(env.api.url, '/apis/cachalot.io/v1alpha1/namespaces/default/cacheclusters/web', { spec: { nodeLossRecovery: { gracePeriodSeconds: 0 } } });
    const event = await eventually(() => storedList(env, 'v1', 'events', 'default').find((e) => e.reason === 'NodeLost'), 'NodeLost event');
    expect(event.type).toBe('Warning');
    expect(event.message).toContain(`node ${node} is gone`);
    const pod = await eventually(() => {
      const p = stored(env, 'v1', 'pods', 'default', 'web-1');
      return p?.status?.phase === 'Running' ? p : undefined;
    }, 'web-1 running again');
    expect(pod.spec.nodeName).not.toBe(node);
    const claim = stored(env, 'v1', 'persistentvolumeclaims', 'default', 'flash-web-1');
    expect(claim.metadata.uid).not.toBe(claimUid);
    const cc = await eventually(() => {
      const c = stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web');
      return condition(c, 'Degraded')?.status === 'False' && c.status.readyReplicas === 3 ? c : undefined;
    }, 'healthy again');
    // The member kept its place in the ring throughout: same name, same version.
    expect(cc.status.ring.version).toBe(1);
  });

  it('with recovery turned off, only reports the lost member as Degraded and keeps its claim', async () => {
    env = await startEnv();
    await env.startOperator();
    await env.objects.create(cacheCluster('web', { replicas: 2, nodeLossRecovery: { enabled: false, gracePeriodSeconds: 0 } }));
    await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.readyReplicas === 2, 'ready');
    const { claimUid } = await loseNodeOf(env, 'web-0');
    const degraded = await eventually(() => {
      const c = condition(stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web'), 'Degraded');
      return c?.reason === 'NodeLost' ? c : undefined;
    }, 'Degraded=NodeLost');
    expect(degraded.message).toContain('enable spec.nodeLossRecovery');
    expect(stored(env, 'v1', 'persistentvolumeclaims', 'default', 'flash-web-0').metadata.uid).toBe(claimUid);
    expect(storedList(env, 'v1', 'events', 'default').some((e) => e.reason === 'NodeLost')).toBe(false);
  });
});
