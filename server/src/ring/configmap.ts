/**
 * The ring from the Kubernetes API: a list of ConfigMaps with field selector metadata.name=<name> (so zero or
 * one item, and a resourceVersion even when the ConfigMap does not exist yet), then a watch with the same
 * selector from that resourceVersion: a ConfigMap created later arrives as ADDED at once, not after a retry.
 * Whenever the watch ends (server timeout, 410 Gone, network error) the loop starts over with a fresh list,
 * after a backoff when it failed, so a missed event can only delay a ring, never lose it. Deleting the
 * ConfigMap keeps the current ring: a sidecar without a ring is worse than one with the last known ring.
 */
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { parseRingDocument } from './document.js';
import type { RingListener, RingSource } from './source.js';

export const RING_DATA_KEY = 'ring.json';
/** The API server ends watches after this long; the loop re-GETs and re-watches. */
const WATCH_TIMEOUT_SECONDS = 300;
const MAX_BACKOFF_MS = 10_000;

interface ConfigMapLike {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

export class ConfigMapRingSource implements RingSource {
  private stopped = false;
  private abort: AbortController | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private lastText: string | null = null;
  private lastError = '';
  private listener: RingListener | null = null;
  private readonly origin: string;

  constructor(private readonly kc: KubeConfig, private readonly namespace: string, private readonly name: string) {
    this.origin = `configmap ${namespace}/${name}`;
  }

  /** Resolves after the first GET (whatever its outcome); the watch keeps running. */
  async start(listener: RingListener): Promise<void> {
    this.listener = listener;
    await this.cycle();
  }

  stop(): void {
    this.stopped = true;
    this.listener = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.abort?.abort();
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    let rv: string | undefined;
    try {
      const api = this.kc.makeApiClient(CoreV1Api);
      const list = await api.listNamespacedConfigMap({ namespace: this.namespace, fieldSelector: `metadata.name=${this.name}` });
      rv = list.metadata?.resourceVersion;
      const cm = list.items[0] as ConfigMapLike | undefined;
      if (cm) this.consider(cm);
      else this.report(new Error(`${this.origin} not found (yet); watching for it`));
    } catch (err) {
      this.report(new Error(`reading ${this.origin}: ${(err as Error).message}`));
      this.retry(true);
      return;
    }
    this.watch(rv);
  }

  private watch(resourceVersion: string | undefined): void {
    if (this.stopped) return;
    const path = `/api/v1/namespaces/${this.namespace}/configmaps`;
    const params: Record<string, string | number | boolean> = {
      fieldSelector: `metadata.name=${this.name}`,
      timeoutSeconds: WATCH_TIMEOUT_SECONDS,
    };
    if (resourceVersion) params.resourceVersion = resourceVersion;
    let ended = false;
    new Watch(this.kc)
      .watch(path, params, (type: string, obj: ConfigMapLike) => {
        if (this.stopped) return;
        this.failures = 0;
        if (type === 'ADDED' || type === 'MODIFIED') this.consider(obj);
        else if (type === 'DELETED') this.report(new Error(`${this.origin} was deleted; keeping the current ring`));
      }, (err: unknown) => {
        if (ended) return;
        ended = true;
        this.retry(Boolean(err));
      })
      .then((ac) => {
        if (this.stopped) ac.abort();
        else this.abort = ac;
      }, (err: unknown) => {
        if (ended) return;
        ended = true;
        this.report(new Error(`watching ${this.origin}: ${(err as Error).message}`));
        this.retry(true);
      });
  }

  private retry(failed: boolean): void {
    if (this.stopped) return;
    if (failed) this.failures++;
    const delay = failed ? Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(this.failures, 10)) : 0;
    this.retryTimer = setTimeout(() => void this.cycle(), delay);
    this.retryTimer.unref();
  }

  private consider(cm: ConfigMapLike): void {
    const listener = this.listener;
    if (!listener) return;
    const text = cm.data?.[RING_DATA_KEY];
    if (text === undefined) {
      this.report(new Error(`${this.origin} has no ${RING_DATA_KEY}`));
      return;
    }
    if (text === this.lastText) return;
    try {
      const spec = parseRingDocument(text, ` in ${this.origin}`);
      this.lastText = text;
      this.lastError = '';
      listener.ring(spec, this.origin);
    } catch (err) {
      this.report(err as Error);
    }
  }

  private report(err: Error): void {
    if (err.message === this.lastError) return;
    this.lastError = err.message;
    this.listener?.invalid(err, this.origin);
  }
}
