/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Node lifecycle controller TEST DOUBLE (the part of kube-controller-manager that notices dead nodes), a
 * client of the API server double over HTTP. Every `periodMs` it compares each Node's Lease in
 * kube-node-lease (renewed by its kubelet double, kubelet.ts) with `monitorGracePeriodMs` (40 s in
 * Kubernetes), and for a node whose lease went stale, as the real controller does:
 * - sets the Ready condition to Unknown (reason NodeStatusUnknown) with a new lastTransitionTime;
 * - taints it node.kubernetes.io/unreachable, NoSchedule and NoExecute (with timeAdded);
 * - marks the pods bound to it Ready=False.
 * A node whose lease is renewed again gets Ready=True back and loses the taints. It never deletes pods:
 * taint-based eviction waits out the pods' default 300 s toleration, longer than any test runs.
 *
 * Unlike a real cluster, this controller and every kubelet double share one process: when that process
 * stalls (a loaded CI machine), no lease is renewed and none is checked, and the first check after the stall
 * would find every lease stale. So after a gap between two checks of more than STALL_MS, a lease is judged
 * from the end of the stall (as if the controller had been down, as the real one does after a restart).
 */
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { NODE_LEASE_NAMESPACE } from './kubelet.js';

export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
const stamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** A gap this long between two checks (every `periodMs`) means the process itself stalled. */
const STALL_MS = 1000;

export class NodeLifecycle {
  private readonly core: CoreV1Api;
  private readonly leases: CoordinationV1Api;
  private timer?: NodeJS.Timeout;
  private running = false;
  private lastCheck = 0;
  /** The end of the latest stall of this process: leases count as renewed no earlier than this. */
  private resumedAt = 0;
  readonly errors: string[] = [];

  constructor(kc: KubeConfig, private readonly opts: { monitorGracePeriodMs: number; periodMs?: number }) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.leases = kc.makeApiClient(CoordinationV1Api);
  }

  start(): this {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = true;
      this.pass()
        .catch((e) => this.errors.push(String(e instanceof Error ? e.message.split('\n')[0] : e)))
        .finally(() => (this.running = false));
    }, this.opts.periodMs ?? 100);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async pass(): Promise<void> {
    const [nodes, leases] = await Promise.all([this.core.listNode(), this.leases.listNamespacedLease({ namespace: NODE_LEASE_NAMESPACE })]);
    const renewed = new Map(leases.items.map((l) => [l.metadata!.name!, new Date(l.spec?.renewTime as unknown as string).getTime()]));
    const now = Date.now();
    if (now - this.lastCheck > STALL_MS) this.resumedAt = now;
    this.lastCheck = now;
    for (const node of nodes.items) {
      const name = node.metadata!.name!;
      const last = renewed.get(name);
      // A node whose kubelet never took its lease is left alone (the real controller waits a startup grace).
      if (last === undefined) continue;
      const stale = now - Math.max(last, this.resumedAt) > this.opts.monitorGracePeriodMs;
      const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
      const isReady = ready?.status === 'True';
      if (stale === !isReady) continue;
      const t = stamp();
      const others = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
      const condition = stale
        ? { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: ready?.lastHeartbeatTime ?? t, lastTransitionTime: t }
        : { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: t, lastTransitionTime: t };
      await this.core.patchNodeStatus({ name, body: { status: { conditions: [...others, condition] } } }, mergePatch);
      const kept = (node.spec?.taints ?? []).filter((x) => x.key !== UNREACHABLE_TAINT);
      const taints = stale ? [...kept, { key: UNREACHABLE_TAINT, effect: 'NoSchedule', timeAdded: t }, { key: UNREACHABLE_TAINT, effect: 'NoExecute', timeAdded: t }] : kept;
      await this.core.patchNode({ name, body: { spec: { taints } } }, mergePatch);
      if (!stale) continue;
      const pods = await this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` });
      for (const pod of pods.items) {
        const conds = (pod.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
        await this.core
          .patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { status: { conditions: [...conds, { type: 'Ready', status: 'False', reason: 'NodeNotReady', lastTransitionTime: t }] } } }, mergePatch)
          .catch((e) => ((e as { code?: number }).code === 404 ? undefined : Promise.reject(e)));
      }
    }
  }
}
