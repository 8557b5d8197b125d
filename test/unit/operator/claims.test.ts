/* eslint-disable @typescript-eslint/no-explicit-any */
import { pendingClaims } from '../../../operator/src/controller/claims.js';
import { ClusterReads } from '../../../operator/src/controller/nodeloss.js';
import { withDefaults } from '../../../operator/src/api/types.js';
import type { Kube } from '../../../operator/src/kube.js';

/** Only `read` is used by ClusterReads' lookups; each call is counted. */
function fakeKube(objects: Record<string, unknown>, calls: string[]): Kube {
  return { read: async (_v: string, kind: string, _ns: string | undefined, name: string) => (calls.push(`${kind}/${name}`), objects[`${kind}/${name}`]) } as unknown as Kube;
}

const claim = (name: string, phase: string, storageClassName?: string) => ({ metadata: { name }, spec: { ...(storageClassName ? { storageClassName } : {}) }, status: { phase } });
const unschedulable = (message: string) => ({ status: { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }] } });

describe('pendingClaims', () => {
  const spec = withDefaults({ replicas: 3, flash: { storageClassName: 'local-storage' } });

  it('reports only claims whose pod the scheduler gave up on, with the reason that applies to each', async () => {
    const calls: string[] = [];
    const reads = new ClusterReads(fakeKube({ 'StorageClass/local-storage': { provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer' } }, calls));
    const claims: Record<string, any> = {
      'flash-web-0': claim('flash-web-0', 'Pending', 'local-storage'),
      'flash-web-1': claim('flash-web-1', 'Pending', 'local-storage'),
      'flash-web-2': claim('flash-web-2', 'Pending', 'gone-class'),
    };
    const pods: Record<string, any> = {
      // Being scheduled right now: a WaitForFirstConsumer claim is Pending for a moment, not a problem.
      'web-0': { status: { conditions: [{ type: 'PodScheduled', status: 'True' }] } },
      'web-1': unschedulable("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."),
    };
    const out = await pendingClaims('web', spec, (n) => claims[n], (n) => pods[n], reads);
    expect(out).toEqual([
      { claim: 'flash-web-1', pod: 'web-1', stale: false, detail: "StorageClass \"local-storage\" binds once the pod is scheduled, and the scheduler says: 0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules." },
      { claim: 'flash-web-2', pod: 'web-2', stale: true, detail: 'StorageClass "gone-class" not found' },
    ]);
    // One read per StorageClass however many claims use it.
    expect(calls.sort()).toEqual(['StorageClass/gone-class', 'StorageClass/local-storage']);
  });

  it('without cluster reads, says the claim is Pending without looking the class up', async () => {
    const calls: string[] = [];
    const out = await pendingClaims('web', withDefaults({ replicas: 1, flash: { storageClassName: 'fast' } }), () => claim('flash-web-0', 'Pending', 'fast'), () => undefined, new ClusterReads(fakeKube({}, calls), false));
    expect(out[0]!.detail).toBe('its StorageClass "fast" has not bound a volume');
    expect(calls).toEqual([]);
  });
});
