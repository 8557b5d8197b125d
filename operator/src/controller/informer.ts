/**
 * A list+watch cache of one resource, built on client-node's Watch so its recovery is ours to test:
 * - 410 Gone (the resourceVersion we resume from was compacted) -> full relist, emitting adds/updates/deletes
 *   for whatever changed while we were not watching;
 * - a watch the server closes (timeoutSeconds) or that breaks -> resumed from the last resourceVersion seen;
 * - a stalled watch (connected but silent past stallTimeoutMs, although bookmarks are requested every few
 *   seconds) -> aborted and resumed.
 */
import { KubernetesObjectApi, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { OperatorMetrics } from '../metrics.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface InformerOptions {
  apiVersion: string;
  kind: string;
  /** Collection path to watch, e.g. /apis/apps/v1/statefulsets or /api/v1/namespaces/ns/pods. */
  path: string;
  namespace?: string;
  labelSelector?: string;
  /** A watch that delivers nothing (not even a bookmark) for this long is restarted. */
  stallTimeoutMs?: number;
  /** Server-side watch timeout: the server ends the stream, and we resume, at least this often. */
  watchTimeoutSeconds?: number;
  log: Logger;
  metrics?: OperatorMetrics;
}

export interface InformerHandlers<T> {
  add?: (obj: T) => void;
  update?: (obj: T, old: T) => void;
  delete?: (obj: T) => void;
}

export function objectKey(o: KubeObject): string {
  const m = o.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : String(m.name);
}

const MAX_RESTART_BACKOFF_MS = 5000;

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private resourceVersion = '';
  private stopped = false;
  private generation = 0;
  private abort?: AbortController;
  private stallTimer?: NodeJS.Timeout;
  private restartTimer?: NodeJS.Timeout;
  private failures = 0;
  private synced = false;
  private readonly objects: KubernetesObjectApi;
  private readonly stallTimeoutMs: number;
  private readonly watchTimeoutSeconds: number;

  constructor(private readonly kc: KubeConfig, private readonly opts: InformerOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 90_000;
    this.watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;
  }

  on(h: InformerHandlers<T>): void {
    this.handlers.push(h);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list succeeded (retrying with backoff while the API server is unreachable). */
  async start(): Promise<void> {
    this.stopped = false;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.relist('start');
        break;
      } catch (err) {
        this.opts.log.warn({ resource: this.opts.kind, err: String(err) }, 'initial list failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(MAX_RESTART_BACKOFF_MS, 50 * 2 ** attempt)));
      }
    }
    this.watch();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.abort?.abort();
  }

  private async relist(reason: string): Promise<void> {
    const list = await this.objects.list<T & KubernetesObject>(
      this.opts.apiVersion,
      this.opts.kind,
      this.opts.namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      this.opts.labelSelector,
    );
    this.opts.metrics?.relists.inc({ resource: this.opts.kind, reason });
    // client-node deserializes built-in kinds into classes with Date fields; a JSON round trip gives the same
    // plain shape the watch stream delivers, so handlers see one representation.
    const items = (JSON.parse(JSON.stringify(list.items)) as T[]).map((o) => ({ apiVersion: this.opts.apiVersion, kind: this.opts.kind, ...o }));
    const fresh = new Map(items.map((o) => [objectKey(o), o] as const));
    for (const [k, old] of this.cache) {
      if (!fresh.has(k)) {
        this.cache.delete(k);
        for (const h of this.handlers) h.delete?.(old);
      }
    }
    for (const [k, o] of fresh) {
      const old = this.cache.get(k);
      this.cache.set(k, o);
      if (!old) for (const h of this.handlers) h.add?.(o);
      else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) for (const h of this.handlers) h.update?.(o, old);
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.synced = true;
  }

  private armStallTimer(gen: number): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => {
      if (gen !== this.generation || this.stopped) return;
      this.opts.log.warn({ resource: this.opts.kind, resourceVersion: this.resourceVersion }, 'watch stalled; restarting it');
      this.opts.metrics?.watchRestarts.inc({ resource: this.opts.kind, reason: 'stalled' });
      this.generation++;
      this.abort?.abort();
      this.watch();
    }, this.stallTimeoutMs);
    this.stallTimer.unref?.();
  }

  private watch(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    let gone = false;
    this.armStallTimer(gen);
    const params: Record<string, string | number | boolean> = {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: this.watchTimeoutSeconds,
    };
    if (this.opts.labelSelector) params.labelSelector = this.opts.labelSelector;
    void new Watch(this.kc)
      .watch(
        this.opts.path,
        params,
        (type: string, obj: T & { code?: number }) => {
          if (gen !== this.generation) return;
          this.armStallTimer(gen);
          this.failures = 0;
          if (type === 'ERROR') {
            if (obj.code === 410) gone = true;
            return;
          }
          const rv = obj.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (type === 'BOOKMARK') return;
          const k = objectKey(obj);
          const old = this.cache.get(k);
          if (type === 'DELETED') {
            this.cache.delete(k);
            for (const h of this.handlers) h.delete?.(old ?? obj);
            return;
          }
          this.cache.set(k, obj);
          if (!old) for (const h of this.handlers) h.add?.(obj);
          else for (const h of this.handlers) h.update?.(obj, old);
        },
        (err: unknown) => {
          if (gen !== this.generation || this.stopped) return;
          const reason = gone ? 'gone' : err ? 'error' : 'closed';
          this.opts.metrics?.watchRestarts.inc({ resource: this.opts.kind, reason });
          if (err) this.failures++;
          this.opts.log.debug({ resource: this.opts.kind, reason, err: err ? String(err) : undefined }, 'watch ended');
          const delay = err ? Math.min(MAX_RESTART_BACKOFF_MS, 50 * 2 ** this.failures) : 0;
          this.restartTimer = setTimeout(() => void this.resume(gen, gone), delay);
        },
      )
      .then((ac) => {
        if (gen === this.generation) this.abort = ac;
        else ac.abort();
      });
  }

  private async resume(gen: number, relist: boolean): Promise<void> {
    if (gen !== this.generation || this.stopped) return;
    if (relist) {
      try {
        this.opts.log.info({ resource: this.opts.kind }, 'resourceVersion expired (410 Gone); relisting');
        await this.relist('gone');
      } catch (err) {
        this.failures++;
        this.opts.log.warn({ resource: this.opts.kind, err: String(err) }, 'relist failed; retrying');
        this.restartTimer = setTimeout(() => void this.resume(gen, true), Math.min(MAX_RESTART_BACKOFF_MS, 50 * 2 ** this.failures));
        return;
      }
    }
    if (gen !== this.generation || this.stopped) return;
    this.watch();
  }
}
