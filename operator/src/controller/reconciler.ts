/**
 * One idempotent, level-based reconcile of a CacheCluster (STYLE rule 8): read the object and the published
 * ring, compute every child from the spec, server-side apply them all, then write status. Running it twice
 * in a row changes nothing the second time (the ring version included). A CacheCluster that is gone means
 * done: its children carry owner references and the garbage collector removes them.
 *
 * Each child is its own step: one that fails (a webhook refusing the StatefulSet, a quota, a broken CRD)
 * is reported as Degraded=True/ReconcileError with an Event, and the other steps still run, so the ring is
 * published, scaling goes through (by the StatefulSet's scale subresource if the whole object cannot be
 * applied) and status is written. The reconcile then fails as a whole, to be retried with backoff.
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
  buildCertificate,
  buildClientService,
  buildHeadlessService,
  buildNetworkPolicy,
  buildRouterNetworkPolicy,
  buildPodDisruptionBudget,
  buildRingConfigMap,
  buildRouterDeployment,
  buildRouterPodDisruptionBudget,
  buildRouterRole,
  buildRouterRoleBinding,
  buildRouterServiceAccount,
  buildServerRole,
  buildServerRoleBinding,
  buildServerServiceAccount,
  buildServiceMonitor,
  buildStatefulSet,
  CERTIFICATE_API_VERSION,
  CERTIFICATE_KIND,
  certificateName,
  FLASH_VOLUME,
  LABEL_INSTANCE,
  pvcName,
  routerName,
  routerSelectorLabels,
  selectorString,
  serverAccessName,
  SERVICE_MONITOR_API_VERSION,
} from '../builders/index.js';
import { errorMessage, isConflict, statusCode, type Kube } from '../kube.js';
import type { Logger } from '../log.js';
import { DRAINING_SINCE_ANNOTATION, memberName, memberOrdinal, parseDrainingSince, parseRing, planRing, ringConfigMapName, ringReplicas, RING_KEY, TRANSITION_SINCE_ANNOTATION } from '../ring.js';
import { expandClaims, pendingClaims, type PendingClaim } from './claims.js';
import { findCondition, setCondition } from './conditions.js';
import { semanticEqual } from './equal.js';
import { immutableChanges, type StatefulSetSpecLike } from './immutable.js';
import { ClusterReads, describeLoss, graceMs, nodeLoss, type ClaimLike, type NodeLossKind } from './nodeloss.js';
import type { EventRecorder } from './events.js';
import type { Informer, KubeObject } from './informer.js';
import type { OperatorMetrics } from '../metrics.js';

export { SELECTED_NODE_ANNOTATION } from './nodeloss.js';

export interface ReconcileDeps {
  kube: Kube;
  clusters: Informer<KubeObject>;
  pods: Informer<KubeObject>;
  claims: Informer<KubeObject>;
  /** false: no reads of cluster-scoped objects (Nodes, PersistentVolumes, StorageClasses), for an install
   * with namespace Roles only; node-loss recovery is then off and Pending claims are reported without why. */
  clusterReads?: boolean;
  recorder: EventRecorder;
  log: Logger;
  now: () => Date;
  serviceMonitorAvailable: () => Promise<boolean>;
  /** cert-manager's Certificate kind is served; absent: never. */
  certificatesAvailable?: () => Promise<boolean>;
  metrics?: OperatorMetrics;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

interface PodLike extends KubeObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: string }[] };
}

interface StatefulSetLike extends KubeObject {
  metadata?: KubeObject['metadata'] & { generation?: number; deletionTimestamp?: string; ownerReferences?: { uid: string }[] };
  spec?: StatefulSetSpecLike & { replicas?: number; template?: { spec?: { serviceAccountName?: string } } };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number; currentRevision?: string; updateRevision?: string };
}

export interface LostMember {
  pod: string;
  node: string;
  claim: string;
  why: NodeLossKind;
  /** Recovery is on for this member (spec.nodeLossRecovery.enabled, or unset and its volume is local). */
  recovering: boolean;
  remainingMs: number;
}

