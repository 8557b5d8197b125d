/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * DEPLOYMENT CONTROLLER TEST DOUBLE for the end-to-end tests (with its own scheduling of the pods it makes), a
 * client of the API server double over HTTP like kube-controller-manager is of a real API server. It runs the
 * operator's router Deployment (`<name>-router`), whose pods the kubelet double then runs as real
 * cachalot-sidecar processes (harness.ts, `routerProgram`).
 *
 * A Deployment's pods are made directly, without ReplicaSet objects: nothing in Cachalot reads ReplicaSets,
 * and the pods carry the label a ReplicaSet would add (`pod-template-hash`, the hash of the template) so that
 * an outdated pod is told from a current one. What it does, as the Deployment and ReplicaSet controllers do
 * for what the operator relies on:
 * - `spec.replicas` pods of the current template, named `<deployment>-<hash>-<5 chars>`, owned by the
 *   Deployment (controller reference, so deleting it garbage-collects them);
 * - RollingUpdate with `maxSurge` and `maxUnavailable` (integers or percentages, Kubernetes' defaults 25 %/25 %,
 *   surge rounded up and unavailability down): new pods up to replicas + maxSurge, an old pod deleted only
 *   while the Ready pods left stay at least replicas − maxUnavailable; Recreate deletes every old pod first;
 * - scale-down deletes not-Ready pods first, then the newest;
 * - status: observedGeneration, replicas, updatedReplicas, readyReplicas, availableReplicas (minReadySeconds
 *   is taken as 0), unavailableReplicas;
 * - scheduling: each new pod goes to the Ready, untainted node running the fewest of the Deployment's pods (the
 *   router's topology spread is `ScheduleAnyway` on kubernetes.io/hostname; no other constraint is modelled).
 *
 * Not modelled: pause, progressDeadlineSeconds, revision history, minReadySeconds, node affinity and taint
 * tolerations of the pod template, pod deletion cost.
 */
