/* eslint-disable @typescript-eslint/no-explicit-any */
/** Two operator instances on one Lease: one leads and reconciles, the other waits, and takes over. */
import { cacheCluster, eventually, startEnv, stored, type Env } from './helpers.js';
import type { Operator } from '../../operator/src/operator.js';

let env: Env;
afterEach(async () => {
  await env?.stop();
});

// Short enough for a quick failover test, long enough that a loaded CI machine does not lose renewals.
const LE = { namespace: 'default', leaseDurationSeconds: 4, renewDeadlineMs: 3000, retryPeriodMs: 200 };

async function twoInstances(env: Env): Promise<[Operator, Operator]> {
  const a = await env.startOperator({ leaderElection: { ...LE, identity: 'op-a' } });
  const b = await env.startOperator({ leaderElection: { ...LE, identity: 'op-b' } });
  await eventually(() => a.isLeader || b.isLeader, 'a leader');
  return [a, b];
}

function lease(env: Env): any {
  return stored(env, 'coordination.k8s.io/v1', 'leases', 'default', 'cachalot-operator-leader');
}

describe('leader election', () => {
  it('elects exactly one leader; only it reconciles; it fails over when the leader stops renewing', async () => {
    env = await startEnv();
    const [a, b] = await twoInstances(env);
    const [leader, follower] = a.isLeader ? [a, b] : [b, a];
    // Several renew periods later there is still exactly one leader.
    const rv = lease(env).metadata.resourceVersion;
    await eventually(() => Number(lease(env).metadata.resourceVersion) >= Number(rv) + 3, 'a few renewals');
    expect([a.isLeader, b.isLeader].filter(Boolean)).toHaveLength(1);
    expect(lease(env).spec.holderIdentity).toBe(leader.identity);
    expect(follower.activeController).toBeUndefined();

    await env.objects.create(cacheCluster('web', { replicas: 1 }));
    await eventually(() => stored(env, 'v1', 'configmaps', 'default', 'web-ring'), 'reconciled by the leader');

    // The leader dies without releasing the Lease: the follower must wait out the lease, then take over.
    await leader.stop(true);
    await eventually(() => follower.isLeader, 'follower takes over', { tries: 400, intervalMs: 25 });
    expect(lease(env).spec.holderIdentity).toBe(follower.identity);
    expect(lease(env).spec.leaseTransitions).toBe(1);
    await env.objects.create(cacheCluster('after', { replicas: 1 }));
    await eventually(() => stored(env, 'v1', 'configmaps', 'default', 'after-ring'), 'reconciled by the new leader');
  });

  it('a leader that stops gracefully releases the Lease for its successor', async () => {
    env = await startEnv();
    const [a, b] = await twoInstances(env);
    const [leader, follower] = a.isLeader ? [a, b] : [b, a];
    await leader.stop();
    expect(lease(env).spec.holderIdentity).toBe('');
    await eventually(() => follower.isLeader, 'successor');
  });

  it('a leader that cannot renew steps down and stops reconciling', async () => {
    env = await startEnv();
    const [a, b] = await twoInstances(env);
    const [leader] = a.isLeader ? [a, b] : [b, a];
    env.api.injectFault({ match: (r) => r.plural === 'leases' && r.verb === 'update' && lease(env).spec.holderIdentity === leader.identity, status: 500, times: Number.MAX_SAFE_INTEGER });
    await eventually(() => !leader.isLeader, 'leader steps down');
    expect(leader.activeController).toBeUndefined();
  });
});
