/**
 * The ring document the operator publishes in ConfigMap `<name>-ring`, key `ring.json` (docs/ring.md is its
 * specification), and the planning that decides its members, its transition and its version.
 *
 * Members are the StatefulSet's ordinals by stable DNS name, not its ready pods: a restarting pod keeps its
 * key range and comes back warm from flash; ejecting a failed server is the reader's job.
 *
 * A change of the continuum (the active members, their addresses and weights, vnodes) is a transition: the
 * new ring is published with `previous`, the ring every reader was last fully on, for
 * `spec.ring.transitionSeconds`, then the same members are published without it. Readers warm a moved key
 * from its previous owner and invalidate it there; servers purge what they do not own once `previous` is gone.
 *
 * Scale-down: leaving ordinals are published as `draining` (off the continuum, so that change is itself a
 * transition whose `previous` still lists them as active) and stay in the ring and the StatefulSet until both
 * `spec.ring.drainSeconds` have passed on their own clock and no `previous` lists them as active; then they
 * are dropped and the StatefulSet shrinks.
 *
 * The version changes whenever the published routing changes (members, states, hash parameters, `previous`),
 * so re-publishing an unchanged ring never makes every reader rebuild its continuum, and ending a transition
 * (same members, `previous` gone) is a new version readers do not skip as "already have it".
 *
 * All state is in the ConfigMap (the document and two annotations) and status.ring.version, never in memory:
 * an operator restarted mid-drain or mid-transition finishes it at the same time as the one before it.
 */

import { MEMCACHED_PORT } from './api/types.js';

export const RING_KEY = 'ring.json';
export const RING_HASH = 'ketama-md5';
/** ConfigMap annotation: JSON map member name -> ISO time it started draining. Kept out of ring.json so the
 * document stays exactly the DESIGN.md shape. */
export const DRAINING_SINCE_ANNOTATION = 'cachalot.io/draining-since';
/** ConfigMap annotation: ISO time the published `previous` was first published (the transition's clock). */
export const TRANSITION_SINCE_ANNOTATION = 'cachalot.io/transition-since';

export type MemberState = 'active' | 'draining';

export interface RingMember {
  name: string;
  host: string;
  port: number;
  weight: number;
  state: MemberState;
}

/** The ring being left during a transition. `vnodes` is written only when it differs from the document's. */
export interface PreviousRing {
  version: number;
  vnodes?: number;
  members: RingMember[];
}