/** A step of the reconcile that failed; the others went on. */
export interface StepFailure {
  step: string;
  message: string;
  code?: number;
}

/** Thrown after status was written when some steps failed: the controller retries with backoff, and does not
 * report the failure again (the Degraded condition and the Event are already there). */
export class ReconcileIncomplete extends Error {
  readonly code: number | undefined;
  constructor(readonly failures: StepFailure[]) {
    super(failures.map((f) => `${f.step}: ${f.message}`).join('; '));
    this.code = failures[0]?.code;
  }
}

/** What computeStatus needs besides the CacheCluster and its StatefulSet. */
export interface StatusInputs {
  ringVersion: number;
  ringMembers: number;
  /** The version `previous` names while a transition is in progress. */
  previousVersion?: number;
  draining: string[];
  lost: LostMember[];
  pendingClaims?: PendingClaim[];
  failures?: StepFailure[];
  /** Something the spec asks for that this cluster cannot provide (cert-manager missing): Degraded. */
  unavailable?: { reason: string; message: string };
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
  const reads = new ClusterReads(kube, deps.clusterReads !== false);
  const failures: StepFailure[] = [];
  let requeueAfterMs: number | undefined;

  /** Runs one step; a failure other than a conflict is collected instead of ending the reconcile. A conflict
   * means our cache is stale, and the whole reconcile is retried on fresher data. */
  async function step<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (isConflict(err)) throw err;
      const code = statusCode(err);
      failures.push({ step: what, message: errorMessage(err), ...(code !== undefined ? { code } : {}) });
      return undefined;
    }
  }

  // The ring is read from the API server, not the cache: the drain and transition clocks live in its
  // annotations, and a cache lagging behind our own last write would restart them.
  const ringCm = await kube.read<KubeObject & { data?: Record<string, string> }>('v1', 'ConfigMap', ns, ringConfigMapName(name));
  const previous = parseRing(ringCm?.data?.[RING_KEY]);
  const ringAnnotations = (ringCm?.metadata?.annotations ?? {}) as Record<string, string>;
  const previousDraining = parseDrainingSince(ringAnnotations[DRAINING_SINCE_ANNOTATION]);
  const podReady = (ordinal: number): boolean => {
    const pod = deps.pods.get(`${ns}/${memberName(name, ordinal)}`) as PodLike | undefined;
    return !pod?.metadata?.deletionTimestamp && pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  };
  const plan = planRing({
    cluster: name,
    namespace: ns,
    replicas: ringReplicas(name, previous, spec.replicas, podReady),
    vnodes: spec.ring.vnodes,
    drainSeconds: spec.ring.drainSeconds,
    transitionSeconds: spec.ring.transitionSeconds,
    ...(previous ? { published: previous } : {}),
    ...(cc.status?.ring?.version !== undefined ? { minVersion: cc.status.ring.version } : {}),
    drainingSince: previousDraining,
    ...(ringAnnotations[TRANSITION_SINCE_ANNOTATION] ? { transitionSince: ringAnnotations[TRANSITION_SINCE_ANNOTATION] } : {}),
    now,
  });

  await step(`apply Service ${name}-headless`, () => kube.apply(buildHeadlessService(cc)));
  const routerReady = await step(`apply router ${routerName(name)}`, () => applyRouter(deps, cc, spec));
  await step(`apply Service ${name}`, () => kube.apply(buildClientService(cc, { routerReady: routerReady === true })));
  await step(`apply server access ${serverAccessName(name)}`, () => applyServerAccess(deps, cc));
  // New members' pods run before the ring names them (ring.ts, ringReplicas).
  const { sts, recreated } = await applyStatefulSet(deps, cc, Math.max(plan.statefulSetReplicas, spec.replicas), step, (ms) => (requeueAfterMs = minDefined(requeueAfterMs, ms)));
  // An account of ours that spec.serviceAccountName replaced goes once the template names the user's.
  if (spec.serviceAccountName && sts?.spec?.template?.spec?.serviceAccountName === spec.serviceAccountName) {
    await step(`delete ServiceAccount ${serverAccessName(name)}`, () => deleteOwned(deps, cc, 'v1', 'ServiceAccount', serverAccessName(name)));
  }
  const published = await step(`apply ConfigMap ${ringConfigMapName(name)}`, () => kube.apply(buildRingConfigMap(cc, plan.ring, plan.drainingSince, plan.transitionSince)));

  const pdb = buildPodDisruptionBudget(cc);
  await step(`${pdb ? 'apply' : 'delete'} PodDisruptionBudget ${name}`, async (): Promise<unknown> => (pdb ? kube.apply(pdb) : deleteOwned(deps, cc, 'policy/v1', 'PodDisruptionBudget', name)));
  if (await step('look up the ServiceMonitor kind', () => deps.serviceMonitorAvailable())) {
    const sm = buildServiceMonitor(cc);
    await step(`${sm ? 'apply' : 'delete'} ServiceMonitor ${name}`, async (): Promise<unknown> => (sm ? kube.apply(sm) : deleteOwned(deps, cc, SERVICE_MONITOR_API_VERSION, 'ServiceMonitor', name)));
  }

  const np = buildNetworkPolicy(cc);
  await step(`${np ? 'apply' : 'delete'} NetworkPolicy ${name}`, async (): Promise<unknown> => (np ? kube.apply(np) : deleteOwned(deps, cc, 'networking.k8s.io/v1', 'NetworkPolicy', name)));
  const rnp = buildRouterNetworkPolicy(cc);
  const rnpName = routerName(name);
  await step(`${rnp ? 'apply' : 'delete'} NetworkPolicy ${rnpName}`, async (): Promise<unknown> => (rnp ? kube.apply(rnp) : deleteOwned(deps, cc, 'networking.k8s.io/v1', 'NetworkPolicy', rnpName)));
  const unavailable = await applyCertificate(deps, cc, step);

  // A ring that could not be written is not announced: status and events keep describing the one in force.
  const ring = published ? plan.ring : previous ?? plan.ring;
  const draining = ring.members.filter((m) => m.state === 'draining').map((m) => m.name);
  if (published) {
    const started = draining.filter((m) => !(m in previousDraining));
    const finished = Object.keys(previousDraining).filter((m) => !(m in plan.drainingSince) && memberOrdinal(name, m) >= spec.replicas);
    if (started.length) await recorder.record(involved(cc), 'Normal', 'DrainStarted', `${started.join(', ')} draining in ring version ${plan.ring.version}; StatefulSet shrinks after ${spec.ring.drainSeconds}s`);
    if (finished.length) await recorder.record(involved(cc), 'Normal', 'DrainCompleted', `${finished.join(', ')} left the ring; StatefulSet scaled to ${plan.statefulSetReplicas}`);
    const moving = plan.ring.previous ? `; moving from version ${plan.ring.previous.version} until ${new Date(Date.parse(plan.transitionSince!) + spec.ring.transitionSeconds * 1000).toISOString()}` : '';
    if (plan.changed) await recorder.record(involved(cc), 'Normal', previous ? 'RingUpdated' : 'RingPublished', `ring version ${plan.ring.version}: ${plan.ring.members.length - draining.length} active, ${draining.length} draining${moving}`);
  }

  const lost = (deps.clusterReads === false ? undefined : await step('node-loss recovery', () => recoverLostMembers(deps, cc, spec, now, reads))) ?? { waiting: [] };
  requeueAfterMs = minDefined(requeueAfterMs, lost.requeueAfterMs);
  const claimOf = (n: string) => deps.claims.get(`${ns}/${n}`) as ClaimLike | undefined;
  const podOf = (n: string) => deps.pods.get(`${ns}/${n}`) as PodLike | undefined;
  const pending = (await step('check claims', () => pendingClaims(name, spec, claimOf, podOf, reads))) ?? [];
  // Only once the StatefulSet's own template names the new class, or it would make the old claim again.
  const templateClass = (sts?.spec?.volumeClaimTemplates?.[0]?.spec as { storageClassName?: string } | undefined)?.storageClassName;
  await step('replace stale claims', async () => {
    for (const p of pending.filter((x) => x.stale && templateClass === spec.flash.storageClassName)) {
      await kube.delete('v1', 'PersistentVolumeClaim', ns, p.claim);
      await kube.delete('v1', 'Pod', ns, p.pod);
      await recorder.record(involved(cc), 'Normal', 'ClaimReplaced', `PersistentVolumeClaim ${p.claim} never bound and names another StorageClass than spec.flash.storageClassName (${spec.flash.storageClassName}): deleted with pod ${p.pod}, to be made again from the current template`);
    }
  });
  await step('expand claims', async () => {
    const { expanded, stuck } = await expandClaims(kube, ns, spec, ownClaims(deps, ns, name), reads);
    if (expanded.length) await recorder.record(involved(cc), 'Normal', 'FlashExpanded', `${expanded.join(', ')} expanded to ${spec.flash.size}`);
    // Said once, when the claim template changes; the claims stay as they are until their member is replaced.
    if (stuck.length && recreated.includes('volumeClaimTemplates')) {
      await recorder.record(involved(cc), 'Warning', 'FlashNotExpanded', `${stuck.join(', ')} stay smaller than ${spec.flash.size}: their StorageClass does not allow volume expansion (or they are not Bound); new claims get the new size`);
    }
  });

  const labels = { cachecluster_namespace: ns, cachecluster: name };
  deps.metrics?.ringVersion.set(labels, ring.version);
  deps.metrics?.ringMembers.set({ ...labels, state: 'active' }, ring.members.length - draining.length);
  deps.metrics?.ringMembers.set({ ...labels, state: 'draining' }, draining.length);

  const status = computeStatus(cc, spec, sts, { ringVersion: ring.version, ringMembers: ring.members.length, ...(ring.previous ? { previousVersion: ring.previous.version } : {}), draining, lost: lost.waiting, pendingClaims: pending, failures, ...(unavailable ? { unavailable } : {}) }, now);
  const before = findCondition(cc.status?.conditions, CONDITION_READY);
  const ready = findCondition(status.conditions, CONDITION_READY);
  // Once per change of what is pending, not once per reconcile: Events are for transitions.
  if (ready?.reason === 'VolumePending' && (before?.reason !== ready.reason || before.message !== ready.message)) {
    await recorder.record(involved(cc), 'Warning', 'VolumePending', pending.map((p) => `PersistentVolumeClaim ${p.claim} is Pending: ${p.detail}`).join('; '));
  }
  for (const f of failures) await recorder.record(involved(cc), 'Warning', 'ReconcileFailed', `${f.step}: ${f.message}`);
  if (!semanticEqual(status, cc.status ?? {})) {
    await kube.replaceStatus({ ...cc, status });
    // Said once per transition, after the status write: a reconcile from a stale cache gets 409 there instead.
    if (unavailable && findCondition(cc.status?.conditions, CONDITION_DEGRADED)?.reason !== unavailable.reason) await recorder.record(involved(cc), 'Warning', unavailable.reason, unavailable.message);
  }
  if (failures.length) throw new ReconcileIncomplete(failures);
  const requeue = minDefined(plan.nextDeadlineMs !== undefined ? plan.nextDeadlineMs + 10 : undefined, requeueAfterMs);
  return requeue !== undefined ? { requeueAfterMs: requeue } : {};
}

