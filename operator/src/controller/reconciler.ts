/**
 * One idempotent, level-based reconcile of a CacheCluster (STYLE rule 8): read the object and the published
 * ring, compute every child from the spec, server-side apply them all, then write status. Running it twice
 * in a row changes nothing the second time (the ring version included). A CacheCluster that is gone means
 * done: its children carry owner references and the garbage collector removes them.
 */
import {
  API_VERSION,
  CONDITION_DEGRADED,
  CONDITION_PROGRESSING,
  CONDITION_READY,
  KIND,
  withDefaults,
  type CacheCluster,
  type CacheClusterStatus,
  type Condition,
  type ResolvedSpec,
} from '../api/types.js';
import {
  buildClientService,
  buildHeadlessService,
  buildPodDisruptionBudget,
  buildRingConfigMap,
  buildServiceMonitor,
  buildStatefulSet,
  LABEL_INSTANCE,
  pvcName,
  selectorString,
  SERVICE_MONITOR_API_VERSION,
} from '../builders/index.js';
import type { Kube } from '../kube.js';
import type { Logger } from '../log.js';
import { DRAINING_SINCE_ANNOTATION, memberOrdinal, parseDrainingSince, parseRing, planRing, ringConfigMapName, RING_KEY } from '../ring.js';
import { setCondition } from './conditions.js';
import { semanticEqual } from './equal.js';
import type { EventRecorder } from './events.js';
import type { Informer, KubeObject } from './informer.js';
import type { OperatorMetrics } from '../metrics.js';

/** Set on a claim by the scheduler for WaitForFirstConsumer volumes (local PVs): the node the claim is tied to. */
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';

export interface ReconcileDeps {
  kube: Kube;
  clusters: Informer<KubeObject>;
  pods: Informer<KubeObject>;
  recorder: EventRecorder;
  log: Logger;
  now: () => Date;
  serviceMonitorAvailable: () => Promise<boolean>;
  metrics?: OperatorMetrics;
  /** false: Nodes and PersistentVolumes are not readable (namespace-scoped install), so node loss is not detected. */
  clusterReads?: boolean;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

interface PodLike extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: string }[] };
}

interface StatefulSetLike extends KubeObject {
  metadata?: KubeObject['metadata'] & { generation?: number };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number; currentRevision?: string; updateRevision?: string };
}

export interface LostMember {
  pod: string;
  node: string;
  claim: string;
  remainingMs: number;
}

function minDefined(...xs: (number | undefined)[]): number | undefined {
  const d = xs.filter((x): x is number => x !== undefined);
  return d.length ? Math.min(...d) : undefined;
}

export function involved(cc: CacheCluster) {
  return { apiVersion: API_VERSION, kind: KIND, name: cc.metadata.name, namespace: cc.metadata.namespace ?? 'default', ...(cc.metadata.uid ? { uid: cc.metadata.uid } : {}) };
}

