/**
 * Node loss, in the shape Aerospike's operator offers it: a member whose node is gone (Node object deleted),
 * NotReady for longer than the grace period, or tainted node.kubernetes.io/out-of-service is rescheduled on
 * another node with a new, empty claim. A local volume cannot follow its pod to another node, so for members
 * on local volumes this is on unless the spec turns it off; for other volumes it is off unless turned on
 * (their data can reattach elsewhere once Kubernetes lets go of the node).
 *
 * What "local" means here: the claim's PersistentVolume has `spec.local` or `spec.hostPath`, or a required
 * node affinity on kubernetes.io/hostname (local-path and OpenEBS LocalPV volumes), or the claim's
 * StorageClass uses the `kubernetes.io/no-provisioner` provisioner (statically provisioned local PVs).
 */
import type { ResolvedSpec } from '../api/types.js';
import type { Kube } from '../kube.js';
import type { KubeObject } from './informer.js';

/** Set on a claim by the scheduler for WaitForFirstConsumer volumes (local PVs): the node the claim is tied to. */
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
/** Kubernetes' non-graceful node shutdown: an administrator's statement that the node is down for good. */
export const OUT_OF_SERVICE_TAINT = 'node.kubernetes.io/out-of-service';
export const NO_PROVISIONER = 'kubernetes.io/no-provisioner';
const HOSTNAME_LABEL = 'kubernetes.io/hostname';

export type NodeLossKind = 'gone' | 'NotReady' | 'out-of-service';

export interface NodeLike extends KubeObject {
  spec?: { taints?: { key: string; effect?: string; timeAdded?: string }[] };
  status?: { conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
}

export interface ClaimLike extends KubeObject {
  spec?: { volumeName?: string; storageClassName?: string; resources?: { requests?: Record<string, string> } };
  status?: { phase?: string };
}

interface VolumeLike extends KubeObject {
  spec?: {
    local?: unknown;
    hostPath?: unknown;
    storageClassName?: string;
    claimRef?: { namespace?: string; name?: string };
    nodeAffinity?: { required?: { nodeSelectorTerms?: { matchExpressions?: { key: string; operator?: string; values?: string[] }[] }[] } };
  };
}

export interface StorageClassLike extends KubeObject {
  provisioner?: string;
  volumeBindingMode?: string;
  allowVolumeExpansion?: boolean;
}

/**
 * Why a node can no longer run its pods and since when (ms since the epoch); undefined while it is healthy.
 * `fallbackSince` stands in when the node gives no time (it is gone, or its taint has no timeAdded).
 */
export function nodeLoss(node: NodeLike | undefined, fallbackSince: number): { why: NodeLossKind; since: number } | undefined {
  if (!node) return { why: 'gone', since: fallbackSince };
  const oos = node.spec?.taints?.find((t) => t.key === OUT_OF_SERVICE_TAINT);
  if (oos) return { why: 'out-of-service', since: Date.parse(oos.timeAdded ?? '') || fallbackSince };
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  // A node with no Ready condition yet has just registered; only a reported False/Unknown counts as NotReady.
  if (ready && ready.status !== 'True') return { why: 'NotReady', since: Date.parse(ready.lastTransitionTime ?? '') || fallbackSince };
  return undefined;
}

/** How long to wait after `since`: none for out-of-service (the administrator already decided), else the grace period. */
export function graceMs(why: NodeLossKind, spec: ResolvedSpec): number {
  return why === 'out-of-service' ? 0 : spec.nodeLossRecovery.gracePeriodSeconds * 1000;
}

export function describeLoss(why: NodeLossKind, node: string): string {
  return why === 'out-of-service' ? `node ${node} is tainted ${OUT_OF_SERVICE_TAINT}` : `node ${node} is ${why}`;
}

function hostnameOf(pv: VolumeLike | undefined): string | undefined {
  for (const term of pv?.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []) {
    for (const e of term.matchExpressions ?? []) if (e.key === HOSTNAME_LABEL && (e.operator ?? 'In') === 'In' && e.values?.length === 1) return e.values[0];
  }
  return undefined;
}

/**
 * Reads of cluster-scoped objects for one reconcile, each at most once: a cluster of N members on a lost node
 * makes N lookups of the same Node and StorageClass otherwise.
 */
export class ClusterReads {
  private readonly cache = new Map<string, Promise<unknown>>();

  /** enabled false: StorageClass and PersistentVolume lookups answer undefined without asking the API server. */
  constructor(private readonly kube: Kube, readonly enabled = true) {}

  private read<T extends KubeObject>(apiVersion: string, kind: string, name: string): Promise<T | undefined> {
    const key = `${kind}/${name}`;
    let p = this.cache.get(key) as Promise<T | undefined> | undefined;
    if (!p) {
      p = this.kube.read<T>(apiVersion, kind, undefined, name);
      this.cache.set(key, p);
    }
    return p;
  }

  node(name: string): Promise<NodeLike | undefined> {
    return this.read<NodeLike>('v1', 'Node', name);
  }

  volume(name: string): Promise<VolumeLike | undefined> {
    return this.enabled ? this.read<VolumeLike>('v1', 'PersistentVolume', name) : Promise.resolve(undefined);
  }

  storageClass(name: string): Promise<StorageClassLike | undefined> {
    return this.enabled ? this.read<StorageClassLike>('storage.k8s.io/v1', 'StorageClass', name) : Promise.resolve(undefined);
  }

  /** The node a claim's volume lives on: the scheduler's annotation, else the PV's hostname affinity. */
  async nodeOfClaim(claim: ClaimLike): Promise<string | undefined> {
    const annotated = (claim.metadata?.annotations as Record<string, string> | undefined)?.[SELECTED_NODE_ANNOTATION];
    if (annotated) return annotated;
    return claim.spec?.volumeName ? hostnameOf(await this.volume(claim.spec.volumeName)) : undefined;
  }

  async isLocal(claim: ClaimLike): Promise<boolean> {
    const pv = claim.spec?.volumeName ? await this.volume(claim.spec.volumeName) : undefined;
    if (pv?.spec?.local || pv?.spec?.hostPath || hostnameOf(pv)) return true;
    const cls = claim.spec?.storageClassName ?? pv?.spec?.storageClassName;
    return cls ? (await this.storageClass(cls))?.provisioner === NO_PROVISIONER : false;
  }

  /**
   * A local PV whose node is gone stands for a disk that no longer exists, and the local-volume provisioner
   * that would clean it ran on that node: its object is deleted. Only a PV that was bound to `claim`
   * (namespace/name) is touched; a PV of a node that is merely NotReady is left, since the node and its data
   * may come back (the provisioner recycles it as Released then).
   */
  async releaseVolume(name: string, namespace: string, claim: string): Promise<boolean> {
    const pv = await this.volume(name);
    if (!pv || pv.spec?.claimRef?.namespace !== namespace || pv.spec.claimRef.name !== claim) return false;
    return this.kube.delete('v1', 'PersistentVolume', undefined, name);
  }
}