export interface RingDocument {
  cluster: string;
  namespace: string;
  version: number;
  hash: typeof RING_HASH;
  vnodes: number;
  members: RingMember[];
  previous?: PreviousRing;
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

function orderedMember(m: RingMember): RingMember {
  return { name: m.name, host: m.host, port: m.port, weight: m.weight, state: m.state };
}

/** Key order is fixed so the published bytes match DESIGN.md and are stable between reconciles. */
export function serializeRing(doc: RingDocument): string {
  const ordered: RingDocument = {
    cluster: doc.cluster,
    namespace: doc.namespace,
    version: doc.version,
    hash: doc.hash,
    vnodes: doc.vnodes,
    members: doc.members.map(orderedMember),
    ...(doc.previous
      ? {
          previous: {
            version: doc.previous.version,
            ...(doc.previous.vnodes !== undefined && doc.previous.vnodes !== doc.vnodes ? { vnodes: doc.previous.vnodes } : {}),
            members: doc.previous.members.map(orderedMember),
          },
        }
      : {}),
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
    // A damaged `previous` is dropped rather than the document: the members still route.
    const p = doc.previous as Partial<PreviousRing> | undefined;
    if (p !== undefined && (typeof p !== 'object' || p === null || typeof p.version !== 'number' || !Array.isArray(p.members))) {
      const { previous: _damaged, ...rest } = doc;
      return rest;
    }
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


/**
 * How many ordinals the ring is planned with (planRing's `replicas`) for `desired` members. Ordinals the
 * published ring already lists (active or draining) count at once: their pods run, or restart and come back
 * warm, and a reader ejects them meanwhile. Ordinals it does not list yet are new pods that have never served;
 * a reader routing to one before it listens fails every request for its keys and ejects it, so they join
 * only once every one of them has a Ready pod, and all together (one joining at a time would be a change
 * during a change per pod, and each interim ring's writes would be cold after the next). Until then the ring
 * keeps the ordinals it lists. The first ring names every ordinal: no reader routes before it exists.
 */
export function ringReplicas(cluster: string, published: RingDocument | undefined, desired: number, podReady: (ordinal: number) => boolean): number {
  if (!published) return desired;
  const listed = new Set(published.members.map((m) => memberOrdinal(cluster, m.name)));
  let firstNew = -1;
  for (let i = 0; i < desired; i++) {
    if (listed.has(i)) continue;
    if (firstNew < 0) firstNew = i;
    if (!podReady(i)) return firstNew;
  }
  return desired;
}

export interface RingPlanInput {
  cluster: string;
  namespace: string;
  replicas: number;
  vnodes: number;
  drainSeconds: number;
  /** 0: no transitions; every ring is published without `previous` (moved keys start cold). */
  transitionSeconds: number;
  /** The document in the ConfigMap now. */
  published?: RingDocument;
  /** Floor for the version when the published document is lost (e.g. ConfigMap deleted by hand). */
  minVersion?: number;
  drainingSince: Record<string, string>;
  /** TRANSITION_SINCE_ANNOTATION as published; only read while the published document has `previous`. */
  transitionSince?: string;
  now: Date;
}

export interface RingPlan {
  ring: RingDocument;
  drainingSince: Record<string, string>;
  /** Set while `ring.previous` is: when the transition started (for TRANSITION_SINCE_ANNOTATION). */
  transitionSince?: string;
  /** Replicas the StatefulSet must keep: draining members still run and serve. */
  statefulSetReplicas: number;
  /** Milliseconds until the next planned change (a member leaving, a transition ending); undefined when none. */
  nextDeadlineMs?: number;
  changed: boolean;
}

/** What a reader's continuum is built from: hash parameters and the active members' names, addresses, weights. */
function continuumKey(vnodes: number, members: readonly RingMember[]): string {
  const active = members.filter((m) => m.state === 'active').map((m) => `${m.name}@${m.host}:${m.port}*${m.weight}`);
  return `${RING_HASH}/${vnodes}/${active.join(',')}`;
}

function sameMembers(a: readonly RingMember[], b: readonly RingMember[]): boolean {
  return a.length === b.length && a.every((m, i) => {
    const o = b[i]!;
    return m.name === o.name && m.host === o.host && m.port === o.port && m.weight === o.weight && m.state === o.state;
  });
}

function samePrevious(a: PreviousRing | undefined, b: PreviousRing | undefined, vnodes: number): boolean {
  if (!a || !b) return a === b;
  return a.version === b.version && (a.vnodes ?? vnodes) === (b.vnodes ?? vnodes) && sameMembers(a.members, b.members);
}

function sameRouting(a: RingDocument, b: RingDocument): boolean {
  return a.hash === b.hash && a.vnodes === b.vnodes && sameMembers(a.members, b.members) && samePrevious(a.previous, b.previous, b.vnodes);
}

/**
 * The transition part of a plan. A continuum change starts a transition whose `previous` is the ring every
 * reader was last fully on: the published ring once its own transition has run its course (or when it has
 * none), else the published ring's `previous` (a change during a change: readers may still be on that one,
 * and their writes go to its owners). The clock restarts with every change.
 */
function planTransition(
  published: RingDocument | undefined,
  next: { vnodes: number; members: RingMember[] },
  transitionMs: number,
  sinceText: string | undefined,
  now: number,
): { previous?: PreviousRing; since?: number } {
  if (!published || transitionMs === 0) return {};
  const publishedSince = Date.parse(sinceText ?? '');
  // A `previous` without a readable clock restarts the clock: that only makes the transition longer.
  const since = published.previous && Number.isFinite(publishedSince) ? publishedSince : now;
  const inTransition = published.previous !== undefined && now < since + transitionMs;
  if (continuumKey(published.vnodes, published.members) !== continuumKey(next.vnodes, next.members)) {
    const previous: PreviousRing = inTransition
      ? published.previous!
      : { version: published.version, ...(published.vnodes !== next.vnodes ? { vnodes: published.vnodes } : {}), members: published.members };
    return { previous, since: now };
  }
  return inTransition ? { previous: published.previous!, since } : {};
}

export function planRing(input: RingPlanInput): RingPlan {
  const { cluster, namespace, replicas, vnodes, drainSeconds, published, now } = input;
  const nowMs = now.getTime();
  const members: RingMember[] = [];
  for (let i = 0; i < replicas; i++) {
    members.push({ name: memberName(cluster, i), host: memberHost(cluster, namespace, i), port: MEMCACHED_PORT, weight: 1, state: 'active' });
  }
  // Draining members are off the continuum, so which of them stay does not change the transition.
  const transition = planTransition(published, { vnodes, members }, input.transitionSeconds * 1000, input.transitionSince, nowMs);
  const transitionEnd = transition.since !== undefined ? transition.since + input.transitionSeconds * 1000 : undefined;
  const activeInPrevious = new Set((transition.previous?.members ?? []).filter((m) => m.state === 'active').map((m) => m.name));

  // Ordinals the published ring had beyond the new size are leaving. Each drains on its own clock so that a
  // second scale-down during a drain does not cut the first one short.
  const drainingSince: Record<string, string> = {};
  let nextDeadline: number | undefined = transitionEnd !== undefined ? Math.max(0, transitionEnd - nowMs) : undefined;
  const leaving = (published?.members ?? [])
    .map((m) => ({ m, ordinal: memberOrdinal(cluster, m.name) }))
    .filter(({ ordinal }) => ordinal >= replicas)
    .sort((a, b) => a.ordinal - b.ordinal);
  let highestKept = replicas - 1;
  for (const { m, ordinal } of leaving) {
    const since = input.drainingSince[m.name] ?? now.toISOString();
    const sinceMs = Date.parse(since);
    const deadline = (Number.isFinite(sinceMs) ? sinceMs : nowMs) + drainSeconds * 1000;
    // A member started draining in this very reconcile is always published at least once, even with
    // drainSeconds 0, so that clients see `draining` before the server goes away. One that `previous` lists
    // as active stays until the transition ends: readers still fill moved keys from it.
    const startedNow = input.drainingSince[m.name] === undefined;
    if (!startedNow && nowMs >= deadline && !activeInPrevious.has(m.name)) continue;
    drainingSince[m.name] = since;
    members.push({ name: m.name, host: memberHost(cluster, namespace, ordinal), port: m.port, weight: m.weight, state: 'draining' });
    highestKept = Math.max(highestKept, ordinal);
    const leavesAt = activeInPrevious.has(m.name) && transitionEnd !== undefined ? Math.max(deadline, transitionEnd) : deadline;
    const wait = Math.max(0, leavesAt - nowMs);
    nextDeadline = nextDeadline === undefined ? wait : Math.min(nextDeadline, wait);
  }

  const floor = Math.max(published?.version ?? 0, input.minVersion ?? 0);
  const candidate: RingDocument = { cluster, namespace, version: floor, hash: RING_HASH, vnodes, members, ...(transition.previous ? { previous: transition.previous } : {}) };
  const changed = !published || !sameRouting(published, candidate);
  return {
    ring: { ...candidate, version: changed ? floor + 1 : floor },
    drainingSince,
    ...(transition.since !== undefined ? { transitionSince: new Date(transition.since).toISOString() } : {}),
    statefulSetReplicas: highestKept + 1,
    ...(nextDeadline !== undefined ? { nextDeadlineMs: nextDeadline } : {}),
    changed,
  };
}