export async function reconcile(deps: ReconcileDeps, key: string): Promise<ReconcileResult> {
  const cached = deps.clusters.get(key) as CacheCluster | undefined;
  if (!cached || cached.metadata.deletionTimestamp) {
    const [namespace, name] = key.split('/') as [string, string];
    deps.metrics?.forgetCluster(namespace, name);
    return {};
  }
  const cc: CacheCluster = JSON.parse(JSON.stringify(cached)) as CacheCluster;
  const ns = cc.metadata.namespace ?? 'default';
  const name = cc.metadata.name;
  const spec = withDefaults(cc.spec);
  const now = deps.now();
  const { kube, recorder } = deps;

  // The ring is read from the API server, not the cache: the drain clock lives in its annotation, and a cache
  // lagging behind our own last write would restart that clock.
  const ringCm = await kube.read<KubeObject & { data?: Record<string, string> }>('v1', 'ConfigMap', ns, ringConfigMapName(name));
  const previous = parseRing(ringCm?.data?.[RING_KEY]);
  const previousDraining = parseDrainingSince(ringCm?.metadata?.annotations ? (ringCm.metadata.annotations as Record<string, string>)[DRAINING_SINCE_ANNOTATION] : undefined);
  const plan = planRing({
    cluster: name,
    namespace: ns,
    replicas: spec.replicas,
    vnodes: spec.ring.vnodes,
    drainSeconds: spec.ring.drainSeconds,
    ...(previous ? { previous } : {}),
    ...(cc.status?.ring?.version !== undefined ? { minVersion: cc.status.ring.version } : {}),
    drainingSince: previousDraining,
    now,
  });

  await kube.apply(buildHeadlessService(cc));
  await kube.apply(buildClientService(cc));
  // StatefulSet before ring on the way up, so new members' pods are starting when clients first see them.
  const sts = await kube.apply<StatefulSetLike>(buildStatefulSet(cc, plan.statefulSetReplicas));
  await kube.apply(buildRingConfigMap(cc, plan.ring, plan.drainingSince));

  const pdb = buildPodDisruptionBudget(cc);
  if (pdb) await kube.apply(pdb);
  else await deleteOwned(deps, cc, 'policy/v1', 'PodDisruptionBudget', name);
  if (await deps.serviceMonitorAvailable()) {
    const sm = buildServiceMonitor(cc);
    if (sm) await kube.apply(sm);
    else await deleteOwned(deps, cc, SERVICE_MONITOR_API_VERSION, 'ServiceMonitor', name);
  }

  const draining = plan.ring.members.filter((m) => m.state === 'draining').map((m) => m.name);
  const started = draining.filter((m) => !(m in previousDraining));
  const finished = Object.keys(previousDraining).filter((m) => !(m in plan.drainingSince) && memberOrdinal(name, m) >= spec.replicas);
  if (started.length) await recorder.record(involved(cc), 'Normal', 'DrainStarted', `${started.join(', ')} draining in ring version ${plan.ring.version}; StatefulSet shrinks after ${spec.ring.drainSeconds}s`);
  if (finished.length) await recorder.record(involved(cc), 'Normal', 'DrainCompleted', `${finished.join(', ')} left the ring; StatefulSet scaled to ${plan.statefulSetReplicas}`);
  if (plan.changed) await recorder.record(involved(cc), 'Normal', previous ? 'RingUpdated' : 'RingPublished', `ring version ${plan.ring.version}: ${plan.ring.members.length - draining.length} active, ${draining.length} draining`);

  const lost = deps.clusterReads === false ? { waiting: [] } : await recoverLostMembers(deps, cc, spec, now);
  const labels = { cachecluster_namespace: ns, cachecluster: name };
  deps.metrics?.ringVersion.set(labels, plan.ring.version);
  deps.metrics?.ringMembers.set({ ...labels, state: 'active' }, plan.ring.members.length - draining.length);
  deps.metrics?.ringMembers.set({ ...labels, state: 'draining' }, draining.length);

  const status = computeStatus(cc, spec, sts, plan.ring.version, plan.ring.members.length, draining, lost.waiting, now);
  if (!semanticEqual(status, cc.status ?? {})) {
    await kube.replaceStatus({ ...cc, status });
  }
  const requeue = minDefined(plan.nextDrainDeadlineMs !== undefined ? plan.nextDrainDeadlineMs + 10 : undefined, lost.requeueAfterMs);
  return requeue !== undefined ? { requeueAfterMs: requeue } : {};
}

async function deleteOwned(deps: ReconcileDeps, cc: CacheCluster, apiVersion: string, kind: string, name: string): Promise<void> {
  const existing = await deps.kube.read<KubeObject & { metadata?: { ownerReferences?: { uid: string }[] } }>(apiVersion, kind, cc.metadata.namespace, name);
  // Only ever delete what this CacheCluster owns; a same-named object someone else made is left alone.
  if (existing && (existing.metadata?.ownerReferences ?? []).some((r) => r.uid === cc.metadata.uid)) {
    await deps.kube.delete(apiVersion, kind, cc.metadata.namespace, name);
  }
}

