/**
 * The few API calls the operator makes, over the real @kubernetes/client-node. Objects come back as plain JSON
 * (client-node turns timestamps of built-in kinds into Dates; a round trip makes every kind look alike).
 */
import { ApisApi, AppsV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { FIELD_MANAGER, GROUP, PLURAL, VERSION, type CacheCluster } from './api/types.js';
import type { KubeObject } from './controller/informer.js';

export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown; statusCode?: unknown } | undefined)?.code ?? (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's Status message when there is one, else the first line of the error. */
export function errorMessage(err: unknown): string {
  const body = (err as { body?: unknown } | undefined)?.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
  }
  const msg = (parsed as { message?: unknown } | undefined)?.message;
  const code = statusCode(err);
  if (typeof msg === 'string' && msg) return code ? `${msg} (HTTP ${code})` : msg;
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;

function plain<T>(o: unknown): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

export class Kube {
  readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly apps: AppsV1Api;
  private readonly apis: ApisApi;

  constructor(kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.apis = kc.makeApiClient(ApisApi);
  }

  /** Server-side apply as field manager `cachalot-operator`, forcing ownership of the fields we set: the
   * operator is the only intended writer of its children, and a human edit to them should be reverted. */
  async apply<T extends KubeObject>(obj: T): Promise<T> {
    const out = await this.objects.patch(obj as unknown as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    return plain<T>(out);
  }

  async read<T extends KubeObject>(apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      const out = await this.objects.read({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } });
      return plain<T>(out);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** false when it was already gone: a missing object means the work is done. `gracePeriodSeconds: 0` is a
   * force delete (a pod whose kubelet is gone never confirms a graceful one); `Orphan` keeps the dependents. */
  async delete(apiVersion: string, kind: string, namespace: string | undefined, name: string, opts: { gracePeriodSeconds?: number; propagationPolicy?: 'Background' | 'Orphan' } = {}): Promise<boolean> {
    try {
      await this.objects.delete({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } }, undefined, undefined, opts.gracePeriodSeconds, undefined, opts.propagationPolicy ?? 'Background');
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Whether the API server serves a group-version (`cert-manager.io/v1`), by discovery: any authenticated
   * client may read it, so this needs no RBAC and works for a namespace-scoped install. */
  async served(apiVersion: string): Promise<boolean> {
    const [group, version] = apiVersion.split('/');
    const list = await this.apis.getAPIVersions();
    return list.groups.some((g) => g.name === group && g.versions.some((v) => v.version === version));
  }

  /** JSON merge patch, for the few fields the operator changes on objects it does not apply (claim sizes). */
  async mergePatch<T extends KubeObject>(obj: T): Promise<T> {
    const out = await this.objects.patch(obj as unknown as KubernetesObject, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
    return plain<T>(out);
  }

  /** The StatefulSet's scale subresource: how replicas still change when applying the whole object fails. */
  async scaleStatefulSet(namespace: string, name: string, replicas: number): Promise<void> {
    await this.apps.patchNamespacedStatefulSetScale({ namespace, name, body: { spec: { replicas } }, fieldManager: FIELD_MANAGER }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  /** PUT to the status subresource with the resourceVersion we reconciled from: a stale view gets 409, and
   * the key is retried once the informer has caught up, instead of overwriting a newer status. */
  async replaceStatus(cc: CacheCluster): Promise<CacheCluster> {
    const out = await this.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      namespace: cc.metadata.namespace ?? 'default',
      plural: PLURAL,
      name: cc.metadata.name,
      body: cc,
    });
    return plain<CacheCluster>(out);
  }
}