/**
 * The cert-manager Certificate for spec.tls.certManager, where cert-manager's API is served; otherwise what is
 * missing, for the Degraded condition. The StatefulSet is applied either way: its pods wait for the Secret
 * (FailedMount) rather than ever serving plaintext, and start once cert-manager (or the user) writes it.
 * A Certificate this cluster owns is deleted when spec.tls.certManager goes.
 */
async function applyCertificate(
  deps: ReconcileDeps,
  cc: CacheCluster,
  step: <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>,
): Promise<{ reason: string; message: string } | undefined> {
  const cert = buildCertificate(cc);
  const name = certificateName(cc);
  const served = await step('look up the Certificate kind', () => deps.certificatesAvailable?.() ?? Promise.resolve(false));
  if (served === undefined) return undefined;
  if (!served) {
    if (!cert) return undefined;
    return {
      reason: 'CertManagerMissing',
      message: `spec.tls.certManager needs cert-manager, and this cluster does not serve ${CERTIFICATE_API_VERSION} ${CERTIFICATE_KIND}: install cert-manager, or put a kubernetes.io/tls Secret in spec.tls.secretName. Servers wait for Secret ${name}.`,
    };
  }
  await step(`${cert ? 'apply' : 'delete'} Certificate ${name}`, async (): Promise<unknown> => (cert ? deps.kube.apply(cert) : deleteOwned(deps, cc, CERTIFICATE_API_VERSION, CERTIFICATE_KIND, name)));
  return undefined;
}

