/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * StatefulSet controller + scheduler + pod garbage collector TEST DOUBLE, for the end-to-end tests, as a
 * client of the API server double over HTTP (the real @kubernetes/client-node), like kube-controller-manager
 * and kube-scheduler are clients of a real API server.
 *
 * Why not test/k8s/apiserver/workloads.ts (WorkloadSimulator): it also plays the kubelet and forces every
 * Running pod's Ready condition to its own idea of readiness, which would overwrite what the kubelet double
 * (kubelet.ts) reports from the real servers' /readyz. This double leaves pod status after scheduling to
 * the kubelet. What it does, as the real controllers do for what the operator relies on:
 * - StatefulSet (Parallel pod management): pods `<sts>-<i>` for i < replicas with claims
 *   `<template>-<sts>-<i>` mounted as volumes; a pod being deleted (Terminating until its kubelet confirms)
 *   is recreated only once it is gone; pods with ordinal >= replicas are deleted, then their
 *   claims (persistentVolumeClaimRetentionPolicy.whenScaled: Delete; whenDeleted: Delete makes the set own
 *   its claims, so they are garbage-collected with it); status replicas/readyReplicas/
 *   revisions; RollingUpdate one pod at a time, highest ordinal first, only while all pods are Ready.
 * - Scheduler: a claim already tied to a node (`volume.kubernetes.io/selected-node`, as WaitForFirstConsumer
 *   local volumes are) pins the pod there; if that node is gone the pod stays Pending with
 *   PodScheduled=False/Unschedulable. A new claim is tied to the Ready, untainted node running the fewest of
 *   the set's pods, among the nodes a required pod anti-affinity on kubernetes.io/hostname leaves
 *   (kube-scheduler's InterPodAffinity filter, for the one term shape the operator writes); no such node
 *   leaves it Pending.
 * - Pod GC: pods bound to a Node that no longer exists are force-deleted (finalizers cleared, grace 0).
 */
import { createHash } from 'node:crypto';
import { startInformer } from './kubelet.js';
import { AppsV1Api, CoreV1Api, KubernetesObjectApi, PatchStrategy, ListWatch, Watch, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const REVISION_LABEL = 'controller-revision-hash';

type Obj = KubernetesObject & { spec?: any; status?: any };

const stamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const plain = <T>(o: unknown): T => JSON.parse(JSON.stringify(o)) as T;
const codeOf = (e: unknown): number | undefined => (e as { code?: number }).code;

function isReady(p: Obj): boolean {
  return !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

export class ControlPlane {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly objects: KubernetesObjectApi;
  private readonly informers;
  private running = false;
  private again = false;
  private stopped = false;
  private resync?: NodeJS.Timeout;
  private nextNode = 0;
  readonly errors: string[] = [];

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.informers = {
      sts: new ListWatch<Obj>('/apis/apps/v1/statefulsets', new Watch(kc), () => this.apps.listStatefulSetForAllNamespaces() as any, false),
      pods: new ListWatch<Obj>('/api/v1/pods', new Watch(kc), () => this.core.listPodForAllNamespaces() as any, false),
      pvcs: new ListWatch<Obj>('/api/v1/persistentvolumeclaims', new Watch(kc), () => this.core.listPersistentVolumeClaimForAllNamespaces() as any, false),
      nodes: new ListWatch<Obj>('/api/v1/nodes', new Watch(kc), () => this.core.listNode() as any, false),
    };
    for (const inf of Object.values(this.informers)) {
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, () => this.kick());
      inf.on('error', () => {
        if (!this.stopped) setTimeout(() => void inf.start().catch(() => undefined), 200);
      });
    }
  }

  async start(): Promise<this> {
    await Promise.all(Object.entries(this.informers).map(([what, i]) => startInformer(i, `control plane: ${what}`)));
    this.resync = setInterval(() => this.kick(), 500);
    this.kick();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    await Promise.all(Object.values(this.informers).map((i) => i.stop().catch(() => undefined)));
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => {
      this.pass()
        .catch((e) => {
          if (!this.stopped) this.errors.push(String(e instanceof Error ? e.message.split('\n')[0] : e));
        })
        .finally(() => {
          this.running = false;
          if (this.again) {
            this.again = false;
            this.kick();
          }
        });
    });
  }

  private nodeExists(name: string | undefined): boolean {
    return !!name && this.informers.nodes.get(name) !== undefined;
  }

  /** One level-based pass over every StatefulSet, plus pod GC. Conflicts and already-exists are left to the next pass. */
  private async pass(): Promise<void> {
    for (const pod of this.informers.pods.list()) {
      const node = pod.spec?.nodeName;
      if (node && !this.nodeExists(node)) await this.forceDelete(pod);
    }
    for (const sts of this.informers.sts.list()) {
      try {
        await this.reconcile(plain<Obj>(sts));
      } catch (e) {
        if (codeOf(e) !== 409 && codeOf(e) !== 404 && !this.stopped) this.errors.push(`${sts.metadata?.name}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
    }
  }

  private async forceDelete(pod: Obj): Promise<void> {
    const m = pod.metadata!;
    try {
      if ((m.finalizers ?? []).length > 0) {
        await this.objects.patch({ apiVersion: 'v1', kind: 'Pod', metadata: { name: m.name!, namespace: m.namespace!, resourceVersion: m.resourceVersion!, finalizers: [] } }, undefined, undefined, 'e2e-podgc', undefined, PatchStrategy.MergePatch);
      }
      // Force deletion (grace 0) also ends a graceful one whose kubelet is gone.
      await this.core.deleteNamespacedPod({ name: m.name!, namespace: m.namespace!, gracePeriodSeconds: 0 });
    } catch (e) {
      if (codeOf(e) !== 404 && codeOf(e) !== 409) throw e;
    }
  }

  private async reconcile(sts: Obj): Promise<void> {
    const ns = sts.metadata!.namespace!;
    const name = sts.metadata!.name!;
    const replicas = Number(sts.spec?.replicas ?? 1);
    const template = sts.spec?.template ?? {};
    const claimTemplates: Obj[] = sts.spec?.volumeClaimTemplates ?? [];
    const revision = `${name}-${createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10)}`;
    const ownedPods = this.informers.pods.list(ns).filter((p) => (p.metadata?.ownerReferences ?? []).some((r) => r.uid === sts.metadata!.uid));
    const ordinalOf = (pod: string): number => (pod.startsWith(`${name}-`) && /^\d+$/.test(pod.slice(name.length + 1)) ? Number(pod.slice(name.length + 1)) : -1);

    for (let i = 0; i < replicas; i++) {
      const podName = `${name}-${i}`;
      const claims: Obj[] = [];
      for (const t of claimTemplates) claims.push(await this.ensureClaim(sts, ns, `${t.metadata!.name}-${podName}`, t));
      const pod = this.informers.pods.get(podName, ns);
      if (pod) {
        if (!pod.metadata?.deletionTimestamp && !pod.spec?.nodeName) await this.trySchedule(ns, pod, claims, ownedPods);
        continue;
      }
      await this.createPod(sts, ns, podName, template, claimTemplates, claims, revision, ownedPods);
    }

    // Scale-down: pods above the replica count go first, their claims once the pods are gone.
    for (const pod of ownedPods) {
      const ord = ordinalOf(pod.metadata!.name!);
      if (ord >= replicas && !pod.metadata?.deletionTimestamp) await this.core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: ns }).catch((e) => (codeOf(e) === 404 ? undefined : Promise.reject(e)));
    }
    if (sts.spec?.persistentVolumeClaimRetentionPolicy?.whenScaled === 'Delete') {
      for (const pvc of this.informers.pvcs.list(ns)) {
        for (const t of claimTemplates) {
          const prefix = `${t.metadata!.name}-`;
          const pvcName = pvc.metadata!.name!;
          if (!pvcName.startsWith(prefix)) continue;
          const pod = pvcName.slice(prefix.length);
          const ord = ordinalOf(pod);
          if (ord >= replicas && !this.informers.pods.get(pod, ns) && !pvc.metadata?.deletionTimestamp) {
            await this.core.deleteNamespacedPersistentVolumeClaim({ name: pvcName, namespace: ns }).catch((e) => (codeOf(e) === 404 ? undefined : Promise.reject(e)));
          }
        }
      }
    }

    const all = this.informers.pods.list(ns).filter((p) => (p.metadata?.ownerReferences ?? []).some((r) => r.uid === sts.metadata!.uid));
    const live = all.filter((p) => !p.metadata?.deletionTimestamp);
    const ready = live.filter(isReady).length;
    const revisionOf = (p: Obj): string | undefined => p.metadata?.labels?.[REVISION_LABEL];
    // RollingUpdate: one pod at a time, highest ordinal first, only while every pod is there and Ready (so a
    // replacement that does not become Ready halts the rollout), and never while one is still terminating.
    const outdated = live.filter((p) => revisionOf(p) !== revision).sort((a, b) => ordinalOf(b.metadata!.name!) - ordinalOf(a.metadata!.name!));
    if (outdated.length > 0 && all.length === live.length && live.length >= replicas && ready === live.length) {
      await this.core.deleteNamespacedPod({ name: outdated[0]!.metadata!.name!, namespace: ns }).catch((e) => (codeOf(e) === 404 ? undefined : Promise.reject(e)));
    }
    const currentRevision = outdated.length === 0 ? revision : String(sts.status?.currentRevision ?? revision);
    const status = {
      observedGeneration: sts.metadata!.generation ?? 1,
      replicas: live.length,
      readyReplicas: ready,
      availableReplicas: ready,
      currentReplicas: live.filter((p) => revisionOf(p) === currentRevision).length,
      updatedReplicas: live.filter((p) => revisionOf(p) === revision).length,
      currentRevision,
      updateRevision: revision,
    };
    const prev = sts.status ?? {};
    if (Object.entries(status).some(([k, v]) => prev[k] !== v)) {
      await this.apps.patchNamespacedStatefulSetStatus({ name, namespace: ns, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    }
  }

  private async ensureClaim(sts: Obj, ns: string, claim: string, t: Obj): Promise<Obj> {
    const existing = this.informers.pvcs.get(claim, ns);
    if (existing && !existing.metadata?.deletionTimestamp) return plain<Obj>(existing);
    // whenDeleted: Delete -> the claim is owned by the StatefulSet, so the garbage collector removes it with it.
    const owned = sts.spec?.persistentVolumeClaimRetentionPolicy?.whenDeleted === 'Delete'
      ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.metadata!.name!, uid: sts.metadata!.uid!, controller: true, blockOwnerDeletion: true }] }
      : {};
    try {
      return plain<Obj>(await this.core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: { metadata: { name: claim, namespace: ns, labels: t.metadata?.labels ?? {}, ...owned }, spec: t.spec ?? {} } as any }));
    } catch (e) {
      if (codeOf(e) !== 409) throw e;
      return plain<Obj>(await this.core.readNamespacedPersistentVolumeClaim({ name: claim, namespace: ns }));
    }
  }

  /** The node the claims pin the pod to ('' when none does), or undefined when that node is gone. */
  private pinnedNode(claims: Obj[]): string | undefined {
    let node = '';
    for (const c of claims) {
      const sel = (c.metadata?.annotations ?? {})[SELECTED_NODE];
      if (sel) {
        if (!this.nodeExists(sel)) return undefined;
        node = sel;
      }
    }
    return node;
  }

  /** Nodes running a pod that a required anti-affinity term (topologyKey kubernetes.io/hostname, matchLabels) selects. */
  private antiAffinityTaken(ns: string, podSpec: any, placed: Obj[]): Set<string> {
    const taken = new Set<string>();
    const terms: any[] = podSpec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    const pods = [...this.informers.pods.list(ns), ...placed];
    for (const term of terms) {
      if (term.topologyKey !== 'kubernetes.io/hostname') continue;
      const match = term.labelSelector?.matchLabels ?? {};
      for (const p of pods) {
        if (p.spec?.nodeName && Object.entries(match).every(([k, v]) => p.metadata?.labels?.[k] === v)) taken.add(p.spec.nodeName);
      }
    }
    return taken;
  }

  private pickNode(ownedPods: Obj[], taken: Set<string> = new Set()): string | undefined {
    // As the scheduler: no new pod on a node tainted NoSchedule/NoExecute (unreachable, out-of-service) or not Ready.
    const usable = (n: Obj): boolean =>
      !(n.spec?.taints ?? []).some((t: any) => t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !(n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status !== 'True');
    const nodes = this.informers.nodes.list().filter(usable).map((n) => n.metadata!.name!).filter((n) => !taken.has(n)).sort();
    if (nodes.length === 0) return undefined;
    const load = (n: string): number => ownedPods.filter((p) => p.spec?.nodeName === n && !p.metadata?.deletionTimestamp).length;
    const min = Math.min(...nodes.map(load));
    const candidates = nodes.filter((n) => load(n) === min);
    return candidates[this.nextNode++ % candidates.length];
  }

  /** Ties the claims to the node (what a WaitForFirstConsumer local volume's binding does). */
  private async bindClaims(ns: string, claims: Obj[], node: string): Promise<void> {
    for (const c of claims) {
      if ((c.metadata?.annotations ?? {})[SELECTED_NODE]) continue;
      await this.objects.patch({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: c.metadata!.name!, namespace: ns, annotations: { [SELECTED_NODE]: node } } }, undefined, undefined, 'e2e-scheduler', undefined, PatchStrategy.MergePatch);
      await this.core.patchNamespacedPersistentVolumeClaimStatus({ name: c.metadata!.name!, namespace: ns, body: { status: { phase: 'Bound' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    }
  }

  private unschedulable(): Record<string, unknown> {
    return {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: "0/3 nodes are available: node(s) didn't match PersistentVolume's node affinity.", lastTransitionTime: stamp() }],
    };
  }

  private async createPod(sts: Obj, ns: string, podName: string, template: any, claimTemplates: Obj[], claims: Obj[], revision: string, ownedPods: Obj[]): Promise<void> {
    let node = this.pinnedNode(claims);
    if (node === '') {
      node = this.pickNode(ownedPods, this.antiAffinityTaken(ns, template.spec, ownedPods));
      if (node) await this.bindClaims(ns, claims, node);
    }
    // Pods created in this pass are not in the informer yet: count them for load and anti-affinity.
    if (node) ownedPods.push({ metadata: { name: podName, labels: template.metadata?.labels ?? {} }, spec: { nodeName: node } });
    const spec = plain<any>(template.spec ?? {});
    spec.hostname = podName;
    spec.subdomain = sts.spec?.serviceName;
    spec.volumes = [...(spec.volumes ?? []), ...claimTemplates.map((t) => ({ name: t.metadata!.name, persistentVolumeClaim: { claimName: `${t.metadata!.name}-${podName}` } }))];
    if (node) spec.nodeName = node;
    const body = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        namespace: ns,
        labels: { ...(template.metadata?.labels ?? {}), 'statefulset.kubernetes.io/pod-name': podName, [REVISION_LABEL]: revision },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.metadata!.name!, uid: sts.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec,
    };
    try {
      await this.core.createNamespacedPod({ namespace: ns, body: body as any });
    } catch (e) {
      if (codeOf(e) === 409) return;
      throw e;
    }
    const status = node ? { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: stamp() }] } : this.unschedulable();
    await this.core.patchNamespacedPodStatus({ name: podName, namespace: ns, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  /** A Pending pod whose claims no longer pin it to a lost node (e.g. a claim recreated empty) gets bound. */
  private async trySchedule(ns: string, pod: Obj, claims: Obj[], ownedPods: Obj[]): Promise<void> {
    let node = this.pinnedNode(claims);
    if (node === undefined) {
      const sched = (pod.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled');
      if (sched?.status !== 'False') await this.core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: ns, body: { status: this.unschedulable() } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      return;
    }
    if (node === '') {
      node = this.pickNode(ownedPods, this.antiAffinityTaken(ns, pod.spec, ownedPods));
      if (!node) return;
      await this.bindClaims(ns, claims, node);
    }
    await this.objects.patch({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.metadata!.name!, namespace: ns, resourceVersion: pod.metadata!.resourceVersion! }, spec: { nodeName: node } } as any, undefined, undefined, 'e2e-scheduler', undefined, PatchStrategy.MergePatch);
    await this.core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: ns, body: { status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: stamp() }] } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }
}
