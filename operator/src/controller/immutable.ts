/**
 * The StatefulSet fields the API server refuses to change (apps/v1 validation: "updates to statefulset spec
 * for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy',
 * 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"). The operator carries such a
 * change out instead of applying it into a 422 on every reconcile: it deletes the StatefulSet with
 * propagationPolicy Orphan, which leaves its pods running and its claims in place, and creates it again; the
 * new StatefulSet adopts the pods by their labels and keeps using the claims by name.
 */
import { quantityBytes } from '../builders/index.js';

interface ClaimTemplate {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

export interface StatefulSetSpecLike {
  serviceName?: string;
  podManagementPolicy?: string;
  selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
  volumeClaimTemplates?: ClaimTemplate[];
}

/** Set by the API server's defaulting when absent from what was sent; not a change of ours. */
const DEFAULTED_CLAIM_FIELDS = new Set(['volumeMode']);

function storageBytes(q: unknown): unknown {
  try {
    return typeof q === 'string' ? quantityBytes(q) : q;
  } catch {
    return q;
  }
}

/** Quantities compare by value: the server returns `1Gi` for a `1024Mi` that was sent. */
function normalizeClaimSpec(spec: Record<string, unknown> | undefined, keys: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of [...keys].sort()) {
    const v = spec?.[k];
    if (k === 'resources' && v && typeof v === 'object') {
      const r = v as { requests?: Record<string, string>; limits?: Record<string, string> };
      out[k] = {
        requests: Object.fromEntries(Object.entries(r.requests ?? {}).sort().map(([n, q]) => [n, storageBytes(q)])),
        limits: Object.fromEntries(Object.entries(r.limits ?? {}).sort().map(([n, q]) => [n, storageBytes(q)])),
      };
    } else out[k] = v ?? null;
  }
  return out;
}

function sortedEntries(o: Record<string, string> | undefined): string {
  return JSON.stringify(Object.entries(o ?? {}).sort());
}

function sameTemplates(current: ClaimTemplate[], desired: ClaimTemplate[]): boolean {
  if (current.length !== desired.length) return false;
  return desired.every((want, i) => {
    const have = current[i]!;
    if (have.metadata?.name !== want.metadata?.name) return false;
    if (sortedEntries(have.metadata?.labels) !== sortedEntries(want.metadata?.labels)) return false;
    if (sortedEntries(have.metadata?.annotations) !== sortedEntries(want.metadata?.annotations)) return false;
    const keys = new Set([...Object.keys(want.spec ?? {}), ...Object.keys(have.spec ?? {}).filter((k) => !DEFAULTED_CLAIM_FIELDS.has(k))]);
    return JSON.stringify(normalizeClaimSpec(have.spec, keys)) === JSON.stringify(normalizeClaimSpec(want.spec, keys));
  });
}

/** The immutable fields on which `desired` differs from the StatefulSet as it exists; empty when none does. */
export function immutableChanges(current: StatefulSetSpecLike | undefined, desired: StatefulSetSpecLike): string[] {
  if (!current) return [];
  const out: string[] = [];
  if ((current.serviceName ?? '') !== (desired.serviceName ?? '')) out.push('serviceName');
  // OrderedReady is what the API server fills in when none is given.
  if ((current.podManagementPolicy ?? 'OrderedReady') !== (desired.podManagementPolicy ?? 'OrderedReady')) out.push('podManagementPolicy');
  if (sortedEntries(current.selector?.matchLabels) !== sortedEntries(desired.selector?.matchLabels) || (current.selector?.matchExpressions ?? []).length !== (desired.selector?.matchExpressions ?? []).length) out.push('selector');
  if (!sameTemplates(current.volumeClaimTemplates ?? [], desired.volumeClaimTemplates ?? [])) out.push('volumeClaimTemplates');
  return out;
}