function ownClaims(deps: ReconcileDeps, ns: string, name: string): ClaimLike[] {
  return deps.claims.list().filter((c) => c.metadata?.namespace === ns && c.metadata?.labels?.[LABEL_INSTANCE] === name && memberOrdinal(name, String(c.metadata?.name).slice(`${FLASH_VOLUME}-`.length)) >= 0) as ClaimLike[];
}

/** A StatefulSet recreated to change an immutable field waits this long between checks that the old one is gone. */
const RECREATE_POLL_MS = 500;

/**
 * Applies the StatefulSet, carrying out changes to its immutable fields by an orphaning delete and re-create
 * (controller/immutable.ts). When the apply fails, replicas still follow the ring plan through the scale
 * subresource. Returns the StatefulSet as it now is, for status.
 */
async function applyStatefulSet(
  deps: ReconcileDeps,
  cc: CacheCluster,
  replicas: number,
  step: <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>,
  requeue: (ms: number) => void,
): Promise<{ sts: StatefulSetLike | undefined; recreated: string[] }> {
  const { kube, recorder } = deps;
  const ns = cc.metadata.namespace ?? 'default';
  const name = cc.metadata.name;
  const desired = buildStatefulSet(cc, replicas);
  let current = await step(`read StatefulSet ${name}`, () => kube.read<StatefulSetLike>('apps/v1', 'StatefulSet', ns, name));
  if (current?.metadata?.deletionTimestamp) {
    // Being deleted (by us, to re-create it): the garbage collector first orphans its pods and claims.
    requeue(RECREATE_POLL_MS);
    return { sts: current, recreated: [] };
  }
  const owned = (current?.metadata?.ownerReferences ?? []).some((r) => r.uid === cc.metadata.uid);
  const changed = owned ? immutableChanges(current?.spec, desired.spec) : [];
  if (changed.length) {
    const deleted = await step(`re-create StatefulSet ${name}`, () => kube.delete('apps/v1', 'StatefulSet', ns, name, { propagationPolicy: 'Orphan' }));
    if (deleted === undefined) return { sts: current, recreated: [] };
    await recorder.record(involved(cc), 'Normal', 'StatefulSetRecreated', `${changed.join(', ')} cannot change in place: StatefulSet ${name} deleted with its pods and claims kept, and created again`);
    deps.log.info({ cluster: `${ns}/${name}`, fields: changed }, 'immutable StatefulSet fields changed: re-creating it, orphaning pods and claims');
    current = await step(`read StatefulSet ${name}`, () => kube.read<StatefulSetLike>('apps/v1', 'StatefulSet', ns, name));
    if (current) {
      requeue(RECREATE_POLL_MS);
      return { sts: current, recreated: changed };
    }
  }
  const applied = await step(`apply StatefulSet ${name}`, () => kube.apply<StatefulSetLike>(desired));
  if (applied) return { sts: applied, recreated: changed };
  if (current && current.spec?.replicas !== replicas) {
    await step(`scale StatefulSet ${name} to ${replicas}`, () => kube.scaleStatefulSet(ns, name, replicas));
    current = (await step(`read StatefulSet ${name}`, () => kube.read<StatefulSetLike>('apps/v1', 'StatefulSet', ns, name))) ?? current;
  }
  return { sts: current, recreated: changed };
}

