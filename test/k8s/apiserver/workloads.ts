/**
 * Controller-manager + scheduler + kubelet TEST DOUBLE, in-process on the store: what the operator relies on
 * the cluster to do with a StatefulSet. It creates pods `<sts>-<i>` and claims `<template>-<sts>-<i>`, binds
 * each new claim to a node (the `volume.kubernetes.io/selected-node` annotation a WaitForFirstConsumer local
 * volume gets), marks pods Running/Ready (unless a test holds one back), removes pods and claims above the
 * replica count (whenScaled: Delete), keeps StatefulSet status counts, confirms graceful pod deletions on
 * Ready nodes (as their kubelet would), and on Node deletion force-deletes the node's pods, whose
 * replacements then stay Pending/Unschedulable because their local claim points at the lost node.
 * The cluster it stands for has the StorageClasses it is given (by default `local-storage`, a
 * no-provisioner WaitForFirstConsumer class, as docs/operator.md sets one up): a claim naming a class that
 * does not exist stays Pending and its pod Unschedulable, as the scheduler's volume binding leaves them. An
 * orphaned pod of a StatefulSet's name is adopted (owner reference added), as the StatefulSet controller does.
 */
import { createHash } from 'node:crypto';
import { clone, isObject, type Json, type JsonObject } from './patch.js';
import type { ResourceDef } from './resources.js';
import { meta, type Store, type StoreEvent } from './store.js';

const SELECTED_NODE = 'volume.kubernetes.io/selected-node';

