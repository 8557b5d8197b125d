/**
 * The members' flash claims as the operator watches them: which are stuck Pending (the Ready condition's
 * VolumePending reason) and which are smaller than spec.flash.size after it grew (expanded in place where
 * the StorageClass allows it).
 */
import type { ResolvedSpec } from '../api/types.js';
import { pvcName, quantityBytes } from '../builders/index.js';
import type { Kube } from '../kube.js';
import type { ClaimLike, ClusterReads } from './nodeloss.js';

export interface PendingClaim {
  claim: string;
  pod: string;
  detail: string;
  /** Made from an older claim template (another StorageClass than the spec names now): it never bound, so
   * it holds no data, and replacing it is how the member picks up the new class. */
  stale: boolean;
}

interface PodLike {
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

function bytesOr(q: string | undefined, fallback: number): number {
  try {
    return q ? quantityBytes(q) : fallback;
  } catch {
    return fallback;
  }
}

/** Why a claim is still Pending, in terms a platform engineer can act on. `scheduler` is the pod's
 * PodScheduled message: with WaitForFirstConsumer the claim waits for the pod, so that is the reason. */
async function pendingDetail(claim: ClaimLike, reads: ClusterReads, scheduler: string | undefined): Promise<string> {
  const cls = claim.spec?.storageClassName;
  if (!cls) return 'it names no StorageClass and the cluster has no default StorageClass';
  if (!reads.enabled) return `its StorageClass "${cls}" has not bound a volume`;
  const sc = await reads.storageClass(cls);
  if (!sc) return `StorageClass "${cls}" not found`;
  if (sc.volumeBindingMode === 'WaitForFirstConsumer') {
    return scheduler ? `StorageClass "${cls}" binds once the pod is scheduled, and the scheduler says: ${scheduler}` : `no PersistentVolume of StorageClass "${cls}" (provisioner ${sc.provisioner ?? 'unknown'}) fits a node the pod may run on`;
  }
  return `StorageClass "${cls}" (provisioner ${sc.provisioner ?? 'unknown'}) has not provisioned a volume`;
}

/**
 * Claims of members that cannot start because their claim is Pending. A claim is only Pending-and-stuck once
 * the scheduler gave up on its pod (PodScheduled=False) or there is no pod: with WaitForFirstConsumer every
 * claim is Pending for a moment until its pod is scheduled, which is not a problem to report.
 */
export async function pendingClaims(cluster: string, spec: ResolvedSpec, claim: (name: string) => ClaimLike | undefined, pod: (name: string) => PodLike | undefined, reads: ClusterReads): Promise<PendingClaim[]> {
  const out: PendingClaim[] = [];
  for (let i = 0; i < spec.replicas; i++) {
    const c = claim(pvcName(cluster, i));
    if (c?.status?.phase !== 'Pending') continue;
    const p = pod(`${cluster}-${i}`);
    const scheduled = p?.status?.conditions?.find((x) => x.type === 'PodScheduled');
    if (p && scheduled?.status !== 'False') continue;
    const want = spec.flash.storageClassName;
    const stale = !!want && (c.spec?.storageClassName ?? '') !== want;
    out.push({ claim: String(c.metadata?.name), pod: `${cluster}-${i}`, detail: await pendingDetail(c, reads, scheduled?.message), stale });
  }
  return out;
}

/**
 * Grows bound claims smaller than spec.flash.size, when their StorageClass has allowVolumeExpansion (the
 * StatefulSet's claim template only shapes claims created from now on). Returns the claims that are too
 * small and cannot grow, so the caller can say so.
 */
export async function expandClaims(kube: Kube, namespace: string, spec: ResolvedSpec, claims: ClaimLike[], reads: ClusterReads): Promise<{ expanded: string[]; stuck: string[] }> {
  const want = bytesOr(spec.flash.size, 0);
  const expanded: string[] = [];
  const stuck: string[] = [];
  for (const c of claims) {
    const name = String(c.metadata?.name);
    if (bytesOr(c.spec?.resources?.requests?.storage, want) >= want) continue;
    const cls = c.spec?.storageClassName;
    const sc = cls ? await reads.storageClass(cls) : undefined;
    // Only a Bound claim can be resized; a Pending one is still shaped by provisioning.
    if (sc?.allowVolumeExpansion !== true || c.status?.phase !== 'Bound') {
      stuck.push(name);
      continue;
    }
    await kube.mergePatch({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace }, spec: { resources: { requests: { storage: spec.flash.size } } } } as ClaimLike);
    expanded.push(name);
  }
  return { expanded, stuck };
}