import { createHash, randomInt } from 'node:crypto';
import { AppsV1Api, CoreV1Api, ListWatch, PatchStrategy, Watch, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { startInformer } from './kubelet.js';

type Obj = KubernetesObject & { spec?: any; status?: any };

export const POD_TEMPLATE_HASH = 'pod-template-hash';
const stamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const codeOf = (e: unknown): number | undefined => (e as { code?: number }).code;
/** The consonants and digits Kubernetes' rand.String uses for generated name suffixes. */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function isReady(p: Obj): boolean {
  return !p.metadata?.deletionTimestamp && p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

/** An IntOrString of a rolling update (`1`, `"25%"`) against `replicas`; percentages round up for surge, down for unavailability. */
export function resolveIntOrPercent(value: unknown, replicas: number, fallback: string, roundUp: boolean): number {
  const v = value ?? fallback;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(String(v));
  if (!m) return Number(v);
  const exact = (Number(m[1]) * replicas) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** The pod template's hash, as the pods' `pod-template-hash` label (not the real controller's FNV, same role). */
export function templateHash(template: unknown): string {
  return createHash('sha256').update(JSON.stringify(template ?? {})).digest('hex').slice(0, 10);
}

export class DeploymentController {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
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
    this.informers = {
      deployments: new ListWatch<Obj>('/apis/apps/v1/deployments', new Watch(kc), () => this.apps.listDeploymentForAllNamespaces() as any, false),
      pods: new ListWatch<Obj>('/api/v1/pods', new Watch(kc), () => this.core.listPodForAllNamespaces() as any, false),
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
    await Promise.all(Object.entries(this.informers).map(([what, i]) => startInformer(i, `deployment controller: ${what}`)));
    this.resync = setInterval(() => this.kick(), 500);
    this.kick();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    await Promise.all(Object.values(this.informers).map((i) => i.stop().catch(() => undefined)));
  }

  /** Pods of a Deployment now (not Terminating), for the tests. */
  pods(namespace: string, deployment: string): Obj[] {
    const d = this.informers.deployments.get(deployment, namespace);
    if (!d) return [];
    return this.owned(d).filter((p) => !p.metadata?.deletionTimestamp);
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

  private owned(d: Obj): Obj[] {
    return this.informers.pods.list(d.metadata!.namespace!).filter((p) => (p.metadata?.ownerReferences ?? []).some((r) => r.uid === d.metadata!.uid && r.controller));
  }

  /** One level-based pass over every Deployment; conflicts and not-found are left to the next pass. */
  private async pass(): Promise<void> {
    for (const d of this.informers.deployments.list()) {
      if (d.metadata?.deletionTimestamp) continue;
      try {
        await this.reconcile(d);
      } catch (e) {
        if (codeOf(e) !== 409 && codeOf(e) !== 404 && !this.stopped) this.errors.push(`${d.metadata?.name}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
    }
  }

  private async reconcile(d: Obj): Promise<void> {
    const ns = d.metadata!.namespace!;
    const replicas = Number(d.spec?.replicas ?? 1);
    const hash = templateHash(d.spec?.template);
    const all = this.owned(d);
    const live = all.filter((p) => !p.metadata?.deletionTimestamp);
    const current = live.filter((p) => p.metadata?.labels?.[POD_TEMPLATE_HASH] === hash);
    const old = live.filter((p) => p.metadata?.labels?.[POD_TEMPLATE_HASH] !== hash);
    const recreate = d.spec?.strategy?.type === 'Recreate';
    const ru = d.spec?.strategy?.rollingUpdate ?? {};
    let maxSurge = recreate ? 0 : resolveIntOrPercent(ru.maxSurge, replicas, '25%', true);
    const maxUnavailable = recreate ? replicas : resolveIntOrPercent(ru.maxUnavailable, replicas, '25%', false);
    // Kubernetes refuses both zero; a Deployment the API accepted has at least one of them.
    if (maxSurge === 0 && maxUnavailable === 0) maxSurge = 1;
    const deleteOrder = (a: Obj, b: Obj): number =>
      Number(isReady(a)) - Number(isReady(b)) || String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? ''));

    // Old pods go while the Ready pods left stay at or above replicas - maxUnavailable (Recreate: all at once,
    // and no new pod until they are gone).
    let ready = live.filter(isReady).length;
    for (const p of [...old].sort(deleteOrder)) {
      if (!recreate && ready - (isReady(p) ? 1 : 0) < replicas - maxUnavailable) break;
      await this.deletePod(p);
      if (isReady(p)) ready--;
      live.splice(live.indexOf(p), 1);
    }
    if (recreate && all.some((p) => p.metadata?.labels?.[POD_TEMPLATE_HASH] !== hash)) return this.writeStatus(d, live, hash);

    // Scale-down of current pods.
    for (const p of [...current].sort(deleteOrder).slice(0, Math.max(0, current.length - replicas))) {
      await this.deletePod(p);
      live.splice(live.indexOf(p), 1);
    }
    // New pods, up to replicas of the current template and replicas + maxSurge in all.
    let have = Math.min(current.length, replicas);
    let total = live.length;
    const placed = [...live];
    while (have < replicas && total < replicas + maxSurge) {
      const node = this.pickNode(placed);
      const created = await this.createPod(d, hash, node);
      placed.push(created);
      have++;
      total++;
    }
    await this.writeStatus(d, live, hash);
  }

  private async writeStatus(d: Obj, live: Obj[], hash: string): Promise<void> {
    const replicas = Number(d.spec?.replicas ?? 1);
    const ready = live.filter(isReady).length;
    const status = {
      observedGeneration: d.metadata!.generation ?? 1,
      replicas: live.length,
      updatedReplicas: live.filter((p) => p.metadata?.labels?.[POD_TEMPLATE_HASH] === hash).length,
      readyReplicas: ready,
      availableReplicas: ready,
      unavailableReplicas: Math.max(0, replicas - ready),
    };
    const prev = d.status ?? {};
    if (Object.entries(status).some(([k, v]) => (prev[k] ?? 0) !== v)) {
      await this.apps.patchNamespacedDeploymentStatus({ name: d.metadata!.name!, namespace: d.metadata!.namespace!, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    }
  }

  private async deletePod(p: Obj): Promise<void> {
    await this.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: p.metadata!.namespace! }).catch((e) => (codeOf(e) === 404 ? undefined : Promise.reject(e)));
  }

  /** The Ready, untainted node with the fewest of these pods (round robin among equals); undefined: none. */
  private pickNode(pods: Obj[]): string | undefined {
    const usable = (n: Obj): boolean =>
      !(n.spec?.taints ?? []).some((t: any) => t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !(n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status !== 'True');
    const nodes = this.informers.nodes.list().filter(usable).map((n) => n.metadata!.name!).sort();
    if (nodes.length === 0) return undefined;
    const load = (n: string): number => pods.filter((p) => p.spec?.nodeName === n).length;
    const min = Math.min(...nodes.map(load));
    const candidates = nodes.filter((n) => load(n) === min);
    return candidates[this.nextNode++ % candidates.length];
  }

  private async createPod(d: Obj, hash: string, node: string | undefined): Promise<Obj> {
    const ns = d.metadata!.namespace!;
    const template = d.spec?.template ?? {};
    let suffix = '';
    for (let i = 0; i < 5; i++) suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
    const name = `${d.metadata!.name}-${hash}-${suffix}`;
    const spec = JSON.parse(JSON.stringify(template.spec ?? {}));
    if (node) spec.nodeName = node;
    const body = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata!.name!, uid: d.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec,
    };
    const created = (await this.core.createNamespacedPod({ namespace: ns, body: body as any })) as Obj;
    const status = node
      ? { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: stamp() }] }
      : { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'no Ready, untainted node', lastTransitionTime: stamp() }] };
    await this.core.patchNamespacedPodStatus({ name, namespace: ns, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    return created;
  }
}