async function nodeOfClaim(deps: ReconcileDeps, claim: KubeObject & { spec?: { volumeName?: string } }): Promise<string | undefined> {
  const annotated = (claim.metadata?.annotations as Record<string, string> | undefined)?.[SELECTED_NODE_ANNOTATION];
  if (annotated) return annotated;
  const volumeName = claim.spec?.volumeName;
  if (!volumeName) return undefined;
  type PV = KubeObject & { spec?: { nodeAffinity?: { required?: { nodeSelectorTerms?: { matchExpressions?: { key: string; values?: string[] }[] }[] } } } };
  const pv = await deps.kube.read<PV>('v1', 'PersistentVolume', undefined, volumeName);
  for (const term of pv?.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []) {
    for (const e of term.matchExpressions ?? []) if (e.key === 'kubernetes.io/hostname' && e.values?.[0]) return e.values[0];
  }
  return undefined;
}

/**
 * DESIGN.md, Local PVs: a pod whose local PV's node is gone (Node object deleted) and that stayed unschedulable
 * past the grace period gets its claim and pod deleted so it reschedules with an empty flash tier.
 */
async function recoverLostMembers(deps: ReconcileDeps, cc: CacheCluster, spec: ResolvedSpec, now: Date): Promise<{ waiting: LostMember[]; requeueAfterMs?: number }> {
  const ns = cc.metadata.namespace ?? 'default';
  const name = cc.metadata.name;
  const waiting: LostMember[] = [];
  let requeueAfterMs: number | undefined;
  const pods = deps.pods.list().filter((p) => p.metadata?.namespace === ns && p.metadata?.labels?.[LABEL_INSTANCE] === name) as PodLike[];
  for (const pod of pods) {
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (pod.status?.phase !== 'Pending' || scheduled?.status !== 'False' || scheduled.reason !== 'Unschedulable') continue;
    const podName = String(pod.metadata?.name);
    const ordinal = memberOrdinal(name, podName);
    if (ordinal < 0) continue;
    const claimName = pvcName(name, ordinal);
    const claim = await deps.kube.read<KubeObject>('v1', 'PersistentVolumeClaim', ns, claimName);
    if (!claim) continue;
    const node = await nodeOfClaim(deps, claim);
    if (!node || (await deps.kube.read('v1', 'Node', undefined, node))) continue;
    const since = Date.parse(scheduled.lastTransitionTime ?? '') || now.getTime();
    const remainingMs = since + spec.nodeLossRecovery.gracePeriodSeconds * 1000 - now.getTime();
    if (!spec.nodeLossRecovery.enabled || remainingMs > 0) {
      waiting.push({ pod: podName, node, claim: claimName, remainingMs });
      if (spec.nodeLossRecovery.enabled) requeueAfterMs = minDefined(requeueAfterMs, remainingMs + 10);
      continue;
    }
    // Claim first: deleting the pod alone would bring it back Pending on the same dead claim.
    await deps.kube.delete('v1', 'PersistentVolumeClaim', ns, claimName);
    await deps.kube.delete('v1', 'Pod', ns, podName);
    deps.log.warn({ cluster: `${ns}/${name}`, pod: podName, node }, 'node lost: deleted claim and pod so the member restarts empty elsewhere');
    await deps.recorder.record(involved(cc), 'Warning', 'NodeLost', `node ${node} is gone: deleted PersistentVolumeClaim ${claimName} and pod ${podName}; the member restarts with an empty flash tier`);
  }
  return { waiting, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}

export function computeStatus(
  cc: CacheCluster,
  spec: ResolvedSpec,
  sts: StatefulSetLike | undefined,
  ringVersion: number,
  ringMembers: number,
  draining: string[],
  lost: LostMember[],
  now: Date,
): CacheClusterStatus {
  const replicas = sts?.status?.replicas ?? 0;
  const ready = sts?.status?.readyReplicas ?? 0;
  const stsCurrent = sts !== undefined && (sts.status?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0);
  const gen = cc.metadata.generation;
  const g = gen !== undefined ? { observedGeneration: gen } : {};
  let conditions: Condition[] = cc.status?.conditions ?? [];

  const allReady = stsCurrent && ready >= spec.replicas;
  conditions = setCondition(conditions, allReady
    ? { type: CONDITION_READY, status: 'True', ...g, reason: 'AllMembersReady', message: `${ready}/${spec.replicas} members ready` }
    : { type: CONDITION_READY, status: 'False', ...g, reason: 'MembersNotReady', message: `${ready}/${spec.replicas} members ready` }, now);

  // A rollout is told apart from a scale by the StatefulSet's revisions, not by counts: both change counts.
  const rollingOut = stsCurrent && !!sts?.status?.updateRevision && sts.status.currentRevision !== sts.status.updateRevision;
  let progressing: { reason: string; message: string } | undefined;
  if (draining.length) progressing = { reason: 'Draining', message: `${draining.join(', ')} draining before scale-down` };
  else if (rollingOut) progressing = { reason: 'RollingUpdate', message: `${sts?.status?.updatedReplicas ?? 0}/${spec.replicas} members updated` };
  else if (!stsCurrent || replicas !== spec.replicas) progressing = { reason: 'Scaling', message: `${replicas} members running, ${spec.replicas} desired` };
  else if (ready < spec.replicas) progressing = { reason: 'WaitingForMembers', message: `${ready}/${spec.replicas} members ready` };
  conditions = setCondition(conditions, progressing
    ? { type: CONDITION_PROGRESSING, status: 'True', ...g, ...progressing }
    : { type: CONDITION_PROGRESSING, status: 'False', ...g, reason: 'Stable', message: 'all members running the current spec' }, now);

  // A failed reconcile reports ReconcileError through reportFailure(); a successful one clears it here.
  let degraded: { reason: string; message: string } | undefined;
  if (lost.length) {
    degraded = {
      reason: 'NodeLost',
      message: lost.map((l) => `${l.pod}: node ${l.node} is gone`).join('; ') + (spec.nodeLossRecovery.enabled ? '; recovering after the grace period' : '; enable spec.nodeLossRecovery to recreate them empty'),
    };
  }
  conditions = setCondition(conditions, degraded
    ? { type: CONDITION_DEGRADED, status: 'True', ...g, ...degraded }
    : { type: CONDITION_DEGRADED, status: 'False', ...g, reason: 'AsExpected', message: 'no failures' }, now);

  return {
    ...g,
    replicas,
    readyReplicas: ready,
    selector: selectorString(cc),
    ring: { version: ringVersion, members: ringMembers, draining: draining.length },
    conditions,
  };
}

/** Best effort after a failed reconcile: Degraded=True with the error, keeping everything else as it was. */
export async function reportFailure(deps: ReconcileDeps, key: string, error: string): Promise<void> {
  const cached = deps.clusters.get(key) as CacheCluster | undefined;
  if (!cached) return;
  const now = deps.now();
  const conditions = setCondition(cached.status?.conditions ?? [], { type: CONDITION_DEGRADED, status: 'True', ...(cached.metadata.generation !== undefined ? { observedGeneration: cached.metadata.generation } : {}), reason: 'ReconcileError', message: error.slice(0, 1000) }, now);
  const status = { ...(cached.status ?? {}), conditions };
  if (semanticEqual(status, cached.status ?? {})) return;
  try {
    await deps.kube.replaceStatus({ ...cached, status });
  } catch (err) {
    deps.log.debug({ key, err: String(err) }, 'could not record Degraded condition');
  }
}