/** Statically provisioned local PVs, bound once a pod is scheduled (docs/operator.md, Storage). */
export const LOCAL_STORAGE_CLASS: JsonObject = { metadata: { name: 'local-storage' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer', reclaimPolicy: 'Delete' };
const REVISION_LABEL = 'controller-revision-hash';

/** Stands in for a ControllerRevision name: the pod template's hash. */
function revisionOf(name: string, template: Json | undefined): string {
  return `${name}-${createHash('sha256').update(JSON.stringify(template ?? {})).digest('hex').slice(0, 10)}`;
}

function isReady(p: JsonObject): boolean {
  return isObject(p.status) && Array.isArray(p.status.conditions) && p.status.conditions.some((c) => isObject(c) && c.type === 'Ready' && c.status === 'True');
}

function stamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class WorkloadSimulator {
  private readonly notReady = new Set<string>();
  private readonly holdNext = new Set<string>();
  private scheduled = false;
  private nextNode = 0;
  private readonly listener = (ev: StoreEvent) => this.onEvent(ev);
  private readonly defs: Record<'sts' | 'pod' | 'pvc' | 'node' | 'sc', ResourceDef>;

  constructor(private readonly store: Store, nodes: string[] = ['node-a', 'node-b', 'node-c'], storageClasses: JsonObject[] = [LOCAL_STORAGE_CLASS]) {
    this.defs = {
      sts: store.lookup('apps/v1', 'statefulsets')!,
      pod: store.lookup('v1', 'pods')!,
      pvc: store.lookup('v1', 'persistentvolumeclaims')!,
      node: store.lookup('v1', 'nodes')!,
      sc: store.lookup('storage.k8s.io/v1', 'storageclasses')!,
    };
    for (const n of nodes) this.addNode(n);
    for (const sc of storageClasses) if (!store.tryGet(this.defs.sc, undefined, String(meta(sc).name))) store.create(this.defs.sc, undefined, clone(sc));
  }

  start(): this {
    this.store.listeners.add(this.listener);
    this.kick();
    return this;
  }

  stop(): void {
    this.store.listeners.delete(this.listener);
  }

  addNode(name: string): void {
    if (this.store.tryGet(this.defs.node, undefined, name)) return;
    this.store.create(this.defs.node, undefined, {
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: stamp(), lastTransitionTime: stamp() }] },
    });
  }

  /** Deleting the Node object is what "node lost" means to the operator (DESIGN.md, Local PVs). */
  deleteNode(name: string): void {
    this.store.delete(this.defs.node, undefined, name);
  }

  setReady(pod: string, ready: boolean): void {
    if (ready) this.notReady.delete(pod);
    else this.notReady.add(pod);
    this.kick();
  }

  /** The next pod created under this name (e.g. a rolling update's replacement) stays un-Ready until setReady. */
  holdNextIncarnation(pod: string): void {
    this.holdNext.add(pod);
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.def === this.defs.sts || ev.def === this.defs.pod || ev.def === this.defs.pvc || ev.def === this.defs.node) this.kick();
  }

  /** Coalesces bursts of events into one pass, like a controller's work queue. */
  private kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.confirmDeletions();
        this.evictFromLostNodes();
        for (const sts of this.store.list(this.defs.sts).items) this.reconcile(sts);
      } catch {
        // A concurrent write by the test or the operator: the event it produces brings us back here.
      }
    });
  }

  private nodeExists(name: unknown): boolean {
    return typeof name === 'string' && this.store.tryGet(this.defs.node, undefined, name) !== undefined;
  }

  /** A node whose kubelet is posting Ready: only such a kubelet can confirm a pod's deletion. */
  private nodeReady(name: unknown): boolean {
    const node = typeof name === 'string' ? this.store.tryGet(this.defs.node, undefined, name) : undefined;
    const conditions = node && isObject(node.status) && Array.isArray(node.status.conditions) ? node.status.conditions : [];
    return conditions.some((c) => isObject(c) && c.type === 'Ready' && c.status === 'True');
  }

  /**
   * The kubelet's side of graceful deletion: containers stopped at once, then the final delete (grace 0).
   * On a node that is not Ready nobody confirms, and the pod stays Terminating until force-deleted.
   */
  private confirmDeletions(): void {
    for (const pod of this.store.list(this.defs.pod).items) {
      const nodeName = isObject(pod.spec) ? pod.spec.nodeName : undefined;
      if (meta(pod).deletionTimestamp && this.nodeReady(nodeName)) this.store.delete(this.defs.pod, meta(pod).namespace as string, meta(pod).name as string, { gracePeriodSeconds: 0 });
    }
  }

  /** The pod garbage collector force-deletes pods bound to a Node that no longer exists. */
  private evictFromLostNodes(): void {
    for (const pod of this.store.list(this.defs.pod).items) {
      const nodeName = isObject(pod.spec) ? pod.spec.nodeName : undefined;
      if (nodeName && !this.nodeExists(nodeName)) this.store.delete(this.defs.pod, meta(pod).namespace as string, meta(pod).name as string, { gracePeriodSeconds: 0 });
    }
  }

  /** Ready and not tainted out of service or unreachable: what the scheduler places new pods on. */
  private nodeUsable(name: unknown): boolean {
    const n = typeof name === 'string' ? this.store.tryGet(this.defs.node, undefined, name) : undefined;
    if (!n) return false;
    const taints = isObject(n.spec) && Array.isArray(n.spec.taints) ? n.spec.taints : [];
    if (taints.some((t) => isObject(t) && (t.effect === 'NoSchedule' || t.effect === 'NoExecute'))) return false;
    const conds = isObject(n.status) && Array.isArray(n.status.conditions) ? n.status.conditions : [];
    return !conds.some((c) => isObject(c) && c.type === 'Ready' && c.status !== 'True');
  }

  private pickNode(): string | undefined {
    const nodes = this.store.list(this.defs.node).items.filter((n) => this.nodeUsable(meta(n).name)).map((n) => String(meta(n).name));
    if (nodes.length === 0) return undefined;
    return nodes[this.nextNode++ % nodes.length];
  }

  private reconcile(sts: JsonObject): void {
    const m = meta(sts);
    const ns = m.namespace as string;
    const name = m.name as string;
    const spec = sts.spec as JsonObject;
    const replicas = Number(spec.replicas ?? 1);
    const template = (spec.template ?? {}) as JsonObject;
    const templates = (Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : []) as JsonObject[];
    const retention = isObject(spec.persistentVolumeClaimRetentionPolicy) ? spec.persistentVolumeClaimRetentionPolicy : {};
    const revision = revisionOf(name, template);
    for (let i = 0; i < replicas; i++) this.ensurePod(sts, ns, `${name}-${i}`, template, templates, revision);
    for (const pod of this.store.list(this.defs.pod, ns).items) {
      const pn = String(meta(pod).name);
      const ord = pn.startsWith(`${name}-`) ? Number(pn.slice(name.length + 1)) : NaN;
      if (!Number.isInteger(ord) || ord < replicas) continue;
      this.store.delete(this.defs.pod, ns, pn);
      if (retention.whenScaled === 'Delete') {
        for (const t of templates) {
          const claim = `${meta(t).name}-${pn}`;
          if (this.store.tryGet(this.defs.pvc, ns, claim)) this.store.delete(this.defs.pvc, ns, claim);
        }
      }
    }
    const pods = this.store.list(this.defs.pod, ns).items.filter((p) => String(meta(p).name).startsWith(`${name}-`) && isObject(meta(p).labels));
    const ready = pods.filter(isReady).length;
    const updated = pods.filter((p) => (meta(p).labels as Record<string, string>)[REVISION_LABEL] === revision);
    // RollingUpdate as the StatefulSet controller does it: one pod at a time, highest ordinal first, and only
    // while every pod is Ready (so a replacement that never becomes Ready halts the rollout).
    const outdated = pods.filter((p) => (meta(p).labels as Record<string, string>)[REVISION_LABEL] !== revision).sort((a, b) => String(meta(b).name).localeCompare(String(meta(a).name), undefined, { numeric: true }));
    if (outdated.length > 0 && pods.length >= replicas && ready === pods.length) this.store.delete(this.defs.pod, ns, String(meta(outdated[0]!).name));
    const prevStatus = (isObject(sts.status) ? sts.status : {}) as JsonObject;
    const currentRevision = outdated.length === 0 ? revision : String(prevStatus.currentRevision ?? revision);
    const status = {
      observedGeneration: m.generation!,
      replicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      currentReplicas: pods.length - updated.length || pods.length,
      updatedReplicas: updated.length,
      currentRevision,
      updateRevision: revision,
    };
    if (JSON.stringify(sts.status ?? {}) !== JSON.stringify(status)) this.store.update(this.defs.sts, ns, name, { ...sts, status, metadata: { ...m } }, { subresource: 'status' });
  }

  private ensurePod(sts: JsonObject, ns: string, pod: string, template: JsonObject, templates: JsonObject[], revision: string): void {
    let node: string | undefined;
    let lostNode = false;
    let missingClass: string | undefined;
    for (const t of templates) {
      const claim = `${meta(t).name}-${pod}`;
      let pvc = this.store.tryGet(this.defs.pvc, ns, claim);
      if (!pvc) pvc = this.store.create(this.defs.pvc, ns, { metadata: { name: claim, labels: (meta(t).labels ?? {}) as Json }, spec: t.spec ?? {}, status: { phase: 'Pending' } });
      const cls = isObject(pvc.spec) ? pvc.spec.storageClassName : undefined;
      if (typeof cls === 'string' && cls && !this.store.tryGet(this.defs.sc, undefined, cls)) missingClass = cls;
      const selected = (meta(pvc).annotations as Record<string, string> | undefined)?.[SELECTED_NODE];
      if (selected) {
        node = selected;
        if (!this.nodeExists(selected)) lostNode = true;
      }
    }
    const existing = this.store.tryGet(this.defs.pod, ns, pod);
    if (existing && !(Array.isArray(meta(existing).ownerReferences) && (meta(existing).ownerReferences as Json[]).length)) {
      this.store.update(this.defs.pod, ns, pod, { ...existing, metadata: { ...meta(existing), ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: meta(sts).name!, uid: meta(sts).uid!, controller: true, blockOwnerDeletion: true }] } });
    }
    if (!existing && missingClass) {
      const tm = (template.metadata ?? {}) as JsonObject;
      this.store.create(this.defs.pod, ns, {
        metadata: {
          name: pod,
          labels: { ...((tm.labels ?? {}) as JsonObject), 'statefulset.kubernetes.io/pod-name': pod, [REVISION_LABEL]: revision },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: meta(sts).name!, uid: meta(sts).uid!, controller: true, blockOwnerDeletion: true }],
        },
        spec: { ...((template.spec ?? {}) as JsonObject) },
        status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: `0/3 nodes are available: storageclass.storage.k8s.io "${missingClass}" not found.`, lastTransitionTime: stamp() }] },
      });
      return;
    }
    if (missingClass) return;
    if (!existing && this.holdNext.delete(pod)) this.notReady.add(pod);
    const want = !this.notReady.has(pod) && !lostNode;
    if (!existing) {
      if (!node && !lostNode) {
        node = this.pickNode();
        for (const t of templates) {
          const claim = `${meta(t).name}-${pod}`;
          const pvc = this.store.get(this.defs.pvc, ns, claim);
          if (node) this.store.update(this.defs.pvc, ns, claim, { ...pvc, metadata: { ...meta(pvc), annotations: { ...((meta(pvc).annotations ?? {}) as JsonObject), [SELECTED_NODE]: node } } });
          const fresh = this.store.get(this.defs.pvc, ns, claim);
          this.store.update(this.defs.pvc, ns, claim, { ...fresh, status: { phase: 'Bound' } }, { subresource: 'status' });
        }
      }
      const tm = (template.metadata ?? {}) as JsonObject;
      const status = lostNode
        ? { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: "0/3 nodes are available: 3 node(s) didn't match PersistentVolume's node affinity.", lastTransitionTime: stamp() }] }
        : this.runningStatus(want);
      this.store.create(this.defs.pod, ns, {
        metadata: {
          name: pod,
          labels: { ...((tm.labels ?? {}) as JsonObject), 'statefulset.kubernetes.io/pod-name': pod, [REVISION_LABEL]: revision },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: meta(sts).name!, uid: meta(sts).uid!, controller: true, blockOwnerDeletion: true }],
        },
        spec: { ...((template.spec ?? {}) as JsonObject), ...(lostNode || !node ? {} : { nodeName: node }) },
        status,
      });
      return;
    }
    if (lostNode || !isObject(existing.status) || existing.status.phase !== 'Running') return;
    // The node lifecycle controller marks the pods of a node that stopped reporting not Ready.
    const onLiveNode = this.nodeUsable(isObject(existing.spec) ? existing.spec.nodeName : undefined) || !this.nodeExists(isObject(existing.spec) ? existing.spec.nodeName : undefined);
    if (!onLiveNode && want) return void (isReady(existing) && this.store.update(this.defs.pod, ns, pod, { ...existing, status: this.runningStatus(false) }, { subresource: 'status' }));
    if (isReady(existing) !== want) this.store.update(this.defs.pod, ns, pod, { ...existing, status: this.runningStatus(want) }, { subresource: 'status' });
  }

  private runningStatus(ready: boolean): JsonObject {
    const t = stamp();
    return {
      phase: 'Running',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
        { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: t },
      ],
    };
  }
}