/**
 * What lets the servers watch their ring (builders/serveraccess.ts): the ServiceAccount (none of the
 * operator's when spec.serviceAccountName names the user's), the Role and the RoleBinding. Applied before the
 * StatefulSet, so that new pods start with an account that can read.
 */
async function applyServerAccess(deps: ReconcileDeps, cc: CacheCluster): Promise<void> {
  const sa = buildServerServiceAccount(cc);
  if (sa) await deps.kube.apply(sa);
  await deps.kube.apply(buildServerRole(cc));
  await deps.kube.apply(buildServerRoleBinding(cc));
}

interface DeploymentLike extends KubeObject {
  status?: { availableReplicas?: number };
}

/**
 * The router's ServiceAccount, Role, RoleBinding, Deployment and PDB (builders/router.ts), or their removal
 * when spec.router.enabled is false. Returns whether the client Service may select the router pods: once one
 * is available, or when the Service already does (so an operator upgrade never points existing clients at a
 * router that cannot answer yet, and a router rollout never points them back at the servers).
 */
async function applyRouter(deps: ReconcileDeps, cc: CacheCluster, spec: ResolvedSpec): Promise<boolean> {
  const { kube } = deps;
  const ns = cc.metadata.namespace ?? 'default';
  const name = routerName(cc.metadata.name);
  if (!spec.router.enabled) {
    await deleteOwned(deps, cc, 'policy/v1', 'PodDisruptionBudget', name);
    await deleteOwned(deps, cc, 'apps/v1', 'Deployment', name);
    await deleteOwned(deps, cc, 'rbac.authorization.k8s.io/v1', 'RoleBinding', name);
    await deleteOwned(deps, cc, 'rbac.authorization.k8s.io/v1', 'Role', name);
    await deleteOwned(deps, cc, 'v1', 'ServiceAccount', name);
    return false;
  }
  await kube.apply(buildRouterServiceAccount(cc));
  await kube.apply(buildRouterRole(cc));
  await kube.apply(buildRouterRoleBinding(cc));
  const deployment = await kube.apply<DeploymentLike>(buildRouterDeployment(cc));
  const pdb = buildRouterPodDisruptionBudget(cc);
  if (pdb) await kube.apply(pdb);
  else await deleteOwned(deps, cc, 'policy/v1', 'PodDisruptionBudget', name);
  if ((deployment?.status?.availableReplicas ?? 0) > 0) return true;
  const service = await kube.read<KubeObject & { spec?: { selector?: Record<string, string> } }>('v1', 'Service', ns, cc.metadata.name);
  return semanticEqual(service?.spec?.selector ?? {}, routerSelectorLabels(cc));
}

