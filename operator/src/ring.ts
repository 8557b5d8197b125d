/**
 * The ring document the operator publishes in ConfigMap `<name>-ring`, key `ring.json` (DESIGN.md, "Ring
 * document"), and the planning that decides its members and version.
 *
 * Members are the StatefulSet's ordinals by stable DNS name, not its ready pods: a restarting pod keeps its
 * key range and comes back warm from flash; ejecting a failed server is the sidecar's job. Scale-down is two
 * steps so clients stop sending to a leaving server before it disappears: leaving ordinals are first published
 * as `draining`, and only after `spec.ring.drainSeconds` are they dropped and the StatefulSet shrunk.
 *
 * The version changes only when what a client routes by changes (member names, hosts, ports, weights, states
 * or hash parameters), so re-publishing an unchanged ring never makes every sidecar rebuild its continuum.
 */

import { MEMCACHED_PORT } from './api/types.js';

export const RING_KEY = 'ring.json';
export const RING_HASH = 'ketama-md5';
/** ConfigMap annotation: JSON map member name -> ISO time it started draining. Kept out of ring.json so the
 * document stays exactly the DESIGN.md shape. */
export const DRAINING_SINCE_ANNOTATION = 'cachalot.io/draining-since';

export type MemberState = 'active' | 'draining';

export interface RingMember {
  name: string;
  host: string;
  port: number;
  weight: number;
  state: MemberState;
}

export interface RingDocument {
  cluster: string;
  namespace: string;
  version: number;
  hash: typeof RING_HASH;
  vnodes: number;
  members: RingMember[];
}

export function ringConfigMapName(cluster: string): string {
  return `${cluster}-ring`;
}

export function headlessServiceName(cluster: string): string {
  return `${cluster}-headless`;
}

export function memberName(cluster: string, ordinal: number): string {
  return `${cluster}-${ordinal}`;
}

export function memberHost(cluster: string, namespace: string, ordinal: number): string {
  return `${memberName(cluster, ordinal)}.${headlessServiceName(cluster)}.${namespace}.svc.cluster.local`;
}

/** The ordinal of a member named `<cluster>-<i>`, or -1 when the name is not one of this cluster's. */
export function memberOrdinal(cluster: string, name: string): number {
  const prefix = `${cluster}-`;
  if (!name.startsWith(prefix)) return -1;
  const rest = name.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : -1;
}

/** Key order is fixed so the published bytes match DESIGN.md and are stable between reconciles. */
export function serializeRing(doc: RingDocument): string {
  const ordered: RingDocument = {
    cluster: doc.cluster,
    namespace: doc.namespace,
    version: doc.version,
    hash: doc.hash,
    vnodes: doc.vnodes,
    members: doc.members.map((m) => ({ name: m.name, host: m.host, port: m.port, weight: m.weight, state: m.state })),
  };
  return JSON.stringify(ordered, null, 2) + '\n';
}

/** Parses a published ring; anything malformed is treated as "no previous ring" (version restarts above 0
 * only if we can read it, which is why the caller also keeps status.ring.version as a floor). */
export function parseRing(text: string | undefined): RingDocument | undefined {
  if (!text) return undefined;
  try {
    const doc = JSON.parse(text) as RingDocument;
    if (typeof doc.version !== 'number' || !Array.isArray(doc.members)) return undefined;
    return doc;
  } catch {
    return undefined;
  }
}

export function parseDrainingSince(text: string | undefined): Record<string, string> {
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
      return out;
    }
  } catch {
    /* fall through: a damaged annotation restarts the drain clock, which only delays a shrink */
  }
  return {};
}

export interface RingPlanInput {
  cluster: string;
  namespace: string;
  replicas: number;
  vnodes: number;
  drainSeconds: number;
  previous?: RingDocument;
  /** Floor for the version when the previous document is lost (e.g. ConfigMap deleted by hand). */
  minVersion?: number;
  drainingSince: Record<string, string>;
  now: Date;
}

export interface RingPlan {
  ring: RingDocument;
  drainingSince: Record<string, string>;
  /** Replicas the StatefulSet must keep: draining members still run and serve. */
  statefulSetReplicas: number;
  /** Milliseconds until the earliest draining member may leave; undefined when nothing drains. */
  nextDrainDeadlineMs?: number;
  changed: boolean;
}

function sameRouting(a: RingDocument, members: RingMember[], vnodes: number): boolean {
  if (a.hash !== RING_HASH || a.vnodes !== vnodes || a.members.length !== members.length) return false;
  return a.members.every((m, i) => {
    const b = members[i]!;
    return m.name === b.name && m.host === b.host && m.port === b.port && m.weight === b.weight && m.state === b.state;
  });
}

export function planRing(input: RingPlanInput): RingPlan {
  const { cluster, namespace, replicas, vnodes, drainSeconds, previous, now } = input;
  const members: RingMember[] = [];
  for (let i = 0; i < replicas; i++) {
    members.push({ name: memberName(cluster, i), host: memberHost(cluster, namespace, i), port: MEMCACHED_PORT, weight: 1, state: 'active' });
  }

  // Ordinals the previous ring had beyond the new size are leaving. Each drains on its own clock so that a
  // second scale-down during a drain does not cut the first one short.
  const drainingSince: Record<string, string> = {};
  let nextDeadline: number | undefined;
  const leaving = (previous?.members ?? [])
    .map((m) => ({ m, ordinal: memberOrdinal(cluster, m.name) }))
    .filter(({ ordinal }) => ordinal >= replicas)
    .sort((a, b) => a.ordinal - b.ordinal);
  let highestKept = replicas - 1;
  for (const { m, ordinal } of leaving) {
    const since = input.drainingSince[m.name] ?? now.toISOString();
    const sinceMs = Date.parse(since);
    const deadline = (Number.isFinite(sinceMs) ? sinceMs : now.getTime()) + drainSeconds * 1000;
    // A member started draining in this very reconcile is always published at least once, even with
    // drainSeconds 0, so that clients see `draining` before the server goes away.
    const startedNow = input.drainingSince[m.name] === undefined;
    if (!startedNow && now.getTime() >= deadline) continue;
    drainingSince[m.name] = since;
    members.push({ name: m.name, host: memberHost(cluster, namespace, ordinal), port: m.port, weight: m.weight, state: 'draining' });
    highestKept = Math.max(highestKept, ordinal);
    const wait = Math.max(0, deadline - now.getTime());
    nextDeadline = nextDeadline === undefined ? wait : Math.min(nextDeadline, wait);
  }

  const floor = Math.max(previous?.version ?? 0, input.minVersion ?? 0);
  const changed = !previous || !sameRouting(previous, members, vnodes);
  const version = changed ? floor + 1 : floor;
  return {
    ring: { cluster, namespace, version, hash: RING_HASH, vnodes, members },
    drainingSince,
    statefulSetReplicas: highestKept + 1,
    ...(nextDeadline !== undefined ? { nextDrainDeadlineMs: nextDeadline } : {}),
    changed,
  };
}