async function deleteOwned(deps: ReconcileDeps, cc: CacheCluster, apiVersion: string, kind: string, name: string): Promise<void> {
  const existing = await deps.kube.read<KubeObject & { metadata?: { ownerReferences?: { uid: string }[] } }>(apiVersion, kind, cc.metadata.namespace, name);
  // Only ever delete what this CacheCluster owns; a same-named object someone else made is left alone.
  if (existing && (existing.metadata?.ownerReferences ?? []).some((r) => r.uid === cc.metadata.uid)) {
    await deps.kube.delete(apiVersion, kind, cc.metadata.namespace, name);
  }
}

/**
 * Node loss (controller/nodeloss.ts): for each member pod whose node is gone, NotReady or out of service,
 * once the grace period has passed and recovery is on for it, delete its claim (so the StatefulSet makes a
 * new, empty one, free to bind on another node), force-delete the pod (its kubelet will never confirm a
 * graceful deletion), and delete the local PV of a node that no longer exists.
 */
async function recoverLostMembers(deps: ReconcileDeps, cc: CacheCluster, spec: ResolvedSpec, now: Date, reads: ClusterReads): Promise<{ waiting: LostMember[]; requeueAfterMs?: number }> {
  const ns = cc.metadata.namespace ?? 'default';
  const name = cc.metadata.name;
  const waiting: LostMember[] = [];
  let requeueAfterMs: number | undefined;
  const pods = deps.pods.list().filter((p) => p.metadata?.namespace === ns && p.metadata?.labels?.[LABEL_INSTANCE] === name) as PodLike[];
  for (const pod of pods) {
    const podName = String(pod.metadata?.name);
    const ordinal = memberOrdinal(name, podName);
    if (ordinal < 0) continue;
    const claimName = pvcName(name, ordinal);
    const claim = (deps.claims.get(`${ns}/${claimName}`) as ClaimLike | undefined) ?? (await deps.kube.read<ClaimLike>('v1', 'PersistentVolumeClaim', ns, claimName));
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    const readyCond = pod.status?.conditions?.find((c) => c.type === 'Ready');
    let node = pod.spec?.nodeName;
    let fallbackSince = now.getTime();
    if (!node) {
      // Not bound: only a pod the scheduler gave up on, because its claim pins it to a node, is ours to judge.
      if (pod.status?.phase !== 'Pending' || scheduled?.status !== 'False' || scheduled.reason !== 'Unschedulable' || !claim) continue;
      node = await reads.nodeOfClaim(claim);
      if (!node) continue;
      fallbackSince = Date.parse(scheduled.lastTransitionTime ?? '') || fallbackSince;
    } else if (readyCond?.status === 'False') {
      fallbackSince = Date.parse(readyCond.lastTransitionTime ?? '') || fallbackSince;
    }
    const loss = nodeLoss(await reads.node(node), fallbackSince);
    if (!loss) continue;
    const local = claim ? await reads.isLocal(claim) : false;
    const recovering = spec.nodeLossRecovery.enabled ?? local;
    const remainingMs = loss.since + graceMs(loss.why, spec) - now.getTime();
    if (!recovering || remainingMs > 0) {
      waiting.push({ pod: podName, node, claim: claimName, why: loss.why, recovering, remainingMs });
      if (recovering) requeueAfterMs = minDefined(requeueAfterMs, remainingMs + 10);
      continue;
    }
    // What is deleted is judged on a fresh read, not the cache: the claim may have been bound since.
    const fresh = await deps.kube.read<ClaimLike>('v1', 'PersistentVolumeClaim', ns, claimName);
    const volume = fresh?.spec?.volumeName;
    // Claim first: deleting the pod alone would bring it back Pending on the same dead claim.
    if (fresh) await deps.kube.delete('v1', 'PersistentVolumeClaim', ns, claimName);
    await deps.kube.delete('v1', 'Pod', ns, podName, { gracePeriodSeconds: 0 });
    const released = loss.why === 'gone' && volume && (await reads.isLocal(fresh!)) ? await reads.releaseVolume(volume, ns, claimName) : false;
    deps.log.warn({ cluster: `${ns}/${name}`, pod: podName, node, why: loss.why }, 'node lost: deleted claim and pod so the member restarts empty elsewhere');
    await deps.recorder.record(
      involved(cc),
      'Warning',
      'NodeLost',
      `${describeLoss(loss.why, node)}: deleted PersistentVolumeClaim ${claimName} and force-deleted pod ${podName}${released ? `, deleted PersistentVolume ${volume}` : ''}; the member restarts with an empty flash tier`,
    );
  }
  return { waiting, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}

export function computeStatus(
  cc: CacheCluster,
  spec: ResolvedSpec,
  sts: StatefulSetLike | undefined,
  inputs: StatusInputs,
  now: Date,
): CacheClusterStatus {
  const { ringVersion, ringMembers, draining, lost } = inputs;
  const pending = inputs.pendingClaims ?? [];
  const failures = inputs.failures ?? [];
  const replicas = sts?.status?.replicas ?? 0;
  const ready = sts?.status?.readyReplicas ?? 0;
  const stsCurrent = sts !== undefined && (sts.status?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0);
  const gen = cc.metadata.generation;
  const g = gen !== undefined ? { observedGeneration: gen } : {};
  let conditions: Condition[] = cc.status?.conditions ?? [];

  const allReady = stsCurrent && ready >= spec.replicas;
  conditions = setCondition(conditions, allReady
    ? { type: CONDITION_READY, status: 'True', ...g, reason: 'AllMembersReady', message: `${ready}/${spec.replicas} members ready` }
    : pending.length
      ? { type: CONDITION_READY, status: 'False', ...g, reason: 'VolumePending', message: `${ready}/${spec.replicas} members ready; ` + pending.map((p) => `PersistentVolumeClaim ${p.claim} is Pending: ${p.detail}`).join('; ') }
      : { type: CONDITION_READY, status: 'False', ...g, reason: 'MembersNotReady', message: `${ready}/${spec.replicas} members ready` }, now);

  // A rollout is told apart from a scale by the StatefulSet's revisions, not by counts: both change counts.
  const rollingOut = stsCurrent && !!sts?.status?.updateRevision && sts.status.currentRevision !== sts.status.updateRevision;
  let progressing: { reason: string; message: string } | undefined;
  if (draining.length) progressing = { reason: 'Draining', message: `${draining.join(', ')} draining before scale-down` };
  else if (rollingOut) progressing = { reason: 'RollingUpdate', message: `${sts?.status?.updatedReplicas ?? 0}/${spec.replicas} members updated` };
  else if (!stsCurrent || replicas !== spec.replicas) progressing = { reason: 'Scaling', message: `${replicas} members running, ${spec.replicas} desired` };
  else if (ready < spec.replicas) progressing = { reason: 'WaitingForMembers', message: `${ready}/${spec.replicas} members ready` };
  // New members join the ring only once all their pods are Ready (ring.ts, ringReplicas): until the ring
  // names them, the scale-up is still under way, though the StatefulSet reports every pod Ready.
  else if (ringMembers - draining.length < spec.replicas) progressing = { reason: 'Joining', message: `${ringMembers - draining.length}/${spec.replicas} members in the ring` };
  conditions = setCondition(conditions, progressing
    ? { type: CONDITION_PROGRESSING, status: 'True', ...g, ...progressing }
    : { type: CONDITION_PROGRESSING, status: 'False', ...g, reason: 'Stable', message: 'all members running the current spec' }, now);

  // A failed step is ReconcileError (the other steps went on); a whole reconcile that failed before writing
  // status reports it through reportFailure(). A successful reconcile clears it here.
  let degraded: { reason: string; message: string } | undefined;
  if (failures.length) {
    degraded = { reason: 'ReconcileError', message: failures.map((f) => `${f.step}: ${f.message}`).join('; ').slice(0, 1000) };
  } else if (inputs.unavailable) {
    degraded = inputs.unavailable;
  } else if (lost.length) {
    const recovering = lost.filter((l) => l.recovering);
    const held = lost.filter((l) => !l.recovering);
    const part = (ls: LostMember[]) => ls.map((l) => `${l.pod}: ${describeLoss(l.why, l.node)}`).join('; ');
    degraded = {
      reason: 'NodeLost',
      message: [
        ...(recovering.length ? [`${part(recovering)}; recovering after the grace period`] : []),
        ...(held.length ? [`${part(held)}; enable spec.nodeLossRecovery to recreate them empty`] : []),
      ].join('; '),
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
    ring: { version: ringVersion, members: ringMembers, draining: draining.length, ...(inputs.previousVersion !== undefined ? { previousVersion: inputs.previousVersion } : {}) },
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
